// Bindings of include/densefb/stats.h (the Python layer is densefb/stats.py).
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings.h"
#include "densefb/stats.h"

namespace densefb::py_bindings {
namespace {

WilcoxonOptions::ZeroMethod ParseZeroMethod(const std::string& name) {
  if (name == "wilcox") return WilcoxonOptions::ZeroMethod::kWilcox;
  if (name == "pratt") return WilcoxonOptions::ZeroMethod::kPratt;
  if (name == "zsplit") return WilcoxonOptions::ZeroMethod::kZsplit;
  throw py::value_error("unknown zero_method '" + name + "': expected wilcox, pratt or zsplit");
}

WilcoxonOptions::Method ParseMethod(const std::string& name) {
  if (name == "auto") return WilcoxonOptions::Method::kAuto;
  if (name == "exact") return WilcoxonOptions::Method::kExact;
  if (name == "asymptotic" || name == "approx") return WilcoxonOptions::Method::kAsymptotic;
  throw py::value_error("unknown method '" + name + "': expected auto, exact or asymptotic");
}

}  // namespace

void RegisterStats(py::module_& m) {
  py::class_<TTestResult>(m, "TTestResult", "Result of a paired t-test (scipy.stats.ttest_rel).")
      .def_readonly("statistic", &TTestResult::statistic, "t")
      .def_readonly("pvalue", &TTestResult::pvalue, "p-value")
      .def_readonly("df", &TTestResult::df, "degrees of freedom (n - 1)")
      .def_readonly("mean_difference", &TTestResult::mean_difference, "mean of x - y")
      .def_readonly("n", &TTestResult::n, "number of pairs")
      .def("__repr__", [](const TTestResult& r) {
        return "TTestResult(statistic=" + py::repr(py::float_(r.statistic)).cast<std::string>() +
               ", pvalue=" + py::repr(py::float_(r.pvalue)).cast<std::string>() +
               ", df=" + std::to_string(static_cast<int>(r.df)) + ")";
      });

  py::class_<WilcoxonResult>(m, "WilcoxonResult",
                             "Result of a Wilcoxon signed-rank test (scipy.stats.wilcoxon).")
      .def_readonly("statistic", &WilcoxonResult::statistic,
                    "min(R+, R-) for a two-sided test, R+ for a one-sided one")
      .def_readonly("pvalue", &WilcoxonResult::pvalue, "p-value")
      .def_readonly("zstatistic", &WilcoxonResult::zstatistic,
                    "normal deviate when the normal approximation was used, else NaN")
      .def_readonly("method", &WilcoxonResult::method,
                    "the method used: 'exact', 'permutation' or 'asymptotic'")
      .def_readonly("n", &WilcoxonResult::n, "number of pairs")
      .def_readonly("n_zero", &WilcoxonResult::n_zero, "pairs with a zero difference")
      .def("__repr__", [](const WilcoxonResult& r) {
        return "WilcoxonResult(statistic=" + py::repr(py::float_(r.statistic)).cast<std::string>() +
               ", pvalue=" + py::repr(py::float_(r.pvalue)).cast<std::string>() +
               ", method='" + r.method + "')";
      });

  m.def("paired_ttest",
        [](const std::vector<double>& x, const std::vector<double>& y,
           const std::string& alternative) {
          return ValueOrThrow(PairedTTest(x, y, ValueOrThrow(ParseAlternative(alternative))));
        },
        py::arg("x"), py::arg("y"), py::arg("alternative") = "two-sided");
  m.def("wilcoxon",
        [](const std::vector<double>& x, const std::vector<double>& y,
           const std::string& zero_method, bool correction, const std::string& alternative,
           const std::string& method) {
          WilcoxonOptions options;
          options.zero_method = ParseZeroMethod(zero_method);
          options.correction = correction;
          options.alternative = ValueOrThrow(ParseAlternative(alternative));
          options.method = ParseMethod(method);
          return ValueOrThrow(Wilcoxon(x, y, options));
        },
        py::arg("x"), py::arg("y"), py::arg("zero_method") = "wilcox",
        py::arg("correction") = false, py::arg("alternative") = "two-sided",
        py::arg("method") = "auto");
  m.def("holm_bonferroni",
        [](const std::vector<double>& p) { return ValueOrThrow(HolmBonferroni(p)); },
        py::arg("pvalues"));
  m.def("bonferroni", [](const std::vector<double>& p) { return ValueOrThrow(Bonferroni(p)); },
        py::arg("pvalues"));
  m.def("cohen_kappa", [](const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b) {
        return ValueOrThrow(CohenKappa(a, b));
      }, py::arg("a"), py::arg("b"));
  m.def("kendall_tau", [](const std::vector<double>& x, const std::vector<double>& y) {
        return ValueOrThrow(KendallTauB(x, y));
      }, py::arg("x"), py::arg("y"));
  m.def("student_t_cdf", &StudentTCdf, py::arg("t"), py::arg("df"));
  m.def("student_t_sf", &StudentTSf, py::arg("t"), py::arg("df"));
  m.def("regularized_incomplete_beta", &RegularizedIncompleteBeta, py::arg("a"), py::arg("b"),
        py::arg("x"));
}

}  // namespace densefb::py_bindings
