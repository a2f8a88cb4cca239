// The arithmetic of dense vector PRF; see src/feedback/vector_prf.h.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "feedback/vector_prf.h"

namespace densefb::feedback_internal {
namespace {

// Upper bound on the ids fetched by one Reconstruct call (the query batch is cut to fit).
constexpr std::int64_t kMaxBatchIds = 1 << 16;

std::string Num(double x) {
  // Shortest round-tripping form, e.g. 0.9 -> "0.9", 1 -> "1".
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

const char* Bool(bool b) { return b ? "true" : "false"; }

absl::Status CheckShapes(const VectorIndex& index, ConstMatrixView queries,
                         std::int64_t first_pass_rows) {
  if (queries.cols != index.dim()) {
    return absl::InvalidArgumentError(absl::StrCat("query vectors have dimension ", queries.cols,
                                                   ", the index has dimension ", index.dim()));
  }
  if (first_pass_rows != queries.rows) {
    return absl::InvalidArgumentError(absl::StrCat("the first pass has ", first_pass_rows,
                                                   " lists for ", queries.rows, " queries"));
  }
  return CheckFinite(queries, "query vectors");
}

absl::Status WithContext(const absl::Status& status, std::int64_t begin, std::int64_t end) {
  return absl::Status(status.code(),
                      absl::StrCat("feedback documents of the first pass (queries ", begin, "..",
                                   end - 1, "): ", status.message()));
}

// The stored vectors of `ids` (feedback documents of queries [begin, end)) in one batched
// Reconstruct call, into `vectors` (ids.size() x d).
absl::Status FetchVectors(const VectorIndex& index, const std::vector<std::int64_t>& ids, std::int64_t d,
                          std::int64_t begin, std::int64_t end, std::vector<float>* vectors) {
  vectors->resize(ids.size() * static_cast<std::size_t>(d));
  if (ids.empty()) return absl::OkStatus();
  const absl::Status status = index.Reconstruct(
      ids, MutableMatrixView{vectors->data(), static_cast<std::int64_t>(ids.size()), d});
  return status.ok() ? status : WithContext(status, begin, end);
}

}  // namespace

// ---- VectorRule ------------------------------------------------------------------------

absl::Status VectorRule::Refine(const VectorIndex& index, ConstMatrixView queries,
                                    ConstIdMatrixView first_pass, MutableMatrixView out) const {
  DENSEFB_RETURN_IF_ERROR(Validate());
  DENSEFB_RETURN_IF_ERROR(CheckShapes(index, queries, first_pass.rows));
  if (first_pass.cols < 0) return absl::InvalidArgumentError("the first pass has a negative width");
  if (out.rows != queries.rows || out.cols != queries.cols) {
    return absl::InvalidArgumentError(absl::StrCat("output is ", out.rows, " x ", out.cols,
                                                   ", expected ", queries.rows, " x ",
                                                   queries.cols));
  }
  const std::int64_t n = queries.rows;
  const std::int64_t d = queries.cols;
  std::vector<std::int64_t> valid;
  std::vector<std::int64_t> batch_ids;
  std::vector<Selection> selections;
  std::vector<float> vectors;
  std::vector<double> acc(static_cast<std::size_t>(d));

  std::int64_t begin = 0;
  while (begin < n) {
    // Gather the selected ids of queries [begin, end) into one Reconstruct call.
    batch_ids.clear();
    selections.clear();
    std::int64_t end = begin;
    while (end < n) {
      valid.clear();
      const std::int64_t* row = first_pass.row(end);
      for (std::int64_t j = 0; j < first_pass.cols; ++j) {
        if (row[j] != kNoId) valid.push_back(row[j]);
      }
      const Selection s = Select(static_cast<std::int64_t>(valid.size()));
      const std::int64_t count = s.num_positive + s.num_negative;
      if (end > begin && static_cast<std::int64_t>(batch_ids.size()) + count > kMaxBatchIds) break;
      for (std::int64_t j = 0; j < s.num_positive; ++j) batch_ids.push_back(valid[j]);
      for (std::int64_t j = 0; j < s.num_negative; ++j) {
        batch_ids.push_back(valid[s.negative_begin + j]);
      }
      selections.push_back(s);
      ++end;
    }
    DENSEFB_RETURN_IF_ERROR(FetchVectors(index, batch_ids, d, begin, end, &vectors));
    std::int64_t offset = 0;
    for (std::int64_t i = begin; i < end; ++i) {
      const Selection& s = selections[i - begin];
      const float* q = queries.row(i);
      float* o = out.row(i);
      if (s.num_positive + s.num_negative == 0) {  // no feedback: q' = q
        if (o != q) std::copy(q, q + d, o);
        continue;
      }
      const float* pos = vectors.data() + offset * d;
      const float* neg = pos + s.num_positive * d;
      Combine(q, pos, s.num_positive, neg, s.num_negative, d, acc.data());
      offset += s.num_positive + s.num_negative;
      double scale = 1.0;
      if (normalized()) {
        double norm2 = 0;
        for (std::int64_t c = 0; c < d; ++c) norm2 += acc[c] * acc[c];
        if (norm2 > 0) scale = 1.0 / std::sqrt(norm2);
      }
      for (std::int64_t c = 0; c < d; ++c) {
        const double v = acc[c] * scale;
        // Finite inputs and weights can still overflow float32 (or double): never hand back
        // an infinite or NaN query vector.
        if (!(std::fabs(v) <= std::numeric_limits<float>::max())) {
          return absl::InvalidArgumentError(absl::StrCat(
              ToString(), ": the refined vector of query ", i, " is not finite in float32 (",
              v, " in column ", c, "); the weights overflow"));
        }
        o[c] = static_cast<float>(v);
      }
    }
    begin = end;
  }
  return absl::OkStatus();
}

absl::StatusOr<RowMatrix> VectorRule::Refine(const VectorIndex& index, ConstMatrixView queries,
                                                 const IdMatrix& first_pass) const {
  RowMatrix out(queries.rows, queries.cols);
  DENSEFB_RETURN_IF_ERROR(Refine(index, queries, View(first_pass), MutableView(out)));
  return out;
}

absl::StatusOr<RowMatrix> VectorRule::Refine(const VectorIndex& index, ConstMatrixView queries,
                                                 const BatchRanking& first_pass) const {
  std::size_t width = 0;
  for (const Ranking& list : first_pass.lists) width = std::max(width, list.size());
  IdMatrix ids = IdMatrix::Constant(static_cast<std::int64_t>(first_pass.size()),
                                    static_cast<std::int64_t>(width), kNoId);
  for (std::size_t i = 0; i < first_pass.size(); ++i) {
    for (std::size_t j = 0; j < first_pass.lists[i].size(); ++j) ids(i, j) = first_pass.lists[i][j].id;
  }
  return Refine(index, queries, ids);
}

// ---- AveragePrf -----------------------------------------------------------------------------

absl::Status AverageRule::Validate() const {
  if (k < 1) return absl::InvalidArgumentError(absl::StrCat("avg: k = ", k, " must be >= 1"));
  return absl::OkStatus();
}

std::string AverageRule::ToString() const {
  return absl::StrCat("avg(k=", k, ",normalize=", Bool(normalize), ")");
}

VectorRule::Selection AverageRule::Select(std::int64_t m) const {
  return Selection{std::min<std::int64_t>(k, m), 0, 0};
}

void AverageRule::Combine(const float* q, const float* pos, std::int64_t num_positive,
                         const float* /*neg*/, std::int64_t /*num_negative*/, std::int64_t d,
                         double* out) const {
  for (std::int64_t c = 0; c < d; ++c) out[c] = q[c];
  for (std::int64_t r = 0; r < num_positive; ++r) {
    const float* v = pos + r * d;
    for (std::int64_t c = 0; c < d; ++c) out[c] += v[c];
  }
  const double inv = 1.0 / static_cast<double>(num_positive + 1);
  for (std::int64_t c = 0; c < d; ++c) out[c] *= inv;
}

// ---- RocchioPrf -----------------------------------------------------------------------------

absl::Status RocchioRule::Validate() const {
  const auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("rocchio: ", what));
  };
  if (!std::isfinite(alpha)) return bad(absl::StrCat("alpha = ", Num(alpha), " is not finite"));
  if (!std::isfinite(beta)) return bad(absl::StrCat("beta = ", Num(beta), " is not finite"));
  if (!std::isfinite(gamma)) return bad(absl::StrCat("gamma = ", Num(gamma), " is not finite"));
  if (topk < 1) return bad(absl::StrCat("topk = ", topk, " must be >= 1"));
  if (bottomk < 0) return bad(absl::StrCat("bottomk = ", bottomk, " must be >= 0"));
  if (depth < 0) return bad(absl::StrCat("depth = ", depth, " must be >= 0 (0 = whole list)"));
  if (depth > 0 && topk > depth) {
    return bad(absl::StrCat("topk = ", topk, " exceeds depth = ", depth));
  }
  if (depth > 0 && bottomk > depth) {
    return bad(absl::StrCat("bottomk = ", bottomk, " exceeds depth = ", depth));
  }
  return absl::OkStatus();
}

std::int64_t RocchioRule::RequiredDepth() const {
  return depth > 0 ? depth : std::max(topk, bottomk);
}

std::string RocchioRule::ToString() const {
  return absl::StrCat("rocchio(alpha=", Num(alpha), ",beta=", Num(beta), ",gamma=", Num(gamma),
                      ",topk=", topk, ",bottomk=", bottomk, ",depth=", depth,
                      ",normalize=", Bool(normalize), ")");
}

VectorRule::Selection RocchioRule::Select(std::int64_t m) const {
  const std::int64_t len = depth > 0 ? std::min<std::int64_t>(m, depth) : m;
  Selection s;
  s.num_positive = std::min<std::int64_t>(topk, len);
  if (bottomk > 0) {
    s.num_negative = std::min<std::int64_t>(bottomk, len);
    s.negative_begin = len - s.num_negative;
  }
  return s;
}

void RocchioRule::Combine(const float* q, const float* pos, std::int64_t num_positive,
                         const float* neg, std::int64_t num_negative, std::int64_t d,
                         double* out) const {
  for (std::int64_t c = 0; c < d; ++c) out[c] = alpha * static_cast<double>(q[c]);
  const auto add_mean = [&](const float* rows, std::int64_t count, double weight) {
    if (count == 0) return;
    const double w = weight / static_cast<double>(count);
    for (std::int64_t c = 0; c < d; ++c) {
      double sum = 0;
      for (std::int64_t r = 0; r < count; ++r) sum += rows[r * d + c];
      out[c] += w * sum;
    }
  };
  add_mean(pos, num_positive, beta);
  add_mean(neg, num_negative, -gamma);
}

// ---- Search flows ---------------------------------------------------------------------------

}  // namespace densefb::feedback_internal
