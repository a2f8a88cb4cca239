// Numpy <-> view conversions shared by binding files. Arrays that are already C-contiguous
// float32 are used in place (no copy); others are converted once.
#ifndef DENSEFB_BINDINGS_ARRAY_H_
#define DENSEFB_BINDINGS_ARRAY_H_

#include <pybind11/numpy.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bindings.h"
#include "densefb/index.h"
#include "densefb/types.h"

namespace densefb::py_bindings {

// A C-contiguous host array argument. Besides what numpy converts, it takes torch tensors on
// any device and with requires_grad: those are detached and copied to host memory first (the
// indexes live there); a CPU tensor without grad is read in place through __array__, and a
// bfloat16 tensor (which numpy cannot read) is widened to float32, exactly.
// Loading never fails: an argument that cannot be converted keeps the reason in error(), and
// the helpers below (MatrixArg, IdsArg, ...) raise it with the argument's name, so that no
// pybind11 "incompatible function arguments" message reaches the user. For int64 ids the
// conversion is exact: floats must hold integral values (1.0 is id 1; 0.5 is refused, naming
// its position), booleans and values outside int64 are refused.
template <typename T>
class HostArray : public py::array_t<T, py::array::c_style | py::array::forcecast> {
 public:
  using Base = py::array_t<T, py::array::c_style | py::array::forcecast>;
  using Base::Base;
  HostArray() = default;
  HostArray(Base base) : Base(std::move(base)) {}  // NOLINT(google-explicit-constructor)
  // Why the argument could not be converted; empty when it was.
  const std::string& error() const { return error_; }
  void set_error(std::string error) { error_ = std::move(error); }
  // ValueError "<what>: <error>" if the conversion failed.
  void Check(const char* what) const {
    if (!error_.empty()) throw py::value_error(std::string(what) + error_);
  }

 private:
  std::string error_;
};

using FloatArray = HostArray<float>;
using IdArray = HostArray<std::int64_t>;

// `obj` itself, or a detached host copy when it is a torch tensor that numpy cannot read in place.
inline py::object ToHost(py::handle obj) {
  py::object o = py::reinterpret_borrow<py::object>(obj);
  if (!py::hasattr(o, "detach") || !py::hasattr(o, "device") || !py::hasattr(o, "requires_grad")) return o;
  const bool on_host = py::str(o.attr("device").attr("type")).cast<std::string>() == "cpu";
  if (py::hasattr(o, "dtype") && py::str(o.attr("dtype")).cast<std::string>() == "torch.bfloat16") {
    o = o.attr("detach")().attr("float")();  // numpy has no bfloat16; float32 holds it exactly
    return on_host ? o : o.attr("cpu")();
  }
  if (on_host && !o.attr("requires_grad").cast<bool>()) return o;
  o = o.attr("detach")();
  return on_host ? o : o.attr("cpu")();
}

// The type of `obj` as Python names it ("str", "numpy.ndarray"), for error messages.
inline std::string TypeName(py::handle obj) {
  return py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
}

// "" if every value of the numeric array `a` is exactly an integer of type T (an id); otherwise
// why not, naming the first bad position ("[3] = 0.5 is not an integer").
template <typename T>
std::string IdValuesError(const py::array& a) {
  const char kind = a.dtype().kind();
  if (kind == 'b') return " holds booleans, not integer ids";
  if (kind != 'f' && kind != 'i' && kind != 'u') {
    return " must hold integer ids, got dtype " + py::str(a.dtype()).cast<std::string>();
  }
  const auto position = [&](py::ssize_t flat) {
    std::string where;
    for (py::ssize_t d = a.ndim() - 1; d >= 0; --d) {
      where = "[" + std::to_string(flat % a.shape(d)) + "]" + where;
      flat /= a.shape(d);
    }
    return where;
  };
  constexpr auto kMin = static_cast<double>(std::numeric_limits<T>::min());
  constexpr auto kMax = static_cast<double>(std::numeric_limits<T>::max());
  const std::string beyond = std::string(" is beyond int") + std::to_string(8 * sizeof(T));
  if (kind == 'i' && a.itemsize() <= static_cast<py::ssize_t>(sizeof(T))) return "";
  if (kind == 'i' || kind == 'u') {
    if (kind == 'u') {
      const auto u = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>::ensure(a);
      for (py::ssize_t i = 0; i < u.size(); ++i) {
        if (u.data()[i] > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
          return position(i) + " = " + std::to_string(u.data()[i]) + beyond;
        }
      }
    } else {
      const auto v = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
      for (py::ssize_t i = 0; i < v.size(); ++i) {
        if (v.data()[i] < std::numeric_limits<T>::min() || v.data()[i] > std::numeric_limits<T>::max()) {
          return position(i) + " = " + std::to_string(v.data()[i]) + beyond;
        }
      }
    }
    return "";
  }
  // Floats: integral values only, within +-2^53 (where every integer is exact) and T's range.
  const auto f = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a);
  for (py::ssize_t i = 0; i < f.size(); ++i) {
    const double v = f.data()[i];
    if (v != std::floor(v)) {
      return position(i) + " = " + py::str(py::float_(v)).cast<std::string>() + " is not an integer";
    }
    if (std::fabs(v) > 9007199254740992.0 || v < kMin || v > kMax) {
      return position(i) + " = " + py::str(py::float_(v)).cast<std::string>() +
             (v < kMin || v > kMax ? beyond : " is too large for an exact float id");
    }
  }
  return "";
}

// An integer argument, converted by the binding that names it, so that a wrong type or an
// out-of-range value raises one line naming the argument (never pybind11's "incompatible
// function arguments"). Loading never fails; Python ints and objects with __index__ (numpy
// integers) convert; bool, float (even 3.0) and other types raise TypeError.
class Int {
 public:
  Int() = default;
  explicit Int(py::object obj) : obj_(std::move(obj)) {}
  const py::object& object() const { return obj_; }

  // The value within [lo, hi]; ValueError naming `name` and the range otherwise.
  template <typename V>
  V As(const char* name, V lo = std::numeric_limits<V>::min(),
       V hi = std::numeric_limits<V>::max()) const {
    static_assert(std::is_signed_v<V> && sizeof(V) <= sizeof(long long), "a signed integer type");
    return static_cast<V>(Get(name, lo, hi, /*cap=*/false));
  }
  // A size (k, depth, topk, ...): >= lo, and any larger value means "all there is", so values
  // above `hi` (up to any Python int) become hi; what exists caps it further where it is used.
  template <typename V>
  V Count(const char* name, V lo = 0, V hi = std::numeric_limits<V>::max()) const {
    static_assert(std::is_signed_v<V> && sizeof(V) <= sizeof(long long), "a signed integer type");
    return static_cast<V>(Get(name, lo, hi, /*cap=*/true));
  }

 private:
  long long Get(const char* name, long long lo, long long hi, bool cap) const {
    PyObject* o = obj_.ptr();
    if (o == nullptr || PyBool_Check(o) || PyFloat_Check(o) || !PyIndex_Check(o)) {
      const std::string shown = o == nullptr ? "nothing" : TypeName(obj_) + " " + py::repr(obj_).cast<std::string>();
      throw py::type_error(std::string(name) + " must be an integer, got " + shown);
    }
    const py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(o));
    if (!index) throw py::error_already_set();
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (overflow == 0 && v == -1 && PyErr_Occurred()) throw py::error_already_set();
    if (overflow == 0 && v >= lo && v <= hi) return v;
    const bool below = overflow < 0 || (overflow == 0 && v < lo);
    if (cap && !below) return hi;
    const std::string shown = std::string(name) + " = " + py::str(index).cast<std::string>();
    if (below) {
      throw py::value_error(shown + (lo == 0 ? " is negative" : " must be >= " + std::to_string(lo)));
    }
    throw py::value_error(shown + " exceeds " + std::to_string(hi));
  }
  py::object obj_;
};

// A 2-d (n, d) view of `a`; a 1-d array of length d is one row. `what` names it in errors.
inline ConstMatrixView MatrixArg(const FloatArray& a, const char* what) {
  a.Check(what);
  if (a.ndim() == 1) return {a.data(), 1, static_cast<std::int64_t>(a.shape(0))};
  if (a.ndim() != 2) {
    throw py::value_error(std::string(what) + " must be a 1-d or 2-d array, got " +
                          std::to_string(a.ndim()) + " dimensions");
  }
  return {a.data(), static_cast<std::int64_t>(a.shape(0)), static_cast<std::int64_t>(a.shape(1))};
}

inline absl::Span<const std::int64_t> IdsArg(const IdArray& ids, const char* what) {
  ids.Check(what);
  if (ids.ndim() != 1) throw py::value_error(std::string(what) + " must be a 1-d array of int64");
  return {ids.data(), static_cast<std::size_t>(ids.shape(0))};
}

// `obj` converted as a HostArray argument is (py::cast would bypass the checks: it constructs
// array_t directly, truncating float ids).
template <typename A>
A ArrayFrom(py::handle obj) {
  py::detail::make_caster<A> caster;
  caster.load(obj, true);
  return std::move(static_cast<A&>(caster));
}

// The k of a vector search, capped by what exists: min(k, index.size()). Any k >= 0 (any
// Python int) is accepted; results never have more columns than the index has vectors.
inline int CappedK(const VectorIndex& index, const Int& k) {
  return static_cast<int>(std::min<std::int64_t>(k.Count<int>("k"), index.size()));
}

// Allocates the (n, k) float32 scores and int64 ids arrays that Search fills in place; callers
// pass k already capped by what exists (min(k, ntotal)), never the k a user asked for.
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
    } catch (const error_already_set& e) {
      value.set_error(std::string(": cannot read the ") + densefb::py_bindings::TypeName(src) + ": " + e.what());
      return true;
    }
    if constexpr (std::is_integral_v<T>) {
      // Exact ids: look at the values before numpy's cast would truncate them.
      array raw = array::ensure(host);  // np.asarray(host): its own dtype
      if (!raw) {
        value.set_error(" must be an array of integer ids, got " + densefb::py_bindings::TypeName(src));
        return true;
      }
      if (std::string why = densefb::py_bindings::IdValuesError<T>(raw); !why.empty()) {
        value.set_error(std::move(why));
        return true;
      }
      host = raw;
    }
    auto array = Type::Base::ensure(host);
    if (!array) {
      value.set_error(" must be an array of numbers, got " + densefb::py_bindings::TypeName(src));
      return true;
    }
    value = Type(std::move(array));
    return true;
  }

  static handle cast(const Type& src, return_value_policy, handle) { return src.inc_ref(); }
};

template <>
struct type_caster<densefb::py_bindings::Int> {
  PYBIND11_TYPE_CASTER(densefb::py_bindings::Int, const_name("int"));
  bool load(handle src, bool) {
    value = densefb::py_bindings::Int(reinterpret_borrow<object>(src));
    return true;
  }
  static handle cast(const densefb::py_bindings::Int& src, return_value_policy, handle) {
    return src.object().inc_ref();
  }
};

}  // namespace pybind11::detail

#endif  // DENSEFB_BINDINGS_ARRAY_H_
