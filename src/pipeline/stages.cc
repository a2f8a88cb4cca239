// The stages of the core library: dense, bm25, rm3, avg, rocchio, rescore, text_prf,
// rerank_cross, cut. Each wraps a component of densefb; see include/densefb/pipeline.h.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/bm25.h"
#include "densefb/encoder.h"
#include "densefb/feedback.h"
#include "densefb/flat_index.h"
#include "densefb/index.h"
#include "densefb/pipeline.h"
#include "common/parallel.h"
#include "pipeline/internal.h"

namespace densefb {
namespace {

constexpr std::int64_t kMaxK = std::int64_t{1} << 31;

absl::Status CheckRange(const std::string& stage, absl::string_view key, std::int64_t v,
                        std::int64_t lo, std::int64_t hi = kMaxK) {
  if (v < lo || v > hi) {
    return absl::InvalidArgumentError(absl::StrCat("stage '", stage, "': ", key, " = ", v,
                                                   " is out of range [", lo, ", ", hi, "]"));
  }
  return absl::OkStatus();
}

// A size argument capped by what exists (at least 1, which an empty index or corpus answers
// with no result): k = 1073741824 over 200 documents allocates for 200.
std::int64_t CapToSize(std::int64_t k, std::int64_t size) {
  return std::max<std::int64_t>(1, std::min(k, size));
}

absl::Status CheckQueryDim(const VectorIndex& index, const QueryState& state, absl::string_view stage) {
  if (state.query_vectors.cols() != index.dim()) {
    return absl::InvalidArgumentError(absl::StrCat("stage '", stage, "': query vectors have dimension ",
                                                   state.query_vectors.cols(),
                                                   ", the dense index has dimension ", index.dim()));
  }
  return absl::OkStatus();
}

// Converts Faiss-style (n x k) results to lists, dropping the -1 padding.
BatchRanking ToBatchRanking(const SearchResult& result) {
  BatchRanking out;
  out.lists.resize(static_cast<std::size_t>(result.ids.rows()));
  for (std::int64_t i = 0; i < result.ids.rows(); ++i) {
    Ranking& list = out.lists[i];
    for (std::int64_t j = 0; j < result.ids.cols(); ++j) {
      if (result.ids(i, j) != kNoId) list.push_back({result.ids(i, j), result.scores(i, j)});
    }
  }
  return out;
}

// ---- dense ----------------------------------------------------------------------------------

class DenseStage final : public Stage {
 public:
  DenseStage(std::int64_t k, int ef_search) : k_(k), ef_search_(ef_search) {}
  absl::Status Run(const Resources& r, QueryState& state) const override {
    DENSEFB_RETURN_IF_ERROR(RequireResource(r, "dense_index", "dense"));
    DENSEFB_RETURN_IF_ERROR(state.EnsureQueryVectors(r, "dense"));
    if (state.size() == 0) {
      state.SetRanking({});
      return absl::OkStatus();
    }
    DENSEFB_RETURN_IF_ERROR(CheckQueryDim(*r.dense_index, state, "dense"));
    SearchOptions options;
    // Never more results than the index holds: the search allocates queries x k.
    options.k = static_cast<int>(CapToSize(k_, r.dense_index->size()));
    options.num_threads = state.options.num_threads;
    // ef beyond the index size searches no wider (0 keeps the index default).
    options.ef_search = static_cast<int>(std::min<std::int64_t>(ef_search_, std::max<std::int64_t>(options.k, r.dense_index->size())));
    DENSEFB_ASSIGN_OR_RETURN(SearchResult result, r.dense_index->Search(View(state.query_vectors), options));
    state.SetRanking(ToBatchRanking(result));
    return absl::OkStatus();
  }
  std::string ToString() const override {
    return absl::StrCat("dense(k=", k_, ",ef_search=", ef_search_, ")");
  }
  std::vector<std::string> Requires() const override { return {"dense_index", "encoder"}; }
  bool ReplacesRanking() const override { return true; }
  // Exact search only: HNSW's ef grows with k, so a shallower search could change the top.
  std::unique_ptr<Stage> Shallow(std::int64_t depth, const Resources& r) const override {
    if (dynamic_cast<const FlatIndex*>(r.dense_index) == nullptr || depth >= k_) return nullptr;
    return std::make_unique<DenseStage>(depth, ef_search_);
  }

 private:
  std::int64_t k_;
  int ef_search_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeDense(StageArgs& args) {
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t k, args.GetInt("k", 1000));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t ef, args.GetInt("ef_search", 0));
  DENSEFB_RETURN_IF_ERROR(CheckRange("dense", "k", k, 1, 1 << 30));
  DENSEFB_RETURN_IF_ERROR(CheckRange("dense", "ef_search", ef, 0, 1 << 30));
  return std::unique_ptr<Stage>(new DenseStage(k, static_cast<int>(ef)));
}

// ---- bm25 -----------------------------------------------------------------------------------

class Bm25Stage final : public Stage {
 public:
  Bm25Stage(std::int64_t k, double k1, double b) : k_(k), k1_(k1), b_(b) {}
  absl::Status Run(const Resources& r, QueryState& state) const override {
    DENSEFB_RETURN_IF_ERROR(RequireResource(r, "bm25", "bm25"));
    const Bm25Params& params = r.bm25->params();
    if ((k1_ >= 0 && static_cast<float>(k1_) != params.k1) ||
        (b_ >= 0 && static_cast<float>(b_) != params.b)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "stage '", ToString(), "' asks for k1 = ", k1_ >= 0 ? SpecNumber(k1_) : "any", ", b = ",
          b_ >= 0 ? SpecNumber(b_) : "any", " but the BM25 index scores with k1 = ",
          SpecNumber(params.k1), ", b = ", SpecNumber(params.b),
          " (set them on the index, Bm25Index::SetParams, before running)"));
    }
    BatchRanking ranking;
    const std::int64_t k = CapToSize(k_, r.bm25->num_docs());
    if (state.bm25_queries.size() == state.size() && state.size() > 0) {
      DENSEFB_ASSIGN_OR_RETURN(ranking, r.bm25->SearchWeighted(state.bm25_queries, k,
                                                               state.options.num_threads));
    } else {
      DENSEFB_ASSIGN_OR_RETURN(ranking, r.bm25->Search(state.query_texts, k, state.options.num_threads));
    }
    state.SetRanking(std::move(ranking));
    return absl::OkStatus();
  }
  std::string ToString() const override {
    return absl::StrCat("bm25(k=", k_, ",k1=", k1_ >= 0 ? SpecNumber(k1_) : "index",
                        ",b=", b_ >= 0 ? SpecNumber(b_) : "index", ")");
  }
  std::vector<std::string> Requires() const override { return {"bm25"}; }
  bool ReplacesRanking() const override { return true; }
  std::unique_ptr<Stage> Shallow(std::int64_t depth, const Resources&) const override {
    if (depth >= k_) return nullptr;
    return std::make_unique<Bm25Stage>(depth, k1_, b_);
  }

 private:
  std::int64_t k_;
  double k1_;  // < 0: whatever the index uses
  double b_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeBm25(StageArgs& args) {
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t k, args.GetInt("k", 1000));
  DENSEFB_RETURN_IF_ERROR(CheckRange("bm25", "k", k, 1));
  // k1 / b: a number, or "index" (the default): whatever the index scores with (< 0 here).
  double k1 = -1, b = -1;
  for (const char* key : {"k1", "b"}) {
    const SpecValue* v = args.Get(key);
    const bool is_k1 = key[0] == 'k';
    if (v == nullptr || (v->kind == SpecValue::Kind::kString && v->text == "index")) continue;
    if (v->kind != SpecValue::Kind::kNumber) {
      return absl::InvalidArgumentError(absl::StrCat("stage 'bm25': ", key, "=", v->text,
                                                     " must be a number or 'index' (the index's value)"));
    }
    if (is_k1 && !(v->number >= 0 && std::isfinite(v->number))) {
      return absl::InvalidArgumentError(absl::StrCat("stage 'bm25': k1 = ", v->text, " must be >= 0"));
    }
    if (!is_k1 && !(v->number >= 0 && v->number <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat("stage 'bm25': b = ", v->text, " must be in [0, 1]"));
    }
    (is_k1 ? k1 : b) = v->number;
  }
  return std::unique_ptr<Stage>(new Bm25Stage(k, k1, b));
}

// ---- rm3 ------------------------------------------------------------------------------------

class Rm3Stage final : public Stage {
 public:
  Rm3Stage(Rm3Options options, bool bm25_scores) : options_(options), bm25_scores_(bm25_scores) {}
  absl::Status Run(const Resources& r, QueryState& state) const override {
    DENSEFB_RETURN_IF_ERROR(RequireResource(r, "bm25", "rm3"));
    DENSEFB_RETURN_IF_ERROR(state.RequireRanking("rm3"));
    DENSEFB_RETURN_IF_ERROR(state.EnsureBm25Queries(r, "rm3"));
    const std::int64_t n = static_cast<std::int64_t>(state.size());
    std::vector<WeightedQuery> expanded(state.size());
    std::vector<absl::Status> errors(state.size());
    ParallelFor(n, ResolveThreads(state.options.num_threads), [&](std::int64_t q, int) {
      const Ranking& list = state.ranking.lists[q];
      Ranking feedback(list.begin(),
                       list.begin() + std::min<std::int64_t>(options_.fb_docs, list.size()));
      if (bm25_scores_) {
        std::vector<std::int64_t> ids;
        for (const ScoredDoc& d : feedback) ids.push_back(d.id);
        absl::StatusOr<std::vector<float>> scores = r.bm25->Score(state.bm25_queries[q], ids);
        if (!scores.ok()) {
          errors[q] = scores.status();
          return;
        }
        for (std::size_t i = 0; i < feedback.size(); ++i) feedback[i].score = (*scores)[i];
        SortRanking(feedback);
      }
      absl::StatusOr<WeightedQuery> e = Rm3ExpandQuery(*r.bm25, state.bm25_queries[q], feedback, options_);
      if (!e.ok()) {
        errors[q] = e.status();
        return;
      }
      expanded[q] = *std::move(e);
    });
    for (std::size_t q = 0; q < errors.size(); ++q) {
      if (!errors[q].ok()) {
        return absl::Status(errors[q].code(),
                            absl::StrCat("query ", state.query_ids[q], ": ", errors[q].message()));
      }
    }
    state.bm25_queries = std::move(expanded);
    return absl::OkStatus();
  }
  std::string ToString() const override {
    return absl::StrCat("rm3(fb_docs=", options_.fb_docs, ",fb_terms=", options_.fb_terms,
                        ",original_query_weight=", SpecNumber(options_.original_query_weight),
                        ",filter_terms=", options_.filter_terms ? "true" : "false",
                        ",scores=", bm25_scores_ ? "bm25" : "ranking", ")");
  }
  std::vector<std::string> Requires() const override { return {"bm25"}; }
  bool NeedsRanking() const override { return true; }
  std::int64_t RankingDepthRead() const override { return options_.fb_docs; }

 private:
  Rm3Options options_;
  bool bm25_scores_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeRm3(StageArgs& args) {
  Rm3Options o;
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t fb_docs, args.GetInt("fb_docs", o.fb_docs));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t fb_terms, args.GetInt("fb_terms", o.fb_terms));
  DENSEFB_ASSIGN_OR_RETURN(double w, args.GetDouble("original_query_weight", o.original_query_weight));
  DENSEFB_ASSIGN_OR_RETURN(o.filter_terms, args.GetBool("filter_terms", o.filter_terms));
  DENSEFB_ASSIGN_OR_RETURN(std::string scores, args.GetString("scores", "ranking"));
  DENSEFB_RETURN_IF_ERROR(CheckRange("rm3", "fb_docs", fb_docs, 1, 1 << 20));
  DENSEFB_RETURN_IF_ERROR(CheckRange("rm3", "fb_terms", fb_terms, 1, 1 << 20));
  if (!(w >= 0 && w <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("stage 'rm3': original_query_weight = ", SpecNumber(w), " must be in [0, 1]"));
  }
  if (scores != "ranking" && scores != "bm25") {
    return absl::InvalidArgumentError(absl::StrCat(
        "stage 'rm3': scores = ", scores,
        "; expected 'ranking' (the current ranking's scores weight the feedback documents) or "
        "'bm25' (their BM25 scores for the query)"));
  }
  o.fb_docs = static_cast<int>(fb_docs);
  o.fb_terms = static_cast<int>(fb_terms);
  o.original_query_weight = static_cast<float>(w);
  return std::unique_ptr<Stage>(new Rm3Stage(o, scores == "bm25"));
}

// ---- avg / rocchio --------------------------------------------------------------------------

// How deep a feedback model reads the ranking; Rocchio's negatives with depth 0 come from the
// tail of the whole ranking.
std::int64_t DepthRead(const AveragePrf& m) { return m.RequiredDepth(); }
std::int64_t DepthRead(const RocchioPrf& m) { return m.bottomk > 0 && m.depth == 0 ? -1 : m.RequiredDepth(); }

template <typename Model>
class VectorPrfStage final : public Stage {
 public:
  VectorPrfStage(std::string name, Model model) : name_(std::move(name)), model_(std::move(model)) {}
  absl::Status Run(const Resources& r, QueryState& state) const override {
    DENSEFB_RETURN_IF_ERROR(RequireResource(r, "dense_index", name_));
    DENSEFB_RETURN_IF_ERROR(state.RequireRanking(name_));
    DENSEFB_RETURN_IF_ERROR(state.EnsureQueryVectors(r, name_));
    if (state.size() == 0) return absl::OkStatus();
    DENSEFB_RETURN_IF_ERROR(CheckQueryDim(*r.dense_index, state, name_));
    DENSEFB_ASSIGN_OR_RETURN(RowMatrix refined,
                             model_.Refine(*r.dense_index, View(state.query_vectors), state.ranking));
    state.query_vectors = std::move(refined);
    return absl::OkStatus();
  }
  std::string ToString() const override { return model_.ToString(); }
  std::vector<std::string> Requires() const override { return {"dense_index", "encoder"}; }
  bool NeedsRanking() const override { return true; }
  std::int64_t RankingDepthRead() const override { return DepthRead(model_); }

 private:
  std::string name_;
  Model model_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeAvg(StageArgs& args) {
  AveragePrf m;
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t k, args.GetInt("k", m.k));
  DENSEFB_ASSIGN_OR_RETURN(m.normalize, args.GetBool("normalize", m.normalize));
  DENSEFB_RETURN_IF_ERROR(CheckRange("avg", "k", k, 1, 1 << 20));
  m.k = static_cast<int>(k);
  DENSEFB_RETURN_IF_ERROR(m.Validate());
  return std::unique_ptr<Stage>(new VectorPrfStage<AveragePrf>("avg", m));
}

absl::StatusOr<std::unique_ptr<Stage>> MakeRocchio(StageArgs& args) {
  RocchioPrf m;
  DENSEFB_ASSIGN_OR_RETURN(m.alpha, args.GetDouble("alpha", m.alpha));
  DENSEFB_ASSIGN_OR_RETURN(m.beta, args.GetDouble("beta", m.beta));
  DENSEFB_ASSIGN_OR_RETURN(m.gamma, args.GetDouble("gamma", m.gamma));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t topk, args.GetInt("topk", m.topk));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t bottomk, args.GetInt("bottomk", m.bottomk));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t depth, args.GetInt("depth", m.depth));
  DENSEFB_ASSIGN_OR_RETURN(m.normalize, args.GetBool("normalize", m.normalize));
  DENSEFB_RETURN_IF_ERROR(CheckRange("rocchio", "topk", topk, 1, 1 << 20));
  DENSEFB_RETURN_IF_ERROR(CheckRange("rocchio", "bottomk", bottomk, 0, 1 << 20));
  DENSEFB_RETURN_IF_ERROR(CheckRange("rocchio", "depth", depth, 0, 1 << 20));
  m.topk = static_cast<int>(topk);
  m.bottomk = static_cast<int>(bottomk);
  m.depth = static_cast<int>(depth);
  DENSEFB_RETURN_IF_ERROR(m.Validate());
  return std::unique_ptr<Stage>(new VectorPrfStage<RocchioPrf>("rocchio", m));
}

// ---- rescore --------------------------------------------------------------------------------

// Re-scores the candidates of the current ranking with the current dense query vector by the
// index metric over the stored vectors, exactly as PrfRerank scores (float32 dot product;
// cosine divides by both norms), and re-sorts them. `dense >> avg(k=3) >> rescore` is the
// "ranking" setting of the Vector-PRF paper.
class RescoreStage final : public Stage {
 public:
  explicit RescoreStage(std::int64_t k) : k_(k) {}
  absl::Status Run(const Resources& r, QueryState& state) const override {
    DENSEFB_RETURN_IF_ERROR(RequireResource(r, "dense_index", "rescore"));
    DENSEFB_RETURN_IF_ERROR(state.RequireRanking("rescore"));
    DENSEFB_RETURN_IF_ERROR(state.EnsureQueryVectors(r, "rescore"));
    if (state.size() == 0) return absl::OkStatus();
    const VectorIndex& index = *r.dense_index;
    DENSEFB_RETURN_IF_ERROR(CheckQueryDim(index, state, "rescore"));
    const std::int64_t d = index.dim();
    const bool cosine = index.metric() == Metric::kCosine;
    const std::int64_t n = static_cast<std::int64_t>(state.size());
    std::vector<absl::Status> errors(state.size());
    ParallelFor(n, ResolveThreads(state.options.num_threads), [&](std::int64_t i, int) {
      Ranking& list = state.ranking.lists[i];
      if (k_ > 0 && static_cast<std::int64_t>(list.size()) > k_) list.resize(k_);
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
      const Eigen::Map<const Eigen::VectorXf> q(state.query_vectors.row(i).data(), d);
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
        return absl::Status(errors[q].code(),
                            absl::StrCat("query ", state.query_ids[q], ": ", errors[q].message()));
      }
    }
    return absl::OkStatus();
  }
  std::string ToString() const override { return absl::StrCat("rescore(k=", k_, ")"); }
  std::vector<std::string> Requires() const override { return {"dense_index", "encoder"}; }
  bool NeedsRanking() const override { return true; }

 private:
  std::int64_t k_;  // candidates re-scored (the rest are dropped); 0 = all
};

absl::StatusOr<std::unique_ptr<Stage>> MakeRescore(StageArgs& args) {
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t k, args.GetInt("k", 0));
  DENSEFB_RETURN_IF_ERROR(CheckRange("rescore", "k", k, 0));
  return std::unique_ptr<Stage>(new RescoreStage(k));
}

// ---- text_prf -------------------------------------------------------------------------------

std::string QuoteString(const std::string& s) {
  return s.find('"') == std::string::npos ? absl::StrCat("\"", s, "\"") : absl::StrCat("'", s, "'");
}

class TextPrfStage final : public Stage {
 public:
  TextPrfStage(std::int64_t k, std::string sep) : k_(k), sep_(std::move(sep)) {}
  absl::Status Run(const Resources& r, QueryState& state) const override {
    DENSEFB_RETURN_IF_ERROR(RequireResource(r, "corpus", "text_prf"));
    DENSEFB_RETURN_IF_ERROR(RequireResource(r, "encoder", "text_prf"));
    DENSEFB_RETURN_IF_ERROR(state.RequireRanking("text_prf"));
    if (state.size() == 0) return absl::OkStatus();
    std::vector<std::string> texts(state.size());
    const std::string joint = absl::StrCat(" ", sep_, " ");
    for (std::size_t i = 0; i < state.size(); ++i) {
      std::string t = state.query_texts[i];
      const Ranking& list = state.ranking.lists[i];
      for (std::size_t j = 0; j < list.size() && static_cast<std::int64_t>(j) < k_; ++j) {
        if (list[j].id < 0 || static_cast<std::size_t>(list[j].id) >= r.corpus->size()) {
          return absl::OutOfRangeError(absl::StrCat("query ", state.query_ids[i], ": document id ",
                                                    list[j].id, " is outside the corpus (",
                                                    r.corpus->size(), " documents)"));
        }
        absl::StrAppend(&t, joint, r.corpus->FullText(static_cast<std::size_t>(list[j].id)));
      }
      texts[i] = std::move(t);
    }
    RowMatrix vectors(static_cast<std::int64_t>(state.size()), r.encoder->Dimension());
    DENSEFB_RETURN_IF_ERROR(r.encoder->EncodeQueries(
        texts, MutableView(vectors), state.MakeEncodeOptions(state.options.encode_batch_size)));
    state.query_vectors = std::move(vectors);
    return absl::OkStatus();
  }
  std::string ToString() const override {
    return absl::StrCat("text_prf(k=", k_, ",sep=", QuoteString(sep_), ")");
  }
  std::vector<std::string> Requires() const override { return {"corpus", "encoder"}; }
  bool NeedsRanking() const override { return true; }

 private:
  std::int64_t k_;
  std::string sep_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeTextPrf(StageArgs& args) {
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t k, args.GetInt("k", 3));
  DENSEFB_ASSIGN_OR_RETURN(std::string sep, args.GetString("sep", "[SEP]"));
  DENSEFB_RETURN_IF_ERROR(CheckRange("text_prf", "k", k, 1, 1 << 20));
  if (sep.find('"') != std::string::npos && sep.find('\'') != std::string::npos) {
    return absl::InvalidArgumentError("stage 'text_prf': sep cannot hold both quote characters");
  }
  return std::unique_ptr<Stage>(new TextPrfStage(k, std::move(sep)));
}

// ---- rerank_cross ---------------------------------------------------------------------------

class CrossRerankStage final : public Stage {
 public:
  CrossRerankStage(std::int64_t k, int batch_size) : k_(k), batch_size_(batch_size) {}
  absl::Status Run(const Resources& r, QueryState& state) const override {
    DENSEFB_RETURN_IF_ERROR(RequireResource(r, "corpus", "rerank_cross"));
    DENSEFB_RETURN_IF_ERROR(RequireResource(r, "cross_encoder", "rerank_cross"));
    DENSEFB_RETURN_IF_ERROR(state.RequireRanking("rerank_cross"));
    // All pairs of the batch in one call (the scorer batches and sorts by length).
    std::vector<std::string> queries;
    std::vector<std::string> passages;
    for (std::size_t i = 0; i < state.size(); ++i) {
      Ranking& list = state.ranking.lists[i];
      if (static_cast<std::int64_t>(list.size()) > k_) list.resize(k_);
      for (const ScoredDoc& doc : list) {
        if (doc.id < 0 || static_cast<std::size_t>(doc.id) >= r.corpus->size()) {
          return absl::OutOfRangeError(absl::StrCat("query ", state.query_ids[i], ": document id ",
                                                    doc.id, " is outside the corpus (",
                                                    r.corpus->size(), " documents)"));
        }
        queries.push_back(state.query_texts[i]);
        passages.push_back(r.corpus->FullText(static_cast<std::size_t>(doc.id)));
      }
    }
    std::vector<float> scores(queries.size());
    if (!queries.empty()) {
      DENSEFB_RETURN_IF_ERROR(r.cross_encoder->Score(queries, passages, absl::MakeSpan(scores),
                                                     state.MakeEncodeOptions(batch_size_)));
    }
    std::size_t offset = 0;
    for (Ranking& list : state.ranking.lists) {
      for (ScoredDoc& doc : list) doc.score = scores[offset++];
      SortRanking(list);
    }
    return absl::OkStatus();
  }
  std::string ToString() const override {
    return absl::StrCat("rerank_cross(k=", k_, ",batch_size=", batch_size_, ")");
  }
  std::vector<std::string> Requires() const override { return {"corpus", "cross_encoder"}; }
  bool NeedsRanking() const override { return true; }

 private:
  std::int64_t k_;
  int batch_size_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeCrossRerank(StageArgs& args) {
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t k, args.GetInt("k", 100));
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t batch_size, args.GetInt("batch_size", 32));
  DENSEFB_RETURN_IF_ERROR(CheckRange("rerank_cross", "k", k, 1));
  DENSEFB_RETURN_IF_ERROR(CheckRange("rerank_cross", "batch_size", batch_size, 1, 1 << 16));
  return std::unique_ptr<Stage>(new CrossRerankStage(k, static_cast<int>(batch_size)));
}

// ---- cut ------------------------------------------------------------------------------------

class CutStage final : public Stage {
 public:
  explicit CutStage(std::int64_t k) : k_(k) {}
  absl::Status Run(const Resources&, QueryState& state) const override {
    DENSEFB_RETURN_IF_ERROR(state.RequireRanking("cut"));
    for (Ranking& list : state.ranking.lists) {
      if (static_cast<std::int64_t>(list.size()) > k_) list.resize(k_);
    }
    return absl::OkStatus();
  }
  std::string ToString() const override { return absl::StrCat("cut(k=", k_, ")"); }
  std::vector<std::string> Requires() const override { return {}; }
  bool NeedsRanking() const override { return true; }

 private:
  std::int64_t k_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeCut(StageArgs& args) {
  if (!args.Has("k")) {
    (void)args.GetInt("k", 0);  // listed as accepted
    return absl::InvalidArgumentError("stage 'cut' needs k, e.g. cut(k=100)");
  }
  DENSEFB_ASSIGN_OR_RETURN(std::int64_t k, args.GetInt("k", 0));
  DENSEFB_RETURN_IF_ERROR(CheckRange("cut", "k", k, 1));
  return std::unique_ptr<Stage>(new CutStage(k));
}

void Register(const char* name, StageFactory f, const char* help) {
  const absl::Status s = pipeline_internal::RegisterBuiltinStage(name, std::move(f), help);
  (void)s;  // names are distinct; the registry is empty when the core stages are added
}

}  // namespace

namespace pipeline_internal {

void RegisterCoreStages() {
  Register("dense", MakeDense,
           "dense(k=1000,ef_search=0): top-k by the dense index with the current query vector "
           "(encoded with the encoder when there is none yet); ef_search for HNSW, 0 = index default");
  Register("bm25", MakeBm25,
           "bm25(k=1000,k1=index,b=index): top-k BM25 with the current weighted query (after rm3) "
           "or the query text; k1/b are the index's ('index'); numbers given must match it");
  Register("rm3", MakeRm3,
           "rm3(fb_docs=10,fb_terms=10,original_query_weight=0.5,filter_terms=true,scores=ranking): "
           "RM3 expansion of the BM25 query from the current ranking; then bm25 searches with it");
  Register("avg", MakeAvg,
           "avg(k=3,normalize=false): Average vector PRF, q' = (q + d_1 + ... + d_k) / (k + 1)");
  Register("rocchio", MakeRocchio,
           "rocchio(alpha=0.9,beta=0.1,gamma=0.1,topk=3,bottomk=0,depth=0,normalize=false): "
           "Rocchio vector PRF as Pyserini");
  Register("rescore", MakeRescore,
           "rescore(k=0): re-score the current candidates (first k, 0 = all) with the current "
           "query vector by the index metric (vector-PRF 'ranking' setting: dense >> avg >> rescore)");
  Register("text_prf", MakeTextPrf,
           "text_prf(k=3,sep=\"[SEP]\"): ANCE-PRF style input, query [SEP] p_1 [SEP] ... p_k, "
           "re-encoded by the encoder; the next dense stage searches with it");
  Register("rerank_cross", MakeCrossRerank,
           "rerank_cross(k=100,batch_size=32): cross-encoder scores of the first k candidates; "
           "the ranking keeps those k, re-sorted");
  Register("cut", MakeCut, "cut(k): keep the first k of the current ranking");
}

}  // namespace pipeline_internal
}  // namespace densefb
