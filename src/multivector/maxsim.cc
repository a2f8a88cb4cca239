// Exact weighted MaxSim and the MaxSim reranker over any first stage.
#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/container/flat_hash_map.h"
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
  source_ = &source;
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
  for (std::int64_t id : ids) {
    if (id < 0) return absl::InvalidArgumentError(absl::StrCat("document id ", id, " is negative"));
    if (!given_.contains(id) && id >= indexed) missing.push_back(id);
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
  if (auto it = encoded_.find(id); it != encoded_.end()) return View(it->second);
  return *source_->index->Document(id);
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
  std::vector<std::int64_t> all_ids;
  for (const Ranking& list : candidates.lists) {
    for (const ScoredDoc& d : list) all_ids.push_back(d.id);
  }
  mv_internal::DocumentCache cache;
  DENSEFB_RETURN_IF_ERROR(cache.Prepare(source, std::move(all_ids), dim));
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
  ParallelFor(blocks, threads, [&](std::int64_t b, int worker) {
    const std::int64_t end = std::min<std::int64_t>((b + 1) * kBlock, static_cast<std::int64_t>(pairs.size()));
    for (std::int64_t p = b * kBlock; p < end; ++p) {
      ScoredDoc& d = out.lists[pairs[p].query][pairs[p].slot];
      d.score = mv_internal::WeightedMaxSim(queries[pairs[p].query], cache.Get(d.id), &scratch[worker]);
    }
  });
  for (Ranking& list : out.lists) SortRanking(list, k);
  return out;
}

}  // namespace densefb
