// Selective PRF (FeedbackModel): applies a wrapped feedback model only to the queries whose first
// pass a query-performance predictor trusts, and keeps the original query representation of the
// others ("selective" in the spirit of arXiv 2401.11198).
//
//   selective(model='rocchio(topk=5)', predictor=coherence, threshold=0.6, depth=10)
//
// Predictors, over the first `depth` documents of each query's ranking (scores s_1 >= ... >= s_n):
//   gap        s_1 - s_n                       (a clear head stands out from the rest)
//   ratio      s_1 / s_n                       (the same, scale-free; scores must be positive)
//   nqc        sd(s_1..s_n) / |mean(s_1..s_n)| (NQC-style spread, normalised by the list's mean)
//   coherence  the mean pairwise cosine of the documents' stored vectors (the feedback set is
//              about one thing); needs the dense index.
// A query is trusted when its predictor value is >= threshold, or when the list is too short to
// judge (fewer than two documents): then the model's own behaviour applies. The default predictor
// and threshold were chosen on CISI and CACM by scripts/selective_threshold.py, never on the
// collections reported (docs/effectiveness.md gives the rule and the numbers).
//
// Counters: trusted, kept (queries left as they were), plus the wrapped model's own counters,
// prefixed "model.".
#ifndef DENSEFB_SELECTIVE_PRF_H_
#define DENSEFB_SELECTIVE_PRF_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "densefb/feedback_model.h"
#include "densefb/index.h"
#include "densefb/params.h"

namespace densefb {

struct SelectivePrfConfig {
  std::string model = "rocchio";        // the wrapped feedback model, as a spec
  std::string predictor = "coherence";  // gap | ratio | nqc | coherence
  double threshold = 0.6154;            // trusted when predictor >= threshold (CISI+CACM choice)
  int depth = 10;                       // documents the predictor reads
};

// The predictor value of one ranking (NaN when undefined: fewer than two documents, or ratio
// with a non-positive score). `vectors` (n x dim, row-major) only for coherence.
double PredictorValue(const std::string& predictor, const Ranking& list, int depth, const float* vectors,
                      std::int64_t dim);

class SelectivePrf final : public FeedbackModel {
 public:
  using Config = SelectivePrfConfig;
  static const ParamTable<Config>& Params();

  // `model` is the wrapped feedback model (built from config.model by the registry; may be
  // given directly); `index` is read by the coherence predictor only.
  SelectivePrf(std::shared_ptr<const FeedbackModel> model, std::shared_ptr<const VectorIndex> index,
               Config config = {}, std::vector<std::string> model_resources = {});

  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override;
  std::string ToString() const override;
  std::int64_t DepthRead() const override;
  absl::Status Prepare(QueryState& queries) const override;
  bool bound() const override;
  std::map<std::string, std::int64_t> Counters() const override;
  // The wrapped model's resources (as the registry built it from its spec).
  std::vector<std::string> ExtraResources() const override { return model_resources_; }

  const FeedbackModel& model() const { return *model_; }

 private:
  std::shared_ptr<const FeedbackModel> model_;
  std::shared_ptr<const VectorIndex> index_;
  Config config_;
  std::vector<std::string> model_resources_;
  mutable std::atomic<std::int64_t> trusted_{0}, kept_{0};
};

}  // namespace densefb

#endif  // DENSEFB_SELECTIVE_PRF_H_
