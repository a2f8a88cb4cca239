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
#include "index/code_store.h"
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
      store_(std::make_unique<CodeStore>(dim, metric, code_bytes_, rescore_factor)) {}
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

std::int64_t ScalarQuantizedIndex::size() const { return store_->size(); }
const std::vector<std::int64_t>& ScalarQuantizedIndex::ids() const { return store_->ids(); }

bool ScalarQuantizedIndex::trained() const {
  const ReaderLock lock = store_->ReadLock();
  return encoding_ != ScalarEncoding::kInt8 || !vmin_.empty();
}
std::vector<float> ScalarQuantizedIndex::vmin() const {
  const ReaderLock lock = store_->ReadLock();
  return vmin_;
}
std::vector<float> ScalarQuantizedIndex::vmax() const {
  const ReaderLock lock = store_->ReadLock();
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
  const WriterLock lock = store_->WriteLock();
  if (encoding_ != ScalarEncoding::kInt8) return absl::OkStatus();
  if (store_->id_table().size() > 0) {
    return absl::FailedPreconditionError(absl::StrCat("the index already holds ", store_->id_table().size(),
                                                      " vectors encoded with the trained range; train an empty index"));
  }
  if (sample.rows == 0) return absl::InvalidArgumentError("the training sample is empty");
  DENSEFB_RETURN_IF_ERROR(CheckVectors(sample, dim_));
  TrainLocked(sample);
  return absl::OkStatus();
}

void ScalarQuantizedIndex::EncodeRows(ConstMatrixView vectors, std::uint8_t* out) const {
  const float* v = vectors.data;
  const std::int64_t n = vectors.rows;
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
  const WriterLock lock = store_->WriteLock();
  DENSEFB_RETURN_IF_ERROR(store_->CheckAdd(vectors, ids));
  if (vectors.rows == 0) return absl::OkStatus();
  const bool trains = encoding_ == ScalarEncoding::kInt8 && vmin_.empty();
  if (trains) TrainLocked(vectors);
  // The decoded vectors are checked for the norm bound (a range near float32's limits could
  // decode to a vector beyond it).
  const absl::Status s = store_->Append(vectors, ids, *this, /*check_decoded=*/true);
  if (!s.ok() && trains) vmin_.clear(), vmax_.clear(), scale_.clear();
  return s;
}

absl::Status ScalarQuantizedIndex::Reserve(std::int64_t n) {
  if (n < 0) return NegativeReserve(n);
  return store_->Reserve(n);
}

absl::Status ScalarQuantizedIndex::Search(ConstMatrixView queries, const SearchOptions& options, float* out_scores,
                                          std::int64_t* out_ids) const {
  const ReaderLock lock = store_->ReadLock();
  return store_->Search(queries, options, out_scores, out_ids, *this);
}

std::int64_t ScalarQuantizedIndex::ScanAllowed(const float* query, std::int64_t filter_row, std::int64_t kk,
                                               const SearchOptions& options, ScoredRow* best) const {
  // Decoded rows scored by the scan's GEMM: scores equal to the scan's to the bit.
  return store_->ScanAllowed(
      *options.filter, filter_row, kk,
      [&](const std::int64_t* rows, std::int64_t count, float* out) {
        scan::ScoreGathered(
            query, rows, count, dim_, [&](std::int64_t row, float* dst) { DecodeRows(store_->code(row), 1, dst); },
            out);
      },
      best);
}

void ScalarQuantizedIndex::Scan(const float* q_data, std::int64_t nq, std::int64_t kk, const SearchOptions& options,
                                const std::int64_t* filter_rows, ScoredRow* out_best, std::int64_t* out_sizes) const {
  const std::int64_t n = store_->id_table().size();
  const Filter* filter = filter_rows != nullptr ? options.filter : nullptr;
  const scan::Plan plan = scan::MakePlan(nq, n, kk, options.num_threads);
  // A block: its codes decoded into the worker's buffer, padded to whole panels.
  auto block = [&](std::int64_t d0, std::int64_t dn, std::int64_t ld, float* buffer) -> const float* {
    DecodeRows(store_->code(d0), dn, buffer);
    std::fill(buffer + dn * dim_, buffer + ld * dim_, 0.0f);
    return buffer;
  };
  CodeStore::ScanAndMerge(
      plan, nq, kk,
      [&](ScoredRow* best, std::int64_t* best_sizes) {
        scan::ScanBlocks(plan, q_data, nq, n, dim_, store_->inv_norms(), filter, filter_rows,
                         store_->id_table().ids().data(), block, best, best_sizes);
      },
      out_best, out_sizes);
}

absl::Status ScalarQuantizedIndex::Reconstruct(absl::Span<const std::int64_t> ids, MutableMatrixView out) const {
  const ReaderLock lock = store_->ReadLock();
  return store_->Reconstruct(ids, out, *this);
}

QuantizedMemoryUsage ScalarQuantizedIndex::memory_usage() const {
  const ReaderLock lock = store_->ReadLock();
  QuantizedMemoryUsage u = store_->MemoryUsage();
  u.params = static_cast<std::int64_t>((vmin_.size() + vmax_.size() + scale_.size()) * sizeof(float));
  return u;
}

// Payload (version 1), little-endian:
//   u32 dim, u32 metric (0 ip, 1 cosine), u32 encoding (0 int8, 1 fp16, 2 bf16),
//   u32 rescore_factor, u32 trained (int8: 1 when a range follows; fp16/bf16: 0)
//   [trained] f32 vmin[dim], f32 vmax[dim]
//   u64 n, i64 ids[n], codes[n x dim x BytesPerCode], [rescore_factor > 0] f32 originals[n x dim]
absl::Status ScalarQuantizedIndex::Save(const std::string& path) const {
  const ReaderLock lock = store_->ReadLock();
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
  DENSEFB_RETURN_IF_ERROR(store_->SaveRows(*writer));
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
  std::uint64_t n = 0;
  DENSEFB_RETURN_IF_ERROR(index->store_->LoadCount(*reader, &n));
  if (n > 0 && enc == ScalarEncoding::kInt8 && trained == 0) {
    return reader->Corrupt(absl::StrCat(n, " int8 vectors without a trained range"));
  }
  auto check_codes = [&](const std::vector<std::uint8_t>& codes) -> absl::Status {
    if (enc == ScalarEncoding::kInt8) return absl::OkStatus();
    const bool half = enc == ScalarEncoding::kFp16;
    for (std::uint64_t i = 0; i < n * dim; ++i) {
      std::uint16_t c;
      std::memcpy(&c, &codes[2 * i], sizeof c);
      if (!(half ? HalfFinite(c) : Bf16Finite(c))) {
        return reader->Corrupt(absl::StrCat("code of vector ", i / dim, " dimension ", i % dim,
                                            " is not finite (0x", absl::Hex(c), ")"));
      }
    }
    return absl::OkStatus();
  };
  // The decoded vectors must meet Add's norm bound (a forged range could break it).
  DENSEFB_RETURN_IF_ERROR(index->store_->LoadRows(
      *reader, n, check_codes,
      [&](const std::uint8_t* codes, std::int64_t m, float* out) { index->DecodeRows(codes, m, out); },
      /*check_decoded=*/true));
  return index;
}

}  // namespace densefb
