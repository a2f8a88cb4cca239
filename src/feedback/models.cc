// The built-in feedback models: AveragePrf, RocchioPrf, TextPrf and Rm3
// (include/densefb/feedback.h).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/feedback.h"
#include "feedback/vector_prf.h"
#include "common/parallel.h"

namespace densefb {
namespace {

using feedback_internal::AverageRule;
using feedback_internal::RocchioRule;
using feedback_internal::VectorRule;

// Refines the query vectors of `queries` with `rule` over the stored vectors of `index`.
absl::Status RefineVectors(const VectorRule& rule, const char* stage, const VectorIndex* index,
                           const Encoder* encoder, QueryState& queries, const BatchRanking& ranking) {
  if (index == nullptr) return MissingResource(stage, "a dense vector index", "dense_index");
  DENSEFB_RETURN_IF_ERROR(queries.EnsureQueryVectors(encoder, stage));
  if (queries.size() == 0) return absl::OkStatus();
  DENSEFB_RETURN_IF_ERROR(queries.CheckQueryDim(index->dim(), stage));
  DENSEFB_ASSIGN_OR_RETURN(RowMatrix refined, rule.Refine(*index, View(queries.query_vectors), ranking));
  queries.query_vectors = std::move(refined);
  return absl::OkStatus();
}

absl::Status PrepareVectors(const VectorIndex* index, const Encoder* encoder, QueryState& queries,
                            const char* stage) {
  if (index == nullptr || (encoder == nullptr && !queries.has_query_vectors())) return absl::OkStatus();
  return queries.EnsureQueryVectors(encoder, stage);
}

}  // namespace

// ---- AveragePrf -----------------------------------------------------------------------------

const ParamTable<AveragePrf::Config>& AveragePrf::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("avg")
          .Integer("k", &Config::k, 1, 1 << 20, "feedback documents, the top of the ranking")
          .Flag("normalize", &Config::normalize, "L2-normalise the new vector (Pyserini: no)"));
  return *table;
}

AveragePrf::AveragePrf(std::shared_ptr<const VectorIndex> index, Config config,
                       std::shared_ptr<const Encoder> encoder)
    : index_(std::move(index)), encoder_(std::move(encoder)), config_(config) {}

absl::Status AveragePrf::Prepare(QueryState& queries) const {
  return PrepareVectors(index_.get(), encoder_.get(), queries, "avg");
}

absl::Status AveragePrf::Refine(QueryState& queries, const BatchRanking& ranking) const {
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  AverageRule rule(config_.k, config_.normalize);
  return RefineVectors(rule, "avg", index_.get(), encoder_.get(), queries, ranking);
}

// ---- RocchioPrf -----------------------------------------------------------------------------

const ParamTable<RocchioPrf::Config>& RocchioPrf::Params() {
  constexpr double kMax = 1e300;
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("rocchio")
          .Number("alpha", &Config::alpha, -kMax, kMax, "weight of the query vector")
          .Number("beta", &Config::beta, -kMax, kMax, "weight of the mean of the positives")
          .Number("gamma", &Config::gamma, -kMax, kMax,
                  "weight of the mean of the negatives (used only if bottomk > 0)")
          .Integer("topk", &Config::topk, 1, 1 << 20, "positives: the first topk of the ranking")
          .Integer("bottomk", &Config::bottomk, 0, 1 << 20,
                   "negatives: the last bottomk of the depth-`depth` ranking (0 = none)")
          .Integer("depth", &Config::depth, 0, 1 << 20,
                   "the first-pass list negatives come from; 0 = the whole ranking")
          .Flag("normalize", &Config::normalize, "L2-normalise the new vector (Pyserini: no)")
          .Check([](const Config& c) -> absl::Status {
            if (c.depth > 0 && (c.topk > c.depth || c.bottomk > c.depth)) {
              const bool top = c.topk > c.depth;
              return absl::InvalidArgumentError(absl::StrCat("stage 'rocchio': ", top ? "topk = " : "bottomk = ",
                                                             top ? c.topk : c.bottomk, " exceeds depth = ", c.depth));
            }
            return absl::OkStatus();
          }));
  return *table;
}

RocchioPrf::RocchioPrf(std::shared_ptr<const VectorIndex> index, Config config,
                       std::shared_ptr<const Encoder> encoder)
    : index_(std::move(index)), encoder_(std::move(encoder)), config_(config) {}

std::int64_t RocchioPrf::DepthRead() const {
  if (config_.bottomk > 0 && config_.depth == 0) return -1;  // negatives from the ranking's tail
  return config_.depth > 0 ? config_.depth : std::max(config_.topk, config_.bottomk);
}

absl::Status RocchioPrf::Prepare(QueryState& queries) const {
  return PrepareVectors(index_.get(), encoder_.get(), queries, "rocchio");
}

absl::Status RocchioPrf::Refine(QueryState& queries, const BatchRanking& ranking) const {
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  RocchioRule rule(config_.alpha, config_.beta, config_.gamma, config_.topk, config_.bottomk,
                   config_.depth, config_.normalize);
  return RefineVectors(rule, "rocchio", index_.get(), encoder_.get(), queries, ranking);
}

// ---- TextPrf --------------------------------------------------------------------------------

const ParamTable<TextPrf::Config>& TextPrf::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("text_prf")
          .Integer("k", &Config::k, 1, 1 << 20, "feedback passages, the top of the ranking")
          .Text("sep", &Config::sep, {}, "separator between the query and the passages"));
  return *table;
}

TextPrf::TextPrf(std::shared_ptr<const Corpus> corpus, std::shared_ptr<const Encoder> encoder, Config config)
    : corpus_(std::move(corpus)), encoder_(std::move(encoder)), config_(std::move(config)) {}

absl::Status TextPrf::Refine(QueryState& queries, const BatchRanking& ranking) const {
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (corpus_ == nullptr) return MissingResource("text_prf", "a corpus", "corpus");
  if (encoder_ == nullptr) return MissingResource("text_prf", "a query encoder", "encoder");
  if (queries.size() == 0) return absl::OkStatus();
  std::vector<std::string> texts(queries.size());
  const std::string joint = absl::StrCat(" ", config_.sep, " ");
  for (std::size_t i = 0; i < queries.size(); ++i) {
    std::string t = queries.query_texts[i];
    const Ranking& list = ranking.lists[i];
    for (std::size_t j = 0; j < list.size() && static_cast<std::int64_t>(j) < config_.k; ++j) {
      if (list[j].id < 0 || static_cast<std::size_t>(list[j].id) >= corpus_->size()) {
        return absl::OutOfRangeError(absl::StrCat("query ", queries.query_ids[i], ": document id ",
                                                  list[j].id, " is outside the corpus (",
                                                  corpus_->size(), " documents)"));
      }
      absl::StrAppend(&t, joint, corpus_->FullText(static_cast<std::size_t>(list[j].id)));
    }
    texts[i] = std::move(t);
  }
  RowMatrix vectors(static_cast<std::int64_t>(queries.size()), encoder_->Dimension());
  DENSEFB_RETURN_IF_ERROR(encoder_->EncodeQueries(
      texts, MutableView(vectors), queries.MakeEncodeOptions(queries.options.encode_batch_size)));
  queries.query_vectors = std::move(vectors);
  return absl::OkStatus();
}

// ---- Rm3 ------------------------------------------------------------------------------------

const ParamTable<Rm3::Config>& Rm3::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("rm3")
          .Integer<int>("fb_docs", &Config::fb_docs, 1, 1 << 20, "feedback documents, the top of the ranking")
          .Integer<int>("fb_terms", &Config::fb_terms, 1, 1 << 20, "terms kept per document and in the model")
          .Number<float>("original_query_weight", &Config::original_query_weight, 0, 1,
                         "weight of the original query in the interpolation")
          .Flag("filter_terms", &Config::filter_terms, "keep only alphanumeric feedback terms (Pyserini: true)")
          .Text("scores", &Config::scores, {"ranking", "bm25"},
                "what weights the feedback documents: the ranking's scores, or their BM25 scores"));
  return *table;
}

Rm3::Rm3(std::shared_ptr<const Bm25Collection> index, Config config)
    : index_(std::move(index)), config_(std::move(config)) {}

absl::Status Rm3::Prepare(QueryState& queries) const {
  return index_ == nullptr ? absl::OkStatus() : queries.EnsureBm25Queries(index_.get(), "rm3");
}

absl::Status Rm3::Refine(QueryState& queries, const BatchRanking& ranking) const {
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (index_ == nullptr) return MissingResource("rm3", "a BM25 index", "bm25");
  DENSEFB_RETURN_IF_ERROR(queries.EnsureBm25Queries(index_.get(), "rm3"));
  const std::size_t n = queries.size();
  const Rm3Options& options = config_;
  // The feedback documents: the top fb_docs of each ranking, re-scored by BM25 and re-sorted
  // with scores=bm25; then their term vectors, asked of the collection once for all queries.
  BatchRanking feedback;
  feedback.lists.resize(n);
  std::vector<std::vector<std::int64_t>> ids(n);
  for (std::size_t q = 0; q < n; ++q) {
    const Ranking& list = ranking.lists[q];
    feedback.lists[q].assign(list.begin(), list.begin() + std::min<std::int64_t>(options.fb_docs, list.size()));
    for (const ScoredDoc& d : feedback.lists[q]) ids[q].push_back(d.id);
  }
  if (config_.scores == "bm25") {
    DENSEFB_ASSIGN_OR_RETURN(const std::vector<std::vector<float>> scores,
                             index_->ScoreDocuments(queries.bm25_queries, ids));
    for (std::size_t q = 0; q < n; ++q) {
      if (q >= scores.size() || scores[q].size() != ids[q].size()) {
        return absl::InternalError(absl::StrCat("the BM25 collection scored the wrong number of documents for query ",
                                                queries.query_ids[q]));
      }
      for (std::size_t i = 0; i < ids[q].size(); ++i) feedback.lists[q][i].score = scores[q][i];
      SortRanking(feedback.lists[q]);
    }
  }
  DENSEFB_ASSIGN_OR_RETURN(const std::vector<std::vector<Rm3FeedbackDoc>> docs, index_->FeedbackDocuments(feedback));
  if (docs.size() != n) {
    return absl::InternalError(absl::StrCat("the BM25 collection returned term vectors for ", docs.size(), " of ", n,
                                            " queries"));
  }
  const std::int64_t num_docs = index_->CollectionNumDocs();
  std::vector<WeightedQuery> expanded(n);
  std::vector<absl::Status> errors(n);
  ParallelFor(static_cast<std::int64_t>(n), ResolveThreads(queries.options.num_threads), [&](std::int64_t q, int) {
    absl::StatusOr<WeightedQuery> e = Rm3Expand(queries.bm25_queries[q], docs[q], num_docs, options);
    if (!e.ok()) {
      errors[q] = e.status();
      return;
    }
    expanded[q] = *std::move(e);
  });
  for (std::size_t q = 0; q < errors.size(); ++q) {
    if (!errors[q].ok()) {
      return absl::Status(errors[q].code(), absl::StrCat("query ", queries.query_ids[q], ": ", errors[q].message()));
    }
  }
  queries.bm25_queries = std::move(expanded);
  return absl::OkStatus();
}

}  // namespace densefb
