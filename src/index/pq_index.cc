#include "densefb/pq_index.h"

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
#include "index/block_scan.h"
#include "index/checks.h"
#include "index/code_store.h"
#include "index/id_table.h"
#include "index/kernels.h"
#include "index/kmeans.h"
#include "index/rw_lock.h"
#include "index/topk.h"

#if defined(DENSEFB_HAVE_X86_DISPATCH) && (defined(__x86_64__) || defined(_M_X64))
#define DENSEFB_PQ_X86 1
#include <immintrin.h>
#endif

namespace densefb {
namespace {

constexpr char kKind[] = "PQFL";
constexpr int kK = ProductQuantizedIndex::kCentroids;
// Rows scored per selection call of the ADC scan.
constexpr std::int64_t kAdcChunk = 1024;
// Rows encoded per batch (bounded scratch for the labels).
constexpr std::int64_t kEncodeChunk = 1 << 16;

// ---- ADC scoring, per instruction set ------------------------------------------------------
// A code's score is the sum of its m table entries in a fixed order: the first m - m % 8 entries
// in eight lanes (lane b sums the entries j = b mod 8, in increasing j), the lanes reduced as
// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), then the last m % 8 entries in increasing j.
// The AVX2 variant (gathers eight entries a time) and the generic one compute exactly the same
// floats (no FMA), so scores do not depend on the CPU, nor on which path scores a vector.

inline float ReduceLanes(const float* l) {
  return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

float AdcScoreGeneric(const float* table, const std::uint8_t* code, int m) {
  const int m8 = m - m % 8;
  float lane[8] = {};
  for (int j0 = 0; j0 < m8; j0 += 8) {
    for (int b = 0; b < 8; ++b) lane[b] += table[(j0 + b) * kK + code[j0 + b]];
  }
  float s = ReduceLanes(lane);
  for (int j = m8; j < m; ++j) s += table[j * kK + code[j]];
  return s;
}

void AdcScoresGeneric(const float* table, const std::uint8_t* codes, std::int64_t n, int m, float* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = AdcScoreGeneric(table, codes + i * m, m);
}

#if defined(DENSEFB_PQ_X86)
__attribute__((target("avx2"))) inline float ReduceLanesAvx2(__m256 v) {
  // (l0 + l4, l1 + l5, l2 + l6, l3 + l7), then (h0 + h2, h1 + h3), then their sum.
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 p = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, 1)));
}

// The table offsets of eight codes (bytes of w) of sub-spaces j0..j0+7: code + b x 256.
__attribute__((target("avx2"))) inline __m256i GatherIndex(std::uint64_t w, __m256i step) {
  return _mm256_add_epi32(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(w))), step);
}

__attribute__((target("avx2"))) float AdcScoreAvx2(const float* table, const std::uint8_t* code, int m) {
  const int m8 = m - m % 8;
  const __m256i step = _mm256_setr_epi32(0, kK, 2 * kK, 3 * kK, 4 * kK, 5 * kK, 6 * kK, 7 * kK);
  __m256 acc = _mm256_setzero_ps();
  for (int j0 = 0; j0 < m8; j0 += 8) {
    std::uint64_t eight;
    std::memcpy(&eight, code + j0, sizeof eight);
    acc = _mm256_add_ps(acc, _mm256_i32gather_ps(table + j0 * kK, GatherIndex(eight, step), 4));
  }
  float s = ReduceLanesAvx2(acc);
  for (int j = m8; j < m; ++j) s += table[j * kK + code[j]];
  return s;
}

// Four codes at a time: four independent gather chains.
__attribute__((target("avx2"))) void AdcScoresAvx2(const float* table, const std::uint8_t* codes, std::int64_t n,
                                                   int m, float* out) {
  const int m8 = m - m % 8;
  const __m256i step = _mm256_setr_epi32(0, kK, 2 * kK, 3 * kK, 4 * kK, 5 * kK, 6 * kK, 7 * kK);
  std::int64_t i = 0;
  if (m8 == m) {
    for (; i + 4 <= n; i += 4) {
      const std::uint8_t* c = codes + i * m;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int j0 = 0; j0 < m8; j0 += 8) {
        std::uint64_t w0, w1, w2, w3;
        std::memcpy(&w0, c + j0, 8);
        std::memcpy(&w1, c + m + j0, 8);
        std::memcpy(&w2, c + 2 * m + j0, 8);
        std::memcpy(&w3, c + 3 * m + j0, 8);
        const float* t = table + j0 * kK;
        a0 = _mm256_add_ps(a0, _mm256_i32gather_ps(t, GatherIndex(w0, step), 4));
        a1 = _mm256_add_ps(a1, _mm256_i32gather_ps(t, GatherIndex(w1, step), 4));
        a2 = _mm256_add_ps(a2, _mm256_i32gather_ps(t, GatherIndex(w2, step), 4));
        a3 = _mm256_add_ps(a3, _mm256_i32gather_ps(t, GatherIndex(w3, step), 4));
      }
      out[i] = ReduceLanesAvx2(a0);
      out[i + 1] = ReduceLanesAvx2(a1);
      out[i + 2] = ReduceLanesAvx2(a2);
      out[i + 3] = ReduceLanesAvx2(a3);
    }
  }
  for (; i < n; ++i) out[i] = AdcScoreAvx2(table, codes + i * m, m);
}
#endif

struct AdcKernels {
  float (*one)(const float*, const std::uint8_t*, int);
  void (*many)(const float*, const std::uint8_t*, std::int64_t, int, float*);
};

const AdcKernels& BestAdc() {
  static const AdcKernels best = [] {
#if defined(DENSEFB_PQ_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) return AdcKernels{&AdcScoreAvx2, &AdcScoresAvx2};
#endif
    return AdcKernels{&AdcScoreGeneric, &AdcScoresGeneric};
  }();
  return best;
}

}  // namespace

ProductQuantizedIndex::ProductQuantizedIndex(int dim, Metric metric, int m, int rescore_factor)
    : dim_(dim),
      metric_(metric),
      m_(m),
      dsub_(dim / m),
      rescore_factor_(rescore_factor),
      store_(std::make_unique<CodeStore>(dim, metric, m, rescore_factor)) {}
ProductQuantizedIndex::~ProductQuantizedIndex() = default;

absl::StatusOr<std::unique_ptr<ProductQuantizedIndex>> ProductQuantizedIndex::Create(int dim, Metric metric, int m,
                                                                                     int nbits,
                                                                                     int rescore_factor) {
  if (dim < 1) return absl::InvalidArgumentError(absl::StrCat("dim = ", dim, " must be >= 1"));
  if (dim > (1 << 20)) return absl::InvalidArgumentError(absl::StrCat("dim = ", dim, " is above 2^20"));
  if (m < 1 || dim % m != 0) {
    return absl::InvalidArgumentError(absl::StrCat("m = ", m, " must be >= 1 and divide dim = ", dim));
  }
  if (nbits != 8) {
    return absl::InvalidArgumentError(absl::StrCat("nbits = ", nbits, " is not supported (only 8: 256 centroids)"));
  }
  if (static_cast<std::uint32_t>(metric) > static_cast<std::uint32_t>(Metric::kCosine)) {
    return absl::InvalidArgumentError(absl::StrCat("metric code ", static_cast<int>(metric), " is unknown"));
  }
  if (rescore_factor < 0 || rescore_factor > kMaxRescoreFactor) {
    return absl::InvalidArgumentError(
        absl::StrCat("rescore_factor = ", rescore_factor, " must be in [0, ", kMaxRescoreFactor, "]"));
  }
  return std::unique_ptr<ProductQuantizedIndex>(new ProductQuantizedIndex(dim, metric, m, rescore_factor));
}

std::int64_t ProductQuantizedIndex::size() const { return store_->size(); }
const std::vector<std::int64_t>& ProductQuantizedIndex::ids() const { return store_->ids(); }

bool ProductQuantizedIndex::trained() const {
  const ReaderLock lock = store_->ReadLock();
  return !centroids_.empty();
}

std::vector<float> ProductQuantizedIndex::centroids() const {
  const ReaderLock lock = store_->ReadLock();
  return centroids_;
}

absl::StatusOr<std::vector<std::uint8_t>> ProductQuantizedIndex::codes(absl::Span<const std::int64_t> ids) const {
  const ReaderLock lock = store_->ReadLock();
  std::vector<std::uint8_t> out(ids.size() * static_cast<std::size_t>(m_));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int64_t row = store_->id_table().Row(ids[i]);
    if (row < 0) return absl::NotFoundError(absl::StrCat("id ", ids[i], " is not in the index"));
    std::copy_n(store_->code(row), m_, out.data() + i * m_);
  }
  return out;
}

absl::Status ProductQuantizedIndex::CheckCodebookNorms() const {
  // A decoded vector's squared norm is the sum of its sub-vectors' squared norms: at most the
  // sum over sub-spaces of the largest centroid's. Within float32's range, every decodable
  // vector meets the bound of VectorIndex::Add.
  double bound2 = 0;
  for (int j = 0; j < m_; ++j) {
    double largest = 0;
    for (int c = 0; c < kK; ++c) {
      const float* v = centroids_.data() + (static_cast<std::size_t>(j) * kK + c) * dsub_;
      double s = 0;
      for (int t = 0; t < dsub_; ++t) s += static_cast<double>(v[t]) * v[t];
      largest = std::max(largest, s);
    }
    bound2 += largest;
  }
  if (!(bound2 <= std::numeric_limits<float>::max())) {
    return absl::InvalidArgumentError(absl::StrCat("the codebooks could decode vectors of L2 norm up to ",
                                                   std::sqrt(bound2), ", above 1.8e19"));
  }
  return absl::OkStatus();
}

absl::Status ProductQuantizedIndex::TrainLocked(ConstMatrixView sample, int num_threads) {
  const std::int64_t n = sample.rows;
  if (n < kK) {
    return absl::InvalidArgumentError(absl::StrCat("training needs at least ", kK, " vectors (one per centroid), got ",
                                                   n, "; train on a larger sample first"));
  }
  // One seeded shuffle: its first 256 rows start k-means, its first 256 x 256 rows train.
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(kTrainSeed);
  for (std::int64_t i = n - 1; i > 0; --i) {
    std::swap(order[i], order[std::uniform_int_distribution<std::int64_t>(0, i)(rng)]);
  }
  const std::int64_t train_n = std::min<std::int64_t>(n, kK * kmeans::kMaxPointsPerCentroid);
  std::vector<float> centroids(static_cast<std::size_t>(m_) * kK * dsub_);
  std::vector<const float*> points(static_cast<std::size_t>(train_n));
  for (int j = 0; j < m_; ++j) {
    for (std::int64_t i = 0; i < train_n; ++i) points[i] = sample.row(order[i]) + j * dsub_;
    const RowMatrix c = kmeans::TrainCentroids(points, kK, dsub_, kKMeansIterations, num_threads);
    std::copy_n(c.data(), static_cast<std::size_t>(kK) * dsub_, centroids.data() + static_cast<std::size_t>(j) * kK * dsub_);
  }
  std::vector<float> previous = std::move(centroids_);
  centroids_ = std::move(centroids);
  if (absl::Status s = CheckCodebookNorms(); !s.ok()) {
    centroids_ = std::move(previous);
    return s;
  }
  return absl::OkStatus();
}

absl::Status ProductQuantizedIndex::Train(ConstMatrixView sample, int num_threads) {
  const WriterLock lock = store_->WriteLock();
  if (num_threads < 0) return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  if (store_->id_table().size() > 0) {
    return absl::FailedPreconditionError(absl::StrCat("the index already holds ", store_->id_table().size(),
                                                      " vectors encoded with the trained codebooks; train an empty index"));
  }
  if (sample.rows == 0) return absl::InvalidArgumentError("the training sample is empty");
  DENSEFB_RETURN_IF_ERROR(CheckVectors(sample, dim_));
  return TrainLocked(sample, num_threads);
}

void ProductQuantizedIndex::EncodeRows(ConstMatrixView v, std::uint8_t* out) const {
  RowMatrix book(kK, dsub_);
  std::vector<const float*> rows;
  std::vector<std::int32_t> labels;
  for (std::int64_t i0 = 0; i0 < v.rows; i0 += kEncodeChunk) {
    const std::int64_t n = std::min(kEncodeChunk, v.rows - i0);
    rows.resize(static_cast<std::size_t>(n));
    labels.resize(static_cast<std::size_t>(n));
    for (int j = 0; j < m_; ++j) {
      std::copy_n(centroids_.data() + static_cast<std::size_t>(j) * kK * dsub_, static_cast<std::size_t>(kK) * dsub_,
                  book.data());
      for (std::int64_t i = 0; i < n; ++i) rows[i] = v.row(i0 + i) + j * dsub_;
      kmeans::AssignNearest(rows, book, 0, labels.data());
      for (std::int64_t i = 0; i < n; ++i) out[(i0 + i) * m_ + j] = static_cast<std::uint8_t>(labels[i]);
    }
  }
}

void ProductQuantizedIndex::DecodeRows(const std::uint8_t* codes, std::int64_t n, float* out) const {
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint8_t* code = codes + i * m_;
    float* o = out + i * dim_;
    for (int j = 0; j < m_; ++j) {
      std::copy_n(centroids_.data() + (static_cast<std::size_t>(j) * kK + code[j]) * dsub_, dsub_, o + j * dsub_);
    }
  }
}

void ProductQuantizedIndex::QueryTable(const float* query, float* table) const {
  // One small GEMM (1 x dsub by dsub x 256) per sub-space.
  const kernels::KernelSet& kern = kernels::Best();
  for (int j = 0; j < m_; ++j) {
    kern.gemm_nt(query + j * dsub_, 1, centroids_.data() + static_cast<std::size_t>(j) * kK * dsub_, kK, dsub_,
                 table + j * kK, kK);
  }
}

absl::Status ProductQuantizedIndex::Add(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) {
  const WriterLock lock = store_->WriteLock();
  DENSEFB_RETURN_IF_ERROR(store_->CheckAdd(vectors, ids));
  if (vectors.rows == 0) return absl::OkStatus();
  const bool trains = centroids_.empty();
  if (trains) {
    if (absl::Status s = TrainLocked(vectors, 0); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("the index is untrained and trains on this batch: ", s.message()));
    }
  }
  // CheckCodebookNorms bounds every decodable vector: the decoded vectors need no check.
  const absl::Status s = store_->Append(vectors, ids, *this, /*check_decoded=*/false);
  if (!s.ok() && trains) centroids_.clear();
  return s;
}

absl::Status ProductQuantizedIndex::Reserve(std::int64_t n) {
  if (n < 0) return NegativeReserve(n);
  return store_->Reserve(n);
}

absl::Status ProductQuantizedIndex::Search(ConstMatrixView queries, const SearchOptions& options, float* out_scores,
                                           std::int64_t* out_ids) const {
  const ReaderLock lock = store_->ReadLock();
  return store_->Search(queries, options, out_scores, out_ids, *this);
}

std::int64_t ProductQuantizedIndex::ScanAllowed(const float* query, std::int64_t filter_row, std::int64_t kk,
                                                const SearchOptions& options, ScoredRow* best) const {
  std::vector<float> table(static_cast<std::size_t>(m_) * kK);
  QueryTable(query, table.data());
  const AdcKernels& adc = BestAdc();
  // adc.one sums as adc.many does: scores equal to the scan's to the bit.
  return store_->ScanAllowed(
      *options.filter, filter_row, kk,
      [&](const std::int64_t* rows, std::int64_t count, float* out) {
        for (std::int64_t j = 0; j < count; ++j) out[j] = adc.one(table.data(), store_->code(rows[j]), m_);
      },
      best);
}

void ProductQuantizedIndex::Scan(const float* q_data, std::int64_t nq, std::int64_t kk, const SearchOptions& options,
                                 const std::int64_t* filter_rows, ScoredRow* out_best, std::int64_t* out_sizes) const {
  const std::int64_t n = store_->id_table().size();
  const Filter* filter = filter_rows != nullptr ? options.filter : nullptr;
  // The row split of the blocked scan (shards only when there are fewer query blocks than
  // threads); each task is one query over one shard. The split does not change any score.
  const scan::Plan plan = scan::MakePlan(nq, n, kk, options.num_threads);
  const int threads = plan.threads;
  const std::int64_t n_shards = plan.n_shards, stride = plan.stride;
  const kernels::KernelSet& kern = kernels::Best();
  const AdcKernels& adc = BestAdc();
  const std::int64_t tasks = nq * n_shards;
  struct Scratch {
    std::vector<float> table, scores, res_scores;
    std::vector<std::int32_t> res_offsets;
    std::int64_t query = -1;  // the query whose table is built
  };
  std::vector<Scratch> scratch(static_cast<std::size_t>(std::min<std::int64_t>(threads, std::max<std::int64_t>(tasks, 1))));
  const bool reservoir = kk >= scan::kReservoirMinK;
  const std::int64_t capacity = TopKReservoir::Capacity(kk);
  const float* inv_norms = store_->inv_norms();
  const std::int64_t* row_ids = store_->id_table().ids().data();

  auto scan_shards = [&](ScoredRow* best, std::int64_t* best_sizes) {
    ParallelFor(tasks, threads, [&](std::int64_t task, int worker) {
      const std::int64_t q = task / n_shards, shard = task % n_shards;
      const std::int64_t d_begin = shard * plan.shard_docs, d_end = std::min(n, d_begin + plan.shard_docs);
      Scratch& w = scratch[worker];
      w.table.resize(static_cast<std::size_t>(m_) * kK);
      w.scores.resize(static_cast<std::size_t>(kAdcChunk));
      if (w.query != q) QueryTable(q_data + q * dim_, w.table.data()), w.query = q;
      ScoredRow* out = &best[(q * n_shards + shard) * stride];
      auto scan_rows = [&](auto& selector) {
        for (std::int64_t d0 = d_begin; d0 < d_end; d0 += kAdcChunk) {
          const std::int64_t dn = std::min(kAdcChunk, d_end - d0);
          const std::uint8_t* codes = store_->code(d0);
          float* s = w.scores.data();
          adc.many(w.table.data(), codes, dn, m_, s);
          if (inv_norms != nullptr) {
            for (std::int64_t j = 0; j < dn; ++j) s[j] *= inv_norms[d0 + j];
          }
          if (filter != nullptr) {  // -inf is never above a selector's threshold
            const std::int64_t f = filter_rows[q];
            for (std::int64_t j = 0; j < dn; ++j) {
              if (!filter->Allows(f, row_ids[d0 + j])) s[j] = -std::numeric_limits<float>::infinity();
            }
          }
          selector.PushRow(s, dn, d0, kern.select_above);
        }
        best_sizes[q * n_shards + shard] = selector.SortBestFirst(out);
      };
      if (reservoir) {
        w.res_scores.resize(static_cast<std::size_t>(capacity));
        w.res_offsets.resize(static_cast<std::size_t>(capacity));
        TopKReservoir selector(w.res_scores.data(), w.res_offsets.data(), kk, d_begin);
        scan_rows(selector);
      } else {
        TopKHeap selector(out, kk);
        scan_rows(selector);
      }
    });
  };
  CodeStore::ScanAndMerge(plan, nq, kk, scan_shards, out_best, out_sizes);
}

absl::Status ProductQuantizedIndex::Reconstruct(absl::Span<const std::int64_t> ids, MutableMatrixView out) const {
  const ReaderLock lock = store_->ReadLock();
  return store_->Reconstruct(ids, out, *this);
}

QuantizedMemoryUsage ProductQuantizedIndex::memory_usage() const {
  const ReaderLock lock = store_->ReadLock();
  QuantizedMemoryUsage u = store_->MemoryUsage();
  u.params = static_cast<std::int64_t>(centroids_.size() * sizeof(float));
  return u;
}

// Payload (version 1), little-endian:
//   u32 dim, u32 metric (0 ip, 1 cosine), u32 m, u32 nbits (8), u32 rescore_factor,
//   u32 trained (1 when codebooks follow)
//   [trained] f32 centroids[m x 256 x dim/m]
//   u64 n, i64 ids[n], u8 codes[n x m], [rescore_factor > 0] f32 originals[n x dim]
absl::Status ProductQuantizedIndex::Save(const std::string& path) const {
  const ReaderLock lock = store_->ReadLock();
  DENSEFB_ASSIGN_OR_RETURN(auto writer, AtomicFileWriter::Open(path, kKind, kFormatVersion));
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(dim_));
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(static_cast<std::uint32_t>(metric_)));
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(m_));
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(8));
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(rescore_factor_));
  const bool has_books = !centroids_.empty();
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(has_books ? 1 : 0));
  if (has_books) DENSEFB_RETURN_IF_ERROR(writer->Write(centroids_.data(), centroids_.size() * sizeof(float)));
  DENSEFB_RETURN_IF_ERROR(store_->SaveRows(*writer));
  return writer->Commit();
}

absl::StatusOr<std::unique_ptr<ProductQuantizedIndex>> ProductQuantizedIndex::Load(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(auto reader, FileReader::Open(path, kKind, kFormatVersion));
  std::uint32_t dim = 0, metric = 0, m = 0, nbits = 0, rescore = 0, trained = 0;
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&dim, "dim"));
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&metric, "metric"));
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&m, "m"));
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&nbits, "nbits"));
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&rescore, "rescore_factor"));
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&trained, "trained"));
  if (dim < 1 || dim > (1u << 20)) return reader->Corrupt(absl::StrCat("invalid dim ", dim));
  if (metric > static_cast<std::uint32_t>(Metric::kCosine)) {
    return reader->Corrupt(absl::StrCat("invalid metric code ", metric));
  }
  if (m < 1 || dim % m != 0) return reader->Corrupt(absl::StrCat("invalid m ", m, " for dim ", dim));
  if (nbits != 8) return reader->Corrupt(absl::StrCat("invalid nbits ", nbits, " (only 8 is supported)"));
  if (rescore > static_cast<std::uint32_t>(kMaxRescoreFactor)) {
    return reader->Corrupt(absl::StrCat("invalid rescore_factor ", rescore, " (at most ", kMaxRescoreFactor, ")"));
  }
  if (trained > 1) return reader->Corrupt(absl::StrCat("invalid trained flag ", trained));
  auto index = std::unique_ptr<ProductQuantizedIndex>(new ProductQuantizedIndex(
      static_cast<int>(dim), static_cast<Metric>(metric), static_cast<int>(m), static_cast<int>(rescore)));
  if (trained == 1) {
    const std::uint64_t book_bytes = std::uint64_t{kK} * dim * sizeof(float);
    if (book_bytes > reader->remaining()) {
      return reader->Corrupt(absl::StrCat("centroids need ", book_bytes, " bytes, ", reader->remaining(), " remain"));
    }
    std::vector<float> centroids(static_cast<std::size_t>(kK) * dim);
    DENSEFB_RETURN_IF_ERROR(reader->Read(centroids.data(), centroids.size() * sizeof(float), "centroids"));
    for (std::size_t i = 0; i < centroids.size(); ++i) {
      if (!std::isfinite(centroids[i])) {
        const std::size_t per_book = static_cast<std::size_t>(kK) * index->dsub_;
        return reader->Corrupt(absl::StrCat("centroid ", (i % per_book) / index->dsub_, " of sub-space ", i / per_book,
                                            " is not finite (", centroids[i], ")"));
      }
    }
    index->centroids_ = std::move(centroids);
    if (absl::Status s = index->CheckCodebookNorms(); !s.ok()) return reader->Corrupt(s.message());
  }
  std::uint64_t n = 0;
  DENSEFB_RETURN_IF_ERROR(index->store_->LoadCount(*reader, &n));
  if (n > 0 && trained == 0) return reader->Corrupt(absl::StrCat(n, " vectors without trained codebooks"));
  // Every byte is a valid code (nbits = 8: 256 centroids), so codes need no range check; the
  // codebooks bound every decodable vector (CheckCodebookNorms).
  DENSEFB_RETURN_IF_ERROR(index->store_->LoadRows(
      *reader, n, [](const std::vector<std::uint8_t>&) { return absl::OkStatus(); },
      [&](const std::uint8_t* codes, std::int64_t rows, float* out) { index->DecodeRows(codes, rows, out); },
      /*check_decoded=*/false));
  return index;
}

}  // namespace densefb
