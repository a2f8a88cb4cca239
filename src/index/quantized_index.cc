#include "densefb/quantized_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "densefb/file_format.h"
#include "index/block_scan.h"
#include "index/checks.h"
#include "index/id_table.h"
#include "index/kernels.h"
#include "index/rw_lock.h"
#include "index/topk.h"

#if defined(DENSEFB_HAVE_X86_DISPATCH) && (defined(__x86_64__) || defined(_M_X64))
#define DENSEFB_SQ_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace densefb {
namespace {

constexpr float kFp16Max = 65504.0f;

std::uint32_t Bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float FromBits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// float32 -> IEEE half, round to nearest even, magnitudes above 65504 clamped to 65504 (the
// input is finite: Add checks it).
std::uint16_t FloatToHalf(float f) {
  const std::uint32_t x = Bits(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const float a = std::fabs(f);
  if (a >= kFp16Max) return sign | 0x7BFFu;
  if (a < 6.103515625e-05f) {
    // Below the smallest normal half (2^-14): a multiple of 2^-24. Adding 0.5 (2^-1) moves
    // the value into a float whose last mantissa bit is worth 2^-24, so the addition itself
    // rounds to nearest even; the half's subnormal mantissa is then the low bits.
    const std::uint32_t sum = Bits(a + 0.5f) - Bits(0.5f);
    return sign | static_cast<std::uint16_t>(sum);
  }
  // Normal: rebias the exponent (127 -> 15) and round the 23-bit mantissa to 10 bits to
  // nearest even. A carry out of the mantissa correctly bumps the exponent; it cannot reach
  // infinity, since a < 65504 rounds to at most 65504.
  std::uint32_t u = Bits(a);
  const std::uint32_t odd = (u >> 13) & 1u;
  u += 0xFFFu + odd;
  u -= (127u - 15u) << 23;
  return sign | static_cast<std::uint16_t>(u >> 13);
}

float HalfToFloat(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  const std::uint32_t mant = h & 0x3FFu;
  if (exp == 0) {  // zero or subnormal: mant x 2^-24, exact in float
    const float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
    return FromBits(Bits(v) | sign);
  }
  if (exp == 31) return FromBits(sign | 0x7F800000u | (mant << 13));  // never stored (Load rejects)
  return FromBits(sign | ((exp + 112u) << 23) | (mant << 13));
}

// float32 -> bfloat16, round to nearest even; a value that would round to infinity is
// clamped to the largest finite bfloat16 (0x7F7F).
std::uint16_t FloatToBf16(float f) {
  const std::uint32_t x = Bits(f);
  const std::uint32_t rounded = x + 0x7FFFu + ((x >> 16) & 1u);
  std::uint16_t b = static_cast<std::uint16_t>(rounded >> 16);
  if ((b & 0x7F80u) == 0x7F80u) b = static_cast<std::uint16_t>((x >> 16) & 0x8000u) | 0x7F7Fu;
  return b;
}

// A half or bfloat16 code is finite unless its exponent bits are all ones.
bool HalfFinite(std::uint16_t h) { return (h & 0x7C00u) != 0x7C00u; }
bool Bf16Finite(std::uint16_t b) { return (b & 0x7F80u) != 0x7F80u; }

// ---- decoding, per instruction set --------------------------------------------------------
// Scores are computed on decoded float32 rows, so decoding runs once per scanned vector and
// query block. Every variant computes exactly the same floats (no FMA contraction: vmin +
// code * scale is a product then a sum everywhere), so results do not depend on the CPU.

inline void DecodeInt8Body(const std::uint8_t* c, std::int64_t d, const float* vmin,
                           const float* scale, float* out) {
  for (std::int64_t j = 0; j < d; ++j) out[j] = vmin[j] + static_cast<float>(c[j]) * scale[j];
}
// 16-bit codes are read from the byte store with memcpy (compiled to plain loads).
inline std::uint16_t Code16(const std::uint8_t* c, std::int64_t j) {
  std::uint16_t h;
  std::memcpy(&h, c + 2 * j, sizeof h);
  return h;
}
inline void DecodeBf16Body(const std::uint8_t* c, std::int64_t d, float* out) {
  for (std::int64_t j = 0; j < d; ++j) {
    const std::uint32_t u = static_cast<std::uint32_t>(Code16(c, j)) << 16;
    std::memcpy(out + j, &u, sizeof u);
  }
}

// Half -> float by table in the baseline build (256 KiB, built once; stays in cache while a
// scan decodes).
const float* HalfTable() {
  static const std::vector<float>* table = [] {
    auto* t = new std::vector<float>(65536);
    for (std::uint32_t h = 0; h < 65536; ++h) (*t)[h] = HalfToFloat(static_cast<std::uint16_t>(h));
    return t;
  }();
  return table->data();
}

void DecodeInt8Generic(const std::uint8_t* c, std::int64_t d, const float* vmin, const float* scale, float* out) {
  DecodeInt8Body(c, d, vmin, scale, out);
}
void DecodeFp16Generic(const std::uint8_t* c, std::int64_t d, float* out) {
  const float* table = HalfTable();
  for (std::int64_t j = 0; j < d; ++j) out[j] = table[Code16(c, j)];
}
void DecodeBf16Generic(const std::uint8_t* c, std::int64_t d, float* out) { DecodeBf16Body(c, d, out); }

#if defined(DENSEFB_SQ_X86)
// AVX2 without FMA (see above) and F16C for halves.
__attribute__((target("avx2"))) void DecodeInt8Avx2(const std::uint8_t* c, std::int64_t d, const float* vmin,
                                                    const float* scale, float* out) {
  std::int64_t j = 0;
  for (; j + 8 <= d; j += 8) {
    std::uint64_t eight;
    std::memcpy(&eight, c + j, sizeof eight);
    const __m256 x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(eight))));
    const __m256 v = _mm256_add_ps(_mm256_loadu_ps(vmin + j), _mm256_mul_ps(x, _mm256_loadu_ps(scale + j)));
    _mm256_storeu_ps(out + j, v);
  }
  for (; j < d; ++j) out[j] = vmin[j] + static_cast<float>(c[j]) * scale[j];
}
__attribute__((target("avx2,f16c"))) void DecodeFp16Avx2(const std::uint8_t* c, std::int64_t d, float* out) {
  std::int64_t j = 0;
  for (; j + 8 <= d; j += 8) {
    _mm256_storeu_ps(out + j, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 2 * j))));
  }
  if (j < d) {
    const float* table = HalfTable();
    for (; j < d; ++j) out[j] = table[Code16(c, j)];
  }
}
__attribute__((target("avx2"))) void DecodeBf16Avx2(const std::uint8_t* c, std::int64_t d, float* out) {
  std::int64_t j = 0;
  for (; j + 8 <= d; j += 8) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 2 * j)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j), _mm256_slli_epi32(w, 16));
  }
  for (; j < d; ++j) {
    const std::uint32_t u = static_cast<std::uint32_t>(Code16(c, j)) << 16;
    std::memcpy(out + j, &u, sizeof u);
  }
}
#endif

struct Decoders {
  void (*int8)(const std::uint8_t*, std::int64_t, const float*, const float*, float*);
  void (*fp16)(const std::uint8_t*, std::int64_t, float*);
  void (*bf16)(const std::uint8_t*, std::int64_t, float*);
};

const Decoders& BestDecoders() {
  static const Decoders best = [] {
#if defined(DENSEFB_SQ_X86)
    __builtin_cpu_init();
    // F16C by CPUID (leaf 1, ECX bit 29): not every compiler's __builtin_cpu_supports knows it.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
    if (__builtin_cpu_supports("avx2") && f16c) {
      return Decoders{&DecodeInt8Avx2, &DecodeFp16Avx2, &DecodeBf16Avx2};
    }
#endif
    return Decoders{&DecodeInt8Generic, &DecodeFp16Generic, &DecodeBf16Generic};
  }();
  return best;
}

// Decoded rows are checked for the norm bound in chunks of this many (bounded scratch).
constexpr std::int64_t kCheckChunk = 1024;

}  // namespace

absl::StatusOr<ScalarEncoding> ParseScalarEncoding(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "int8" || n == "sq8") return ScalarEncoding::kInt8;
  if (n == "fp16" || n == "float16") return ScalarEncoding::kFp16;
  if (n == "bf16" || n == "bfloat16") return ScalarEncoding::kBf16;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown encoding \"", name, "\"; expected \"int8\", \"fp16\" or \"bf16\""));
}

absl::string_view ScalarEncodingName(ScalarEncoding encoding) {
  switch (encoding) {
    case ScalarEncoding::kInt8: return "int8";
    case ScalarEncoding::kFp16: return "fp16";
    case ScalarEncoding::kBf16: return "bf16";
  }
  return "unknown";
}

int BytesPerCode(ScalarEncoding encoding) { return encoding == ScalarEncoding::kInt8 ? 1 : 2; }

ScalarQuantizedIndex::ScalarQuantizedIndex(int dim, Metric metric, ScalarEncoding encoding, int rescore_factor)
    : dim_(dim),
      metric_(metric),
      encoding_(encoding),
      rescore_factor_(rescore_factor),
      code_bytes_(dim * BytesPerCode(encoding)),
      id_table_(std::make_unique<IdTable>()) {}
ScalarQuantizedIndex::~ScalarQuantizedIndex() = default;

absl::StatusOr<std::unique_ptr<ScalarQuantizedIndex>> ScalarQuantizedIndex::Create(int dim, Metric metric,
                                                                                   ScalarEncoding encoding,
                                                                                   int rescore_factor) {
  if (dim < 1) return absl::InvalidArgumentError(absl::StrCat("dim = ", dim, " must be >= 1"));
  if (dim > (1 << 20)) return absl::InvalidArgumentError(absl::StrCat("dim = ", dim, " is above 2^20"));
  if (static_cast<std::uint8_t>(encoding) > static_cast<std::uint8_t>(ScalarEncoding::kBf16)) {
    return absl::InvalidArgumentError(absl::StrCat("encoding code ", static_cast<int>(encoding), " is unknown"));
  }
  if (rescore_factor < 0 || rescore_factor > kMaxRescoreFactor) {
    return absl::InvalidArgumentError(
        absl::StrCat("rescore_factor = ", rescore_factor, " must be in [0, ", kMaxRescoreFactor, "]"));
  }
  return std::unique_ptr<ScalarQuantizedIndex>(new ScalarQuantizedIndex(dim, metric, encoding, rescore_factor));
}

std::int64_t ScalarQuantizedIndex::size() const {
  ReaderLock lock(turnstile_, mutex_);
  return id_table_->size();
}
const std::vector<std::int64_t>& ScalarQuantizedIndex::ids() const { return id_table_->ids(); }

bool ScalarQuantizedIndex::trained() const {
  ReaderLock lock(turnstile_, mutex_);
  return encoding_ != ScalarEncoding::kInt8 || !vmin_.empty();
}
std::vector<float> ScalarQuantizedIndex::vmin() const {
  ReaderLock lock(turnstile_, mutex_);
  return vmin_;
}
std::vector<float> ScalarQuantizedIndex::vmax() const {
  ReaderLock lock(turnstile_, mutex_);
  return vmax_;
}

void ScalarQuantizedIndex::TrainLocked(ConstMatrixView sample) {
  vmin_.assign(sample.row(0), sample.row(0) + dim_);
  vmax_ = vmin_;
  for (std::int64_t i = 1; i < sample.rows; ++i) {
    const float* r = sample.row(i);
    for (int j = 0; j < dim_; ++j) {
      vmin_[j] = std::min(vmin_[j], r[j]);
      vmax_[j] = std::max(vmax_[j], r[j]);
    }
  }
  scale_.resize(dim_);
  // Finite: both ends are values of vectors with a bounded norm, so the span is below 3.6e19.
  for (int j = 0; j < dim_; ++j) scale_[j] = (vmax_[j] - vmin_[j]) / 255.0f;
}

absl::Status ScalarQuantizedIndex::Train(ConstMatrixView sample) {
  WriterLock lock(turnstile_, mutex_);
  if (encoding_ != ScalarEncoding::kInt8) return absl::OkStatus();
  if (id_table_->size() > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the index already holds ", id_table_->size(), " vectors encoded with the trained range; train an empty index"));
  }
  if (sample.rows == 0) return absl::InvalidArgumentError("the training sample is empty");
  DENSEFB_RETURN_IF_ERROR(CheckVectors(sample, dim_));
  TrainLocked(sample);
  return absl::OkStatus();
}

void ScalarQuantizedIndex::EncodeRows(const float* v, std::int64_t n, std::uint8_t* out) const {
  switch (encoding_) {
    case ScalarEncoding::kInt8: {
      std::vector<float> inv(dim_);
      for (int j = 0; j < dim_; ++j) inv[j] = scale_[j] > 0.0f ? 1.0f / scale_[j] : 0.0f;
      for (std::int64_t i = 0; i < n; ++i) {
        const float* r = v + i * dim_;
        std::uint8_t* c = out + i * code_bytes_;
        for (int j = 0; j < dim_; ++j) {
          // Clamped to the trained range; then round half up.
          const float t = std::clamp((r[j] - vmin_[j]) * inv[j], 0.0f, 255.0f);
          c[j] = static_cast<std::uint8_t>(t + 0.5f);
        }
      }
      break;
    }
    case ScalarEncoding::kFp16:
    case ScalarEncoding::kBf16: {
      const bool half = encoding_ == ScalarEncoding::kFp16;
      for (std::int64_t i = 0; i < n * dim_; ++i) {
        const std::uint16_t h = half ? FloatToHalf(v[i]) : FloatToBf16(v[i]);
        std::memcpy(out + 2 * i, &h, sizeof h);
      }
      break;
    }
  }
}

void ScalarQuantizedIndex::DecodeRows(const std::uint8_t* codes, std::int64_t n, float* out) const {
  const Decoders& dec = BestDecoders();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint8_t* c = codes + i * code_bytes_;
    float* o = out + i * dim_;
    switch (encoding_) {
      case ScalarEncoding::kInt8: dec.int8(c, dim_, vmin_.data(), scale_.data(), o); break;
      case ScalarEncoding::kFp16: dec.fp16(c, dim_, o); break;
      case ScalarEncoding::kBf16: dec.bf16(c, dim_, o); break;
    }
  }
}

absl::Status ScalarQuantizedIndex::Add(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) {
  WriterLock lock(turnstile_, mutex_);
  DENSEFB_RETURN_IF_ERROR(CheckVectors(vectors, dim_));
  DENSEFB_RETURN_IF_ERROR(id_table_->Validate(vectors.rows, ids));
  const std::int64_t n = vectors.rows;
  if (n == 0) return absl::OkStatus();
  const bool trains = encoding_ == ScalarEncoding::kInt8 && vmin_.empty();
  if (trains) TrainLocked(vectors);
  auto untrain = [&] {
    if (trains) vmin_.clear(), vmax_.clear(), scale_.clear();
  };
  const std::size_t old_codes = codes_.size(), old_orig = originals_.size();
  const std::size_t old_norms = inv_norms_.size(), old_orig_norms = orig_inv_norms_.size();
  try {
    codes_.resize(old_codes + static_cast<std::size_t>(n) * code_bytes_);
    EncodeRows(vectors.data, n, codes_.data() + old_codes);
    // The decoded vectors are what searches score: check their norms (a range near float32's
    // limits could decode to a vector beyond the bound) and take their cosine factors.
    std::vector<float> decoded(static_cast<std::size_t>(std::min(n, kCheckChunk)) * dim_);
    for (std::int64_t i0 = 0; i0 < n; i0 += kCheckChunk) {
      const std::int64_t m = std::min(kCheckChunk, n - i0);
      DecodeRows(codes_.data() + old_codes + i0 * code_bytes_, m, decoded.data());
      if (absl::Status s = CheckVectors({decoded.data(), m, dim_}, dim_); !s.ok()) {
        codes_.resize(old_codes);
        inv_norms_.resize(old_norms);
        untrain();
        return absl::InvalidArgumentError(absl::StrCat("decoded vectors from row ", i0, ": ", s.message()));
      }
      if (metric_ == Metric::kCosine) {
        for (std::int64_t i = 0; i < m; ++i) inv_norms_.push_back(InverseNorm(&decoded[i * dim_], dim_));
      }
    }
    if (rescore_factor_ > 0) {
      originals_.insert(originals_.end(), vectors.data, vectors.data + n * dim_);
      if (metric_ == Metric::kCosine) {
        for (std::int64_t i = 0; i < n; ++i) orig_inv_norms_.push_back(InverseNorm(vectors.row(i), dim_));
      }
    }
  } catch (const std::bad_alloc&) {
    codes_.resize(old_codes);
    originals_.resize(old_orig);
    inv_norms_.resize(old_norms);
    orig_inv_norms_.resize(old_orig_norms);
    untrain();
    return absl::ResourceExhaustedError(absl::StrCat("out of memory adding ", n, " vectors of dim ", dim_));
  }
  id_table_->Append(n, ids);
  return absl::OkStatus();
}

absl::Status ScalarQuantizedIndex::Reserve(std::int64_t n) {
  if (n < 0) return NegativeReserve(n);
  WriterLock lock(turnstile_, mutex_);
  const std::int64_t per_vector = code_bytes_ + (rescore_factor_ > 0 ? dim_ * 4 : 0);
  if (n > std::numeric_limits<std::int64_t>::max() / per_vector) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot reserve ", n, " vectors of dim ", dim_));
  }
  try {
    codes_.reserve(static_cast<std::size_t>(n) * code_bytes_);
    if (metric_ == Metric::kCosine) inv_norms_.reserve(static_cast<std::size_t>(n));
    if (rescore_factor_ > 0) {
      originals_.reserve(static_cast<std::size_t>(n) * dim_);
      if (metric_ == Metric::kCosine) orig_inv_norms_.reserve(static_cast<std::size_t>(n));
    }
    id_table_->Reserve(n);
  } catch (const std::exception&) {  // bad_alloc, length_error
    return absl::ResourceExhaustedError(absl::StrCat("out of memory reserving ", n, " vectors of dim ", dim_));
  }
  return absl::OkStatus();
}

absl::Status ScalarQuantizedIndex::Search(ConstMatrixView queries, const SearchOptions& options, float* out_scores,
                                          std::int64_t* out_ids) const {
  ReaderLock lock(turnstile_, mutex_);
  DENSEFB_RETURN_IF_ERROR(CheckQueries(queries, dim_, options));
  const std::int64_t nq = queries.rows;
  const std::int64_t k = options.k;
  const std::int64_t n = id_table_->size();
  if (nq == 0 || k == 0) return absl::OkStatus();

  std::vector<float> normalized;
  const float* q_data = queries.data;
  if (metric_ == Metric::kCosine) {
    normalized.assign(queries.data, queries.data + nq * dim_);
    for (std::int64_t i = 0; i < nq; ++i) {
      const float inv = InverseNorm(&normalized[i * dim_], dim_);
      for (std::int64_t j = 0; j < dim_; ++j) normalized[i * dim_ + j] *= inv;
    }
    q_data = normalized.data();
  }

  // Candidates of the compressed scan: k, or r*k for re-scoring (never more than exist).
  const std::int64_t wanted = rescore_factor_ > 0 ? k * rescore_factor_ : k;
  const std::int64_t kk = std::min(wanted, n);
  const std::int64_t stride = std::max<std::int64_t>(kk, 1);
  std::unique_ptr<ScoredRow[]> best(new ScoredRow[static_cast<std::size_t>(nq * stride)]);
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(nq), 0);

  const Filter* filter = options.filter;
  if (filter == nullptr) {
    Scan(q_data, nq, kk, options, nullptr, best.get(), sizes.data());
  } else {
    DENSEFB_RETURN_IF_ERROR(filter->CheckQueries(nq));
    // As FlatIndex: a query allowing few ids is scored over them alone; the rest share a scan.
    std::vector<std::int64_t> few, many;
    for (std::int64_t i = 0; i < nq; ++i) {
      (filter->Count(i) * Filter::kFewAllowedRatio < n ? few : many).push_back(i);
    }
    ParallelFor(static_cast<std::int64_t>(few.size()), ResolveThreads(options.num_threads), [&](std::int64_t j, int) {
      const std::int64_t q = few[j];
      sizes[q] = ScanAllowed(q_data + q * dim_, q, kk, options, &best[q * stride]);
    });
    if (!many.empty()) {
      const auto m = static_cast<std::int64_t>(many.size());
      std::vector<float> q_many(static_cast<std::size_t>(m * dim_));
      for (std::int64_t j = 0; j < m; ++j) std::copy_n(q_data + many[j] * dim_, dim_, &q_many[j * dim_]);
      std::unique_ptr<ScoredRow[]> best_many(new ScoredRow[static_cast<std::size_t>(m * stride)]);
      std::vector<std::int64_t> sizes_many(static_cast<std::size_t>(m), 0);
      Scan(q_many.data(), m, kk, options, many.data(), best_many.get(), sizes_many.data());
      for (std::int64_t j = 0; j < m; ++j) {
        std::copy_n(&best_many[j * stride], sizes_many[j], &best[many[j] * stride]);
        sizes[many[j]] = sizes_many[j];
      }
    }
  }

  const int threads = ResolveThreads(options.num_threads);
  if (rescore_factor_ > 0) {
    // Exact scores of the candidates from the float32 vectors, then the top k of them.
    const kernels::KernelSet& kern = kernels::Best();
    ParallelFor(nq, static_cast<int>(std::min<std::int64_t>(threads, nq / 16 + 1)), [&](std::int64_t q, int) {
      ScoredRow* c = &best[q * stride];
      const float* query = q_data + q * dim_;
      for (std::int64_t j = 0; j < sizes[q]; ++j) {
        float s = kern.dot(query, originals_.data() + c[j].row * dim_, dim_);
        if (metric_ == Metric::kCosine) s *= orig_inv_norms_[c[j].row];
        c[j].score = s;
      }
      const std::int64_t keep = std::min(sizes[q], k);
      std::partial_sort(c, c + keep, c + sizes[q], Better);
      sizes[q] = keep;
    });
  }
  for (std::int64_t q = 0; q < nq; ++q) {
    const ScoredRow* top = &best[q * stride];
    const std::int64_t keep = std::min(sizes[q], k);
    for (std::int64_t j = 0; j < k; ++j) {
      out_scores[q * k + j] = j < keep ? top[j].score : -std::numeric_limits<float>::infinity();
      out_ids[q * k + j] = j < keep ? id_table_->id(top[j].row) : kNoId;
    }
  }
  return absl::OkStatus();
}

std::int64_t ScalarQuantizedIndex::ScanAllowed(const float* query, std::int64_t filter_row, std::int64_t kk,
                                               const SearchOptions& options, ScoredRow* best) const {
  const kernels::KernelSet& kern = kernels::Best();
  std::vector<float> row_buf(static_cast<std::size_t>(dim_));
  std::vector<ScoredRow> hits;
  for (std::int64_t id : options.filter->Ids(filter_row)) {
    const std::int64_t row = id_table_->Row(id);
    if (row < 0) continue;
    DecodeRows(codes_.data() + row * code_bytes_, 1, row_buf.data());
    float score = kern.dot(query, row_buf.data(), dim_);
    if (metric_ == Metric::kCosine) score *= inv_norms_[row];
    hits.push_back({score, row});
  }
  const std::int64_t keep = std::min<std::int64_t>(kk, static_cast<std::int64_t>(hits.size()));
  std::partial_sort(hits.begin(), hits.begin() + keep, hits.end(), Better);
  std::copy_n(hits.begin(), keep, best);
  return keep;
}

void ScalarQuantizedIndex::Scan(const float* q_data, std::int64_t nq, std::int64_t kk, const SearchOptions& options,
                                const std::int64_t* filter_rows, ScoredRow* out_best, std::int64_t* out_sizes) const {
  const std::int64_t n = id_table_->size();
  const Filter* filter = filter_rows != nullptr ? options.filter : nullptr;
  const scan::Plan plan = scan::MakePlan(nq, n, kk, options.num_threads);
  const int threads = plan.threads;
  const std::int64_t n_shards = plan.n_shards, stride = plan.stride;
  // With one shard the selectors write straight into the output.
  std::unique_ptr<ScoredRow[]> shard_best;
  std::vector<std::int64_t> shard_sizes;
  ScoredRow* best = out_best;
  std::int64_t* best_sizes = out_sizes;
  if (n_shards > 1) {
    shard_best.reset(new ScoredRow[static_cast<std::size_t>(nq * n_shards * stride)]);
    shard_sizes.assign(static_cast<std::size_t>(nq * n_shards), 0);
    best = shard_best.get();
    best_sizes = shard_sizes.data();
  }
  // A block: its codes decoded into the worker's buffer, padded to whole panels.
  auto block = [&](std::int64_t d0, std::int64_t dn, std::int64_t ld, float* buffer) -> const float* {
    DecodeRows(codes_.data() + d0 * code_bytes_, dn, buffer);
    std::fill(buffer + dn * dim_, buffer + ld * dim_, 0.0f);
    return buffer;
  };
  scan::ScanBlocks(plan, q_data, nq, n, dim_, metric_ == Metric::kCosine ? inv_norms_.data() : nullptr, filter,
                   filter_rows, id_table_->ids().data(), block, best, best_sizes);
  if (n_shards == 1) return;
  // Merge each query's shards (each sorted best first); -inf entries (filtered out) never
  // pass a selector, so every kept entry is a real candidate.
  const int merge_threads = static_cast<int>(std::min<std::int64_t>(threads, nq));
  std::vector<std::vector<ScoredRow>> merged(static_cast<std::size_t>(std::max(merge_threads, 1)));
  ParallelFor(nq, merge_threads, [&](std::int64_t q, int worker) {
    std::vector<ScoredRow>& m = merged[worker];
    m.clear();
    for (std::int64_t s = 0; s < n_shards; ++s) {
      const ScoredRow* h = &best[(q * n_shards + s) * stride];
      m.insert(m.end(), h, h + best_sizes[q * n_shards + s]);
    }
    const std::int64_t keep = std::min<std::int64_t>(kk, static_cast<std::int64_t>(m.size()));
    std::partial_sort(m.begin(), m.begin() + keep, m.end(), Better);
    std::copy_n(m.begin(), keep, &out_best[q * stride]);
    out_sizes[q] = keep;
  });
}

absl::Status ScalarQuantizedIndex::Reconstruct(absl::Span<const std::int64_t> ids, MutableMatrixView out) const {
  ReaderLock lock(turnstile_, mutex_);
  if (out.rows != static_cast<std::int64_t>(ids.size()) || (out.rows > 0 && out.cols != dim_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("output is ", out.rows, " x ", out.cols, ", expected ", ids.size(), " x ", dim_));
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int64_t row = id_table_->Row(ids[i]);
    if (row < 0) return absl::NotFoundError(absl::StrCat("id ", ids[i], " is not in the index"));
    DecodeRows(codes_.data() + row * code_bytes_, 1, out.row(static_cast<std::int64_t>(i)));
  }
  return absl::OkStatus();
}

QuantizedMemoryUsage ScalarQuantizedIndex::memory_usage() const {
  ReaderLock lock(turnstile_, mutex_);
  const std::int64_t n = id_table_->size();
  constexpr std::int64_t kIdBytes = 24;  // 8 in the id list + a 16-byte (id, row) slot of the lookup
  QuantizedMemoryUsage u;
  u.codes = static_cast<std::int64_t>(codes_.size());
  u.originals = static_cast<std::int64_t>(originals_.size() * sizeof(float));
  u.norms = static_cast<std::int64_t>((inv_norms_.size() + orig_inv_norms_.size()) * sizeof(float));
  u.ids = n * kIdBytes;
  u.params = static_cast<std::int64_t>((vmin_.size() + vmax_.size() + scale_.size()) * sizeof(float));
  u.flat_equivalent = n * dim_ * static_cast<std::int64_t>(sizeof(float)) +
                      (metric_ == Metric::kCosine ? n * static_cast<std::int64_t>(sizeof(float)) : 0) + n * kIdBytes;
  return u;
}

// Payload (version 1), little-endian:
//   u32 dim, u32 metric (0 ip, 1 cosine), u32 encoding (0 int8, 1 fp16, 2 bf16),
//   u32 rescore_factor, u32 trained (int8: 1 when a range follows; fp16/bf16: 0)
//   [trained] f32 vmin[dim], f32 vmax[dim]
//   u64 n, i64 ids[n], codes[n x dim x BytesPerCode], [rescore_factor > 0] f32 originals[n x dim]
absl::Status ScalarQuantizedIndex::Save(const std::string& path) const {
  ReaderLock lock(turnstile_, mutex_);
  DENSEFB_ASSIGN_OR_RETURN(auto writer, AtomicFileWriter::Open(path, "SQFL", kFormatVersion));
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(dim_));
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(static_cast<std::uint32_t>(metric_)));
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(static_cast<std::uint32_t>(encoding_)));
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(rescore_factor_));
  const bool has_range = !vmin_.empty();
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint32_t>(has_range ? 1 : 0));
  if (has_range) {
    DENSEFB_RETURN_IF_ERROR(writer->Write(vmin_.data(), vmin_.size() * sizeof(float)));
    DENSEFB_RETURN_IF_ERROR(writer->Write(vmax_.data(), vmax_.size() * sizeof(float)));
  }
  const std::vector<std::int64_t>& ids = id_table_->ids();
  DENSEFB_RETURN_IF_ERROR(writer->WritePod<std::uint64_t>(ids.size()));
  DENSEFB_RETURN_IF_ERROR(writer->Write(ids.data(), ids.size() * sizeof(std::int64_t)));
  DENSEFB_RETURN_IF_ERROR(writer->Write(codes_.data(), codes_.size()));
  if (rescore_factor_ > 0) {
    DENSEFB_RETURN_IF_ERROR(writer->Write(originals_.data(), originals_.size() * sizeof(float)));
  }
  return writer->Commit();
}

absl::StatusOr<std::unique_ptr<ScalarQuantizedIndex>> ScalarQuantizedIndex::Load(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(auto reader, FileReader::Open(path, "SQFL", kFormatVersion));
  std::uint32_t dim = 0, metric = 0, encoding = 0, rescore = 0, trained = 0;
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&dim, "dim"));
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&metric, "metric"));
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&encoding, "encoding"));
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&rescore, "rescore_factor"));
  DENSEFB_RETURN_IF_ERROR(reader->ReadPod(&trained, "trained"));
  if (dim < 1 || dim > (1u << 20)) return reader->Corrupt(absl::StrCat("invalid dim ", dim));
  if (metric > static_cast<std::uint32_t>(Metric::kCosine)) {
    return reader->Corrupt(absl::StrCat("invalid metric code ", metric));
  }
  if (encoding > static_cast<std::uint32_t>(ScalarEncoding::kBf16)) {
    return reader->Corrupt(absl::StrCat("invalid encoding code ", encoding));
  }
  if (rescore > static_cast<std::uint32_t>(kMaxRescoreFactor)) {
    return reader->Corrupt(absl::StrCat("invalid rescore_factor ", rescore, " (at most ", kMaxRescoreFactor, ")"));
  }
  const auto enc = static_cast<ScalarEncoding>(encoding);
  if (trained > 1 || (trained == 1 && enc != ScalarEncoding::kInt8)) {
    return reader->Corrupt(absl::StrCat("invalid trained flag ", trained, " for encoding ", ScalarEncodingName(enc)));
  }
  auto index = std::unique_ptr<ScalarQuantizedIndex>(
      new ScalarQuantizedIndex(static_cast<int>(dim), static_cast<Metric>(metric), enc, static_cast<int>(rescore)));
  if (trained == 1) {
    std::vector<float> vmin(dim), vmax(dim);
    DENSEFB_RETURN_IF_ERROR(reader->Read(vmin.data(), dim * sizeof(float), "vmin"));
    DENSEFB_RETURN_IF_ERROR(reader->Read(vmax.data(), dim * sizeof(float), "vmax"));
    for (std::uint32_t j = 0; j < dim; ++j) {
      // A range Train could have produced: finite ends in order, a finite span.
      if (!std::isfinite(vmin[j]) || !std::isfinite(vmax[j]) || !(vmin[j] <= vmax[j]) ||
          !std::isfinite(vmax[j] - vmin[j])) {
        return reader->Corrupt(absl::StrCat("invalid range [", vmin[j], ", ", vmax[j], "] of dimension ", j));
      }
    }
    index->vmin_ = std::move(vmin);
    index->vmax_ = std::move(vmax);
    index->scale_.resize(dim);
    for (std::uint32_t j = 0; j < dim; ++j) index->scale_[j] = (index->vmax_[j] - index->vmin_[j]) / 255.0f;
  }
  const std::size_t per_vector = sizeof(std::int64_t) + static_cast<std::size_t>(index->code_bytes_) +
                                 (rescore > 0 ? dim * sizeof(float) : 0);
  std::uint64_t n = 0;
  DENSEFB_RETURN_IF_ERROR(reader->ReadCount(&n, per_vector, "vector count"));
  if (n > 0 && enc == ScalarEncoding::kInt8 && trained == 0) {
    return reader->Corrupt(absl::StrCat(n, " int8 vectors without a trained range"));
  }
  std::vector<std::int64_t> ids(n);
  DENSEFB_RETURN_IF_ERROR(reader->Read(ids.data(), n * sizeof(std::int64_t), "ids"));
  std::vector<std::uint8_t> codes(n * index->code_bytes_);
  DENSEFB_RETURN_IF_ERROR(reader->Read(codes.data(), codes.size(), "codes"));
  std::vector<float> originals;
  if (rescore > 0) {
    originals.resize(n * dim);
    DENSEFB_RETURN_IF_ERROR(reader->Read(originals.data(), originals.size() * sizeof(float), "originals"));
  }
  DENSEFB_RETURN_IF_ERROR(reader->ExpectEnd());
  if (absl::Status ids_ok = index->id_table_->Assign(std::move(ids)); !ids_ok.ok()) {
    return reader->Corrupt(ids_ok.message());
  }
  if (enc != ScalarEncoding::kInt8) {
    const bool half = enc == ScalarEncoding::kFp16;
    for (std::uint64_t i = 0; i < n * dim; ++i) {
      std::uint16_t c;
      std::memcpy(&c, &codes[2 * i], sizeof c);
      if (!(half ? HalfFinite(c) : Bf16Finite(c))) {
        return reader->Corrupt(absl::StrCat("code of vector ", i / dim, " dimension ", i % dim,
                                            " is not finite (0x", absl::Hex(c), ")"));
      }
    }
  }
  index->codes_ = std::move(codes);
  // The decoded vectors must meet Add's norm bound (a forged range could break it); their
  // cosine factors are rebuilt on the way.
  const auto rows = static_cast<std::int64_t>(n);
  std::vector<float> decoded(static_cast<std::size_t>(std::min(rows, kCheckChunk)) * dim);
  for (std::int64_t i0 = 0; i0 < rows; i0 += kCheckChunk) {
    const std::int64_t m = std::min(kCheckChunk, rows - i0);
    index->DecodeRows(index->codes_.data() + i0 * index->code_bytes_, m, decoded.data());
    if (absl::Status s = CheckVectors({decoded.data(), m, static_cast<std::int64_t>(dim)}, static_cast<int>(dim));
        !s.ok()) {
      return reader->Corrupt(absl::StrCat("decoded vectors from row ", i0, ": ", s.message()));
    }
    if (index->metric_ == Metric::kCosine) {
      for (std::int64_t i = 0; i < m; ++i) index->inv_norms_.push_back(InverseNorm(&decoded[i * dim], dim));
    }
  }
  if (rescore > 0) {
    if (absl::Status s = CheckVectors({originals.data(), rows, static_cast<std::int64_t>(dim)}, static_cast<int>(dim));
        !s.ok()) {
      return reader->Corrupt(absl::StrCat("stored originals: ", s.message()));
    }
    index->originals_ = std::move(originals);
    if (index->metric_ == Metric::kCosine) {
      index->orig_inv_norms_.resize(n);
      for (std::uint64_t i = 0; i < n; ++i) {
        index->orig_inv_norms_[i] = InverseNorm(&index->originals_[i * dim], dim);
      }
    }
  }
  return index;
}

}  // namespace densefb
