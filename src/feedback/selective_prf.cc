// Selective PRF (include/densefb/selective_prf.h) and its registration.
#include "densefb/selective_prf.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/pipeline.h"
#include "pipeline/internal.h"

namespace densefb {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

double PredictorValue(const std::string& predictor, const Ranking& list, int depth, const float* vectors,
                      std::int64_t dim) {
  const std::size_t n = std::min(list.size(), static_cast<std::size_t>(std::max(depth, 0)));
  if (n < 2) return kNaN;
  if (predictor == "gap") return static_cast<double>(list[0].score) - list[n - 1].score;
  if (predictor == "ratio") {
    if (!(list[n - 1].score > 0)) return kNaN;
    return static_cast<double>(list[0].score) / list[n - 1].score;
  }
  if (predictor == "nqc") {
    double mean = 0;
    for (std::size_t i = 0; i < n; ++i) mean += list[i].score;
    mean /= static_cast<double>(n);
    double var = 0;
    for (std::size_t i = 0; i < n; ++i) var += (list[i].score - mean) * (list[i].score - mean);
    const double sd = std::sqrt(var / static_cast<double>(n));
    return mean == 0 ? kNaN : sd / std::abs(mean);
  }
  // coherence
  if (vectors == nullptr) return kNaN;
  std::vector<double> norms(n);
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0;
    for (std::int64_t d = 0; d < dim; ++d) s += static_cast<double>(vectors[i * dim + d]) * vectors[i * dim + d];
    norms[i] = std::sqrt(s);
  }
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      double dot = 0;
      for (std::int64_t d = 0; d < dim; ++d) dot += static_cast<double>(vectors[i * dim + d]) * vectors[j * dim + d];
      sum += norms[i] > 0 && norms[j] > 0 ? dot / (norms[i] * norms[j]) : 0.0;
    }
  }
  return sum / (static_cast<double>(n) * static_cast<double>(n - 1) / 2);
}

const ParamTable<SelectivePrf::Config>& SelectivePrf::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("selective")
          .Text("model", &Config::model, {}, "the wrapped feedback model, as a spec (e.g. 'rocchio(topk=5)')")
          .Text("predictor", &Config::predictor, {"gap", "ratio", "nqc", "coherence"},
                "query-performance predictor over the first depth documents")
          .Number("threshold", &Config::threshold, -1e30, 1e30, "feedback applies when predictor >= threshold")
          .Integer("depth", &Config::depth, 2, 1 << 20, "documents the predictor reads"));
  return *table;
}

SelectivePrf::SelectivePrf(std::shared_ptr<const FeedbackModel> model, std::shared_ptr<const VectorIndex> index,
                           Config config, std::vector<std::string> model_resources)
    : model_(std::move(model)),
      index_(std::move(index)),
      config_(std::move(config)),
      model_resources_(std::move(model_resources)) {}

std::string SelectivePrf::ToString() const {
  Config c = config_;
  if (model_ != nullptr) c.model = model_->ToString();
  return Params().Print(c);
}

std::int64_t SelectivePrf::DepthRead() const {
  if (model_ == nullptr) return config_.depth;
  const std::int64_t inner = model_->DepthRead();
  return inner < 0 ? -1 : std::max<std::int64_t>(inner, config_.depth);
}

absl::Status SelectivePrf::Prepare(QueryState& queries) const {
  return model_ == nullptr ? absl::OkStatus() : model_->Prepare(queries);
}

bool SelectivePrf::bound() const {
  return model_ != nullptr && model_->bound() && (config_.predictor != "coherence" || index_ != nullptr);
}

std::map<std::string, std::int64_t> SelectivePrf::Counters() const {
  std::map<std::string, std::int64_t> out = {{"trusted", trusted_.load()}, {"kept", kept_.load()}};
  if (model_ != nullptr) {
    for (const auto& [k, v] : model_->Counters()) out["model." + k] = v;
  }
  return out;
}

absl::Status SelectivePrf::Refine(QueryState& queries, const BatchRanking& ranking) const {
  static constexpr char kStage[] = "selective";
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (model_ == nullptr) {
    return absl::FailedPreconditionError("stage 'selective' has no feedback model to wrap (model=...)");
  }
  if (config_.predictor == "coherence" && index_ == nullptr) {
    return MissingResource(kStage, "a dense vector index (predictor=coherence)", resource::kDenseIndex);
  }
  const std::size_t nq = queries.size();
  if (nq == 0) return absl::OkStatus();
  if (ranking.lists.size() != nq) {
    return absl::InvalidArgumentError(absl::StrCat("stage 'selective': ", ranking.lists.size(), " lists for ", nq,
                                                   " queries"));
  }
  std::vector<std::int64_t> keep;  // the queries not trusted: kept as they are
  for (std::size_t i = 0; i < nq; ++i) {
    const Ranking& list = ranking.lists[i];
    std::vector<float> vectors;
    std::int64_t dim = 0;
    if (config_.predictor == "coherence") {
      const std::size_t n = std::min(list.size(), static_cast<std::size_t>(config_.depth));
      dim = index_->dim();
      std::vector<std::int64_t> ids;
      for (std::size_t j = 0; j < n; ++j) ids.push_back(list[j].id);
      vectors.resize(n * static_cast<std::size_t>(dim));
      const absl::Status s =
          index_->Reconstruct(ids, MutableMatrixView{vectors.data(), static_cast<std::int64_t>(n), dim});
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat("stage 'selective': query ", queries.query_ids[i], ": ", s.message()));
      }
    }
    const double v = PredictorValue(config_.predictor, list, config_.depth, vectors.data(), dim);
    if (!std::isnan(v) && v < config_.threshold) keep.push_back(static_cast<std::int64_t>(i));
  }
  // Their entries before the model runs (and every text, to see whether the model replaced them).
  const auto kept = static_cast<std::int64_t>(keep.size());
  const bool had_vectors = queries.has_query_vectors(), had_bm25 = queries.has_bm25_queries(),
             had_tokens = queries.has_token_queries();
  const std::vector<std::string> texts = kept > 0 ? queries.query_texts : std::vector<std::string>{};
  const RowMatrix vectors = had_vectors ? RowMatrix(queries.query_vectors(keep, Eigen::all)) : RowMatrix();
  std::vector<WeightedQuery> bm25;
  std::vector<RowMatrix> tokens;
  std::vector<std::vector<float>> weights;
  for (const std::int64_t i : keep) {
    if (had_bm25) bm25.push_back(queries.bm25_queries[i]);
    if (had_tokens) {
      tokens.push_back(queries.token_queries[i]);
      weights.push_back(queries.token_weights[i]);
    }
  }
  DENSEFB_RETURN_IF_ERROR(model_->Refine(queries, ranking));
  const bool texts_changed = kept > 0 && queries.query_texts != texts;
  if (queries.has_query_vectors() && had_vectors && queries.query_vectors.cols() == vectors.cols()) {
    queries.query_vectors(keep, Eigen::all) = vectors;
  }
  for (std::size_t k = 0; k < keep.size(); ++k) {
    const auto i = static_cast<std::size_t>(keep[k]);
    if (texts_changed) queries.query_texts[i] = texts[i];
    if (queries.has_bm25_queries() && had_bm25) queries.bm25_queries[i] = std::move(bm25[k]);
    if (queries.has_token_queries() && had_tokens) {
      queries.token_queries[i] = std::move(tokens[k]);
      queries.token_weights[i] = std::move(weights[k]);
    }
  }
  // A model that replaced the texts dropped the representations derived from them; those of the
  // restored queries would be stale, so they are dropped again and recomputed from the texts.
  if (texts_changed && kept > 0) {
    std::vector<std::string> texts = queries.query_texts;
    DENSEFB_RETURN_IF_ERROR(queries.ReplaceTexts(std::move(texts)));
  }
  trusted_ += static_cast<std::int64_t>(nq) - kept;
  kept_ += kept;
  return absl::OkStatus();
}

namespace pipeline_internal {

void RegisterSelectivePrf() {
  StageInfo info;
  info.name = SelectivePrf::Params().stage();
  info.help =
      "applies the wrapped feedback model only to queries whose first pass a predictor (gap, ratio, nqc, "
      "coherence) trusts; the others keep their query";
  info.params = SelectivePrf::Params().Info();
  info.resources = {resource::kDenseIndex};
  (void)AddFeedbackModel(
      std::move(info),
      [](StageArgs& args, const Resources& r) -> absl::StatusOr<std::shared_ptr<const FeedbackModel>> {
        SelectivePrf::Config config;
        DENSEFB_RETURN_IF_ERROR(SelectivePrf::Params().Read(args, &config));
        auto inner = Pipeline::ParseFragment(config.model, r);
        if (!inner.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("stage 'selective': model = '", config.model, "': ", inner.status().message()));
        }
        if (inner->steps().size() != 1 || inner->steps()[0].role != StageRole::kFeedbackModel) {
          return absl::InvalidArgumentError(absl::StrCat("stage 'selective': model = '", config.model,
                                                         "' is not one feedback model (e.g. 'rocchio(topk=5)')"));
        }
        return std::shared_ptr<const FeedbackModel>(std::make_shared<SelectivePrf>(
            inner->steps()[0].feedback, r.Get<VectorIndex>(resource::kDenseIndex), std::move(config),
            inner->Requires()));
      });
}

}  // namespace pipeline_internal
}  // namespace densefb
