// Exact (brute-force) top-k search over float32 vectors: blocked GEMM (Eigen, with AVX2 or
// AVX-512 kernels chosen at run time) feeding a bounded heap per query, so memory stays
// O(n_queries x k + block) whatever the corpus size. Ties are broken by smaller id first, so
// results do not depend on the thread count.
#ifndef DENSEFB_FLAT_INDEX_H_
#define DENSEFB_FLAT_INDEX_H_

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "densefb/index.h"
#include "densefb/status.h"

namespace densefb {

class IdTable;

class FlatIndex final : public VectorIndex {
 public:
  static constexpr std::uint32_t kFormatVersion = 1;

  // dim >= 1.
  static absl::StatusOr<std::unique_ptr<FlatIndex>> Create(int dim, Metric metric);
  static absl::StatusOr<std::unique_ptr<FlatIndex>> Load(const std::string& path);
  ~FlatIndex() override;

  int dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  std::int64_t size() const override;
  bool exact() const override { return true; }

  absl::Status Add(ConstMatrixView vectors, absl::Span<const std::int64_t> ids = {}) override;
  using VectorIndex::Search;
  absl::Status Search(ConstMatrixView queries, const SearchOptions& options, float* scores,
                      std::int64_t* ids) const override;
  absl::Status Reconstruct(absl::Span<const std::int64_t> ids,
                           MutableMatrixView out) const override;
  absl::Status Save(const std::string& path) const override;
  absl::Status Reserve(std::int64_t n) override;
  // Deleted rows leave storage at once (the others keep their order), so num_deleted() is
  // always 0 and Compact has nothing to do; O(size() x dim) per call. Update overwrites in place.
  absl::Status Delete(absl::Span<const std::int64_t> ids) override;
  absl::Status Update(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) override;

  // The stored vectors, one per row in insertion order (row i has id ids()[i]).
  ConstMatrixView vectors() const;
  const std::vector<std::int64_t>& ids() const;

 private:
  FlatIndex(int dim, Metric metric);
  // The blocked GEMM scan for `nq` (normalised) queries; with a filter, query i reads filter
  // row filter_rows[i] and disallowed documents never enter its top k.
  void Scan(const float* q_data, std::int64_t nq, const SearchOptions& options,
            const std::int64_t* filter_rows, float* out_scores, std::int64_t* out_ids) const;
  // Exhaustive scoring of the allowed ids of one query (a filter that allows few documents).
  void SearchAllowed(const float* query, std::int64_t filter_row, const SearchOptions& options,
                     float* out_scores, std::int64_t* out_ids) const;
  int dim_;
  Metric metric_;
  std::vector<float> data_;        // size() x dim, as added
  std::vector<float> inv_norms_;   // cosine only: 1 / |d| (0 for a zero vector)
  std::unique_ptr<IdTable> id_table_;
  // Add, Delete and Update hold mutex_ exclusively; Search, Reconstruct, Save and size() share it, so an Add
  // from one thread waits for the searches of others instead of racing them. A waiting Add
  // holds turnstile_, which new readers pass through, so searches cannot starve it.
  mutable std::shared_mutex mutex_;
  mutable std::mutex turnstile_;
};

}  // namespace densefb

#endif  // DENSEFB_FLAT_INDEX_H_
