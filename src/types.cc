#include "densefb/types.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "index/checks.h"

namespace densefb {

absl::StatusOr<Metric> ParseMetric(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "ip" || lower == "inner_product" || lower == "dot") return Metric::kInnerProduct;
  if (lower == "cosine" || lower == "cos") return Metric::kCosine;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown metric \"", name, "\" (expected \"ip\" or \"cosine\")"));
}

absl::string_view MetricName(Metric metric) {
  return metric == Metric::kCosine ? "cosine" : "ip";
}

absl::Status CheckFinite(ConstMatrixView m, absl::string_view what) {
  for (std::int64_t i = 0; i < m.rows; ++i) {
    const float* row = m.row(i);
    if (std::isfinite(LargestMagnitude(row, m.cols))) continue;  // one vectorised pass
    for (std::int64_t j = 0; j < m.cols; ++j) {
      if (!std::isfinite(row[j])) {
        return absl::InvalidArgumentError(absl::StrCat(what, " row ", i, " column ", j, " is ",
                                                       std::isnan(row[j]) ? "NaN" : "infinite",
                                                       "; vectors must be finite"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace densefb
