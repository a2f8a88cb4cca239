// Rank fusion and per-query score normalisation: interpolation (weighted sum), RRF,
// CombSUM / CombMNZ / CombMAX and Borda count over N rankings of the same queries.
//
// Every method works one query at a time:
//   1. each input list is sorted best first (score descending, ties by smaller id);
//   2. score methods normalise each list over the WHOLE list as given, and only then cut it
//      to its best `depth` entries (0 keeps all), as Pyserini's fusion does (it rescores a
//      run, then its merge reads the top `depth` of each topic); rank methods cut to `depth`
//      and use 1-based ranks (the same ranks as in the whole list);
//   3. the candidates are the union of the lists; each gets a fused score (formulas below,
//      docs/fusion.md);
//   4. the fused list is sorted best first (ties by smaller id) and cut to `top` (0 = all).
// Weights: one per input, finite (negative allowed); empty means every weight is 1.
// Arithmetic is in double; BatchRanking outputs are rounded to float at the end (and
// re-sorted, so float ties still go to the smaller id).
#ifndef DENSEFB_FUSION_H_
#define DENSEFB_FUSION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "densefb/data.h"
#include "densefb/fusion_method.h"
#include "densefb/params.h"
#include "densefb/ranking.h"
#include "densefb/status.h"

namespace densefb {

// ---- normalisation of one query's list ----

enum class Normalization : std::uint8_t {
  kNone = 0,            // s
  kMinMax = 1,          // (s - min) / (max - min); all-equal list -> every score 1.0 (Pyserini's fusion)
  kZScore = 2,          // (s - mean) / std, population std; all-equal list -> every score 0
  kSum = 3,             // (s - min) / sum(s - min), denominator floored at 1e-9; all-equal
                        // list -> every score 0 (ranx's sum_norm, Montague & Aslam 2001)
  kCenteredMinMax = 4,  // (s - (min + max) / 2) / (max - min) (Pyserini's HybridSearcher); all-equal -> 0
};

// "none", "minmax", "zscore", "sum", "centered-minmax" (case-insensitive; "min-max", "zmuv"
// and "centered_minmax" are accepted too). InvalidArgument naming the value otherwise.
absl::StatusOr<Normalization> ParseNormalization(absl::string_view name);
absl::string_view NormalizationName(Normalization n);  // the canonical name above

// Normalises `scores` (one query's list, in any order) in place. Empty input is left as is.
void NormalizeScores(absl::Span<double> scores, Normalization n);
// The same over a list of ScoredDoc (computed in double, stored as float; order unchanged).
void NormalizeScores(Ranking& list, Normalization n);
// A copy of `run` whose every query's list is normalised over the list as stored (order kept).
Run NormalizeRun(const Run& run, Normalization n);

// ---- options, one struct per method ----

// What a document absent from one input list contributes to an interpolation.
enum class MissingScore : std::uint8_t {
  kZero = 0,  // 0
  kMin = 1,   // that list's minimum score after normalisation (0 if the list is empty)
};
absl::StatusOr<MissingScore> ParseMissingScore(absl::string_view name);  // "zero" or "min"
absl::string_view MissingScoreName(MissingScore m);

// score(d) = sum_i w_i * (d in L_i ? norm_i(s_i(d)) : fill_i), fill_i = 0 or min_j norm_i(s_i(j)).
// Normalise first, then fill. Weights (alpha, 1 - alpha) with kNone and kZero reproduce
// Pyserini's `fusion --method interpolation`; kCenteredMinMax + kMin its HybridSearcher.
struct InterpolationOptions {
  std::vector<double> weights;  // one per input, finite; empty = all 1.0
  Normalization normalization = Normalization::kMinMax;
  MissingScore missing = MissingScore::kZero;
  std::int64_t depth = 0;  // input lists cut to their best `depth` after normalising; 0 = all; >= 0
  std::int64_t top = 0;    // fused lists cut to `top`; 0 = all; >= 0
  // InvalidArgument naming the first bad field: weights count != num_inputs or non-finite,
  // depth or top negative, num_inputs == 0.
  absl::Status Validate(std::size_t num_inputs) const;
  // Method and every parameter, no whitespace (usable as a TREC run tag), e.g.
  // "interpolation(weights=[0.3,0.7],norm=minmax,missing=zero,depth=0,top=1000)";
  // "weights=ones" when weights is empty.
  std::string ToString() const;
};

// score(d) = sum_{i: d in L_i} w_i / (k + rank_i(d)), rank 1-based (Cormack et al. 2009).
struct RrfOptions {
  double k = 60;  // finite, > 0
  std::vector<double> weights;
  std::int64_t depth = 0;
  std::int64_t top = 0;
  absl::Status Validate(std::size_t num_inputs) const;
  std::string ToString() const;  // "rrf(k=60,weights=ones,depth=0,top=0)"
};

// Fox & Shaw's combinations of normalised scores over the lists that contain d:
//   kSum: sum_{i: d in L_i} w_i * norm_i(s_i(d))
//   kMnz: kSum score * |{i: d in L_i}|
//   kMax: max_{i: d in L_i} w_i * norm_i(s_i(d))
enum class CombRule : std::uint8_t { kSum = 0, kMnz = 1, kMax = 2 };
absl::string_view CombRuleName(CombRule r);  // "combsum", "combmnz", "combmax"

struct CombOptions {
  CombRule rule = CombRule::kSum;
  std::vector<double> weights;
  Normalization normalization = Normalization::kMinMax;
  std::int64_t depth = 0;
  std::int64_t top = 0;
  absl::Status Validate(std::size_t num_inputs) const;
  std::string ToString() const;  // "combmnz(weights=ones,norm=minmax,depth=0,top=0)"
};

// Borda count as ranx's `bordafuse` (Aslam & Montague 2001): with C = |union of the lists|,
// a document at 1-based rank r of L_i gets C - r + 1 points, one absent from L_i gets
// (C - |L_i| + 1) / 2 (the mean of the points left over); score(d) = sum_i w_i * points_i(d).
struct BordaOptions {
  std::vector<double> weights;
  std::int64_t depth = 0;
  std::int64_t top = 0;
  absl::Status Validate(std::size_t num_inputs) const;
  std::string ToString() const;  // "borda(weights=ones,depth=0,top=0)"
};

// ---- fusion of BatchRankings (int64 document ids) ----
// All inputs must hold the same number of query lists (InvalidArgument naming the sizes).
// A document listed twice in one list, or a non-finite score, is InvalidArgument naming
// the input, the query row and the id. Options are validated first.
absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs,
                                  const InterpolationOptions& options);
absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs,
                                  const RrfOptions& options);
absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs,
                                  const CombOptions& options);
absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs,
                                  const BordaOptions& options);

// ---- fusion of string-id Runs (e.g. TREC run files) ----
// Queries: the union of the runs' queries, in the first run's order and then in order of
// first appearance; a query absent from a run is an empty list there. Each input list is
// ranked as trec_eval ranks it (score descending, ties by document id descending), and the
// output lists are stored in that order too (so `top` keeps what trec_eval would rank first).
// Scores stay double throughout. The output's name is options.ToString().
absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs, const InterpolationOptions& options);
absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs, const RrfOptions& options);
absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs, const CombOptions& options);
absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs, const BordaOptions& options);

// ---- the fusion methods as Fusion objects (pipelines' fuse(method, ...)) ----
// Each wraps one options struct; weights are finite, >= 0 and not all 0 (one per input), and
// the canonical spec prints one weight per input, e.g. "rrf(k=60,weights=[1,1],depth=0,top=0)".
// Registered as rrf, interpolate, combsum, combmnz, combmax and borda.

class RrfFusion final : public Fusion {
 public:
  static const ParamTable<RrfOptions>& Params();
  explicit RrfFusion(RrfOptions options = {}) : options_(std::move(options)) {}
  absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs) const override;
  std::string ToString(std::size_t num_inputs) const override;
  absl::Status CheckInputs(std::size_t num_inputs) const override;
  absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs) const override;
  const RrfOptions& options() const { return options_; }

 private:
  RrfOptions options_;
};

class InterpolationFusion final : public Fusion {
 public:
  static const ParamTable<InterpolationOptions>& Params();
  explicit InterpolationFusion(InterpolationOptions options = {}) : options_(std::move(options)) {}
  absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs) const override;
  std::string ToString(std::size_t num_inputs) const override;
  absl::Status CheckInputs(std::size_t num_inputs) const override;
  absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs) const override;
  const InterpolationOptions& options() const { return options_; }

 private:
  InterpolationOptions options_;
};

class CombFusion final : public Fusion {
 public:
  static const ParamTable<CombOptions>& Params(CombRule rule);
  explicit CombFusion(CombOptions options = {}) : options_(std::move(options)) {}
  absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs) const override;
  std::string ToString(std::size_t num_inputs) const override;
  absl::Status CheckInputs(std::size_t num_inputs) const override;
  absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs) const override;
  const CombOptions& options() const { return options_; }

 private:
  CombOptions options_;
};

class BordaFusion final : public Fusion {
 public:
  static const ParamTable<BordaOptions>& Params();
  explicit BordaFusion(BordaOptions options = {}) : options_(std::move(options)) {}
  absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs) const override;
  std::string ToString(std::size_t num_inputs) const override;
  absl::Status CheckInputs(std::size_t num_inputs) const override;
  absl::StatusOr<Run> FuseRuns(absl::Span<const Run* const> runs) const override;
  const BordaOptions& options() const { return options_; }

 private:
  BordaOptions options_;
};

}  // namespace densefb

#endif  // DENSEFB_FUSION_H_
