// Exact weighted MaxSim and the MaxSim reranker over any first stage.
#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "densefb/multivector.h"
#include "index/kernels.h"
#include "multivector/maxsim_internal.h"

namespace densefb {
namespace mv_internal {

absl::Status CheckTokenQuery(const TokenQuery& q, int dim, std::int64_t index) {
  if (q.vectors.rows() > 0 && q.vectors.cols() != dim) {
    return absl::InvalidArgumentError(absl::StrCat("query ", index, " has ", q.vectors.cols(),
                                                   " dimensions, the token embeddings have ", dim));
  }
  if (!q.weights.empty() && static_cast<std::int64_t>(q.weights.size()) != q.vectors.rows()) {
    return absl::InvalidArgumentError(absl::StrCat("query ", index, " has ", q.vectors.rows(), " token rows but ",
                                                   q.weights.size(), " weights"));
  }
  for (std::size_t i = 0; i < q.weights.size(); ++i) {
    if (!std::isfinite(q.weights[i])) {
      return absl::InvalidArgumentError(absl::StrCat("query ", index, " weight ", i, " is not finite"));
    }
  }
  return CheckFinite(View(q.vectors), absl::StrCat("query ", index, " token embedding"));
}

float WeightedMaxSim(const TokenQuery& q, ConstMatrixView doc, std::vector<float>* scratch) {
  const std::int64_t m = q.vectors.rows(), n = doc.rows;
  if (m == 0 || n == 0) return 0.0f;
  scratch->resize(static_cast<std::size_t>(m * n));
  kernels::Best().gemm_nt(q.vectors.data(), m, doc.data, n, doc.cols, scratch->data(), n);
  double total = 0;
  for (std::int64_t i = 0; i < m; ++i) {
    const float* row = scratch->data() + i * n;
    const float best = *std::max_element(row, row + n);
    const double w = q.weights.empty() ? 1.0 : static_cast<double>(q.weights[i]);
    total += w * static_cast<double>(best);
  }
  return static_cast<float>(total);
}

absl::Status DocumentCache::Prepare(const DocumentTokenSource& source, std::vector<std::int64_t> ids, int dim) {
  if (source.extra_ids.size() != source.extra_docs.size()) {
    return absl::InvalidArgumentError(absl::StrCat(source.extra_ids.size(), " given document ids but ",
                                                   source.extra_docs.size(), " given documents"));
  }
  for (std::size_t i = 0; i < source.extra_ids.size(); ++i) {
    const ConstMatrixView& v = source.extra_docs[i];
    if (v.rows > 0 && v.cols != dim) {
      return absl::InvalidArgumentError(absl::StrCat("given document ", source.extra_ids[i], " has ", v.cols,
                                                     " dimensions, expected ", dim));
    }
    given_[source.extra_ids[i]] = v;
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  const std::int64_t indexed = source.index != nullptr ? source.index->size() : 0;
  std::vector<std::int64_t> missing;
  std::vector<std::int64_t> held;
  for (std::int64_t id : ids) {
    if (id < 0) return absl::InvalidArgumentError(absl::StrCat("document id ", id, " is negative"));
    if (given_.contains(id)) continue;
    (id < indexed ? held : missing).push_back(id);
  }
  if (!held.empty()) {
    DENSEFB_ASSIGN_OR_RETURN(std::vector<RowMatrix> docs, source.index->Documents(held));
    if (docs.size() != held.size()) {
      return absl::InternalError(absl::StrCat("the multi-vector index returned ", docs.size(), " documents for ",
                                              held.size(), " ids"));
    }
    for (std::size_t i = 0; i < held.size(); ++i) {
      if (docs[i].rows() > 0 && docs[i].cols() != dim) {
        return absl::InternalError(absl::StrCat("the multi-vector index returned document ", held[i], " with ",
                                                docs[i].cols(), " dimensions, expected ", dim));
      }
      encoded_.emplace(held[i], std::move(docs[i]));
    }
  }
  if (missing.empty()) return absl::OkStatus();
  if (source.encoder == nullptr) {
    return absl::OutOfRangeError(absl::StrCat("document ", missing.front(), " is not in the multi-vector index (",
                                              indexed, " documents) and no token encoder was given"));
  }
  if (source.encoder->Dimension() != dim) {
    return absl::InvalidArgumentError(absl::StrCat("the token encoder gives ", source.encoder->Dimension(),
                                                   " dimensions, expected ", dim));
  }
  const std::size_t available = source.corpus != nullptr ? source.corpus->size() : source.texts.size();
  if (missing.back() >= static_cast<std::int64_t>(available)) {
    return absl::OutOfRangeError(absl::StrCat("document ", missing.back(), " is not in the multi-vector index and has no "
                                              "text to encode (", available, " texts)"));
  }
  std::vector<std::string> texts;
  texts.reserve(missing.size());
  for (std::int64_t id : missing) {
    texts.push_back(source.corpus != nullptr ? source.corpus->FullText(static_cast<std::size_t>(id)) : source.texts[id]);
  }
  EncodeOptions eo;
  eo.batch_size = source.encode_batch_size;
  DENSEFB_ASSIGN_OR_RETURN(std::vector<RowMatrix> vectors, source.encoder->EncodeDocuments(texts, eo));
  if (vectors.size() != missing.size()) return absl::InternalError("the token encoder returned the wrong count");
  for (std::size_t i = 0; i < missing.size(); ++i) {
    if (vectors[i].rows() > 0 && vectors[i].cols() != dim) {
      return absl::InternalError("the token encoder returned vectors of the wrong dimension");
    }
    encoded_.emplace(missing[i], std::move(vectors[i]));
  }
  return absl::OkStatus();
}

ConstMatrixView DocumentCache::Get(std::int64_t id) const {
  if (auto it = given_.find(id); it != given_.end()) return it->second;
  return View(encoded_.at(id));
}

absl::StatusOr<BatchRanking> RerankWith(absl::Span<const TokenQuery> queries, const BatchRanking& candidates,
                                        int k, int num_threads, const DocumentFn& document) {
  // Every (query, candidate) pair is scored on its own, so any split among threads gives the
  // same bits.
  struct Pair {
    std::int32_t query;
    std::int64_t slot;
  };
  std::vector<Pair> pairs;
  BatchRanking out;
  out.lists.resize(queries.size());
  for (std::size_t q = 0; q < queries.size(); ++q) {
    const Ranking& in = candidates.lists[q];
    // Duplicate ids in a candidate list are scored once.
    std::vector<std::int64_t> ids;
    ids.reserve(in.size());
    for (const ScoredDoc& d : in) ids.push_back(d.id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    out.lists[q].resize(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      out.lists[q][i] = {ids[i], 0.0f};
      pairs.push_back({static_cast<std::int32_t>(q), static_cast<std::int64_t>(i)});
    }
  }
  constexpr std::int64_t kBlock = 16;
  const std::int64_t blocks = (static_cast<std::int64_t>(pairs.size()) + kBlock - 1) / kBlock;
  const int threads = ResolveThreads(num_threads);
  std::vector<std::vector<float>> scratch(static_cast<std::size_t>(threads));
  std::vector<RowMatrix> buffers(static_cast<std::size_t>(threads));
  ParallelFor(blocks, threads, [&](std::int64_t b, int worker) {
    const std::int64_t end = std::min<std::int64_t>((b + 1) * kBlock, static_cast<std::int64_t>(pairs.size()));
    for (std::int64_t p = b * kBlock; p < end; ++p) {
      ScoredDoc& d = out.lists[pairs[p].query][pairs[p].slot];
      d.score = WeightedMaxSim(queries[pairs[p].query], document(d.id, &buffers[worker]), &scratch[worker]);
    }
  });
  for (Ranking& list : out.lists) SortRanking(list, k);
  return out;
}

}  // namespace mv_internal

float MaxSim(const TokenQuery& query, ConstMatrixView doc) {
  std::vector<float> scratch;
  return mv_internal::WeightedMaxSim(query, doc, &scratch);
}

absl::StatusOr<BatchRanking> MaxSimRerank(const DocumentTokenSource& source, absl::Span<const TokenQuery> queries,
                                          const BatchRanking& candidates, int k, int num_threads) {
  if (candidates.size() != queries.size()) {
    return absl::InvalidArgumentError(absl::StrCat(queries.size(), " queries but ", candidates.size(),
                                                   " candidate lists"));
  }
  if (num_threads < 0) return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  if (source.index == nullptr && source.encoder == nullptr && source.extra_docs.empty()) {
    return absl::FailedPreconditionError(
        "MaxSim reranking needs a multi-vector index, a token encoder or the documents' token embeddings");
  }
  int dim = 0;
  if (source.index != nullptr) {
    dim = source.index->dim();
  } else if (source.encoder != nullptr) {
    dim = source.encoder->Dimension();
  } else {
    for (const TokenQuery& q : queries) {
      if (q.vectors.rows() > 0) dim = static_cast<int>(q.vectors.cols());
    }
  }
  for (std::size_t q = 0; q < queries.size(); ++q) {
    DENSEFB_RETURN_IF_ERROR(mv_internal::CheckTokenQuery(queries[q], dim, static_cast<std::int64_t>(q)));
  }
  // Documents the index holds are scored by the index; the others (given or encoded) here.
  const std::int64_t indexed = source.index != nullptr ? source.index->size() : 0;
  absl::flat_hash_set<std::int64_t> given(source.extra_ids.begin(), source.extra_ids.end());
  BatchRanking held, rest;
  held.lists.resize(queries.size());
  rest.lists.resize(queries.size());
  bool any_held = false;
  std::vector<std::int64_t> rest_ids;
  for (std::size_t q = 0; q < queries.size(); ++q) {
    for (const ScoredDoc& d : candidates.lists[q]) {
      if (d.id >= 0 && d.id < indexed && !given.contains(d.id)) {
        held.lists[q].push_back(d);
        any_held = true;
      } else {
        rest.lists[q].push_back(d);
        rest_ids.push_back(d.id);
      }
    }
  }
  mv_internal::DocumentCache cache;
  DENSEFB_RETURN_IF_ERROR(cache.Prepare(source, std::move(rest_ids), dim));
  DENSEFB_ASSIGN_OR_RETURN(BatchRanking out,
                           mv_internal::RerankWith(queries, rest, 0, num_threads,
                                                   [&cache](std::int64_t id, RowMatrix*) { return cache.Get(id); }));
  if (any_held) {
    DENSEFB_ASSIGN_OR_RETURN(BatchRanking scored, source.index->Rerank(queries, held, 0, num_threads));
    if (scored.size() != queries.size()) {
      return absl::InternalError(absl::StrCat("the multi-vector index reranked ", scored.size(), " lists for ",
                                              queries.size(), " queries"));
    }
    for (std::size_t q = 0; q < queries.size(); ++q) {
      out.lists[q].insert(out.lists[q].end(), scored.lists[q].begin(), scored.lists[q].end());
    }
  }
  for (Ranking& list : out.lists) SortRanking(list, k);
  return out;
}

double TokenIdf(std::int64_t df, std::int64_t num_documents) {
  return std::log((1.0 + static_cast<double>(num_documents)) / (static_cast<double>(df) + 1.0));
}

absl::StatusOr<BatchRanking> TokenCandidates(const TokenCollection& collection, absl::Span<const TokenQuery> queries,
                                             const MultiVectorSearchOptions& options) {
  if (options.token_k < 1) return absl::InvalidArgumentError(absl::StrCat("token_k = ", options.token_k, " must be >= 1"));
  if (options.num_threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_threads = ", options.num_threads, " is negative"));
  }
  if (!collection.has_token_index()) {
    return absl::FailedPreconditionError(
        "end-to-end multi-vector retrieval needs a token index (call BuildTokenIndex)");
  }
  const int dim = collection.dim();
  std::int64_t rows = 0;
  for (std::size_t q = 0; q < queries.size(); ++q) {
    DENSEFB_RETURN_IF_ERROR(mv_internal::CheckTokenQuery(queries[q], dim, static_cast<std::int64_t>(q)));
    rows += queries[q].vectors.rows();
  }
  RowMatrix stacked(rows, dim);
  std::int64_t at = 0;
  for (const TokenQuery& q : queries) {
    if (q.vectors.rows() > 0) stacked.middleRows(at, q.vectors.rows()) = q.vectors;
    at += q.vectors.rows();
  }
  BatchRanking out;
  out.lists.resize(queries.size());
  if (rows == 0) return out;
  const int token_k =
      static_cast<int>(std::min<std::int64_t>(options.token_k, std::max<std::int64_t>(collection.num_tokens(), 1)));
  DENSEFB_ASSIGN_OR_RETURN(TokenNeighbours hits,
                           collection.Neighbours(View(stacked), token_k, options.ef_search, options.num_threads));
  if (hits.docs.rows() != rows) {
    return absl::InternalError(absl::StrCat("the token collection answered ", hits.docs.rows(), " of ", rows,
                                            " token searches"));
  }
  const std::int64_t n_docs = collection.size();
  at = 0;
  for (std::size_t q = 0; q < queries.size(); ++q) {
    std::vector<std::int64_t> docs;
    const std::int64_t n = queries[q].vectors.rows();
    const std::int64_t hits_per_row = hits.docs.cols();  // min(token_k, token index size)
    docs.reserve(static_cast<std::size_t>(n * hits_per_row));
    for (std::int64_t r = at; r < at + n; ++r) {
      for (std::int64_t j = 0; j < hits_per_row; ++j) {
        const std::int64_t doc = hits.docs(r, j);
        if (doc >= 0 && doc < n_docs) docs.push_back(doc);
      }
    }
    at += n;
    std::sort(docs.begin(), docs.end());
    docs.erase(std::unique(docs.begin(), docs.end()), docs.end());
    Ranking& list = out.lists[q];
    list.reserve(docs.size());
    for (std::int64_t d : docs) list.push_back({d, 0.0f});
  }
  return out;
}

absl::StatusOr<BatchRanking> MaxSimSearch(const TokenCollection& collection, absl::Span<const TokenQuery> queries,
                                          const MultiVectorSearchOptions& options) {
  if (options.k < 1) return absl::InvalidArgumentError(absl::StrCat("k = ", options.k, " must be >= 1"));
  DENSEFB_ASSIGN_OR_RETURN(BatchRanking candidates, TokenCandidates(collection, queries, options));
  if (const Filter* filter = options.filter; filter != nullptr) {
    DENSEFB_RETURN_IF_ERROR(filter->CheckQueries(static_cast<std::int64_t>(queries.size())));
    const std::int64_t n_docs = collection.size();
    for (std::size_t q = 0; q < queries.size(); ++q) {
      Ranking& list = candidates.lists[q];
      const auto row = static_cast<std::int64_t>(q);
      if (filter->Count(row) * Filter::kFewAllowedRatio < n_docs) {
        list.clear();
        for (std::int64_t d : filter->Ids(row)) {
          if (d < n_docs) list.push_back({d, 0.0f});
        }
      } else {
        list.erase(std::remove_if(list.begin(), list.end(),
                                  [&](const ScoredDoc& d) { return !filter->Allows(row, d.id); }),
                   list.end());
      }
    }
  }
  return collection.Rerank(queries, candidates, options.k, options.num_threads);
}

}  // namespace densefb
