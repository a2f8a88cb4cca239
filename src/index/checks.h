// Internal: input validation shared by the vector indexes.
#ifndef DENSEFB_SRC_INDEX_CHECKS_H_
#define DENSEFB_SRC_INDEX_CHECKS_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "densefb/index.h"

namespace densefb {

// k >= 0, num_threads >= 0, queries.cols == dim (unless there are no queries), finite values.
absl::Status CheckQueries(ConstMatrixView queries, int dim, const SearchOptions& options);
// vectors.cols == dim (unless there are none), finite values.
absl::Status CheckVectors(ConstMatrixView vectors, int dim);

// The largest |x| of v[0..n): +inf if v holds an infinity, a NaN if it holds a NaN (0 when
// empty). Computed on the bit patterns (an integer maximum over the non-negative patterns, in
// which order they sort as the magnitudes, with NaNs above infinity), which the compiler
// vectorises, even for SSE2, where a float maximum would not be.
inline float LargestMagnitude(const float* v, std::int64_t n) {
  std::int32_t top = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    std::uint32_t u;
    std::memcpy(&u, v + j, sizeof u);
    const auto a = static_cast<std::int32_t>(u & 0x7FFFFFFFu);
    top = a > top ? a : top;
  }
  float largest;
  std::memcpy(&largest, &top, sizeof largest);
  return largest;
}

// Vectors whose L2 norm is below this are numerically zero for cosine: their factor is 0, so
// they score 0 against every query (1/|v| would overflow float32 for denormal-sized vectors and
// turn scores into infinities or NaN).
inline constexpr double kMinCosineNorm = 1e-30;

// 1/|v| for the cosine metric, computed in double; 0 for a (numerically) zero vector.
inline float InverseNorm(const float* v, std::int64_t d) {
  double sum = 0;
  for (std::int64_t i = 0; i < d; ++i) sum += static_cast<double>(v[i]) * v[i];
  return sum > kMinCosineNorm * kMinCosineNorm ? static_cast<float>(1.0 / std::sqrt(sum)) : 0.0f;
}

// The queries a cosine search ranks with: each row times its InverseNorm, written to `buffer`,
// whose data is returned; for another metric, queries.data itself. (Documents are divided by
// their norms after the product, so that a ranking is <q/|q|, d> / |d|.)
inline const float* CosineQueries(ConstMatrixView queries, bool cosine, std::vector<float>* buffer) {
  if (!cosine) return queries.data;
  buffer->assign(queries.data, queries.data + queries.rows * queries.cols);
  for (std::int64_t i = 0; i < queries.rows; ++i) {
    float* row = buffer->data() + i * queries.cols;
    const float inv = InverseNorm(row, queries.cols);
    for (std::int64_t j = 0; j < queries.cols; ++j) row[j] *= inv;
  }
  return buffer->data();
}

}  // namespace densefb

#endif  // DENSEFB_SRC_INDEX_CHECKS_H_
