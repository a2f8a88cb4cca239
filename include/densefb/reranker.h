// Reranker: queries plus a ranking in, a re-scored ranking out. Built-ins
// (densefb/rerankers.h): rescore, rerank_cross, rerank_maxsim, cut.
#ifndef DENSEFB_RERANKER_H_
#define DENSEFB_RERANKER_H_

#include <cstdint>
#include <map>
#include <string>

#include "densefb/query_state.h"
#include "densefb/ranking.h"
#include "densefb/resources.h"
#include "densefb/status.h"

namespace densefb {

class Reranker {
 public:
  virtual ~Reranker() = default;

  // The new ranking: one list per query, best first (score descending, ties by smaller id); it
  // may hold fewer documents than `ranking` (a reranker of the top k drops the rest). Const;
  // called from several threads.
  virtual absl::StatusOr<BatchRanking> Rerank(QueryState& queries, BatchRanking ranking) const = 0;

  // The canonical spec with every parameter, e.g. "rerank_cross(k=100,batch_size=32)".
  virtual std::string ToString() const = 0;

  // See Retriever::Prepare.
  virtual absl::Status Prepare(QueryState& queries) const {
    (void)queries;
    return absl::OkStatus();
  }

  // See Retriever::bound.
  virtual bool bound() const { return true; }

  // What the stage has counted since it was built, by name: e.g. an LLM reranker's windows and
  // repaired permutations ({"windows": 900, "repaired_duplicates": 3}). Empty by default;
  // thread-safe. Pipeline::Counters gathers them per stage.
  virtual std::map<std::string, std::int64_t> Counters() const { return {}; }
};

}  // namespace densefb

#endif  // DENSEFB_RERANKER_H_
