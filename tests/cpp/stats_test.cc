// Paired tests and corrections against values computed by scipy 1.17 (scipy.stats.ttest_rel,
// scipy.stats.wilcoxon, scipy.special.betainc / stdtr) on the same inputs, plus properties
// that hold whatever the reference. The randomized comparison with scipy, on real per-query
// nDCG@10 values too, is in tests/python/test_experiment.py.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "densefb/stats.h"

namespace densefb {
namespace {

using Catch::Matchers::WithinRel;

const std::vector<double> kX = {0.61, 0.53, 0.78, 0.40, 0.91, 0.33, 0.72, 0.58, 0.66, 0.49};
const std::vector<double> kY = {0.55, 0.50, 0.70, 0.45, 0.80, 0.30, 0.70, 0.52, 0.60, 0.41};

std::vector<double> Zeros(std::size_t n) { return std::vector<double>(n, 0.0); }

TEST_CASE("special functions match scipy.special", "[stats]") {
  CHECK_THAT(RegularizedIncompleteBeta(2.5, 0.5, 0.3), WithinRel(0.018927124071945658, 1e-12));
  CHECK_THAT(RegularizedIncompleteBeta(150, 0.5, 0.99), WithinRel(0.0827480032540805, 1e-11));
  CHECK_THAT(StudentTCdf(-2.1, 7), WithinRel(0.036935598106461326, 1e-12));
  CHECK_THAT(StudentTCdf(-4.5, 299), WithinRel(4.871428419957791e-06, 1e-10));
  // Symmetry and complements.
  for (double t : {-3.0, -0.5, 0.0, 0.2, 1.7, 8.0}) {
    for (double df : {1.0, 2.5, 9.0, 120.0}) {
      CHECK_THAT(StudentTCdf(t, df) + StudentTSf(t, df), WithinRel(1.0, 1e-13));
      CHECK_THAT(StudentTCdf(-t, df), WithinRel(StudentTSf(t, df), 1e-12));
    }
  }
  CHECK(StudentTCdf(0.0, 5) == 0.5);
  // df = 1 is the Cauchy distribution: P(T <= t) = 1/2 + atan(t)/pi.
  for (double t : {-10.0, -1.0, 0.3, 4.0}) {
    CHECK_THAT(StudentTCdf(t, 1), WithinRel(0.5 + std::atan(t) / M_PI, 1e-12));
  }
  CHECK_THAT(NormalSf(1.959963984540054), WithinRel(0.025, 1e-12));
  CHECK(std::isnan(StudentTCdf(1.0, 0)));
}

TEST_CASE("paired t-test matches scipy.stats.ttest_rel", "[stats]") {
  auto r = PairedTTest(kX, kY);
  REQUIRE(r.ok());
  CHECK_THAT(r->statistic, WithinRel(3.456110597308699, 1e-12));
  CHECK_THAT(r->pvalue, WithinRel(0.007204887042994239, 1e-11));
  CHECK(r->df == 9);
  CHECK(r->n == 10);
  CHECK_THAT(PairedTTest(kX, kY, Alternative::kLess)->pvalue,
             WithinRel(0.9963975564785029, 1e-12));
  CHECK_THAT(PairedTTest(kX, kY, Alternative::kGreater)->pvalue,
             WithinRel(0.0036024435214971197, 1e-11));
  // Swapping the systems flips t and keeps the two-sided p.
  CHECK_THAT(PairedTTest(kY, kX)->statistic, WithinRel(-3.456110597308699, 1e-12));

  // Identical samples: NaN; a constant non-zero difference: t infinite, p = 0 (as scipy).
  auto same = PairedTTest(kX, kX);
  CHECK(std::isnan(same->statistic));
  CHECK(std::isnan(same->pvalue));
  auto shifted = PairedTTest({1, 2, 3}, {0, 1, 2});
  CHECK(std::isinf(shifted->statistic));
  CHECK(shifted->pvalue == 0.0);

  CHECK(PairedTTest({1, 2}, {1}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(PairedTTest({}, {}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(PairedTTest({1, std::nan("")}, {1, 2}).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Wilcoxon matches scipy.stats.wilcoxon in each of its regimes", "[stats]") {
  // No ties, no zeros, n <= 50: exact distribution.
  const std::vector<double> d = {0.3, -1.2, 2.5, 0.7, -0.1, 1.9, 3.3, -0.45, 1.1, 0.05};
  auto exact = Wilcoxon(d, Zeros(d.size()));
  REQUIRE(exact.ok());
  CHECK(exact->method == "exact");
  CHECK(exact->statistic == 13.0);
  CHECK_THAT(exact->pvalue, WithinRel(0.16015625, 1e-14));
  WilcoxonOptions greater;
  greater.alternative = Alternative::kGreater;
  auto g = Wilcoxon(d, Zeros(d.size()), greater);
  CHECK(g->statistic == 42.0);
  CHECK_THAT(g->pvalue, WithinRel(0.080078125, 1e-14));

  // Ties and zeros, n <= 13: exact sign-flip permutation distribution.
  const std::vector<double> d2 = {0.5, -0.5, 1.0, 0, 2.0, 1.0, 0, -0.25, 1.5, 3.0};
  auto perm = Wilcoxon(d2, Zeros(d2.size()));
  CHECK(perm->method == "permutation");
  CHECK(perm->n_zero == 2);
  CHECK(perm->statistic == 3.5);
  CHECK_THAT(perm->pvalue, WithinRel(0.046875, 1e-14));

  // Ties and zeros, n = 20: normal approximation with tie correction.
  const std::vector<double> d3 = {2.2,  -2.4, 0.6, -0.4, -0.3, -0.0, -1.8, -0.0, -0.7, 3.5,
                                  0.4,  -0.2, -0.1, -0.5, -0.9, -0.2, 0.7,  -0.0, 1.2,  0.0};
  auto asym = Wilcoxon(d3, Zeros(d3.size()));
  CHECK(asym->method == "asymptotic");
  CHECK(asym->statistic == 65.0);
  CHECK_THAT(asym->pvalue, WithinRel(0.8766603876873085, 1e-12));

  // All differences zero: p = 1 for n <= 13 (permutation), NaN beyond (as scipy).
  CHECK(Wilcoxon(Zeros(3), Zeros(3))->pvalue == 1.0);
  CHECK(std::isnan(Wilcoxon(Zeros(20), Zeros(20))->pvalue));

  CHECK(Wilcoxon({1, 2}, {1}).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Wilcoxon exact and asymptotic agree for large untied samples", "[stats]") {
  std::mt19937 gen(7);
  std::normal_distribution<double> normal(0.2, 1.0);
  std::vector<double> d(40);
  for (double& v : d) v = normal(gen);
  WilcoxonOptions exact, asym;
  exact.method = WilcoxonOptions::Method::kExact;
  asym.method = WilcoxonOptions::Method::kAsymptotic;
  asym.correction = true;  // the corrected normal approximation is close to the exact p
  const double pe = Wilcoxon(d, Zeros(d.size()), exact)->pvalue;
  const double pa = Wilcoxon(d, Zeros(d.size()), asym)->pvalue;
  CHECK(std::fabs(pe - pa) < 0.01);
}

TEST_CASE("Holm-Bonferroni step-down adjustment", "[stats]") {
  // Worked by hand: sorted 0.01, 0.02, 0.03, 0.04 -> 0.04, 0.06, 0.06 (monotone), 0.06.
  auto holm = HolmBonferroni({0.03, 0.01, 0.04, 0.02});
  REQUIRE(holm.ok());
  CHECK_THAT((*holm)[0], WithinRel(0.06, 1e-14));
  CHECK_THAT((*holm)[1], WithinRel(0.04, 1e-14));
  CHECK_THAT((*holm)[2], WithinRel(0.06, 1e-14));
  CHECK_THAT((*holm)[3], WithinRel(0.06, 1e-14));
  // Capped at 1; NaN kept and not counted.
  auto capped = HolmBonferroni({0.6, std::nan(""), 0.3});
  CHECK((*capped)[0] == 0.6);
  CHECK(std::isnan((*capped)[1]));
  CHECK((*capped)[2] == 0.6);
  auto bonf = Bonferroni({0.2, 0.01, 0.5});
  CHECK_THAT((*bonf)[1], WithinRel(0.03, 1e-14));
  CHECK((*bonf)[0] == Approx(0.6));
  CHECK((*bonf)[2] == 1.0);
  CHECK(HolmBonferroni({1.5}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(HolmBonferroni({}).ok());
}

}  // namespace
}  // namespace densefb
