// Dense vector PRF (Average, Rocchio) and the PRF search flows; see include/densefb/feedback.h.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/feedback.h"

namespace densefb {
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

// ---- VectorFeedback ------------------------------------------------------------------------

absl::Status VectorFeedback::Refine(const VectorIndex& index, ConstMatrixView queries,
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

absl::StatusOr<RowMatrix> VectorFeedback::Refine(const VectorIndex& index, ConstMatrixView queries,
                                                 const IdMatrix& first_pass) const {
  RowMatrix out(queries.rows, queries.cols);
  DENSEFB_RETURN_IF_ERROR(Refine(index, queries, View(first_pass), MutableView(out)));
  return out;
}

absl::StatusOr<RowMatrix> VectorFeedback::Refine(const VectorIndex& index, ConstMatrixView queries,
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

absl::Status AveragePrf::Validate() const {
  if (k < 1) return absl::InvalidArgumentError(absl::StrCat("AveragePrf: k = ", k, " must be >= 1"));
  return absl::OkStatus();
}

std::string AveragePrf::ToString() const {
  return absl::StrCat("avg(k=", k, ",normalize=", Bool(normalize), ")");
}

VectorFeedback::Selection AveragePrf::Select(std::int64_t m) const {
  return Selection{std::min<std::int64_t>(k, m), 0, 0};
}

void AveragePrf::Combine(const float* q, const float* pos, std::int64_t num_positive,
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

absl::Status RocchioPrf::Validate() const {
  const auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("RocchioPrf: ", what));
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

std::int64_t RocchioPrf::RequiredDepth() const {
  return depth > 0 ? depth : std::max(topk, bottomk);
}

std::string RocchioPrf::ToString() const {
  return absl::StrCat("rocchio(alpha=", Num(alpha), ",beta=", Num(beta), ",gamma=", Num(gamma),
                      ",topk=", topk, ",bottomk=", bottomk, ",depth=", depth,
                      ",normalize=", Bool(normalize), ")");
}

VectorFeedback::Selection RocchioPrf::Select(std::int64_t m) const {
  const std::int64_t len = depth > 0 ? std::min<std::int64_t>(m, depth) : m;
  Selection s;
  s.num_positive = std::min<std::int64_t>(topk, len);
  if (bottomk > 0) {
    s.num_negative = std::min<std::int64_t>(bottomk, len);
    s.negative_begin = len - s.num_negative;
  }
  return s;
}

void RocchioPrf::Combine(const float* q, const float* pos, std::int64_t num_positive,
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

namespace {

// `size`: the index size; a first pass that holds the whole index is deep enough for any model.
absl::StatusOr<int> CheckFlow(const VectorFeedback& model, int first_k, int final_k,
                              int default_first_k, std::int64_t size) {
  DENSEFB_RETURN_IF_ERROR(model.Validate());
  if (final_k < 1) {
    return absl::InvalidArgumentError(absl::StrCat("final_k = ", final_k, " must be >= 1"));
  }
  if (first_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("first_k = ", first_k, " is negative"));
  }
  if (first_k == 0) first_k = default_first_k;
  if (first_k < model.RequiredDepth() && first_k < size) {
    return absl::InvalidArgumentError(absl::StrCat("first_k = ", first_k, " is below the depth ",
                                                   model.RequiredDepth(), " that ",
                                                   model.ToString(), " reads"));
  }
  return first_k;
}

}  // namespace

absl::StatusOr<SearchResult> PrfSearch(const VectorIndex& index, ConstMatrixView queries,
                                       const VectorFeedback& model, int first_k, int final_k,
                                       const SearchOptions& options) {
  DENSEFB_ASSIGN_OR_RETURN(
      first_k, CheckFlow(model, first_k, final_k, static_cast<int>(model.RequiredDepth()), index.size()));
  DENSEFB_RETURN_IF_ERROR(CheckShapes(index, queries, queries.rows));
  SearchOptions first_options = options;
  first_options.k = first_k;
  DENSEFB_ASSIGN_OR_RETURN(SearchResult first, index.Search(queries, first_options));
  DENSEFB_ASSIGN_OR_RETURN(RowMatrix refined, model.Refine(index, queries, first.ids));
  SearchOptions second_options = options;
  second_options.k = final_k;
  return index.Search(View(refined), second_options);
}

absl::StatusOr<SearchResult> PrfRerank(const VectorIndex& index, ConstMatrixView queries,
                                       const VectorFeedback& model, int first_k, int final_k,
                                       const SearchOptions& options) {
  DENSEFB_ASSIGN_OR_RETURN(first_k, CheckFlow(model, first_k, final_k, final_k, index.size()));
  DENSEFB_RETURN_IF_ERROR(CheckShapes(index, queries, queries.rows));
  SearchOptions first_options = options;
  first_options.k = first_k;
  DENSEFB_ASSIGN_OR_RETURN(SearchResult first, index.Search(queries, first_options));
  DENSEFB_ASSIGN_OR_RETURN(RowMatrix refined, model.Refine(index, queries, first.ids));

  const std::int64_t n = queries.rows;
  const std::int64_t d = queries.cols;
  // The first pass is capped at the index size (VectorIndex::Search), and so is this.
  const std::int64_t width = std::min<std::int64_t>(final_k, first.ids.cols());
  SearchResult result;
  result.scores = RowMatrix::Constant(n, width, -std::numeric_limits<float>::infinity());
  result.ids = IdMatrix::Constant(n, width, kNoId);
  const bool cosine = index.metric() == Metric::kCosine;

  std::vector<std::int64_t> batch_ids;
  std::vector<std::int64_t> counts;
  std::vector<float> vectors;
  Ranking list;
  std::int64_t begin = 0;
  while (begin < n) {
    batch_ids.clear();
    counts.clear();
    std::int64_t end = begin;
    while (end < n) {
      std::int64_t count = 0;
      for (std::int64_t j = 0; j < first.ids.cols(); ++j) count += first.ids(end, j) != kNoId;
      if (end > begin && static_cast<std::int64_t>(batch_ids.size()) + count > kMaxBatchIds) break;
      for (std::int64_t j = 0; j < first.ids.cols(); ++j) {
        if (first.ids(end, j) != kNoId) batch_ids.push_back(first.ids(end, j));
      }
      counts.push_back(count);
      ++end;
    }
    DENSEFB_RETURN_IF_ERROR(FetchVectors(index, batch_ids, d, begin, end, &vectors));
    std::int64_t offset = 0;
    for (std::int64_t i = begin; i < end; ++i) {
      const Eigen::Map<const Eigen::VectorXf> q(refined.row(i).data(), d);
      const float q_norm = q.norm();
      list.clear();
      for (std::int64_t r = 0; r < counts[i - begin]; ++r, ++offset) {
        const Eigen::Map<const Eigen::VectorXf> v(vectors.data() + offset * d, d);
        float score = q.dot(v);
        if (cosine) {
          const float denom = q_norm * v.norm();
          score = denom > 0 ? score / denom : 0.f;
        }
        list.push_back({batch_ids[offset], score});
      }
      SortRanking(list, width);
      for (std::size_t j = 0; j < list.size(); ++j) {
        result.ids(i, j) = list[j].id;
        result.scores(i, j) = list[j].score;
      }
    }
    begin = end;
  }
  return result;
}

}  // namespace densefb
