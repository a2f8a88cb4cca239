// Numpy <-> view conversions shared by binding files. Arrays that are already C-contiguous
// float32 are used in place (no copy); others are converted once.
#ifndef DENSEFB_BINDINGS_ARRAY_H_
#define DENSEFB_BINDINGS_ARRAY_H_

#include <pybind11/numpy.h>

#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "densefb/types.h"

namespace densefb::py_bindings {

// A C-contiguous host array argument. Besides what numpy converts, it takes torch tensors on
// any device and with requires_grad: those are detached and copied to host memory first (the
// indexes live there); a CPU tensor without grad is read in place through __array__.
template <typename T>
class HostArray : public py::array_t<T, py::array::c_style | py::array::forcecast> {
 public:
  using Base = py::array_t<T, py::array::c_style | py::array::forcecast>;
  using Base::Base;
  HostArray() = default;
  HostArray(Base base) : Base(std::move(base)) {}  // NOLINT(google-explicit-constructor)
};

using FloatArray = HostArray<float>;
using IdArray = HostArray<std::int64_t>;

// `obj` itself, or a detached host copy when it is a torch tensor that numpy cannot read in place.
inline py::object ToHost(py::handle obj) {
  py::object o = py::reinterpret_borrow<py::object>(obj);
  if (!py::hasattr(o, "detach") || !py::hasattr(o, "device") || !py::hasattr(o, "requires_grad")) return o;
  const bool on_host = py::str(o.attr("device").attr("type")).cast<std::string>() == "cpu";
  if (on_host && !o.attr("requires_grad").cast<bool>()) return o;
  o = o.attr("detach")();
  return on_host ? o : o.attr("cpu")();
}

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

namespace pybind11::detail {

template <typename T>
struct pyobject_caster<densefb::py_bindings::HostArray<T>> {
  using Type = densefb::py_bindings::HostArray<T>;
  PYBIND11_TYPE_CASTER(Type, handle_type_name<typename Type::Base>::name);

  bool load(handle src, bool convert) {
    if (!convert && !Type::Base::check_(src)) return false;
    object host;
    try {
      host = convert ? densefb::py_bindings::ToHost(src) : reinterpret_borrow<object>(src);
    } catch (const error_already_set&) {
      return false;
    }
    auto array = Type::Base::ensure(host);
    if (!array) return false;
    value = Type(std::move(array));
    return true;
  }

  static handle cast(const Type& src, return_value_policy, handle) { return src.inc_ref(); }
};

}  // namespace pybind11::detail

#endif  // DENSEFB_BINDINGS_ARRAY_H_
