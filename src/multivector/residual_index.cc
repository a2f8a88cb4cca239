// ResidualMultiVectorIndex: ColBERTv2-style residual compression of a multi-vector collection.
#include "densefb/residual_multivector.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "densefb/file_format.h"
#include "index/kernels.h"
#include "index/kmeans.h"
#include "multivector/maxsim_internal.h"

namespace densefb {
namespace {

using kmeans::AssignNearest;
using kmeans::kMaxPointsPerCentroid;
using kmeans::TrainCentroids;

constexpr char kKind[] = "MVRC";
constexpr std::int64_t kMaxHeldOut = 1 << 16;

// ColBERTv2's number of partitions for `tokens` embeddings.
std::int64_t DefaultCentroids(std::int64_t tokens) {
  const double e = std::floor(std::log2(16.0 * std::sqrt(static_cast<double>(std::max<std::int64_t>(tokens, 1)))));
  return std::int64_t{1} << static_cast<int>(std::max(0.0, e));
}

// torch.quantile (linear interpolation) of sorted values.
float Quantile(const std::vector<float>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return static_cast<float>(static_cast<double>(sorted[lo]) + frac * (static_cast<double>(sorted[hi]) - sorted[lo]));
}

}  // namespace

absl::Status ResidualCompressionConfig::Validate() const {
  if (nbits != 1 && nbits != 2 && nbits != 4 && nbits != 8) {
    return absl::InvalidArgumentError(absl::StrCat("nbits = ", nbits, " must be 1, 2, 4 or 8"));
  }
  if (num_centroids < 0 || num_centroids > (std::int64_t{1} << 24)) {
    return absl::InvalidArgumentError(absl::StrCat("num_centroids = ", num_centroids, " must be in [0, 2^24]"));
  }
  if (kmeans_iters < 0 || kmeans_iters > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("kmeans_iters = ", kmeans_iters, " must be in [0, 1000]"));
  }
  if (nprobe < 1) return absl::InvalidArgumentError(absl::StrCat("nprobe = ", nprobe, " must be >= 1"));
  return absl::OkStatus();
}

ResidualMultiVectorIndex::~ResidualMultiVectorIndex() = default;

absl::StatusOr<std::unique_ptr<ResidualMultiVectorIndex>> ResidualMultiVectorIndex::Build(
    const MultiVectorIndex& source, const ResidualCompressionConfig& config, int num_threads) {
  DENSEFB_RETURN_IF_ERROR(config.Validate());
  if (num_threads < 0) return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  std::unique_ptr<ResidualMultiVectorIndex> x(new ResidualMultiVectorIndex());
  const std::int64_t dim = source.dim();
  x->dim_ = source.dim();
  x->nbits_ = config.nbits;
  x->normalize_ = config.normalize;
  x->packed_bytes_ = static_cast<int>((dim * config.nbits + 7) / 8);
  // The live documents' token rows, by pointer into the source (no copy of the matrix).
  std::vector<const float*> rows;
  const std::int64_t docs = source.size();
  x->starts_.resize(docs);
  x->counts_.resize(docs);
  x->deleted_.assign(docs, 0);
  for (std::int64_t d = 0; d < docs; ++d) {
    absl::StatusOr<ConstMatrixView> v = source.Document(d);
    x->starts_[d] = static_cast<std::int64_t>(rows.size());
    if (!v.ok()) {
      if (!absl::IsNotFound(v.status())) return v.status();
      x->deleted_[d] = 1;
      ++x->num_deleted_;
      continue;
    }
    DENSEFB_ASSIGN_OR_RETURN(absl::Span<const std::int32_t> ids, source.DocumentTokenIds(d));
    x->counts_[d] = v->rows;
    for (std::int64_t i = 0; i < v->rows; ++i) rows.push_back(v->row(i));
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] > kMaxTokenId) {
        return absl::InvalidArgumentError(absl::StrCat("document ", d, " token ", i, ": token id ", ids[i],
                                                       " is outside [0, ", kMaxTokenId, "]"));
      }
    }
    x->token_ids_.insert(x->token_ids_.end(), ids.begin(), ids.end());
  }
  const std::int64_t tokens = static_cast<std::int64_t>(rows.size());
  if (tokens == 0) return absl::InvalidArgumentError("the multi-vector index holds no token embeddings to compress");
  if (config.normalize) {
    for (std::int64_t r = 0; r < tokens; ++r) {
      double sq = 0;
      for (std::int64_t j = 0; j < dim; ++j) sq += static_cast<double>(rows[r][j]) * rows[r][j];
      if (std::abs(std::sqrt(sq) - 1.0) > 1e-3) {
        return absl::InvalidArgumentError(absl::StrCat(
            "token row ", r, " has length ", std::sqrt(sq), ", not 1: residual compression with normalize = true "
            "expects unit-length token embeddings (compress with normalize = false)"));
      }
    }
  }
  x->token_doc_.resize(tokens);
  for (std::int64_t d = 0; d < docs; ++d) {
    std::fill_n(x->token_doc_.begin() + x->starts_[d], x->counts_[d], static_cast<std::int32_t>(d));
  }
  // Held-out and training samples: one seeded shuffle of the token rows.
  std::vector<std::int64_t> order(static_cast<std::size_t>(tokens));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(config.seed);
  for (std::int64_t i = tokens - 1; i > 0; --i) {
    std::swap(order[i], order[std::uniform_int_distribution<std::int64_t>(0, i)(rng)]);
  }
  std::int64_t k = config.num_centroids > 0 ? config.num_centroids : DefaultCentroids(tokens);
  const std::int64_t held = std::clamp<std::int64_t>(tokens / 20, 1, kMaxHeldOut);
  std::int64_t train_first = held, train_n = std::min(tokens - held, k * kMaxPointsPerCentroid);
  if (train_n == 0) train_first = 0, train_n = tokens;  // too few tokens to hold any out
  k = std::min(k, train_n);
  std::vector<const float*> sample(static_cast<std::size_t>(train_n));
  for (std::int64_t i = 0; i < train_n; ++i) sample[i] = rows[order[train_first + i]];
  x->centroids_ = TrainCentroids(sample, k, dim, config.kmeans_iters, num_threads);
  if (config.normalize) {
    for (std::int64_t c = 0; c < k; ++c) {
      const float norm = x->centroids_.row(c).norm();
      if (norm > 0) x->centroids_.row(c) /= norm;
    }
  }
  x->codes_.resize(tokens);
  AssignNearest(rows, x->centroids_, num_threads, x->codes_.data());
  // Bucket cutoffs and weights: quantiles of the held-out residuals, all dimensions pooled.
  const int options = 1 << config.nbits;
  std::vector<float> pooled;
  pooled.reserve(static_cast<std::size_t>(held * dim));
  for (std::int64_t i = 0; i < held; ++i) {
    const std::int64_t r = order[i];
    const float* c = x->centroids_.row(x->codes_[r]).data();
    for (std::int64_t j = 0; j < dim; ++j) pooled.push_back(rows[r][j] - c[j]);
  }
  std::sort(pooled.begin(), pooled.end());
  for (int i = 1; i < options; ++i) x->cutoffs_.push_back(Quantile(pooled, static_cast<double>(i) / options));
  for (int i = 0; i < options; ++i) x->weights_.push_back(Quantile(pooled, (i + 0.5) / options));
  // Residual codes, packed low bits first.
  x->residuals_.assign(static_cast<std::size_t>(tokens * x->packed_bytes_), 0);
  const int per_byte = 8 / config.nbits;
  ParallelFor((tokens + 1023) / 1024, ResolveThreads(num_threads), [&](std::int64_t b, int) {
    for (std::int64_t r = b * 1024; r < std::min(tokens, (b + 1) * 1024); ++r) {
      const float* c = x->centroids_.row(x->codes_[r]).data();
      std::uint8_t* out = x->residuals_.data() + r * x->packed_bytes_;
      for (std::int64_t j = 0; j < dim; ++j) {
        const float v = rows[r][j] - c[j];
        const auto bucket = static_cast<unsigned>(std::lower_bound(x->cutoffs_.begin(), x->cutoffs_.end(), v) -
                                                  x->cutoffs_.begin());
        out[j / per_byte] |= static_cast<std::uint8_t>(bucket << ((j % per_byte) * config.nbits));
      }
    }
  });
  const absl::Span<const std::int32_t> excluded = source.excluded_token_ids();
  x->excluded_.assign(excluded.begin(), excluded.end());
  x->nprobe_ = static_cast<int>(std::min<std::int64_t>(config.nprobe, k));
  x->Finish();
  return x;
}

void ResidualMultiVectorIndex::Finish() {
  const int per_byte = 8 / nbits_, mask = (1 << nbits_) - 1;
  byte_table_.resize(static_cast<std::size_t>(256 * per_byte));
  for (int b = 0; b < 256; ++b) {
    for (int j = 0; j < per_byte; ++j) byte_table_[b * per_byte + j] = weights_[(b >> (j * nbits_)) & mask];
  }
  const std::int64_t k = centroids_.rows(), tokens = num_tokens();
  list_starts_.assign(static_cast<std::size_t>(k + 1), 0);
  for (std::int32_t c : codes_) ++list_starts_[c + 1];
  for (std::int64_t c = 0; c < k; ++c) list_starts_[c + 1] += list_starts_[c];
  list_rows_.resize(static_cast<std::size_t>(tokens));
  std::vector<std::int64_t> next(list_starts_.begin(), list_starts_.end() - 1);
  for (std::int64_t r = 0; r < tokens; ++r) list_rows_[next[codes_[r]]++] = r;
  df_.clear();
  std::vector<std::int32_t> ids;
  for (std::size_t d = 0; d < starts_.size(); ++d) {
    ids.assign(token_ids_.begin() + starts_[d], token_ids_.begin() + starts_[d] + counts_[d]);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (!ids.empty() && static_cast<std::size_t>(ids.back()) >= df_.size()) df_.resize(ids.back() + 1, 0);
    for (std::int32_t t : ids) ++df_[t];
  }
}

absl::Status ResidualMultiVectorIndex::set_nprobe(int nprobe) {
  if (nprobe < 1 || nprobe > num_centroids()) {
    return absl::InvalidArgumentError(absl::StrCat("nprobe = ", nprobe, " must be in [1, ", num_centroids(),
                                                   "] (the number of centroids)"));
  }
  nprobe_ = nprobe;
  return absl::OkStatus();
}

void ResidualMultiVectorIndex::DecodeRow(std::int64_t row, float* out) const {
  const int per_byte = 8 / nbits_;
  const float* c = centroids_.row(codes_[row]).data();
  const std::uint8_t* bytes = residuals_.data() + row * packed_bytes_;
  for (int j = 0; j < dim_; ++j) out[j] = c[j] + byte_table_[bytes[j / per_byte] * per_byte + j % per_byte];
  if (!normalize_) return;
  double sq = 0;
  for (int j = 0; j < dim_; ++j) sq += static_cast<double>(out[j]) * out[j];
  if (sq <= 0) return;
  const double inv = 1.0 / std::sqrt(sq);
  if (inv <= std::numeric_limits<float>::max()) {
    const float inv_f = static_cast<float>(inv);
    for (int j = 0; j < dim_; ++j) out[j] *= inv_f;
  } else {  // a vector of subnormals: 1 / |v| overflows float, the quotients do not
    for (int j = 0; j < dim_; ++j) out[j] = static_cast<float>(out[j] * inv);
  }
}

absl::Status ResidualMultiVectorIndex::Decompress(std::int64_t first, std::int64_t rows, MutableMatrixView out) const {
  if (first < 0 || rows < 0 || first > num_tokens() || rows > num_tokens() - first) {
    return absl::OutOfRangeError(absl::StrCat("token rows [", first, ", +", rows, ") are outside the ", num_tokens(),
                                              " token rows"));
  }
  if (out.rows != rows || out.cols != dim_) {
    return absl::InvalidArgumentError(absl::StrCat("the output is ", out.rows, " x ", out.cols, ", expected ", rows,
                                                   " x ", dim_));
  }
  for (std::int64_t i = 0; i < rows; ++i) DecodeRow(first + i, out.row(i));
  return absl::OkStatus();
}

absl::StatusOr<RowMatrix> ResidualMultiVectorIndex::Document(std::int64_t doc) const {
  if (doc < 0 || doc >= size()) {
    return absl::OutOfRangeError(absl::StrCat("document ", doc, " is not in the compressed multi-vector index (",
                                              size(), " documents)"));
  }
  if (deleted_[doc]) return absl::NotFoundError(absl::StrCat("document ", doc, " was deleted"));
  RowMatrix out(counts_[doc], dim_);
  for (std::int64_t i = 0; i < counts_[doc]; ++i) DecodeRow(starts_[doc] + i, out.row(i).data());
  return out;
}

absl::StatusOr<std::vector<RowMatrix>> ResidualMultiVectorIndex::Documents(absl::Span<const std::int64_t> ids) const {
  std::vector<RowMatrix> out;
  out.reserve(ids.size());
  for (std::int64_t id : ids) {
    DENSEFB_ASSIGN_OR_RETURN(RowMatrix d, Document(id));
    out.push_back(std::move(d));
  }
  return out;
}

absl::StatusOr<std::vector<std::int64_t>> ResidualMultiVectorIndex::DocumentFrequencies(
    absl::Span<const std::int32_t> token_ids) const {
  std::vector<std::int64_t> out;
  out.reserve(token_ids.size());
  for (std::int32_t t : token_ids) out.push_back(t < 0 || static_cast<std::size_t>(t) >= df_.size() ? 0 : df_[t]);
  return out;
}

absl::StatusOr<TokenNeighbours> ResidualMultiVectorIndex::Neighbours(ConstMatrixView vectors, int k, int /*ef_search*/,
                                                                     int num_threads) const {
  if (k < 1) return absl::InvalidArgumentError(absl::StrCat("k = ", k, " must be >= 1"));
  if (num_threads < 0) return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  if (vectors.rows > 0 && vectors.cols != dim_) {
    return absl::InvalidArgumentError(absl::StrCat("the vectors have ", vectors.cols, " dimensions, the token "
                                                   "embeddings have ", dim_));
  }
  DENSEFB_RETURN_IF_ERROR(CheckFinite(vectors, "vector"));
  const std::int64_t n = vectors.rows, kc = centroids_.rows();
  TokenNeighbours out;
  out.scores.setConstant(n, k, -std::numeric_limits<float>::infinity());
  out.rows.setConstant(n, k, kNoId);
  out.docs.setConstant(n, k, kNoId);
  out.token_ids.setConstant(n, k, -1);
  const int threads = ResolveThreads(num_threads);
  const int probes = static_cast<int>(std::min<std::int64_t>(nprobe_, kc));
  struct Scratch {
    std::vector<float> centroid_scores, decoded;
    std::vector<ScoredRow> cells, hits;
  };
  std::vector<Scratch> scratch(static_cast<std::size_t>(threads));
  ParallelFor(n, threads, [&](std::int64_t q, int worker) {
    Scratch& s = scratch[worker];
    const float* v = vectors.row(q);
    s.centroid_scores.resize(static_cast<std::size_t>(kc));
    kernels::Best().gemm_nt(v, 1, centroids_.data(), kc, dim_, s.centroid_scores.data(), kc);
    s.cells.resize(static_cast<std::size_t>(kc));
    for (std::int64_t c = 0; c < kc; ++c) s.cells[c] = {s.centroid_scores[c], c};
    std::partial_sort(s.cells.begin(), s.cells.begin() + probes, s.cells.end(), BetterThan());
    s.hits.clear();
    s.decoded.resize(static_cast<std::size_t>(dim_));
    for (int p = 0; p < probes; ++p) {
      const std::int64_t c = s.cells[p].row;
      for (std::int64_t i = list_starts_[c]; i < list_starts_[c + 1]; ++i) {
        const std::int64_t row = list_rows_[i];
        DecodeRow(row, s.decoded.data());
        s.hits.push_back({kernels::Best().dot(v, s.decoded.data(), dim_), row});
      }
    }
    const std::int64_t m = std::min<std::int64_t>(k, static_cast<std::int64_t>(s.hits.size()));
    std::partial_sort(s.hits.begin(), s.hits.begin() + m, s.hits.end(), BetterThan());
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t row = s.hits[i].row;
      out.scores(q, i) = s.hits[i].score;
      out.rows(q, i) = row;
      out.docs(q, i) = token_doc_[row];
      out.token_ids(q, i) = token_ids_[row];
    }
  });
  return out;
}

absl::StatusOr<BatchRanking> ResidualMultiVectorIndex::Rerank(absl::Span<const TokenQuery> queries,
                                                              const BatchRanking& candidates, int k,
                                                              int num_threads) const {
  if (candidates.size() != queries.size()) {
    return absl::InvalidArgumentError(absl::StrCat(queries.size(), " queries but ", candidates.size(),
                                                   " candidate lists"));
  }
  if (num_threads < 0) return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  for (std::size_t q = 0; q < queries.size(); ++q) {
    DENSEFB_RETURN_IF_ERROR(mv_internal::CheckTokenQuery(queries[q], dim_, static_cast<std::int64_t>(q)));
    for (const ScoredDoc& d : candidates.lists[q]) {
      if (d.id < 0 || d.id >= size()) {
        return absl::OutOfRangeError(absl::StrCat("document ", d.id, " is not in the compressed multi-vector index (",
                                                  size(), " documents)"));
      }
    }
  }
  auto document = [this](std::int64_t id, RowMatrix* buffer) {
    buffer->resize(counts_[id], dim_);
    for (std::int64_t i = 0; i < counts_[id]; ++i) DecodeRow(starts_[id] + i, buffer->row(i).data());
    return ConstMatrixView{buffer->data(), counts_[id], dim_};
  };
  if (num_deleted_ == 0) return mv_internal::RerankWith(queries, candidates, k, num_threads, document);
  BatchRanking live = candidates;
  for (Ranking& list : live.lists) {
    list.erase(std::remove_if(list.begin(), list.end(), [&](const ScoredDoc& d) { return deleted_[d.id] != 0; }),
               list.end());
  }
  return mv_internal::RerankWith(queries, live, k, num_threads, document);
}

ResidualMemoryUsage ResidualMultiVectorIndex::memory_usage() const {
  ResidualMemoryUsage m;
  const std::int64_t tokens = num_tokens();
  m.residuals = static_cast<std::int64_t>(residuals_.size());
  m.codes = tokens * 4;
  m.token_ids = tokens * 4;
  m.centroids = centroids_.size() * 4 + static_cast<std::int64_t>(list_rows_.size() + list_starts_.size()) * 8;
  m.documents = size() * 17;
  m.float32_matrix = tokens * dim_ * 4;
  return m;
}

// ---- files ------------------------------------------------------------------------------------
// Payload (version 1, little-endian): u32 dim, u32 nbits, u32 flags (bit 0: normalize), u32 nprobe,
// u64 documents, i64 starts[documents], i64 counts[documents], u8 deleted[documents],
// u64 tokens, i32 token_ids[tokens], i32 codes[tokens], u64 centroids, f32 centroids[centroids x dim],
// f32 cutoffs[2^nbits - 1], f32 weights[2^nbits], u8 residuals[tokens x ceil(dim nbits / 8)],
// u64 excluded, i32 excluded[excluded].

absl::Status ResidualMultiVectorIndex::Save(const std::string& path) const {
  DENSEFB_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> w, AtomicFileWriter::Open(path, kKind, kFormatVersion));
  const std::uint32_t head[4] = {static_cast<std::uint32_t>(dim_), static_cast<std::uint32_t>(nbits_),
                                 normalize_ ? 1u : 0u, static_cast<std::uint32_t>(nprobe_)};
  DENSEFB_RETURN_IF_ERROR(w->Write(head, sizeof(head)));
  const std::uint64_t docs = starts_.size(), tokens = codes_.size(), k = centroids_.rows(), excluded = excluded_.size();
  DENSEFB_RETURN_IF_ERROR(w->WritePod(docs));
  DENSEFB_RETURN_IF_ERROR(w->Write(starts_.data(), docs * 8));
  DENSEFB_RETURN_IF_ERROR(w->Write(counts_.data(), docs * 8));
  DENSEFB_RETURN_IF_ERROR(w->Write(deleted_.data(), docs));
  DENSEFB_RETURN_IF_ERROR(w->WritePod(tokens));
  DENSEFB_RETURN_IF_ERROR(w->Write(token_ids_.data(), tokens * 4));
  DENSEFB_RETURN_IF_ERROR(w->Write(codes_.data(), tokens * 4));
  DENSEFB_RETURN_IF_ERROR(w->WritePod(k));
  DENSEFB_RETURN_IF_ERROR(w->Write(centroids_.data(), k * dim_ * 4));
  DENSEFB_RETURN_IF_ERROR(w->Write(cutoffs_.data(), cutoffs_.size() * 4));
  DENSEFB_RETURN_IF_ERROR(w->Write(weights_.data(), weights_.size() * 4));
  DENSEFB_RETURN_IF_ERROR(w->Write(residuals_.data(), residuals_.size()));
  DENSEFB_RETURN_IF_ERROR(w->WritePod(excluded));
  DENSEFB_RETURN_IF_ERROR(w->Write(excluded_.data(), excluded * 4));
  return w->Commit();
}

absl::StatusOr<std::unique_ptr<ResidualMultiVectorIndex>> ResidualMultiVectorIndex::Load(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(std::unique_ptr<FileReader> r, FileReader::Open(path, kKind, kFormatVersion));
  std::unique_ptr<ResidualMultiVectorIndex> x(new ResidualMultiVectorIndex());
  std::uint32_t head[4] = {};
  DENSEFB_RETURN_IF_ERROR(r->Read(head, sizeof(head), "dim, nbits, flags and nprobe"));
  if (head[0] < 1 || head[0] > (1u << 20)) return r->Corrupt(absl::StrCat("dim = ", head[0], " is out of range"));
  if (head[1] != 1 && head[1] != 2 && head[1] != 4 && head[1] != 8) {
    return r->Corrupt(absl::StrCat("nbits = ", head[1], " is not 1, 2, 4 or 8"));
  }
  if (head[2] > 1) return r->Corrupt(absl::StrCat("unknown flags ", head[2]));
  x->dim_ = static_cast<int>(head[0]);
  x->nbits_ = static_cast<int>(head[1]);
  x->normalize_ = head[2] == 1;
  x->packed_bytes_ = static_cast<int>((static_cast<std::int64_t>(x->dim_) * x->nbits_ + 7) / 8);
  std::uint64_t docs = 0, tokens = 0, k = 0, excluded = 0;
  DENSEFB_RETURN_IF_ERROR(r->ReadCount(&docs, 17, "document count"));
  x->starts_.resize(docs);
  x->counts_.resize(docs);
  x->deleted_.resize(docs);
  DENSEFB_RETURN_IF_ERROR(r->Read(x->starts_.data(), docs * 8, "document starts"));
  DENSEFB_RETURN_IF_ERROR(r->Read(x->counts_.data(), docs * 8, "document token counts"));
  DENSEFB_RETURN_IF_ERROR(r->Read(x->deleted_.data(), docs, "deleted flags"));
  DENSEFB_RETURN_IF_ERROR(r->ReadCount(&tokens, 8 + static_cast<std::size_t>(x->packed_bytes_), "token count"));
  // Documents own consecutive row ranges in document order; deleted ones own none.
  std::int64_t next = 0;
  for (std::uint64_t d = 0; d < docs; ++d) {
    if (x->deleted_[d] > 1) return r->Corrupt(absl::StrCat("document ", d, ": deleted flag ", int{x->deleted_[d]}));
    if (x->deleted_[d] && x->counts_[d] != 0) return r->Corrupt(absl::StrCat("deleted document ", d, " holds token rows"));
    if (x->starts_[d] != next || x->counts_[d] < 0 ||
        static_cast<std::uint64_t>(x->counts_[d]) > tokens - static_cast<std::uint64_t>(next)) {
      return r->Corrupt(absl::StrCat("document ", d, ": rows [", x->starts_[d], ", +", x->counts_[d],
                                     ") do not follow the previous document inside the ", tokens, " token rows"));
    }
    next += x->counts_[d];
    x->num_deleted_ += x->deleted_[d];
  }
  if (static_cast<std::uint64_t>(next) != tokens) {
    return r->Corrupt(absl::StrCat("the documents cover ", next, " of the ", tokens, " token rows"));
  }
  x->token_ids_.resize(tokens);
  x->codes_.resize(tokens);
  DENSEFB_RETURN_IF_ERROR(r->Read(x->token_ids_.data(), tokens * 4, "token ids"));
  DENSEFB_RETURN_IF_ERROR(r->Read(x->codes_.data(), tokens * 4, "centroid codes"));
  DENSEFB_RETURN_IF_ERROR(r->ReadCount(&k, static_cast<std::size_t>(x->dim_) * 4, "centroid count"));
  if (k < 1 || k > (std::uint64_t{1} << 24)) return r->Corrupt(absl::StrCat("centroid count ", k, " is out of range"));
  for (std::uint64_t t = 0; t < tokens; ++t) {
    if (x->token_ids_[t] < 0 || x->token_ids_[t] > kMaxTokenId) {
      return r->Corrupt(absl::StrCat("token row ", t, " has token id ", x->token_ids_[t], ", outside [0, ",
                                     kMaxTokenId, "]"));
    }
    if (x->codes_[t] < 0 || static_cast<std::uint64_t>(x->codes_[t]) >= k) {
      return r->Corrupt(absl::StrCat("token row ", t, " has centroid code ", x->codes_[t], " (", k, " centroids)"));
    }
  }
  if (head[3] < 1 || head[3] > k) return r->Corrupt(absl::StrCat("nprobe = ", head[3], " is out of [1, ", k, "]"));
  x->nprobe_ = static_cast<int>(head[3]);
  x->centroids_.resize(static_cast<std::int64_t>(k), x->dim_);
  DENSEFB_RETURN_IF_ERROR(r->Read(x->centroids_.data(), k * x->dim_ * 4, "centroids"));
  const int options = 1 << x->nbits_;
  x->cutoffs_.resize(options - 1);
  x->weights_.resize(options);
  DENSEFB_RETURN_IF_ERROR(r->Read(x->cutoffs_.data(), x->cutoffs_.size() * 4, "bucket cutoffs"));
  DENSEFB_RETURN_IF_ERROR(r->Read(x->weights_.data(), x->weights_.size() * 4, "bucket weights"));
  // Stored values come from unit-scale embeddings; a bound far above that keeps every
  // centroid + bucket weight, and every product of decompressed tokens, finite.
  constexpr float kMaxStored = 1e15f;
  if (!x->centroids_.allFinite() || x->centroids_.cwiseAbs().maxCoeff() > kMaxStored) {
    return r->Corrupt(absl::StrCat("a centroid is not finite or exceeds ", kMaxStored, " in magnitude"));
  }
  for (float v : x->cutoffs_) {
    if (!std::isfinite(v)) return r->Corrupt("a bucket cutoff is not finite");
  }
  if (!std::is_sorted(x->cutoffs_.begin(), x->cutoffs_.end())) return r->Corrupt("the bucket cutoffs are not sorted");
  for (float v : x->weights_) {
    if (!(std::fabs(v) <= kMaxStored)) {
      return r->Corrupt(absl::StrCat("a bucket weight is not finite or exceeds ", kMaxStored, " in magnitude"));
    }
  }
  x->residuals_.resize(tokens * x->packed_bytes_);
  DENSEFB_RETURN_IF_ERROR(r->Read(x->residuals_.data(), x->residuals_.size(), "residual codes"));
  DENSEFB_RETURN_IF_ERROR(r->ReadCount(&excluded, 4, "excluded token count"));
  x->excluded_.resize(excluded);
  DENSEFB_RETURN_IF_ERROR(r->Read(x->excluded_.data(), excluded * 4, "excluded token ids"));
  if (!std::is_sorted(x->excluded_.begin(), x->excluded_.end())) return r->Corrupt("the excluded token ids are not sorted");
  if (r->remaining() != 0) return r->Corrupt(absl::StrCat(r->remaining(), " bytes after the last field"));
  x->token_doc_.resize(tokens);
  for (std::uint64_t d = 0; d < docs; ++d) {
    std::fill_n(x->token_doc_.begin() + x->starts_[d], x->counts_[d], static_cast<std::int32_t>(d));
  }
  x->Finish();
  return x;
}

}  // namespace densefb
