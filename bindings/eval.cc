#include "bindings.h"

namespace densefb::py_bindings {
void RegisterEval(py::module_& m) {}
}  // namespace densefb::py_bindings
