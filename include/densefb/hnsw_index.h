// Approximate top-k search with an HNSW graph (hnswlib), inner product or cosine.
// Parameters carry hnswlib's names and defaults: M (links per node; 2*M on layer 0),
// ef_construction (candidate list while building), ef_search (candidate list while
// searching; per call through SearchOptions::ef_search, never a setter on the index).
//
// Storage and scores. Every vector is stored as dim + 1 floats: the vector exactly as added,
// then one factor f (1/|v| for cosine, 0 for a zero vector; 1 for inner product). The graph
// distance of two stored (or query) vectors a, b is -(<a, b> * f_a * f_b), the negated
// similarity, computed with the run-time dispatched dot kernel (AVX-512 / AVX2 / generic), so
//   * scores are the inner product or the cosine, higher is better, computed in float32
//     exactly as the graph saw them (no "1 - distance" round trip);
//   * Reconstruct() returns the vectors exactly as added, for cosine too (nothing is
//     normalised in place).
//
// Searching is const and thread-safe: the per-call ef never touches hnswlib's global ef,
// and the search uses hnswlib's public graph members with no shared mutable state besides
// its (locked) pool of visited lists.
//
// Reproducibility: with num_threads == 1, Add inserts in row order and the level generator
// is seeded with `seed`, so two builds from the same data are bit-identical (also across a
// Save/Load in the middle: the generator state is saved). A multi-threaded Add inserts in
// whatever order the threads reach the rows, so its graph, and thus its approximate
// results, may differ from run to run (recall stays the same statistically).
#ifndef DENSEFB_HNSW_INDEX_H_
#define DENSEFB_HNSW_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>

#include "densefb/index.h"
#include "densefb/status.h"

namespace densefb {

struct HnswConfig {
  int M = 16;                 // hnswlib M (paper: M); 2..10000
  int ef_construction = 200;  // hnswlib ef_construction (paper: efConstruction); >= 1
  int ef_search = 10;         // default ef at search time (hnswlib's default ef is 10); >= 1
  std::uint64_t seed = 100;   // level generator seed (hnswlib's default random_seed)
  int num_threads = 0;        // threads used by Add; 0 = all hardware threads
  // InvalidArgument naming the first bad field and its value.
  absl::Status Validate() const;
};

class HnswIndex final : public VectorIndex {
 public:
  // Payload: dim, metric, config, ids, then the graph (see hnsw_index.cc). Version 2 (written
  // only when rows are deleted) marks deleted rows with id -1; version 1 files load as before.
  static constexpr std::uint32_t kFormatVersion = 2;

  // dim >= 1; config.Validate() must pass.
  static absl::StatusOr<std::unique_ptr<HnswIndex>> Create(int dim, Metric metric,
                                                           const HnswConfig& config = {});
  // Reads a file written by Save(). Fails cleanly (naming the path) on a missing,
  // truncated, corrupt, wrong-kind or newer-version file.
  static absl::StatusOr<std::unique_ptr<HnswIndex>> Load(const std::string& path);
  ~HnswIndex() override;

  int dim() const override;
  Metric metric() const override;
  std::int64_t size() const override;
  const HnswConfig& config() const;

  // Adds the rows of `vectors` with config().num_threads threads (see reproducibility
  // above); the graph grows as needed. Validates everything before changing the index.
  absl::Status Add(ConstMatrixView vectors, absl::Span<const std::int64_t> ids = {}) override;
  using VectorIndex::Search;
  // ef = options.ef_search if > 0, else config().ef_search; the candidate list holds
  // max(ef, k) entries. Rows are sorted by score (best first), ties by smaller id.
  absl::Status Search(ConstMatrixView queries, const SearchOptions& options, float* scores,
                      std::int64_t* ids) const override;
  absl::Status Reconstruct(absl::Span<const std::int64_t> ids,
                           MutableMatrixView out) const override;
  absl::Status Save(const std::string& path) const override;
  // Sizes the graph for n elements (hnswlib's resizeIndex), so that Adds up to n never resize.
  absl::Status Reserve(std::int64_t n) override;

  // ---- live updates ----
  // size() counts the live vectors. Delete marks rows deleted (hnswlib's markDelete): they
  // stay in the graph as waypoints, so recall holds, and are never returned (a search with
  // deletions is a filtered search over the live rows). Add reuses deleted slots first
  // (hnswlib's replace_deleted: the slot's links re-chosen for the new vector), then grows.
  // Update replaces vectors in place (hnswlib's updatePoint). Compact rebuilds the graph
  // over the live rows in row order, freeing the deleted ones; it needs memory for a second
  // graph of the live size while it runs.
  absl::Status Delete(absl::Span<const std::int64_t> ids) override;
  absl::Status Update(ConstMatrixView vectors, absl::Span<const std::int64_t> ids) override;
  std::int64_t num_deleted() const override;
  absl::Status Compact() override;

 private:
  struct Impl;
  explicit HnswIndex(std::unique_ptr<Impl> impl);
  // Add's growing path: rows appended after the existing ones (caller holds the lock).
  absl::Status AppendRows(ConstMatrixView vectors, absl::Span<const std::int64_t> ids);
  std::unique_ptr<Impl> impl_;
};

}  // namespace densefb

#endif  // DENSEFB_HNSW_INDEX_H_
