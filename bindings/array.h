// Numpy <-> view conversions shared by binding files. Arrays that are already C-contiguous
// float32 are used in place (no copy); others are converted once.
#ifndef DENSEFB_BINDINGS_ARRAY_H_
#define DENSEFB_BINDINGS_ARRAY_H_

#include <pybind11/numpy.h>

#include <string>
#include <vector>

#include "bindings.h"
#include "densefb/types.h"

namespace densefb::py_bindings {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using IdArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

// A 2-d (n, d) view of `a`; a 1-d array of length d is one row. `what` names it in errors.
inline ConstMatrixView MatrixArg(const FloatArray& a, const char* what) {
  if (a.ndim() == 1) return {a.data(), 1, static_cast<std::int64_t>(a.shape(0))};
  if (a.ndim() != 2) {
    throw py::value_error(std::string(what) + " must be a 1-d or 2-d array, got " +
                          std::to_string(a.ndim()) + " dimensions");
  }
  return {a.data(), static_cast<std::int64_t>(a.shape(0)), static_cast<std::int64_t>(a.shape(1))};
}

inline absl::Span<const std::int64_t> IdsArg(const IdArray& ids, const char* what) {
  if (ids.ndim() != 1) throw py::value_error(std::string(what) + " must be a 1-d array of int64");
  return {ids.data(), static_cast<std::size_t>(ids.shape(0))};
}

// Allocates the (n, k) float32 scores and int64 ids arrays that Search fills in place.
struct SearchArrays {
  py::array_t<float> scores;
  py::array_t<std::int64_t> ids;
  SearchArrays(std::int64_t n, std::int64_t k)
      : scores(std::vector<py::ssize_t>{n, k}), ids(std::vector<py::ssize_t>{n, k}) {}
  py::tuple Tuple() { return py::make_tuple(scores, ids); }
};

}  // namespace densefb::py_bindings

#endif  // DENSEFB_BINDINGS_ARRAY_H_
