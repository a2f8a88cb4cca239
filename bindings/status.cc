// The one place where an absl::Status becomes a Python exception (shared by _core and _torch).
#include <string>

#include "bindings.h"

namespace densefb::py_bindings {

void RaiseStatus(const absl::Status& status) {
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      // A missing file is an OSError (FileNotFoundError); a missing id is a KeyError.
      if (message.find(": no such file") != std::string::npos ||
          message.find(": no such directory") != std::string::npos ||
          message.find("cannot open") != std::string::npos) {
        PyErr_SetString(PyExc_FileNotFoundError, message.c_str());
        throw py::error_already_set();
      }
      throw py::key_error(message);
    case absl::StatusCode::kOutOfRange:
      throw py::index_error(message);
    case absl::StatusCode::kResourceExhausted:
      PyErr_SetString(PyExc_MemoryError, message.c_str());
      throw py::error_already_set();
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnavailable:
      PyErr_SetString(PyExc_OSError, message.c_str());
      throw py::error_already_set();
    case absl::StatusCode::kUnimplemented:
      PyErr_SetString(PyExc_NotImplementedError, message.c_str());
      throw py::error_already_set();
    case absl::StatusCode::kCancelled:
      PyErr_SetString(PyExc_KeyboardInterrupt, message.c_str());
      throw py::error_already_set();
    case absl::StatusCode::kInternal:
      throw std::runtime_error(message);
    default:  // InvalidArgument, AlreadyExists, FailedPrecondition, ...
      throw py::value_error(message);
  }
}

}  // namespace densefb::py_bindings
