// FeedbackModel: queries plus a first-pass ranking in, a refined query representation out.
// The refinement is written into the QueryState: a dense vector (avg, rocchio, text_prf),
// weighted terms (rm3), token embeddings (colbert_prf) or new text (QueryState::ReplaceTexts).
// The next retriever or reranker reads it. Built-ins: densefb/feedback.h.
#ifndef DENSEFB_FEEDBACK_MODEL_H_
#define DENSEFB_FEEDBACK_MODEL_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "densefb/query_state.h"
#include "densefb/ranking.h"
#include "densefb/resources.h"
#include "densefb/status.h"

namespace densefb {

class FeedbackModel {
 public:
  virtual ~FeedbackModel() = default;

  // Refines the representation of every query of `queries` from its list in `ranking` (one
  // list per query, best first). Const; called from several threads.
  virtual absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const = 0;

  // The canonical spec with every parameter, e.g. "avg(k=3,normalize=false)".
  virtual std::string ToString() const = 0;

  // How deep Refine reads each list; -1 (default) = all of it, or unknown.
  virtual std::int64_t DepthRead() const { return -1; }

  // Computes the representations Refine starts from when they are missing (see
  // Retriever::Prepare). Default: nothing.
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

  // Resource names the stage reads beyond those its registry entry lists: a wrapper's are those
  // of the model it wraps (selective PRF). Pipeline::Requires includes them.
  virtual std::vector<std::string> ExtraResources() const { return {}; }
};

}  // namespace densefb

#endif  // DENSEFB_FEEDBACK_MODEL_H_
