// DenseRetriever and Bm25Retriever (include/densefb/retrievers.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "densefb/retrievers.h"

namespace densefb {
namespace {

// A size argument capped by what exists (at least 1, which an empty index or corpus answers
// with no result): k = 1073741824 over 200 documents allocates for 200.
std::int64_t CapToSize(std::int64_t k, std::int64_t size) {
  return std::max<std::int64_t>(1, std::min(k, size));
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

}  // namespace

// ---- dense ----------------------------------------------------------------------------------

const ParamTable<DenseRetriever::Config>& DenseRetriever::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("dense")
          .Integer("k", &Config::k, 1, 1 << 30, "documents retrieved per query")
          .Integer("ef_search", &Config::ef_search, 0, 1 << 30,
                   "HNSW candidate list size; 0 = the index's default (a flat index ignores it)"));
  return *table;
}

DenseRetriever::DenseRetriever(std::shared_ptr<const VectorIndex> index,
                               std::shared_ptr<const Encoder> encoder, Config config)
    : index_(std::move(index)), encoder_(std::move(encoder)), config_(config) {}

absl::Status DenseRetriever::Prepare(QueryState& queries) const {
  if (index_ == nullptr || (encoder_ == nullptr && !queries.has_query_vectors())) return absl::OkStatus();
  return queries.EnsureQueryVectors(encoder_.get(), "dense");
}

absl::StatusOr<BatchRanking> DenseRetriever::Retrieve(QueryState& queries) const {
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (index_ == nullptr) return MissingResource("dense", "a dense vector index", "dense_index");
  DENSEFB_RETURN_IF_ERROR(queries.EnsureQueryVectors(encoder_.get(), "dense"));
  if (queries.size() == 0) return BatchRanking{};
  DENSEFB_RETURN_IF_ERROR(queries.CheckQueryDim(index_->dim(), "dense"));
  SearchOptions options;
  // Never more results than the index holds: the search allocates queries x k.
  options.k = static_cast<int>(CapToSize(config_.k, index_->size()));
  options.num_threads = queries.options.num_threads;
  options.filter = queries.options.filter.get();
  // ef beyond the index size searches no wider (0 keeps the index default).
  options.ef_search = static_cast<int>(std::min<std::int64_t>(
      config_.ef_search, std::max<std::int64_t>(options.k, index_->size())));
  DENSEFB_ASSIGN_OR_RETURN(SearchResult result, index_->Search(View(queries.query_vectors), options));
  return ToBatchRanking(result);
}

std::shared_ptr<const Retriever> DenseRetriever::WithDepth(std::int64_t depth) const {
  if (index_ == nullptr || !index_->exact() || depth <= 0 || depth >= config_.k) return nullptr;
  Config shallow = config_;
  shallow.k = depth;
  return std::make_shared<DenseRetriever>(index_, encoder_, shallow);
}

// ---- bm25 -----------------------------------------------------------------------------------

namespace {

// k1 / b: a number, or "index" (the default, stored as -1): whatever the index scores with.
template <double Bm25Retriever::Config::*field>
absl::Status ReadIndexParam(StageArgs& args, Bm25Retriever::Config& c, const char* key, double hi) {
  const SpecValue* v = args.Get(key);
  if (v == nullptr || (v->kind == SpecValue::Kind::kString && v->text == "index")) return absl::OkStatus();
  if (v->kind != SpecValue::Kind::kNumber) {
    return absl::InvalidArgumentError(absl::StrCat("stage 'bm25': ", key, "=", v->text,
                                                   " must be a number or 'index' (the index's value)"));
  }
  if (!(v->number >= 0 && v->number <= hi)) {
    return absl::InvalidArgumentError(absl::StrCat("stage 'bm25': ", key, " = ", v->text, " must be in [0, ",
                                                   SpecNumber(hi), "]"));
  }
  c.*field = v->number;
  return absl::OkStatus();
}

std::string IndexParam(double v) { return v >= 0 ? SpecNumber(v) : "index"; }

}  // namespace

const ParamTable<Bm25Retriever::Config>& Bm25Retriever::Params() {
  static const auto* table = new ParamTable<Config>(
      ParamTable<Config>("bm25")
          .Integer("k", &Config::k, 1, std::int64_t{1} << 31, "documents retrieved per query")
          .Custom("k1", "BM25 k1: 'index' (the index's) or a number, which must equal the index's",
                  [](StageArgs& a, Config& c) { return ReadIndexParam<&Config::k1>(a, c, "k1", 1e300); },
                  nullptr, [](const Config& c) { return IndexParam(c.k1); })
          .Custom("b", "BM25 b: 'index' (the index's) or a number in [0, 1], which must equal the index's",
                  [](StageArgs& a, Config& c) { return ReadIndexParam<&Config::b>(a, c, "b", 1); },
                  nullptr, [](const Config& c) { return IndexParam(c.b); }));
  return *table;
}

Bm25Retriever::Bm25Retriever(std::shared_ptr<const Bm25Collection> index, Config config)
    : index_(std::move(index)), config_(config) {}

absl::StatusOr<BatchRanking> Bm25Retriever::Retrieve(QueryState& queries) const {
  DENSEFB_RETURN_IF_ERROR(Params().Validate(config_));
  if (index_ == nullptr) return MissingResource("bm25", "a BM25 index", "bm25");
  const Bm25Params& params = index_->params();
  if ((config_.k1 >= 0 && static_cast<float>(config_.k1) != params.k1) ||
      (config_.b >= 0 && static_cast<float>(config_.b) != params.b)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "stage '", ToString(), "' asks for k1 = ", config_.k1 >= 0 ? SpecNumber(config_.k1) : "any",
        ", b = ", config_.b >= 0 ? SpecNumber(config_.b) : "any", " but the BM25 index scores with k1 = ",
        params.k1, ", b = ", params.b,  // floats, printed at float precision
        " (set them on the index, Bm25Index::SetParams, before running)"));
  }
  const std::int64_t k = CapToSize(config_.k, index_->num_docs());
  const Filter* filter = queries.options.filter.get();
  if (queries.has_bm25_queries()) {
    return index_->SearchWeighted(queries.bm25_queries, k, queries.options.num_threads, filter);
  }
  return index_->Search(queries.query_texts, k, queries.options.num_threads, filter);
}

std::shared_ptr<const Retriever> Bm25Retriever::WithDepth(std::int64_t depth) const {
  if (index_ == nullptr || depth <= 0 || depth >= config_.k) return nullptr;
  Config shallow = config_;
  shallow.k = depth;
  return std::make_shared<Bm25Retriever>(index_, shallow);
}

}  // namespace densefb
