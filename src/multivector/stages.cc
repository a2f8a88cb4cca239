// Pipeline stages of the multi-vector module: maxsim (end-to-end late-interaction retrieval),
// rerank_maxsim (MaxSim over any ranking) and colbert_prf (ColBERT-PRF, reranker or ranker).
#include "multivector/stages.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/multivector.h"
#include "densefb/pipeline.h"
#include "pipeline/internal.h"

namespace densefb::multivector_internal {
namespace {

absl::Status Range(const std::string& stage, absl::string_view key, double v, double lo, double hi) {
  if (v < lo || v > hi) {
    return absl::InvalidArgumentError(absl::StrCat("stage '", stage, "': ", key, " = ", SpecNumber(v),
                                                   " must be in [", SpecNumber(lo), ", ", SpecNumber(hi), "]"));
  }
  return absl::OkStatus();
}

std::vector<TokenQuery> Queries(const QueryState& state) {
  std::vector<TokenQuery> out(state.size());
  for (std::size_t q = 0; q < state.size(); ++q) {
    out[q].vectors = state.token_queries[q];
    out[q].weights = state.token_weights[q];
  }
  return out;
}

DocumentTokenSource Source(const Resources& r, const QueryState& state) {
  DocumentTokenSource s;
  s.index = r.multivector;
  s.encoder = r.token_encoder;
  s.corpus = r.corpus;
  s.encode_batch_size = state.options.encode_batch_size;
  return s;
}

// Prefixes an error with the stage's spec.
absl::Status InStage(const absl::Status& s, const std::string& spec) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("stage '", spec, "': ", s.message()));
}

// ---- maxsim ---------------------------------------------------------------------------------

class MaxSimStage final : public Stage {
 public:
  MaxSimStage(std::int64_t k, int token_k, int ef_search) : k_(k), token_k_(token_k), ef_search_(ef_search) {}
  absl::Status Run(const Resources& r, QueryState& state) const override {
    DENSEFB_RETURN_IF_ERROR(RequireResource(r, "multivector", "maxsim"));
    DENSEFB_RETURN_IF_ERROR(state.EnsureTokenQueries(r, "maxsim"));
    MultiVectorSearchOptions o;
    o.k = static_cast<int>(k_);
    o.token_k = token_k_;
    o.ef_search = ef_search_;
    o.num_threads = state.options.num_threads;
    auto result = r.multivector->Search(Queries(state), o);
    if (!result.ok()) return InStage(result.status(), ToString());
    state.SetRanking(*std::move(result));
    return absl::OkStatus();
  }
  std::string ToString() const override {
    return absl::StrCat("maxsim(k=", k_, ",token_k=", token_k_, ",ef_search=", ef_search_, ")");
  }
  std::vector<std::string> Requires() const override { return {"multivector", "token_encoder"}; }

 private:
  std::int64_t k_;
  int token_k_;
  int ef_search_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeMaxSim(StageArgs& args) {
  const MultiVectorSearchOptions d;  // the defaults
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t k, args.GetInt("k", d.k));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t token_k, args.GetInt("token_k", d.token_k));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t ef, args.GetInt("ef_search", d.ef_search));
  DENSEFB_RETURN_IF_ERROR(Range("maxsim", "k", static_cast<double>(k), 1, 1 << 30));
  DENSEFB_RETURN_IF_ERROR(Range("maxsim", "token_k", static_cast<double>(token_k), 1, 1 << 20));
  DENSEFB_RETURN_IF_ERROR(Range("maxsim", "ef_search", static_cast<double>(ef), 0, 1 << 20));
  return std::unique_ptr<Stage>(new MaxSimStage(k, static_cast<int>(token_k), static_cast<int>(ef)));
}

// ---- rerank_maxsim ------------------------------------------------------------------------

class RerankMaxSimStage final : public Stage {
 public:
  explicit RerankMaxSimStage(std::int64_t depth) : depth_(depth) {}
  absl::Status Run(const Resources& r, QueryState& state) const override {
    DENSEFB_RETURN_IF_ERROR(state.RequireRanking("rerank_maxsim"));
    if (r.multivector == nullptr && (r.token_encoder == nullptr || r.corpus == nullptr)) {
      return absl::FailedPreconditionError(
          "stage 'rerank_maxsim' needs a multi-vector index (resource 'multivector') or a token encoder "
          "and the corpus texts (resources 'token_encoder' and 'corpus')");
    }
    DENSEFB_RETURN_IF_ERROR(state.EnsureTokenQueries(r, "rerank_maxsim"));
    BatchRanking candidates = state.ranking;
    if (depth_ > 0) {
      for (Ranking& l : candidates.lists) {
        if (static_cast<std::int64_t>(l.size()) > depth_) l.resize(depth_);
      }
    }
    auto result = MaxSimRerank(Source(r, state), Queries(state), candidates, 0, state.options.num_threads);
    if (!result.ok()) return InStage(result.status(), ToString());
    state.SetRanking(*std::move(result));
    return absl::OkStatus();
  }
  std::string ToString() const override { return absl::StrCat("rerank_maxsim(depth=", depth_, ")"); }
  std::vector<std::string> Requires() const override { return {"corpus", "multivector", "token_encoder"}; }
  bool NeedsRanking() const override { return true; }

 private:
  std::int64_t depth_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeRerankMaxSim(StageArgs& args) {
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t depth, args.GetInt("depth", 0));
  DENSEFB_RETURN_IF_ERROR(Range("rerank_maxsim", "depth", static_cast<double>(depth), 0, 1 << 30));
  return std::unique_ptr<Stage>(new RerankMaxSimStage(depth));
}

// ---- colbert_prf --------------------------------------------------------------------------

const char* CandidatesName(ColbertPrfConfig::RerankCandidates c) {
  return c == ColbertPrfConfig::RerankCandidates::kInput ? "input" : "all";
}

class ColbertPrfStage final : public Stage {
 public:
  ColbertPrfStage(ColbertPrf prf, double beta, std::int64_t k, int token_k, int ef_search)
      : prf_(std::move(prf)), beta_(beta), k_(k), token_k_(token_k), ef_search_(ef_search) {}
  absl::Status Run(const Resources& r, QueryState& state) const override {
    DENSEFB_RETURN_IF_ERROR(RequireResource(r, "multivector", "colbert_prf"));
    DENSEFB_RETURN_IF_ERROR(state.RequireRanking("colbert_prf"));
    DENSEFB_RETURN_IF_ERROR(state.EnsureTokenQueries(r, "colbert_prf"));
    MultiVectorSearchOptions o;
    o.k = static_cast<int>(k_);
    o.token_k = token_k_;
    o.ef_search = ef_search_;
    o.num_threads = state.options.num_threads;
    std::vector<TokenQuery> expanded;
    auto result = prf_.Run(Source(r, state), Queries(state), state.ranking, o, &expanded);
    if (!result.ok()) return InStage(result.status(), ToString());
    for (std::size_t q = 0; q < state.size(); ++q) {
      state.token_queries[q] = std::move(expanded[q].vectors);
      state.token_weights[q] = std::move(expanded[q].weights);
    }
    state.SetRanking(*std::move(result));
    return absl::OkStatus();
  }
  std::string ToString() const override {
    const ColbertPrfConfig& c = prf_.config();
    return absl::StrCat("colbert_prf(fb_docs=", c.fb_docs, ",k=", c.clusters, ",fb_embs=", c.fb_embs,
                        ",beta=", SpecNumber(beta_), ",mode=",
                        c.mode == ColbertPrfConfig::Mode::kRank ? "rank" : "rerank", ",candidates=",
                        CandidatesName(c.rerank_candidates), ",depth=", k_, ",token_k=", token_k_,
                        ",ef_search=", ef_search_, ",seed=", c.seed, ")");
  }
  std::vector<std::string> Requires() const override { return {"corpus", "multivector", "token_encoder"}; }
  bool NeedsRanking() const override { return true; }

 private:
  ColbertPrf prf_;
  double beta_;  // as written in the spec
  std::int64_t k_;
  int token_k_;
  int ef_search_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeColbertPrf(StageArgs& args) {
  const std::string stage = "colbert_prf";
  // Defaults: ColbertPrfConfig's fields and MultiVectorSearchOptions' (depth = its k).
  ColbertPrfConfig c;
  const MultiVectorSearchOptions d;
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t fb_docs, args.GetInt("fb_docs", c.fb_docs));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t k, args.GetInt("k", c.clusters));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t fb_embs, args.GetInt("fb_embs", c.fb_embs));
  DENSEFB_ASSIGN_OR_RETURN(double beta, args.GetDouble("beta", c.beta));
  DENSEFB_ASSIGN_OR_RETURN(std::string mode,
                           args.GetString("mode", c.mode == ColbertPrfConfig::Mode::kRank ? "rank" : "rerank"));
  DENSEFB_ASSIGN_OR_RETURN(std::string candidates, args.GetString("candidates", CandidatesName(c.rerank_candidates)));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t depth, args.GetInt("depth", d.k));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t token_k, args.GetInt("token_k", d.token_k));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t ef, args.GetInt("ef_search", d.ef_search));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t seed, args.GetInt("seed", static_cast<std::int64_t>(c.seed)));
  DENSEFB_RETURN_IF_ERROR(Range(stage, "fb_docs", static_cast<double>(fb_docs), 1, 1 << 20));
  DENSEFB_RETURN_IF_ERROR(Range(stage, "k", static_cast<double>(k), 2, 1 << 20));
  DENSEFB_RETURN_IF_ERROR(Range(stage, "fb_embs", static_cast<double>(fb_embs), 1, 1 << 20));
  DENSEFB_RETURN_IF_ERROR(Range(stage, "depth", static_cast<double>(depth), 1, 1 << 30));
  DENSEFB_RETURN_IF_ERROR(Range(stage, "token_k", static_cast<double>(token_k), 1, 1 << 20));
  DENSEFB_RETURN_IF_ERROR(Range(stage, "ef_search", static_cast<double>(ef), 0, 1 << 20));
  DENSEFB_RETURN_IF_ERROR(Range(stage, "seed", static_cast<double>(seed), 0, 9.0e15));
  if (mode == "rerank") {
    c.mode = ColbertPrfConfig::Mode::kRerank;
  } else if (mode == "rank") {
    c.mode = ColbertPrfConfig::Mode::kRank;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("stage 'colbert_prf': mode = '", mode, "' must be 'rerank' or 'rank'"));
  }
  if (candidates == "all") {
    c.rerank_candidates = ColbertPrfConfig::RerankCandidates::kAllCandidates;
  } else if (candidates == "input") {
    c.rerank_candidates = ColbertPrfConfig::RerankCandidates::kInput;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("stage 'colbert_prf': candidates = '", candidates, "' must be 'all' or 'input'"));
  }
  c.fb_docs = static_cast<int>(fb_docs);
  c.clusters = static_cast<int>(k);
  c.fb_embs = static_cast<int>(fb_embs);
  c.beta = static_cast<float>(beta);
  c.seed = static_cast<std::uint64_t>(seed);
  auto prf = ColbertPrf::Create(c);
  if (!prf.ok()) return InStage(prf.status(), stage);
  return std::unique_ptr<Stage>(
      new ColbertPrfStage(*std::move(prf), beta, depth, static_cast<int>(token_k), static_cast<int>(ef)));
}

}  // namespace

void RegisterMultiVectorStages() {
  using pipeline_internal::RegisterBuiltinStage;
  const MultiVectorSearchOptions d;
  const ColbertPrfConfig c;
  (void)RegisterBuiltinStage(
      "maxsim", MakeMaxSim,
      absl::StrCat("maxsim(k=", d.k, ",token_k=", d.token_k, ",ef_search=", d.ef_search,
                   "): end-to-end late interaction: the documents of the token_k nearest document tokens of "
                   "every query token (multi-vector token index), scored by exact MaxSim"));
  (void)RegisterBuiltinStage(
      "rerank_maxsim", MakeRerankMaxSim,
      "rerank_maxsim(depth=0): re-scores the ranking (its top depth; 0 = all) by exact MaxSim; documents "
      "not in the multi-vector index are encoded with the token encoder from the corpus");
  (void)RegisterBuiltinStage(
      "colbert_prf", MakeColbertPrf,
      absl::StrCat("colbert_prf(fb_docs=", c.fb_docs, ",k=", c.clusters, ",fb_embs=", c.fb_embs,
                   ",beta=", SpecNumber(c.beta), ",mode=",
                   c.mode == ColbertPrfConfig::Mode::kRank ? "rank" : "rerank", ",candidates=",
                   CandidatesName(c.rerank_candidates), ",depth=", d.k, ",token_k=", d.token_k,
                   ",ef_search=", d.ef_search, ",seed=", c.seed,
                   "): ColBERT-PRF: k-means over the top fb_docs documents' token embeddings, the fb_embs "
                   "centroids of highest IDF appended with weight beta*idf; mode=rerank re-scores the whole "
                   "first-pass candidate set (candidates=all: the ranking plus the original query's token_k "
                   "candidates, as pyterrier_colbert; candidates=input: the ranking only), mode=rank "
                   "retrieves again (then exact MaxSim); depth results kept"));
}

}  // namespace densefb::multivector_internal
