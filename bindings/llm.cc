// Generators (densefb/generator.h) for Python: filled in by the generator layer.
#include "bindings.h"

namespace densefb::py_bindings {

void RegisterLlm(py::module_& m) { (void)m; }

}  // namespace densefb::py_bindings
