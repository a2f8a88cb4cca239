// Flat (exhaustive) search over product-quantised codes, as faiss's IndexPQ. The dim dimensions
// are split into M sub-spaces of dim / M consecutive dimensions; each sub-space has a codebook
// of 256 centroids (nbits = 8) learned by k-means, and a vector is stored as the M bytes naming
// the nearest centroid of each of its sub-vectors (squared L2): M bytes a vector instead of
// 4 x dim (M = dim / 8 is 32x smaller than float32). Its decoded vector is the concatenation of
// those centroids.
//
// Training (Train, or the first Add that has vectors, on that batch, as ScalarQuantizedIndex):
// per sub-space, Lloyd's k-means (squared L2) with 256 centroids, kKMeansIterations (25, faiss's
// default) iterations, started from 256 sample points chosen by a seeded shuffle (kTrainSeed),
// on at most 256 x 256 sample vectors (the first of that shuffle; faiss's
// max_points_per_centroid); an empty cluster takes half of the largest one (faiss's split).
// Deterministic: the same sample gives the same codebooks on every run and thread count.
// Training needs at least 256 vectors (one per centroid): Train, and an Add on an untrained
// index, refuse fewer with InvalidArgument (train on a larger sample first to index a smaller
// batch).
//
// Search is asymmetric (ADC): per query, a table of the M x 256 inner products between its
// sub-vectors and the centroids; a vector's score is the sum of its M table entries, i.e. the
// inner product of the query with the decoded vector (up to float rounding of a sum in another
// order). The sum runs in one fixed order (AVX2 gathers where the CPU has them, a generic loop
// computing the same floats elsewhere), so scores do not depend on the CPU. The top k is
// selected exactly over those scores, ties by smaller row, independent of the thread count (as
// FlatIndex). Reconstruct returns the decoded vectors, so vector PRF
// (Rocchio, Average) runs on the compressed store unchanged.
//
// Optional exact re-scoring (rescore_factor r >= 1): the float32 vectors are kept as well
// (memory_usage() counts them), the ADC scan keeps the top r*k candidates, and those are
// re-scored with the float32 vectors; the results are the top k of the candidates by exact
// score. Reconstruct still returns the decoded vectors.
//
// Cosine: documents are scored by <q/|q|, x'> / |x'| where x' is the decoded vector (1/|x'|
// precomputed per vector; x, the original, when re-scoring), so a search equals brute force
// over Reconstruct's vectors.
//
// Thread safety as FlatIndex (index.h): a reader-writer lock per index. Delete, Update and
// Compact are not supported (Unimplemented, the VectorIndex default).
#ifndef DENSEFB_PQ_INDEX_H_
#define DENSEFB_PQ_INDEX_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "densefb/index.h"
#include "densefb/quantized_index.h"  // QuantizedMemoryUsage
#include "densefb/status.h"

namespace densefb {

class CodeStore;  // src/index/code_store.h
struct ScoredRow;  // src/index/topk.h

class ProductQuantizedIndex final : public VectorIndex {
 public:
  static constexpr std::uint32_t kFormatVersion = 1;
  static constexpr int kMaxRescoreFactor = 1024;
  static constexpr int kCentroids = 256;  // per sub-space (nbits = 8)
  static constexpr int kKMeansIterations = 25;
  static constexpr std::uint64_t kTrainSeed = 1234;

  // dim >= 1; m >= 1 divides dim; nbits == 8 (the only width supported: one byte per code);
  // 0 <= rescore_factor <= kMaxRescoreFactor (0 = no re-scoring, no float32 copies).
  static absl::StatusOr<std::unique_ptr<ProductQuantizedIndex>> Create(int dim, Metric metric, int m,
                                                                       int nbits = 8, int rescore_factor = 0);
  // Validates everything it reads: errors name the file, the offset and the field.
  static absl::StatusOr<std::unique_ptr<ProductQuantizedIndex>> Load(const std::string& path);
  ~ProductQuantizedIndex() override;

  int dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  std::int64_t size() const override;
  // Exact over the decoded vectors without re-scoring; with re-scoring the candidate pool grows
  // with k, so it is not.
  bool exact() const override { return rescore_factor_ == 0; }
  int m() const { return m_; }          // sub-quantizers (bytes per code)
  int nbits() const { return 8; }
  int sub_dim() const { return dsub_; }  // dim / m
  int rescore_factor() const { return rescore_factor_; }

  // Learns the codebooks from `sample` (at least kCentroids finite vectors). Only while the index
  // is empty (FailedPrecondition otherwise: the stored codes depend on the codebooks); a second
  // Train on an empty index replaces the first. num_threads: 0 = all hardware threads (the
  // result does not depend on it).
  absl::Status Train(ConstMatrixView sample, int num_threads = 0);
  bool trained() const;
  // The codebooks, m x kCentroids x sub_dim floats (centroid c of sub-space j at
  // (j * kCentroids + c) * sub_dim); empty before training.
  std::vector<float> centroids() const;
  // The codes of `ids`, ids.size() x m bytes. NotFound names the first unknown id.
  absl::StatusOr<std::vector<std::uint8_t>> codes(absl::Span<const std::int64_t> ids) const;

  // Encodes and appends `vectors` (ids as VectorIndex::Add). An untrained index first trains on
  // this batch (which then needs at least kCentroids vectors).
  absl::Status Add(ConstMatrixView vectors, absl::Span<const std::int64_t> ids = {}) override;
  using VectorIndex::Search;
  absl::Status Search(ConstMatrixView queries, const SearchOptions& options, float* scores,
                      std::int64_t* ids) const override;
  // The decoded vectors of `ids` (not the originals, even when kept for re-scoring).
  absl::Status Reconstruct(absl::Span<const std::int64_t> ids, MutableMatrixView out) const override;
  absl::Status Save(const std::string& path) const override;
  absl::Status Reserve(std::int64_t n) override;

  // codes: size() x m bytes; params: the codebooks (256 x dim floats).
  QuantizedMemoryUsage memory_usage() const;
  const std::vector<std::int64_t>& ids() const;

 private:
  friend class CodeStore;  // calls the encoding, decoding and scans below
  ProductQuantizedIndex(int dim, Metric metric, int m, int rescore_factor);
  // Learns the codebooks (under the writer lock); InvalidArgument when the sample is too small
  // or the codebooks could decode vectors beyond the norm bound.
  absl::Status TrainLocked(ConstMatrixView sample, int num_threads);
  // Whether every decodable vector meets the norm bound of VectorIndex::Add.
  absl::Status CheckCodebookNorms() const;
  void EncodeRows(ConstMatrixView v, std::uint8_t* out) const;
  // Decodes n codes (n x m bytes) into out (n x dim).
  void DecodeRows(const std::uint8_t* codes, std::int64_t n, float* out) const;
  void Scan(const float* q_data, std::int64_t nq, std::int64_t kk, const SearchOptions& options,
            const std::int64_t* filter_rows, ScoredRow* best, std::int64_t* sizes) const;
  std::int64_t ScanAllowed(const float* query, std::int64_t filter_row, std::int64_t kk,
                           const SearchOptions& options, ScoredRow* best) const;
  // The ADC table of one query: m x kCentroids inner products.
  void QueryTable(const float* query, float* table) const;

  int dim_;
  Metric metric_;
  int m_;
  int dsub_;
  int rescore_factor_;
  std::vector<float> centroids_;  // m x kCentroids x dsub; empty until trained
  // The codes (size() x m), originals, cosine factors, ids and lock (src/index/code_store.h).
  std::unique_ptr<CodeStore> store_;
};

}  // namespace densefb

#endif  // DENSEFB_PQ_INDEX_H_
