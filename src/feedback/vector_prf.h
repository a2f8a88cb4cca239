// The arithmetic of dense vector PRF (Average, Rocchio) over stored document vectors, used by
// the AveragePrf and RocchioPrf feedback models (include/densefb/feedback.h). Internal.
#ifndef DENSEFB_SRC_FEEDBACK_VECTOR_PRF_H_
#define DENSEFB_SRC_FEEDBACK_VECTOR_PRF_H_

#include <cstdint>
#include <string>

#include "densefb/index.h"
#include "densefb/ranking.h"
#include "densefb/status.h"
#include "densefb/types.h"

namespace densefb::feedback_internal {

// A borrowed, read-only view of `rows` x `cols` row-major int64 ids.
struct ConstIdMatrixView {
  const std::int64_t* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  const std::int64_t* row(std::int64_t i) const { return data + i * cols; }
};

inline ConstIdMatrixView View(const IdMatrix& m) { return {m.data(), m.rows(), m.cols()}; }

// The interface of the vector feedback models. Refine is const and thread-safe.
class VectorRule {
 public:
  virtual ~VectorRule() = default;

  // InvalidArgument naming the offending parameter.
  virtual absl::Status Validate() const = 0;
  // The first-pass depth the model reads (the depth it reads).
  virtual std::int64_t RequiredDepth() const = 0;
  // Every parameter, for run provenance, e.g. "avg(k=3,normalize=false)".
  virtual std::string ToString() const = 0;

  // Writes the new query vectors (queries.rows x queries.cols) into `out` (same shape).
  // `first_pass` has one row per query (any number of columns, -1 padding allowed). The
  // document vectors are fetched with one Reconstruct call per batch of queries.
  absl::Status Refine(const VectorIndex& index, ConstMatrixView queries,
                      ConstIdMatrixView first_pass, MutableMatrixView out) const;
  absl::StatusOr<RowMatrix> Refine(const VectorIndex& index, ConstMatrixView queries,
                                   const IdMatrix& first_pass) const;
  // Lists of a BatchRanking (one per query, best first; scores are not used).
  absl::StatusOr<RowMatrix> Refine(const VectorIndex& index, ConstMatrixView queries,
                                   const BatchRanking& first_pass) const;

  // Which entries of a list of `m` valid ids the model reads: positives are positions
  // [0, num_positive), negatives [negative_begin, negative_begin + num_negative).
  struct Selection {
    std::int64_t num_positive = 0;
    std::int64_t negative_begin = 0;
    std::int64_t num_negative = 0;
  };
  virtual Selection Select(std::int64_t m) const = 0;

 protected:
  // q' of one query from its selected vectors (pos: num_positive x d, neg: num_negative x d);
  // called only when num_positive + num_negative > 0. Accumulation in double.
  virtual void Combine(const float* q, const float* pos, std::int64_t num_positive,
                       const float* neg, std::int64_t num_negative, std::int64_t d,
                       double* out) const = 0;
  virtual bool normalized() const = 0;
};

// Pyserini `--prf-method avg --prf-depth k` ("Average PRF 3" = k 3); PyTerrier AverageRule(k).
// q' = (q + sum of the first k' documents) / (k' + 1), k' = min(k, list length).
struct AverageRule final : public VectorRule {
  int k = 3;               // feedback documents (>= 1)
  bool normalize = false;  // L2-normalise q' (Pyserini: no)

  AverageRule() = default;
  explicit AverageRule(int k_, bool normalize_ = false) : k(k_), normalize(normalize_) {}

  absl::Status Validate() const override;
  std::int64_t RequiredDepth() const override { return k; }
  std::string ToString() const override;  // "avg(k=3,normalize=false)"
  Selection Select(std::int64_t m) const override;

 protected:
  void Combine(const float* q, const float* pos, std::int64_t num_positive, const float* neg,
               std::int64_t num_negative, std::int64_t d, double* out) const override;
  bool normalized() const override { return normalize; }
};

// Pyserini `--prf-method rocchio` with its CLI defaults (alpha 0.9, beta 0.1, gamma 0.1,
// topk 3, bottomk 0). Its published setting "Rocchio PRF 5 A0.4 B0.6" is alpha 0.4, beta 0.6,
// topk 5 (first pass depth 5). PR #1108's negatives: topk 5, bottomk 5, gamma 0.6, depth 1000.
//
// Let L be the first-pass list cut to its first `depth` entries (depth 0 = the whole list
// given). Then q' = alpha q + beta mean(first min(topk, |L|) of L)
//                  - gamma mean(last min(bottomk, |L|) of L)      (the gamma term only if
// bottomk > 0). Negatives are the tail of the *first-pass list of depth `depth`* (Pyserini's
// `[-bottomk:]` of the prf_depth list), not of the final ranking; positives and negatives
// overlap when |L| < topk + bottomk, as in Pyserini.
struct RocchioRule final : public VectorRule {
  double alpha = 0.9;      // weight of the original query vector
  double beta = 0.1;       // weight of the mean of the positives
  double gamma = 0.1;      // weight of the mean of the negatives (used only if bottomk > 0)
  int topk = 3;            // positives: the first topk of the list (>= 1)
  int bottomk = 0;         // negatives: the last bottomk of the list of depth `depth` (>= 0)
  int depth = 0;           // first-pass depth the negatives come from; 0 = whole list given
  bool normalize = false;  // L2-normalise q' (Pyserini: no)

  RocchioRule() = default;
  RocchioRule(double alpha_, double beta_, double gamma_, int topk_, int bottomk_ = 0,
             int depth_ = 0, bool normalize_ = false)
      : alpha(alpha_), beta(beta_), gamma(gamma_), topk(topk_), bottomk(bottomk_),
        depth(depth_), normalize(normalize_) {}

  absl::Status Validate() const override;
  // depth if set, else max(topk, bottomk).
  std::int64_t RequiredDepth() const override;
  // "rocchio(alpha=0.9,beta=0.1,gamma=0.1,topk=3,bottomk=0,depth=0,normalize=false)"
  std::string ToString() const override;
  Selection Select(std::int64_t m) const override;

 protected:
  void Combine(const float* q, const float* pos, std::int64_t num_positive, const float* neg,
               std::int64_t num_negative, std::int64_t d, double* out) const override;
  bool normalized() const override { return normalize; }
};

}  // namespace densefb::feedback_internal

#endif  // DENSEFB_SRC_FEEDBACK_VECTOR_PRF_H_
