// Flat (exhaustive) search over compressed vectors: scalar int8 codes (one byte per dimension,
// 4x smaller than float32), or float16 / bfloat16 (2x smaller). Search decodes blocks of codes
// to float32 and scores them with the same blocked GEMM and bounded top-k selection as
// FlatIndex, so its ranking is the exact ranking of the decoded vectors (ties by smaller row,
// independent of the thread count). Reconstruct returns the decoded vectors, so vector PRF
// (Rocchio, Average) runs on the compressed store unchanged.
//
// Encodings:
//   kInt8  per-dimension range [vmin_j, vmax_j] learned by Train (or by the first Add that
//          has vectors, on that batch): code = round((x - vmin_j) / (vmax_j - vmin_j) * 255),
//          decoded as vmin_j + code * (vmax_j - vmin_j) / 255. A value outside the trained
//          range is clamped to it (its error is then its distance to the range, not the
//          rounding bound (vmax_j - vmin_j) / 510), so train on a sample like the corpus.
//   kFp16  IEEE half precision, round to nearest even; magnitudes above 65504 (the largest
//          half) are clamped to 65504 instead of becoming infinities. Relative error 2^-11.
//   kBf16  the top 16 bits of the float32, round to nearest even (float32's range, 8-bit
//          mantissa: relative error 2^-8); values that would round to infinity are clamped to
//          the largest finite bfloat16.
//
// Optional exact re-scoring (rescore_factor r >= 1): the float32 vectors are kept as well (so
// the index takes 4 bytes per dimension more than the codes, memory_usage() counts them), the
// compressed scan keeps the top r*k candidates, and those are re-scored with the float32
// vectors; the results are the top k of the candidates by exact score. Reconstruct still
// returns the decoded vectors (what the compressed store holds), with or without re-scoring.
//
// Cosine: documents are scored by <q/|q|, x'> / |x'| where x' is the decoded vector (and x, the
// original, when re-scoring), so a search equals brute force over Reconstruct's vectors.
//
// Thread safety as FlatIndex (index.h): a reader-writer lock per index. Delete, Update and
// Compact are not supported (Unimplemented, the VectorIndex default).
#ifndef DENSEFB_QUANTIZED_INDEX_H_
#define DENSEFB_QUANTIZED_INDEX_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "densefb/index.h"
#include "densefb/status.h"

namespace densefb {

class CodeStore;  // src/index/code_store.h
struct ScoredRow;  // src/index/topk.h

enum class ScalarEncoding : std::uint8_t {
  kInt8 = 0,  // 1 byte per dimension, trained per-dimension range
  kFp16 = 1,  // 2 bytes, IEEE half
  kBf16 = 2,  // 2 bytes, bfloat16
};

// "int8" (also "sq8"), "fp16" (also "float16"), "bf16" (also "bfloat16").
absl::StatusOr<ScalarEncoding> ParseScalarEncoding(absl::string_view name);
absl::string_view ScalarEncodingName(ScalarEncoding encoding);  // "int8", "fp16", "bf16"
// Bytes per dimension of a code: 1 or 2.
int BytesPerCode(ScalarEncoding encoding);

// Bytes held by a ScalarQuantizedIndex or a ProductQuantizedIndex (pq_index.h), by part (sizes
// in use, not capacities).
struct QuantizedMemoryUsage {
  std::int64_t codes = 0;      // size() x dim x BytesPerCode; PQ: size() x m
  std::int64_t originals = 0;  // float32 copies kept for re-scoring (0 without)
  std::int64_t norms = 0;      // cosine: one float per vector (two when re-scoring)
  std::int64_t ids = 0;        // the ids and their lookup table (an estimate: 24 bytes a vector)
  std::int64_t params = 0;     // int8: the trained range, 2 x dim floats; PQ: the codebooks
  std::int64_t total() const { return codes + originals + norms + ids + params; }
  // What a FlatIndex of the same vectors holds (float32 vectors, norms, ids), for comparison.
  std::int64_t flat_equivalent = 0;
};

class ScalarQuantizedIndex final : public VectorIndex {
 public:
  static constexpr std::uint32_t kFormatVersion = 1;
  static constexpr int kMaxRescoreFactor = 1024;

  // dim >= 1; 0 <= rescore_factor <= kMaxRescoreFactor (0 = no re-scoring, no float32 copies).
  static absl::StatusOr<std::unique_ptr<ScalarQuantizedIndex>> Create(int dim, Metric metric,
                                                                      ScalarEncoding encoding,
                                                                      int rescore_factor = 0);
  // Validates everything it reads: errors name the file, the offset and the field.
  static absl::StatusOr<std::unique_ptr<ScalarQuantizedIndex>> Load(const std::string& path);
  ~ScalarQuantizedIndex() override;

  int dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  std::int64_t size() const override;
  // Exact over the decoded vectors without re-scoring (the top d is the same for every k >= d);
  // with re-scoring the candidate pool grows with k, so it is not.
  bool exact() const override { return rescore_factor_ == 0; }
  ScalarEncoding encoding() const { return encoding_; }
  int rescore_factor() const { return rescore_factor_; }

  // int8: learns the per-dimension range from `sample` (n >= 1 finite vectors). Only while the
  // index is empty (FailedPrecondition otherwise: the stored codes depend on the range); a
  // second Train on an empty index replaces the first. fp16/bf16 need no training: a no-op.
  absl::Status Train(ConstMatrixView sample);
  // int8: whether a range has been learned (always true for fp16/bf16).
  bool trained() const;
  // int8: the trained range (empty before training, and for fp16/bf16).
  std::vector<float> vmin() const;
  std::vector<float> vmax() const;

  // Encodes and appends `vectors` (ids as VectorIndex::Add). An untrained int8 index first
  // trains on this batch. Also rejects a batch whose decoded vectors would break the norm bound
  // of VectorIndex::Add (possible only with a range near float32's limits).
  absl::Status Add(ConstMatrixView vectors, absl::Span<const std::int64_t> ids = {}) override;
  using VectorIndex::Search;
  absl::Status Search(ConstMatrixView queries, const SearchOptions& options, float* scores,
                      std::int64_t* ids) const override;
  // The decoded vectors of `ids` (not the originals, even when kept for re-scoring).
  absl::Status Reconstruct(absl::Span<const std::int64_t> ids,
                           MutableMatrixView out) const override;
  absl::Status Save(const std::string& path) const override;
  absl::Status Reserve(std::int64_t n) override;

  QuantizedMemoryUsage memory_usage() const;
  const std::vector<std::int64_t>& ids() const;

 private:
  friend class CodeStore;  // calls the encoding, decoding and scans below
  ScalarQuantizedIndex(int dim, Metric metric, ScalarEncoding encoding, int rescore_factor);
  // Sets vmin_/vmax_/scale_ from a sample (under the writer lock).
  void TrainLocked(ConstMatrixView sample);
  // Decodes n codes (n x code_bytes_ bytes) into out (n x dim).
  void DecodeRows(const std::uint8_t* codes, std::int64_t n, float* out) const;
  // Encodes the rows of `v` into out (v.rows x dim x BytesPerCode bytes).
  void EncodeRows(ConstMatrixView v, std::uint8_t* out) const;
  // The compressed scan: the best `kk` rows of each query, best first, into best (nq x kk,
  // counts in sizes). filter_rows: null, or the filter row of each query.
  void Scan(const float* q_data, std::int64_t nq, std::int64_t kk, const SearchOptions& options,
            const std::int64_t* filter_rows, ScoredRow* best, std::int64_t* sizes) const;
  // Exhaustive scoring of the allowed ids of one query (few allowed).
  std::int64_t ScanAllowed(const float* query, std::int64_t filter_row, std::int64_t kk,
                           const SearchOptions& options, ScoredRow* best) const;

  int dim_;
  Metric metric_;
  ScalarEncoding encoding_;
  int rescore_factor_;
  int code_bytes_;                   // bytes per vector: dim x BytesPerCode
  std::vector<float> vmin_, scale_;  // int8 only: range start and step per dimension
  std::vector<float> vmax_;          // int8 only: kept as trained, for Save and vmax()
  // The codes, originals, cosine factors, ids and lock (src/index/code_store.h).
  std::unique_ptr<CodeStore> store_;
};

}  // namespace densefb

#endif  // DENSEFB_QUANTIZED_INDEX_H_
