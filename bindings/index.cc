#include "bindings.h"

namespace densefb::py_bindings {
void RegisterIndex(py::module_& m) {}
}  // namespace densefb::py_bindings
