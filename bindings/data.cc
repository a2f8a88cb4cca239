#include "bindings.h"

namespace densefb::py_bindings {
void RegisterData(py::module_& m) {}
}  // namespace densefb::py_bindings
