// Bindings of include/densefb/fusion.h's normalisation of Runs (the Python layer is
// densefb/fusion.py). Fusing Runs goes through the Fusion objects: fuse_runs in pipeline.cc.
#include <pybind11/stl.h>

#include <string>

#include "array.h"
#include "bindings.h"
#include "densefb/fusion.h"

namespace densefb::py_bindings {

void RegisterFusion(py::module_& m) {
  m.def("normalize_run", [](const Run& run, const std::string& method) {
          const Normalization n = ValueOrThrow(ParseNormalization(method));
          return NormalizeRun(run, n);
        }, py::arg("run"), py::arg("method"),
        "A copy of the run with every query's scores normalised (private; use densefb.fusion.normalize).");
}

}  // namespace densefb::py_bindings
