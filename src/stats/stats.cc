// Paired significance tests and multiple-comparison correction (see include/densefb/stats.h).
#include "densefb/stats.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace densefb {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Continued fraction of the incomplete beta (modified Lentz), valid and fast for
// x < (a + 1) / (a + b + 2); y = 1 - x is passed separately so that it keeps full precision.
double BetaContinuedFraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEps = 1e-16;
  constexpr int kMaxIterations = 100000;
  const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0;
  double d = 1.0 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= kMaxIterations; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1.0) < kEps) break;
  }
  return h;
}

// I_x(a, b) with y = 1 - x given exactly by the caller.
double IncompleteBeta(double a, double b, double x, double y) {
  if (std::isnan(a) || std::isnan(b) || std::isnan(x) || a <= 0 || b <= 0) return kNaN;
  if (x <= 0) return 0.0;
  if (y <= 0) return 1.0;
  const double log_front = a * std::log(x) + b * std::log(y) + std::lgamma(a + b) -
                           std::lgamma(a) - std::lgamma(b);
  if (x < (a + 1.0) / (a + b + 2.0)) {
    return std::exp(log_front) * BetaContinuedFraction(a, b, x) / a;
  }
  return 1.0 - std::exp(log_front) * BetaContinuedFraction(b, a, y) / b;
}

// P(T > t) for t >= 0: I_{df/(df+t^2)}(df/2, 1/2) / 2, with 1 - x = t^2/(df+t^2) exact.
double StudentTUpperTail(double t, double df) {
  if (std::isinf(t)) return 0.0;
  const double t2 = t * t;
  const double x = df / (df + t2);
  const double y = t2 / (df + t2);
  return 0.5 * IncompleteBeta(0.5 * df, 0.5, x, y);
}

absl::Status CheckPairs(absl::Span<const double> x, absl::Span<const double> y,
                        absl::string_view test) {
  if (x.size() != y.size()) {
    return absl::InvalidArgumentError(absl::StrCat(test, ": the two samples differ in length (",
                                                   x.size(), " and ", y.size(), " values)"));
  }
  if (x.empty()) return absl::InvalidArgumentError(absl::StrCat(test, ": no pair of values"));
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) {
      return absl::InvalidArgumentError(absl::StrCat(test, ": pair ", i, " is not finite (",
                                                     x[i], ", ", y[i], ")"));
    }
  }
  return absl::OkStatus();
}

// p-value of a statistic with a symmetric continuous distribution, as scipy's _get_pvalue.
template <typename Cdf, typename Sf>
double PValue(double statistic, Alternative alternative, Cdf cdf, Sf sf) {
  switch (alternative) {
    case Alternative::kLess: return cdf(statistic);
    case Alternative::kGreater: return sf(statistic);
    case Alternative::kTwoSided: return 2.0 * sf(std::fabs(statistic));
  }
  return kNaN;
}

// Null distribution of R+ for n untied, non-zero differences: probabilities of 0..n(n+1)/2,
// built by scipy's recursion (each rank k enters with probability 1/2).
std::vector<double> WilcoxonNullPmf(int n) {
  std::vector<double> c(1, 1.0);
  for (int k = 1; k <= n; ++k) {
    std::vector<double> next(static_cast<std::size_t>(k) * (k + 1) / 2 + 1, 0.0);
    const std::size_t m = c.size();
    for (std::size_t i = 0; i < m; ++i) next[i] = c[i] * 0.5;
    for (std::size_t i = 0; i < m; ++i) next[next.size() - m + i] += c[i] * 0.5;
    c = std::move(next);
  }
  return c;
}

// scipy's WilcoxonDistribution cdf/sf (each side summed directly up to the mean, else as the
// complement of the other), so that p-values agree with scipy's to the last bits.
struct WilcoxonExact {
  std::vector<double> pmf;
  double mean;
  explicit WilcoxonExact(int n) : pmf(WilcoxonNullPmf(n)), mean(n * (n + 1) / 4.0) {}
  double SumRange(std::int64_t lo, std::int64_t hi) const {  // pmf[lo..hi], clipped
    lo = std::max<std::int64_t>(lo, 0);
    hi = std::min<std::int64_t>(hi, static_cast<std::int64_t>(pmf.size()) - 1);
    double s = 0;
    for (std::int64_t i = lo; i <= hi; ++i) s += pmf[static_cast<std::size_t>(i)];
    return s;
  }
  double RawCdf(std::int64_t k) const { return SumRange(0, k); }
  double RawSf(std::int64_t k) const {
    return SumRange(k, static_cast<std::int64_t>(pmf.size()) - 1);
  }
  double Cdf(std::int64_t k) const { return k <= mean ? RawCdf(k) : 1.0 - RawSf(k + 1); }
  double Sf(std::int64_t k) const { return k <= mean ? RawSf(k) : 1.0 - RawCdf(k - 1); }
};

}  // namespace

absl::StatusOr<Alternative> ParseAlternative(absl::string_view name) {
  if (name == "two-sided") return Alternative::kTwoSided;
  if (name == "less") return Alternative::kLess;
  if (name == "greater") return Alternative::kGreater;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown alternative '", name, "': expected two-sided, less or greater"));
}

std::string AlternativeName(Alternative alternative) {
  switch (alternative) {
    case Alternative::kTwoSided: return "two-sided";
    case Alternative::kLess: return "less";
    case Alternative::kGreater: return "greater";
  }
  return "?";
}

double RegularizedIncompleteBeta(double a, double b, double x) {
  return IncompleteBeta(a, b, x, 1.0 - x);
}

double StudentTSf(double t, double df) {
  if (std::isnan(t) || std::isnan(df) || df <= 0) return kNaN;
  return t >= 0 ? StudentTUpperTail(t, df) : 1.0 - StudentTUpperTail(-t, df);
}

double StudentTCdf(double t, double df) {
  if (std::isnan(t) || std::isnan(df) || df <= 0) return kNaN;
  return t <= 0 ? StudentTUpperTail(-t, df) : 1.0 - StudentTUpperTail(t, df);
}

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }
double NormalSf(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

absl::StatusOr<TTestResult> PairedTTest(absl::Span<const double> x, absl::Span<const double> y,
                                        Alternative alternative) {
  DENSEFB_RETURN_IF_ERROR(CheckPairs(x, y, "paired t-test"));
  const std::size_t n = x.size();
  std::vector<double> d(n);
  for (std::size_t i = 0; i < n; ++i) d[i] = x[i] - y[i];
  const double mean = std::accumulate(d.begin(), d.end(), 0.0) / static_cast<double>(n);
  double ss = 0;
  for (double v : d) ss += (v - mean) * (v - mean);
  const double nd = static_cast<double>(n);
  const double var = ss / nd * (nd / (nd - 1.0));  // scipy: biased moment, then n/(n-1)
  const double denom = std::sqrt(var / nd);
  TTestResult result;
  result.n = static_cast<int>(n);
  result.df = nd - 1.0;
  result.mean_difference = mean;
  if (n < 2) {
    result.statistic = kNaN;
    result.pvalue = kNaN;
    return result;
  }
  result.statistic = mean / denom;  // 0/0 = NaN, c/0 = +-inf, as scipy
  const double df = result.df;
  result.pvalue = std::isnan(result.statistic)
                      ? kNaN
                      : PValue(result.statistic, alternative,
                               [df](double t) { return StudentTCdf(t, df); },
                               [df](double t) { return StudentTSf(t, df); });
  return result;
}

absl::StatusOr<WilcoxonResult> Wilcoxon(absl::Span<const double> x, absl::Span<const double> y,
                                        const WilcoxonOptions& options) {
  using ZeroMethod = WilcoxonOptions::ZeroMethod;
  using Method = WilcoxonOptions::Method;
  DENSEFB_RETURN_IF_ERROR(CheckPairs(x, y, "Wilcoxon signed-rank test"));
  const int n = static_cast<int>(x.size());
  std::vector<double> d(x.size());
  int n_zero = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    d[i] = x[i] - y[i];
    if (d[i] == 0) ++n_zero;
  }
  const bool drop_zeros = options.zero_method == ZeroMethod::kWilcox;

  // Average ranks of |d| over the ranked values (zeros excluded under "wilcox"); tie groups.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (!(drop_zeros && d[i] == 0)) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return std::fabs(d[a]) < std::fabs(d[b]); });
  std::vector<double> rank(d.size(), 0.0);
  bool has_ties = false;
  double tie_correction = 0;  // sum of t^3 - t over tie groups
  for (std::size_t start = 0; start < order.size();) {
    std::size_t end = start + 1;
    while (end < order.size() && std::fabs(d[order[end]]) == std::fabs(d[order[start]])) ++end;
    const double t = static_cast<double>(end - start);
    const double average = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2.0;
    for (std::size_t j = start; j < end; ++j) rank[order[j]] = average;
    if (end - start > 1) has_ties = true;
    // Pratt: the zeros' group (always the first) is left out of the tie correction.
    const bool zero_group = d[order[start]] == 0;
    if (!(options.zero_method == ZeroMethod::kPratt && zero_group)) {
      tie_correction += t * t * t - t;
    }
    start = end;
  }
  const double count = static_cast<double>(order.size());
  double r_plus = 0, r_minus = 0, r_zero = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (d[i] > 0) r_plus += rank[i];
    if (d[i] < 0) r_minus += rank[i];
    if (d[i] == 0) r_zero += rank[i];
  }
  if (options.zero_method == ZeroMethod::kZsplit) {
    r_plus += r_zero / 2;
    r_minus += r_zero / 2;
  }
  double mn = count * (count + 1.0) * 0.25;
  double se = count * (count + 1.0) * (2.0 * count + 1.0);
  if (options.zero_method == ZeroMethod::kPratt) {
    const double nz = n_zero;
    mn -= nz * (nz + 1.0) * 0.25;
    se -= nz * (nz + 1.0) * (2.0 * nz + 1.0);
  }
  se = std::sqrt((se - tie_correction / 2.0) / 24.0);
  double z = (r_plus - mn) / se;

  Method method = options.method;
  bool permutation = false;
  if (method == Method::kAuto) {
    if (n > 50) {
      method = Method::kAsymptotic;
    } else if (!(has_ties || n_zero > 0)) {
      method = Method::kExact;
    } else if (n <= 13) {
      permutation = true;  // every one of the 2^n sign flips, as scipy's permutation_test
    } else {
      method = Method::kAsymptotic;
    }
  }

  WilcoxonResult result;
  result.n = n;
  result.n_zero = n_zero;
  result.zstatistic = kNaN;
  const Alternative alt = options.alternative;
  double p = kNaN;
  if (permutation) {
    result.method = "permutation";
    // R+ under sign flips: each ranked non-zero difference adds its rank or nothing; zeros
    // add what they always add (0, or half their rank for zsplit). Ranks are multiples of 1/2.
    double offset = options.zero_method == ZeroMethod::kZsplit ? r_zero / 2 : 0.0;
    std::vector<std::int64_t> twice;
    std::int64_t total = 0;
    for (std::size_t i : order) {
      if (d[i] == 0) continue;
      twice.push_back(static_cast<std::int64_t>(std::llround(2.0 * rank[i])));
      total += twice.back();
    }
    std::vector<double> ways(static_cast<std::size_t>(total) + 1, 0.0);
    ways[0] = 1.0;
    for (std::int64_t r : twice) {
      for (std::int64_t s = total; s >= r; --s) ways[s] += ways[s - r];
    }
    const double outcomes = std::ldexp(1.0, static_cast<int>(twice.size()));
    const double gamma = std::fabs(std::numeric_limits<double>::epsilon() * 100 * r_plus);
    double less = 0, greater = 0;
    for (std::int64_t s = 0; s <= total; ++s) {
      const double value = offset + static_cast<double>(s) / 2.0;
      if (value <= r_plus + gamma) less += ways[s];
      if (value >= r_plus - gamma) greater += ways[s];
    }
    less /= outcomes;
    greater /= outcomes;
    p = alt == Alternative::kLess      ? less
        : alt == Alternative::kGreater ? greater
                                       : 2.0 * std::min(less, greater);
    p = std::clamp(p, 0.0, 1.0);
  } else if (method == Method::kExact) {
    result.method = "exact";
    const WilcoxonExact dist(static_cast<int>(count));
    const auto lo = static_cast<std::int64_t>(std::floor(r_plus));
    const auto hi = static_cast<std::int64_t>(std::ceil(r_plus));
    p = alt == Alternative::kLess      ? dist.Cdf(hi)
        : alt == Alternative::kGreater ? dist.Sf(lo)
                                       : std::clamp(2.0 * std::min(dist.Sf(lo), dist.Cdf(hi)), 0.0, 1.0);
  } else {
    result.method = "asymptotic";
    if (options.correction) {
      const double sign = alt == Alternative::kGreater ? 1.0
                          : alt == Alternative::kLess  ? -1.0
                          : (z > 0) - (z < 0);
      z -= sign * 0.5 / se;
    }
    p = std::isnan(z) ? kNaN : PValue(z, alt, NormalCdf, NormalSf);
    result.zstatistic = alt == Alternative::kTwoSided ? -std::fabs(z) : z;
  }
  result.statistic = alt == Alternative::kTwoSided ? std::min(r_plus, r_minus) : r_plus;
  result.pvalue = p;
  return result;
}

namespace {

absl::Status CheckPValues(absl::Span<const double> pvalues) {
  for (std::size_t i = 0; i < pvalues.size(); ++i) {
    const double p = pvalues[i];
    if (!std::isnan(p) && !(p >= 0.0 && p <= 1.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("p-value ", i, " is ", p, ", outside [0, 1]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<double>> HolmBonferroni(absl::Span<const double> pvalues) {
  DENSEFB_RETURN_IF_ERROR(CheckPValues(pvalues));
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < pvalues.size(); ++i) {
    if (!std::isnan(pvalues[i])) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return pvalues[a] < pvalues[b]; });
  std::vector<double> adjusted(pvalues.begin(), pvalues.end());
  const double m = static_cast<double>(order.size());
  double running = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const double scaled = std::min(1.0, (m - static_cast<double>(i)) * pvalues[order[i]]);
    running = std::max(running, scaled);
    adjusted[order[i]] = running;
  }
  return adjusted;
}

absl::StatusOr<std::vector<double>> Bonferroni(absl::Span<const double> pvalues) {
  DENSEFB_RETURN_IF_ERROR(CheckPValues(pvalues));
  double m = 0;
  for (double p : pvalues) m += std::isnan(p) ? 0 : 1;
  std::vector<double> adjusted(pvalues.begin(), pvalues.end());
  for (double& p : adjusted) {
    if (!std::isnan(p)) p = std::min(1.0, m * p);
  }
  return adjusted;
}

// ---- agreement ------------------------------------------------------------------------------

absl::StatusOr<double> CohenKappa(absl::Span<const std::int64_t> a, absl::Span<const std::int64_t> b) {
  if (a.size() != b.size()) {
    return absl::InvalidArgumentError(absl::StrCat("cohen_kappa: the labelings have ", a.size(), " and ", b.size(),
                                                   " items; they must label the same items"));
  }
  if (a.empty()) return absl::InvalidArgumentError("cohen_kappa: no items to compare");
  std::map<std::int64_t, std::int64_t> count_a, count_b;
  std::int64_t agree = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ++count_a[a[i]];
    ++count_b[b[i]];
    agree += a[i] == b[i] ? 1 : 0;
  }
  const double n = static_cast<double>(a.size());
  const double po = static_cast<double>(agree) / n;
  double pe = 0;
  for (const auto& [label, ca] : count_a) {
    auto it = count_b.find(label);
    if (it != count_b.end()) pe += (static_cast<double>(ca) / n) * (static_cast<double>(it->second) / n);
  }
  if (pe >= 1.0) return std::numeric_limits<double>::quiet_NaN();
  return (po - pe) / (1.0 - pe);
}

absl::StatusOr<double> KendallTauB(absl::Span<const double> x, absl::Span<const double> y) {
  if (x.size() != y.size()) {
    return absl::InvalidArgumentError(absl::StrCat("kendall_tau: the score vectors have ", x.size(), " and ",
                                                   y.size(), " items; they must score the same items"));
  }
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) {
      return absl::InvalidArgumentError(absl::StrCat("kendall_tau: item ", i, " has a NaN score"));
    }
  }
  const std::size_t n = x.size();
  double concordant = 0, discordant = 0, tied_x = 0, tied_y = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double dx = x[i] - x[j], dy = y[i] - y[j];
      if (dx == 0) tied_x += 1;
      if (dy == 0) tied_y += 1;
      if (dx == 0 || dy == 0) continue;
      ((dx > 0) == (dy > 0) ? concordant : discordant) += 1;
    }
  }
  const double pairs = static_cast<double>(n) * static_cast<double>(n > 0 ? n - 1 : 0) / 2;
  const double denom = std::sqrt((pairs - tied_x) * (pairs - tied_y));
  if (!(denom > 0)) return std::numeric_limits<double>::quiet_NaN();
  return std::clamp((concordant - discordant) / denom, -1.0, 1.0);
}

}  // namespace densefb
