#include "bindings.h"

namespace densefb::py_bindings {
void RegisterTokenizer(py::module_& m) {}
}  // namespace densefb::py_bindings
