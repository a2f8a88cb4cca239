// Bindings of include/densefb/eval.h: Measure, EvalResult and evaluate().
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings.h"
#include "densefb/eval.h"

namespace densefb::py_bindings {
namespace {

const char* KindName(Measure::Kind kind) {
  switch (kind) {
    case Measure::Kind::kNdcg: return "nDCG";
    case Measure::Kind::kAp: return "AP";
    case Measure::Kind::kRr: return "RR";
    case Measure::Kind::kRecall: return "R";
    case Measure::Kind::kPrecision: return "P";
    case Measure::Kind::kJudged: return "Judged";
  }
  return "?";
}

// 0 means "not set" in C++; None says so in Python.
py::object OptionalInt(int value) { return value == 0 ? py::none() : py::object(py::int_(value)); }

}  // namespace

void RegisterEval(py::module_& m) {
  py::class_<Measure>(m, "Measure",
                      "An evaluation measure in ir_measures notation (e.g. 'nDCG@10', "
                      "'AP(rel=2)'); trec_eval names such as 'ndcg_cut_10' parse too.")
      .def(py::init([](const std::string& name) { return ValueOrThrow(Measure::Parse(name)); }),
           py::arg("name"), "Parses a measure name; ValueError if unknown or malformed.")
      .def_property_readonly("name", [](const Measure& x) { return KindName(x.kind); },
                             "The measure family: nDCG, AP, RR, R, P or Judged.")
      .def_property_readonly("cutoff", [](const Measure& x) { return OptionalInt(x.cutoff); },
                             "Rank cutoff k, or None.")
      .def_property_readonly("rel_level", [](const Measure& x) { return OptionalInt(x.rel_level); },
                             "Per-measure relevance threshold, or None (the evaluation's).")
      .def("__str__", &Measure::ToString)
      .def("__repr__", [](const Measure& x) { return "Measure('" + x.ToString() + "')"; })
      .def("__eq__", [](const Measure& a, const Measure& b) { return a == b; }, py::is_operator())
      .def("__hash__", [](const Measure& x) { return py::hash(py::str(x.ToString())); });

  py::class_<EvalResult>(m, "EvalResult", "Per-query and mean values of evaluated measures.")
      .def_readonly("measures", &EvalResult::measures, "Canonical measure names, as asked.")
      .def_readonly("query_ids", &EvalResult::query_ids, "Evaluated queries, in qrels order.")
      .def_readonly("per_query", &EvalResult::per_query, "per_query[q][m], rows as query_ids.")
      .def_readonly("mean", &EvalResult::mean, "Mean of each measure over query_ids.");

  m.def("evaluate",
        [](const Run& run, const Qrels& qrels, const std::vector<std::string>& measures,
           int rel_level, bool average_over_qrels) {
          // The GIL stays held: run and qrels are Python-owned objects that another thread
          // could mutate, and evaluating takes milliseconds.
          EvalOptions options;
          options.rel_level = rel_level;
          options.average_over_qrels = average_over_qrels;
          return ValueOrThrow(Evaluate(run, qrels, measures, options));
        },
        py::arg("run"), py::arg("qrels"), py::arg("measures"), py::kw_only(),
        py::arg("rel_level") = 1, py::arg("average_over_qrels") = false,
        "Evaluates a Run against Qrels as trec_eval does (see densefb.evaluate).");
}

}  // namespace densefb::py_bindings
