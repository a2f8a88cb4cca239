#include <pybind11/pybind11.h>

#include <cstdint>

#include "densefb/pipeline.h"


#include "bindings.h"



PYBIND11_MODULE(_core, m) {
  namespace b = densefb::py_bindings;
  m.doc() = "densefb compiled core (private; use the densefb package)";
  m.attr("__version__") = DENSEFB_VERSION;
  b::RegisterData(m);
  b::RegisterEval(m);
  b::RegisterFilter(m);
  b::RegisterIndex(m);
  b::RegisterHnswIndex(m);
  b::RegisterQuantizedIndex(m);
  b::RegisterTokenizer(m);
  b::RegisterBm25(m);
  b::RegisterFusion(m);
  b::RegisterStats(m);
  b::RegisterMultiVector(m);
  b::RegisterLlm(m);
  b::RegisterPipeline(m);  // after the types its resources borrow
  // The address of a core function as this module sees it: densefb._torch reports the same
  // one when both link the one shared libdensefb (tests/python/test_one_core.py).
  m.def("_core_address", [] { return reinterpret_cast<std::uintptr_t>(&densefb::RegisteredStages); });
}
