// An exact (flat) vector index whose vectors live on a torch device (target densefb::torch):
// a CUDA GPU ("cuda", "cuda:1") or the CPU through torch ("cpu"). This header does not include
// torch.
//
//   auto index = densefb::TorchFlatIndex::Create(384, densefb::Metric::kInnerProduct, "cuda");
//   (*index)->Add(vectors);                        // host vectors, copied to the device once
//   densefb::EncodeAndAdd(encoder, texts, index->get());  // or encoded straight onto it
//   auto dense = std::make_shared<densefb::DenseRetriever>(std::move(*index), encoder);
//
// Search multiplies a block of queries by a block of stored vectors (float32 matmul; TF32 is
// never used) and keeps each query's top k with torch's top-k over 64-bit keys that hold the
// score's order in their high half and the row's reverse order in their low half: the keys of
// a block are distinct, so the top k is exact and its ties are broken by the earlier-added
// vector, as FlatIndex breaks them. Scores are the device's float32 inner products (or cosine
// as FlatIndex computes it: normalised query, stored vector times 1/|d| computed in double), so
// a ranking equals FlatIndex's except where two documents' scores differ by a rounding of the
// sum (~1e-7): real ties (equal vectors) come out in the same order.
//
// Memory: the vectors take size() x dim x 4 bytes of device memory, grown by half again when
// full (Reserve avoids the growth copies), plus one block of query-by-document scores while
// searching. An Add whose storage would not fit is refused with ResourceExhausted naming the
// bytes needed (and the device's own report) and leaves the index unchanged; so is one beyond
// Options::memory_limit. Corpora larger than device memory are not searched from host blocks.
//
// Save writes the FlatIndex file format (file_format.h): a file saved by either index loads
// into the other. Thread safety as FlatIndex (index.h). SearchOptions::num_threads is not read:
// on the CPU device torch's own intra-op threads (at::set_num_threads, process-wide) do the work;
// ef_search has no meaning for an exact index.
#ifndef DENSEFB_TORCH_FLAT_INDEX_H_
#define DENSEFB_TORCH_FLAT_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "densefb/encoder.h"
#include "densefb/flat_index.h"
#include "densefb/index.h"
#include "densefb/indexing.h"
#include "densefb/status.h"
#include "densefb/torch/encoders.h"

namespace densefb {

struct TorchFlatIndexOptions {
  std::string device = "cpu";     // "cpu", "cuda", "cuda:1"
  std::int64_t query_block = 1024;  // queries per matmul
  std::int64_t doc_block = 65536;   // stored vectors per matmul
  // Device bytes the stored vectors may take (storage capacity included); 0 = as many as the
  // device has. Checked before each allocation.
  std::int64_t memory_limit = 0;
  // How the vectors are stored: kFloat32 (exactly as added), kFloat16 or kBFloat16 (half the
  // memory; rounded to nearest even as ScalarQuantizedIndex's fp16 / bf16 encodings round,
  // clamped to the largest finite value). Each block of stored vectors is converted to float32
  // for the matmul, so a search is the exact search over the rounded vectors (cosine: divided
  // by their norms), as ScalarQuantizedIndex's is, and Reconstruct, Save and ToFlat give the
  // rounded vectors. kInt8 is InvalidArgument (ScalarQuantizedIndex has int8 codes).
  Precision storage = Precision::kFloat32;
  absl::Status Validate() const;
};

class TorchFlatIndex final : public VectorIndex {
 public:
  using Options = TorchFlatIndexOptions;

  // dim >= 1.
  static absl::StatusOr<std::unique_ptr<TorchFlatIndex>> Create(int dim, Metric metric, Options options = {});
  // A file written by FlatIndex::Save or TorchFlatIndex::Save.
  static absl::StatusOr<std::unique_ptr<TorchFlatIndex>> Load(const std::string& path, Options options = {});
  // The vectors and ids of a FlatIndex, copied to the device.
  static absl::StatusOr<std::unique_ptr<TorchFlatIndex>> FromFlat(const FlatIndex& index, Options options = {});
  ~TorchFlatIndex() override;

  int dim() const override;
  Metric metric() const override;
  std::int64_t size() const override;
  bool exact() const override { return true; }
  const Options& options() const;
  // Device bytes held by the stored vectors (their capacity, norms included).
  std::int64_t device_bytes() const;

  absl::Status Add(ConstMatrixView vectors, absl::Span<const std::int64_t> ids = {}) override;
  using VectorIndex::Search;
  absl::Status Search(ConstMatrixView queries, const SearchOptions& options, float* scores,
                      std::int64_t* ids) const override;
  // Gathers the rows on the device and copies them to `out`, exactly as added.
  absl::Status Reconstruct(absl::Span<const std::int64_t> ids, MutableMatrixView out) const override;
  absl::Status Delete(absl::Span<const std::int64_t> ids) override;
  absl::Status Update(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) override;
  absl::Status Reserve(std::int64_t n) override;
  absl::Status Save(const std::string& path) const override;
  // Ids of the stored vectors in insertion order (a copy).
  std::vector<std::int64_t> ids() const;
  // A FlatIndex holding the same vectors and ids (host memory).
  absl::StatusOr<std::unique_ptr<FlatIndex>> ToFlat() const;

  class Impl;  // torch state (src/torch/flat_index.cc)
  Impl& impl() const { return *impl_; }

 private:
  explicit TorchFlatIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Encodes `texts` as documents and adds them to `index` as EncodeAndAdd(VectorIndex*) does,
// except that a densefb::torch BERT encoder on the index's device hands its output to the
// index on the device (no copy through host memory). Other encoders go through host memory.
absl::Status EncodeAndAdd(const Encoder& encoder, absl::Span<const std::string> texts,
                          TorchFlatIndex* index, absl::Span<const std::int64_t> ids = {},
                          const IndexingOptions& options = {});

}  // namespace densefb

#endif  // DENSEFB_TORCH_FLAT_INDEX_H_
