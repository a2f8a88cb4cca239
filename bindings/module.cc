#include <pybind11/pybind11.h>


#include "bindings.h"



PYBIND11_MODULE(_core, m) {
  namespace b = densefb::py_bindings;
  m.doc() = "densefb compiled core (private; use the densefb package)";
  m.attr("__version__") = DENSEFB_VERSION;
  b::RegisterData(m);
  b::RegisterEval(m);
  b::RegisterIndex(m);
  b::RegisterHnswIndex(m);
  b::RegisterTokenizer(m);
  b::RegisterBm25(m);
  b::RegisterFusion(m);
  b::RegisterStats(m);
  b::RegisterMultiVector(m);
  b::RegisterPipeline(m);  // after the types its resources borrow
}
