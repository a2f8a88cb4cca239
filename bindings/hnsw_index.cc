#include "bindings.h"

namespace densefb::py_bindings {
void RegisterHnswIndex(py::module_& m) {}
}  // namespace densefb::py_bindings
