// Bindings of include/densefb/fusion.h over Runs (the Python layer is densefb/fusion.py).
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "array.h"
#include "bindings.h"
#include "densefb/fusion.h"

namespace densefb::py_bindings {
namespace {

// The method name picks the options struct; the parameters a method does not use are ignored.
Run FuseRunsByName(const std::vector<const Run*>& runs, const std::string& method, double k,
                   std::optional<std::vector<double>> weights, const std::string& normalization,
                   const std::string& missing, const Int& depth_arg, const Int& top_arg) {
  // Sizes: any depth/top >= 0 (0 = all); a value beyond int64 means all there is.
  const auto depth = depth_arg.Count<std::int64_t>("depth");
  const auto top = top_arg.Count<std::int64_t>("top");
  const Normalization norm = ValueOrThrow(ParseNormalization(normalization));
  const MissingScore fill = ValueOrThrow(ParseMissingScore(missing));
  std::vector<double> w = weights.value_or(std::vector<double>{});
  auto run = [&](const auto& options) {
    return ValueOrThrow(WithoutGil([&] { return FuseRuns(runs, options); }));
  };
  if (method == "rrf") {
    RrfOptions o;
    o.k = k;
    o.weights = std::move(w);
    o.depth = depth;
    o.top = top;
    return run(o);
  }
  if (method == "interpolation") {
    InterpolationOptions o;
    o.weights = std::move(w);
    o.normalization = norm;
    o.missing = fill;
    o.depth = depth;
    o.top = top;
    return run(o);
  }
  if (method == "combsum" || method == "combmnz" || method == "combmax") {
    CombOptions o;
    o.rule = method == "combsum" ? CombRule::kSum : method == "combmnz" ? CombRule::kMnz : CombRule::kMax;
    o.weights = std::move(w);
    o.normalization = norm;
    o.depth = depth;
    o.top = top;
    return run(o);
  }
  if (method == "borda") {
    BordaOptions o;
    o.weights = std::move(w);
    o.depth = depth;
    o.top = top;
    return run(o);
  }
  throw py::value_error("unknown fusion method \"" + method +
                        "\" (expected rrf, interpolation, combsum, combmnz, combmax or borda)");
}

}  // namespace

void RegisterFusion(py::module_& m) {
  m.def("fuse_runs", &FuseRunsByName, py::arg("runs"), py::arg("method"), py::arg("k"),
        py::arg("weights"), py::arg("normalization"), py::arg("missing"), py::arg("depth"),
        py::arg("top"),
        "Fuses Runs (private; use densefb.fusion.fuse). The run name is the method with its parameters.");
  m.def("normalize_run", [](const Run& run, const std::string& method) {
          const Normalization n = ValueOrThrow(ParseNormalization(method));
          return NormalizeRun(run, n);
        }, py::arg("run"), py::arg("method"),
        "A copy of the run with every query's scores normalised (private; use densefb.fusion.normalize).");
}

}  // namespace densefb::py_bindings
