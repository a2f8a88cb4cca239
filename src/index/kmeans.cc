// Lloyd's k-means shared by the indexes that learn centroids (src/index/kmeans.h).
#include "index/kmeans.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "common/parallel.h"
#include "index/kernels.h"

namespace densefb::kmeans {
namespace {

constexpr std::int64_t kAssignBlock = 256;  // rows per GEMM block

}  // namespace

// The nearest centroid of every row (largest <x, c> - |c|^2 / 2, ties to the smaller id),
// over rows given by pointer; blocks of rows are gathered and scored with one GEMM each.
void AssignNearest(const std::vector<const float*>& rows, const RowMatrix& centroids, int threads,
                   std::int32_t* out) {
  const std::int64_t n = static_cast<std::int64_t>(rows.size()), k = centroids.rows(), dim = centroids.cols();
  std::vector<float> half(static_cast<std::size_t>(k));
  for (std::int64_t c = 0; c < k; ++c) half[c] = 0.5f * centroids.row(c).squaredNorm();
  const std::int64_t blocks = (n + kAssignBlock - 1) / kAssignBlock;
  threads = ResolveThreads(threads);
  std::vector<std::vector<float>> gathered(threads), scores(threads);
  ParallelFor(blocks, threads, [&](std::int64_t b, int worker) {
    const std::int64_t first = b * kAssignBlock, m = std::min(kAssignBlock, n - first);
    std::vector<float>& g = gathered[worker];
    std::vector<float>& s = scores[worker];
    g.resize(static_cast<std::size_t>(m * dim));
    s.resize(static_cast<std::size_t>(m * k));
    for (std::int64_t i = 0; i < m; ++i) std::memcpy(g.data() + i * dim, rows[first + i], dim * sizeof(float));
    kernels::Best().gemm_nt(g.data(), m, centroids.data(), k, dim, s.data(), k);
    for (std::int64_t i = 0; i < m; ++i) {
      // The largest value in independent lanes (a maximum is exact in any order), then the
      // first centroid holding it: the smallest id among ties.
      float* row = s.data() + i * k;
      for (std::int64_t c = 0; c < k; ++c) row[c] -= half[c];
      constexpr int kLanes = 8;
      float lane[kLanes];
      std::fill_n(lane, kLanes, -std::numeric_limits<float>::infinity());
      std::int64_t c = 0;
      for (; c + kLanes <= k; c += kLanes) {
        for (int l = 0; l < kLanes; ++l) lane[l] = row[c + l] > lane[l] ? row[c + l] : lane[l];
      }
      for (; c < k; ++c) lane[0] = row[c] > lane[0] ? row[c] : lane[0];
      float best_score = lane[0];
      for (int l = 1; l < kLanes; ++l) best_score = lane[l] > best_score ? lane[l] : best_score;
      std::int32_t best = 0;
      while (best + 1 < k && !(row[best] == best_score)) ++best;
      out[first + i] = best;
    }
  });
}

// Lloyd's k-means (squared L2) from the first `k` points, `iters` iterations; an empty cluster
// takes half of the largest one (faiss's split). Sums in float64, in point order: the same
// centroids for any thread count.
RowMatrix TrainCentroids(const std::vector<const float*>& points, std::int64_t k, std::int64_t dim, int iters,
                         int threads) {
  RowMatrix c(k, dim);
  for (std::int64_t i = 0; i < k; ++i) std::memcpy(c.row(i).data(), points[i], dim * sizeof(float));
  const std::int64_t n = static_cast<std::int64_t>(points.size());
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  std::vector<double> sums(static_cast<std::size_t>(k * dim));
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(k));
  for (int it = 0; it < iters; ++it) {
    AssignNearest(points, c, threads, labels.data());
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(sizes.begin(), sizes.end(), 0);
    for (std::int64_t i = 0; i < n; ++i) {
      double* s = sums.data() + labels[i] * dim;
      for (std::int64_t j = 0; j < dim; ++j) s[j] += points[i][j];
      ++sizes[labels[i]];
    }
    for (std::int64_t ci = 0; ci < k; ++ci) {
      if (sizes[ci] == 0) continue;
      for (std::int64_t j = 0; j < dim; ++j) c(ci, j) = static_cast<float>(sums[ci * dim + j] / sizes[ci]);
    }
    for (std::int64_t ci = 0; ci < k; ++ci) {
      if (sizes[ci] != 0) continue;
      const std::int64_t big = std::max_element(sizes.begin(), sizes.end()) - sizes.begin();
      if (sizes[big] < 2) break;  // nothing left to split
      for (std::int64_t j = 0; j < dim; ++j) {
        const float sign = (j % 2 == 0) ? 1.0f : -1.0f;
        c(ci, j) = c(big, j) * (1 + sign * kSplitEps);
        c(big, j) *= 1 - sign * kSplitEps;
      }
      sizes[ci] = sizes[big] / 2;
      sizes[big] -= sizes[ci];
    }
  }
  return c;
}

}  // namespace densefb::kmeans
