// Internal: Lloyd's k-means (squared L2) shared by the indexes that learn centroids
// (ResidualMultiVectorIndex's coarse centroids, ProductQuantizedIndex's sub-space codebooks).
// Points are given by pointer (rows of `dim` floats anywhere in memory: whole vectors, or one
// sub-vector of each vector), so callers need not copy a sample.
#ifndef DENSEFB_SRC_INDEX_KMEANS_H_
#define DENSEFB_SRC_INDEX_KMEANS_H_

#include <cstdint>
#include <vector>

#include "densefb/types.h"

namespace densefb::kmeans {

inline constexpr std::int64_t kMaxPointsPerCentroid = 256;  // faiss's max_points_per_centroid
inline constexpr float kSplitEps = 1.0f / 1024.0f;          // faiss's empty-cluster split

// The nearest centroid of every row (largest <x, c> - |c|^2 / 2, ties to the smaller id) into
// out[0..rows.size()); blocks of rows are gathered and scored with one GEMM each. The result
// does not depend on `threads` (0 = all hardware threads).
void AssignNearest(const std::vector<const float*>& rows, const RowMatrix& centroids, int threads,
                   std::int32_t* out);

// Lloyd's k-means from the first `k` points (shuffle them first for a random start), `iters`
// iterations; an empty cluster takes half of the largest one (faiss's split). Sums in float64,
// in point order: the same centroids for any thread count. Requires points.size() >= k >= 1.
RowMatrix TrainCentroids(const std::vector<const float*>& points, std::int64_t k, std::int64_t dim, int iters,
                         int threads);

}  // namespace densefb::kmeans

#endif  // DENSEFB_SRC_INDEX_KMEANS_H_
