// Retriever: a batch of queries in, a ranking out. dense (any VectorIndex), bm25 and maxsim
// are built-in retrievers (densefb/retrievers.h); a user type implementing this interface
// composes with them in a Pipeline and, once registered (RegisterRetriever), in specs.
//
//   class MyRetriever : public densefb::Retriever {
//     absl::StatusOr<BatchRanking> Retrieve(QueryState& queries) const override;
//     std::string ToString() const override { return "mine(k=10)"; }
//   };
//   Pipeline p = std::make_shared<MyRetriever>() >> std::make_shared<RocchioPrf>(...) >> dense;
#ifndef DENSEFB_RETRIEVER_H_
#define DENSEFB_RETRIEVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "densefb/query_state.h"
#include "densefb/ranking.h"
#include "densefb/resources.h"
#include "densefb/status.h"

namespace densefb {

class Retriever {
 public:
  virtual ~Retriever() = default;

  // One ranking per query of the batch (same order), each best first: score descending, ties
  // by smaller id. Document ids are corpus positions. May compute and keep a query
  // representation in `queries` (e.g. encode the texts). Const; called from several threads.
  virtual absl::StatusOr<BatchRanking> Retrieve(QueryState& queries) const = 0;

  // The canonical spec, with every parameter, e.g. "dense(k=1000,ef_search=0)". For a
  // registered type it parses back to an equal retriever.
  virtual std::string ToString() const = 0;

  // Computes the query representations Retrieve will read when they are missing (the fusion
  // node calls it so that all branches start from one encoding). Default: nothing.
  virtual absl::Status Prepare(QueryState& queries) const {
    (void)queries;
    return absl::OkStatus();
  }

  // Depth planning. A copy that retrieves `depth` documents whose top `depth` equals this
  // retriever's (an exact search cut shallower), or null when that cannot be promised or
  // would not be shallower. The pipeline uses it when the next stage reads only `depth` of the
  // ranking and the one after replaces it: `dense >> avg(k=3) >> dense` searches 3 deep first.
  virtual std::shared_ptr<const Retriever> WithDepth(std::int64_t depth) const {
    (void)depth;
    return nullptr;
  }

  // False for a built-in made from a spec without one of its resources; Pipeline::Bind then
  // rebuilds it from ToString() with the resources given.
  virtual bool bound() const { return true; }
};

}  // namespace densefb

#endif  // DENSEFB_RETRIEVER_H_
