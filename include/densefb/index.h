// The interface shared by single-vector indexes (flat, HNSW): add vectors with int64 ids,
// search top-k by inner product or cosine, fetch stored vectors by id, save and load.
//
// Thread safety: const methods (Search, Reconstruct, Save) may run concurrently from many
// threads on one index. FlatIndex and HnswIndex also take Add, Delete, Update and Compact from
// any thread: each waits for the calls in progress and they wait for it (a reader-writer lock
// per index). References
// returned by accessors (FlatIndex::vectors(), ids()) are invalidated by a later Add.
#ifndef DENSEFB_INDEX_H_
#define DENSEFB_INDEX_H_

#include <cstdint>
#include <string>

#include "absl/types/span.h"
#include "densefb/filter.h"
#include "densefb/status.h"
#include "densefb/types.h"

namespace densefb {

// Per-call search options; searching never changes the index.
struct SearchOptions {
  int k = 10;           // results per query (capped at the index size, see Search)
  int num_threads = 0;  // 0 = all hardware threads
  int ef_search = 0;    // HNSW only: candidate list size (ef); 0 = the index default
  // Allowed documents per query (densefb/filter.h), not owned; null = every document. With a
  // filter, row i holds the top k among query i's allowed ids, padded with (-inf, -1).
  const Filter* filter = nullptr;
  // HNSW with a filter: a query allowing fewer ids than this is scored exhaustively over them
  // instead of traversing the graph; -1 = the index's rule, sqrt(8 * ef * size()) (measured
  // crossover, docs/benchmarks.md). 0 always traverses.
  std::int64_t filter_exhaustive_below = -1;
};

// Results of a batch of queries, Faiss-style: row i holds query i's top-k, best first.
// k' = min(k, size()): a k larger than the index costs nothing beyond the index size.
struct SearchResult {
  RowMatrix scores;  // (n_queries, k'); slots without a result (HNSW) hold -infinity
  IdMatrix ids;      // (n_queries, k'); slots without a result hold kNoId (-1)
};

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;

  virtual int dim() const = 0;
  virtual Metric metric() const = 0;
  virtual std::int64_t size() const = 0;
  // True when Search is exact: its top d is the same for every k >= d (a flat index). Pipelines
  // then retrieve only as deep as the next stage reads (Retriever::WithDepth).
  virtual bool exact() const { return false; }

  // Adds `vectors` (n x dim). `ids` is empty (ids continue from size()) or has n distinct,
  // non-negative ids not already in the index. Vectors must be finite, with an L2 norm
  // of at most 1.8e19 (so that no inner product overflows float32); the same holds for queries.
  virtual absl::Status Add(ConstMatrixView vectors, absl::Span<const std::int64_t> ids = {}) = 0;

  // Top-k of each query into caller-owned (n_queries x k) buffers; slots past the index size
  // hold kNoId and -infinity. Work memory is bounded by min(k, size()), never by k. The
  // overload returning a SearchResult allocates only min(k, size()) columns.
  virtual absl::Status Search(ConstMatrixView queries, const SearchOptions& options,
                              float* scores, std::int64_t* ids) const = 0;
  absl::StatusOr<SearchResult> Search(ConstMatrixView queries,
                                      const SearchOptions& options) const;

  // Copies the stored vectors of `ids` (the PRF primitive) into `out` (ids.size() x dim),
  // exactly as added. NotFound names the first unknown id.
  virtual absl::Status Reconstruct(absl::Span<const std::int64_t> ids,
                                   MutableMatrixView out) const = 0;

  // ---- live updates ----
  // Removes the vectors of `ids` (distinct, all present; NotFound names the first unknown id,
  // InvalidArgument a repeated one, and nothing changes on error). Searches started after it
  // returns never see them; their ids may be added again. The default is Unimplemented.
  virtual absl::Status Delete(absl::Span<const std::int64_t> ids);
  // Replaces the vectors of existing `ids` (as Delete then Add, in one step under the lock):
  // searches see either all old or all new vectors. The default is Unimplemented.
  virtual absl::Status Update(ConstMatrixView vectors, absl::Span<const std::int64_t> ids);
  // Vectors deleted but still occupying storage (HNSW keeps them in the graph until their slot
  // is reused or Compact runs); 0 for an index that frees them at once.
  virtual std::int64_t num_deleted() const { return 0; }
  // Reclaims the storage of deleted vectors; results afterwards are those of a fresh build of
  // the live vectors (for an approximate index: a graph without the deleted nodes). The
  // default does nothing.
  virtual absl::Status Compact() { return absl::OkStatus(); }

  // Writes the index atomically (see file_format.h).
  virtual absl::Status Save(const std::string& path) const = 0;

  // Makes room for `n` vectors in total, so that Adds up to that size allocate no larger
  // storage (no transient old-plus-new copy); never shrinks. A hint: the default does nothing.
  // InvalidArgument for a negative n, ResourceExhausted when the memory is not there.
  virtual absl::Status Reserve(std::int64_t n) { return n < 0 ? NegativeReserve(n) : absl::OkStatus(); }

 protected:
  static absl::Status NegativeReserve(std::int64_t n);
};

}  // namespace densefb

#endif  // DENSEFB_INDEX_H_
