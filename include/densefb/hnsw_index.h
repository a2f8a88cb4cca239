// Approximate top-k search with an HNSW graph (hnswlib), inner product or cosine.
// Parameters carry hnswlib's names and defaults: M (links per node; 2*M on layer 0),
// ef_construction (candidate list while building), ef_search (candidate list while
// searching; per call through SearchOptions::ef_search, never a setter on the index).
#ifndef DENSEFB_HNSW_INDEX_H_
#define DENSEFB_HNSW_INDEX_H_

#include <memory>
#include <string>

#include "densefb/index.h"
#include "densefb/status.h"

namespace densefb {

struct HnswConfig {
  int M = 16;                 // hnswlib M (paper: M); >= 2
  int ef_construction = 200;  // hnswlib ef_construction (paper: efConstruction); >= 1
  int ef_search = 10;         // default ef at search time (hnswlib's default ef is 10)
  std::uint64_t seed = 100;   // level generator seed (hnswlib's default random_seed)
  int num_threads = 0;        // threads used by Add; 0 = all hardware threads
  absl::Status Validate() const;
};

class HnswIndex final : public VectorIndex {
 public:
  static constexpr std::uint32_t kFormatVersion = 1;

  static absl::StatusOr<std::unique_ptr<HnswIndex>> Create(int dim, Metric metric,
                                                           const HnswConfig& config = {});
  static absl::StatusOr<std::unique_ptr<HnswIndex>> Load(const std::string& path);
  ~HnswIndex() override;

  int dim() const override;
  Metric metric() const override;
  std::int64_t size() const override;
  const HnswConfig& config() const;

  absl::Status Add(ConstMatrixView vectors, absl::Span<const std::int64_t> ids = {}) override;
  using VectorIndex::Search;
  absl::Status Search(ConstMatrixView queries, const SearchOptions& options, float* scores,
                      std::int64_t* ids) const override;
  absl::Status Reconstruct(absl::Span<const std::int64_t> ids,
                           MutableMatrixView out) const override;
  absl::Status Save(const std::string& path) const override;

 private:
  struct Impl;
  explicit HnswIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace densefb

#endif  // DENSEFB_HNSW_INDEX_H_
