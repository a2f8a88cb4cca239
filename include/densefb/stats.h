// Paired significance tests for comparing two systems query by query, and multiple-comparison
// correction, computed as scipy.stats computes them (scipy 1.17):
//
//  * PairedTTest(x, y)   = scipy.stats.ttest_rel(x, y): d = x - y, t = mean(d) / (s_d / sqrt(n))
//    with s_d the sample standard deviation (n - 1 denominator), n - 1 degrees of freedom, p from
//    the Student t distribution. All differences equal and non-zero: t = +-inf, p = 0; all zero
//    (or n < 2): t and p are NaN.
//  * Wilcoxon(x, y)      = scipy.stats.wilcoxon(x, y) with its defaults (zero_method="wilcox",
//    correction=False, method="auto"): zero differences are dropped; the statistic is
//    min(R+, R-) for a two-sided test, R+ for a one-sided one, with average ranks of |d| for
//    ties. "auto" picks, like scipy: n > 50 pairs (zeros included in n) -> normal
//    approximation with tie correction; otherwise the exact null distribution when there are
//    no ties and no zeros; otherwise, for n <= 13, the exact sign-flip permutation
//    distribution (what scipy's permutation_test enumerates); otherwise the normal
//    approximation.
//  * HolmBonferroni(p)   = Holm's step-down adjusted p-values (as statsmodels' multipletests
//    method="holm"): sorted ascending, p_(i) * (m - i + 1), made monotone, capped at 1. NaN
//    p-values stay NaN and do not count in m.
//
// The special functions (regularized incomplete beta for the t distribution, complementary
// error function for the normal) are computed in double precision; p-values agree with scipy
// to about 1e-12 relative.
#ifndef DENSEFB_STATS_H_
#define DENSEFB_STATS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "densefb/status.h"

namespace densefb {

// Which side the alternative hypothesis is on, for a difference d = x - y.
enum class Alternative { kTwoSided, kLess, kGreater };

// "two-sided", "less", "greater" (scipy's names); InvalidArgument listing them otherwise.
absl::StatusOr<Alternative> ParseAlternative(absl::string_view name);
std::string AlternativeName(Alternative alternative);

struct TTestResult {
  double statistic = 0;  // t
  double pvalue = 0;
  double df = 0;           // degrees of freedom, n - 1
  double mean_difference = 0;  // mean(x - y)
  int n = 0;               // number of pairs
};

// Paired t-test of x against y (scipy.stats.ttest_rel). InvalidArgument when the lengths
// differ, a value is NaN or infinite, or there is no pair.
absl::StatusOr<TTestResult> PairedTTest(absl::Span<const double> x, absl::Span<const double> y,
                                        Alternative alternative = Alternative::kTwoSided);

struct WilcoxonOptions {
  // scipy's zero_method: "wilcox" (drop zero differences), "pratt" (rank them, then drop their
  // ranks), "zsplit" (rank them, half their rank to each side).
  enum class ZeroMethod { kWilcox, kPratt, kZsplit };
  // scipy's method: "auto" (see the header comment), "exact", "asymptotic".
  enum class Method { kAuto, kExact, kAsymptotic };
  ZeroMethod zero_method = ZeroMethod::kWilcox;
  Method method = Method::kAuto;
  bool correction = false;  // continuity correction of the normal approximation
  Alternative alternative = Alternative::kTwoSided;
};

struct WilcoxonResult {
  double statistic = 0;  // min(R+, R-) two-sided; R+ one-sided
  double pvalue = 0;
  double zstatistic = 0;  // the normal deviate when the approximation was used, else NaN
  // The method actually used: "exact", "permutation" or "asymptotic".
  std::string method;
  int n = 0;        // pairs given
  int n_zero = 0;   // pairs whose difference is zero
};

// Wilcoxon signed-rank test of x against y (scipy.stats.wilcoxon(x, y)). InvalidArgument
// when the lengths differ, a value is NaN or infinite, or there is no pair. Every difference
// zero gives, as scipy, statistic 0 and p = 1 when n <= 13 (permutation), else p = NaN.
absl::StatusOr<WilcoxonResult> Wilcoxon(absl::Span<const double> x, absl::Span<const double> y,
                                        const WilcoxonOptions& options = {});

// Holm-Bonferroni step-down adjusted p-values, in the order given. InvalidArgument for a
// p-value outside [0, 1] (NaN is allowed and stays NaN).
absl::StatusOr<std::vector<double>> HolmBonferroni(absl::Span<const double> pvalues);

// Bonferroni adjusted p-values: min(1, m * p), NaN kept and not counted in m.
absl::StatusOr<std::vector<double>> Bonferroni(absl::Span<const double> pvalues);

// Special functions, exposed for tests and for users who need them.
// Regularized incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1.
double RegularizedIncompleteBeta(double a, double b, double x);
// Student t distribution with df > 0 degrees of freedom: P(T <= t) and P(T > t).
double StudentTCdf(double t, double df);
double StudentTSf(double t, double df);
// Standard normal: P(Z <= z) and P(Z > z).
double NormalCdf(double z);
double NormalSf(double z);

// ---- agreement between two sets of labels or two rankings -----------------------------------

// Cohen's kappa of two labelings of the same items (unweighted), as
// sklearn.metrics.cohen_kappa_score: (p_o - p_e) / (1 - p_e) over the labels either uses. NaN
// when p_e = 1 (both give every item one and the same label). InvalidArgument for different
// lengths or no items.
absl::StatusOr<double> CohenKappa(absl::Span<const std::int64_t> a, absl::Span<const std::int64_t> b);

// Kendall's tau-b of two score vectors over the same items, as scipy.stats.kendalltau (variant
// "b"): (C - D) / sqrt((P - T_x) (P - T_y)), P = n (n - 1) / 2 pairs, T_x / T_y the pairs tied
// in x / y. NaN when either vector is constant (or n < 2). InvalidArgument for different lengths
// or NaN values.
absl::StatusOr<double> KendallTauB(absl::Span<const double> x, absl::Span<const double> y);

}  // namespace densefb

#endif  // DENSEFB_STATS_H_
