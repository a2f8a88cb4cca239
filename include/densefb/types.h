// Basic value types shared by every component: matrices, views, metrics.
#ifndef DENSEFB_TYPES_H_
#define DENSEFB_TYPES_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include <Eigen/Core>

#include "densefb/status.h"

namespace densefb {

// Row-major float32 matrix: one vector per row, the layout numpy and torch use.
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using IdMatrix = Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A borrowed, read-only view of `rows` x `cols` row-major float32 values.
struct ConstMatrixView {
  const float* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  const float* row(std::int64_t i) const { return data + i * cols; }
};

// A borrowed, writable view; the caller owns the memory.
struct MutableMatrixView {
  float* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  float* row(std::int64_t i) const { return data + i * cols; }
};

inline ConstMatrixView View(const RowMatrix& m) { return {m.data(), m.rows(), m.cols()}; }
inline MutableMatrixView MutableView(RowMatrix& m) { return {m.data(), m.rows(), m.cols()}; }

// Similarity used by an index. Scores are always "higher is better".
enum class Metric : std::uint8_t {
  kInnerProduct = 0,  // <q, d>
  kCosine = 1,        // <q, d> / (|q| |d|)
};

absl::StatusOr<Metric> ParseMetric(absl::string_view name);  // "ip", "inner_product", "cosine", "cos"
absl::string_view MetricName(Metric metric);                  // "ip" or "cosine"

// Checks that every value of `m` is finite; the error names `what`, the row and the column.
absl::Status CheckFinite(ConstMatrixView m, absl::string_view what);

// Padding id for result slots that have no document (k larger than the index), as Faiss does.
inline constexpr std::int64_t kNoId = -1;

}  // namespace densefb

#endif  // DENSEFB_TYPES_H_
