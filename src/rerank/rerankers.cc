// Rescore, CrossEncoderRerank and Cut (include/densefb/rerankers.h).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/rerankers.h"
#include "common/parallel.h"

namespace densefb {

// ---- rescore --------------------------------------------------------------------------------

const ParamTable<Rescore::Config>& Rescore::Params() {
  static const auto* table = new ParamTable<Config>(ParamTable<Config>("rescore").Integer(
      "k", &Config::k, 0, std::int64_t{1} << 31, "candidates re-scored, the first k; 0 = all"));
  return *table;
}

Rescore::Rescore(std::shared_ptr<const VectorIndex> index, std::shared_ptr<const Encoder> encoder,
                 Config config)
    : index_(std::move(index)), encoder_(std::move(encoder)), config_(config) {}

absl::Status Rescore::Prepare(QueryState& queries) const {
  if (index_ == nullptr || (encoder_ == nullptr && !queries.has_query_vectors())) return absl::OkStatus();
  return queries.EnsureQueryVectors(encoder_.get(), "rescore");
}

absl::StatusOr<BatchRanking> Rescore::Rerank(QueryState& queries, BatchRanking ranking) const {
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (index_ == nullptr) return MissingResource("rescore", "a dense vector index", "dense_index");
  DENSEFB_RETURN_IF_ERROR(queries.EnsureQueryVectors(encoder_.get(), "rescore"));
  if (queries.size() == 0) return ranking;
  const VectorIndex& index = *index_;
  DENSEFB_RETURN_IF_ERROR(queries.CheckQueryDim(index.dim(), "rescore"));
  const std::int64_t d = index.dim();
  const bool cosine = index.metric() == Metric::kCosine;
  const std::int64_t n = static_cast<std::int64_t>(queries.size());
  const std::int64_t k = config_.k;
  std::vector<absl::Status> errors(queries.size());
  ParallelFor(n, ResolveThreads(queries.options.num_threads), [&](std::int64_t i, int) {
    Ranking& list = ranking.lists[i];
    if (k > 0 && static_cast<std::int64_t>(list.size()) > k) list.resize(k);
    std::vector<std::int64_t> ids;
    ids.reserve(list.size());
    for (const ScoredDoc& doc : list) ids.push_back(doc.id);
    std::vector<float> vectors(ids.size() * static_cast<std::size_t>(d));
    const absl::Status s = index.Reconstruct(
        ids, MutableMatrixView{vectors.data(), static_cast<std::int64_t>(ids.size()), d});
    if (!s.ok()) {
      errors[i] = s;
      return;
    }
    const Eigen::Map<const Eigen::VectorXf> q(queries.query_vectors.row(i).data(), d);
    const float q_norm = q.norm();
    for (std::size_t j = 0; j < ids.size(); ++j) {
      const Eigen::Map<const Eigen::VectorXf> v(vectors.data() + j * d, d);
      float score = q.dot(v);
      if (cosine) {
        const float denom = q_norm * v.norm();
        score = denom > 0 ? score / denom : 0.f;
      }
      list[j].score = score;
    }
    SortRanking(list);
  });
  for (std::size_t q = 0; q < errors.size(); ++q) {
    if (!errors[q].ok()) {
      return absl::Status(errors[q].code(), absl::StrCat("query ", queries.query_ids[q], ": ", errors[q].message()));
    }
  }
  return ranking;
}

// ---- rerank_cross ---------------------------------------------------------------------------

const ParamTable<CrossEncoderRerank::Config>& CrossEncoderRerank::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("rerank_cross")
          .Integer("k", &Config::k, 1, std::int64_t{1} << 31, "candidates re-ranked, the first k")
          .Integer("batch_size", &Config::batch_size, 1, 1 << 16, "pairs per forward pass"));
  return *table;
}

CrossEncoderRerank::CrossEncoderRerank(std::shared_ptr<const Corpus> corpus,
                                       std::shared_ptr<const PairScorer> scorer, Config config)
    : corpus_(std::move(corpus)), scorer_(std::move(scorer)), config_(config) {}

absl::StatusOr<BatchRanking> CrossEncoderRerank::Rerank(QueryState& queries, BatchRanking ranking) const {
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (corpus_ == nullptr) return MissingResource("rerank_cross", "a corpus", "corpus");
  if (scorer_ == nullptr) return MissingResource("rerank_cross", "a cross-encoder", "cross_encoder");
  // All pairs of the batch in one call (the scorer batches and sorts by length).
  std::vector<std::string> texts;
  std::vector<std::string> passages;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    Ranking& list = ranking.lists[i];
    if (static_cast<std::int64_t>(list.size()) > config_.k) list.resize(config_.k);
    for (const ScoredDoc& doc : list) {
      if (doc.id < 0 || static_cast<std::size_t>(doc.id) >= corpus_->size()) {
        return absl::OutOfRangeError(absl::StrCat("query ", queries.query_ids[i], ": document id ", doc.id,
                                                  " is outside the corpus (", corpus_->size(), " documents)"));
      }
      texts.push_back(queries.original_texts[i]);
      passages.push_back(corpus_->FullText(static_cast<std::size_t>(doc.id)));
    }
  }
  std::vector<float> scores(texts.size());
  if (!texts.empty()) {
    DENSEFB_RETURN_IF_ERROR(scorer_->Score(texts, passages, absl::MakeSpan(scores),
                                           queries.MakeEncodeOptions(config_.batch_size)));
  }
  std::size_t offset = 0;
  for (Ranking& list : ranking.lists) {
    for (ScoredDoc& doc : list) doc.score = scores[offset++];
    SortRanking(list);
  }
  return ranking;
}

// ---- cut ------------------------------------------------------------------------------------

const ParamTable<Cut::Config>& Cut::Params() {
  static const auto* table = new ParamTable<Config>(ParamTable<Config>("cut").Integer(
      "k", &Config::k, 1, std::int64_t{1} << 31, "documents kept (required)"));
  return *table;
}

absl::StatusOr<BatchRanking> Cut::Rerank(QueryState&, BatchRanking ranking) const {
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  for (Ranking& list : ranking.lists) {
    if (static_cast<std::int64_t>(list.size()) > config_.k) list.resize(config_.k);
  }
  return ranking;
}

}  // namespace densefb
