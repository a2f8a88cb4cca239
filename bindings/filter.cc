// densefb.Filter and the conversion of a search's `filter` argument (bindings/bindings.h).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bindings.h"
#include "densefb/filter.h"

namespace densefb::py_bindings {
namespace {

std::vector<std::int64_t> IdList(const py::handle& obj, const std::string& what) {
  py::array a = py::array::ensure(obj);
  if (!a || a.ndim() != 1 || (a.size() > 0 && a.dtype().kind() != 'i' && a.dtype().kind() != 'u')) {
    throw py::type_error(absl::StrCat(what, " must be a 1-D sequence of integer ids"));
  }
  auto ids = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  return std::vector<std::int64_t>(ids.data(), ids.data() + ids.size());
}

}  // namespace

std::shared_ptr<const Filter> FilterArg(const py::object& obj, const char* what) {
  if (obj.is_none()) return nullptr;
  if (py::isinstance<Filter>(obj)) return std::make_shared<Filter>(obj.cast<Filter>());
  py::array a = py::array::ensure(obj);
  if (a && a.dtype().kind() == 'b') {  // a bool mask: (n_docs,) or (n_queries, n_docs)
    if (a.ndim() != 1 && a.ndim() != 2) {
      throw py::value_error(absl::StrCat(what, ": a bool mask must be 1-D (every query) or 2-D (one row per query), got ",
                                         a.ndim(), " dimensions"));
    }
    auto m = py::array_t<bool, py::array::c_style | py::array::forcecast>::ensure(a);
    const std::int64_t rows = m.ndim() == 2 ? m.shape(0) : 1;
    const std::int64_t bits = m.ndim() == 2 ? m.shape(1) : m.shape(0);
    return std::make_shared<Filter>(ValueOrThrow(Filter::FromMask(reinterpret_cast<const std::uint8_t*>(m.data()), rows, bits)));
  }
  if (a && a.ndim() == 1 && a.size() > 0 && a.dtype().kind() != 'O') {  // one list of ids
    return std::make_shared<Filter>(ValueOrThrow(Filter::FromIds(IdList(a, what))));
  }
  if (a && a.ndim() == 2) {  // a rectangular list of lists of ids
    std::vector<std::vector<std::int64_t>> lists;
    for (py::ssize_t r = 0; r < a.shape(0); ++r) lists.push_back(IdList(obj[py::int_(r)], absl::StrCat(what, "[", r, "]")));
    return std::make_shared<Filter>(ValueOrThrow(Filter::FromIdLists(lists)));
  }
  if (py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj)) {  // ragged lists per query
    std::vector<std::vector<std::int64_t>> lists;
    const py::sequence seq = obj.cast<py::sequence>();
    for (std::size_t r = 0; r < seq.size(); ++r) lists.push_back(IdList(seq[r], absl::StrCat(what, "[", r, "]")));
    if (lists.empty()) throw py::value_error(absl::StrCat(what, " is empty: give ids, one list per query, or a mask"));
    return std::make_shared<Filter>(ValueOrThrow(Filter::FromIdLists(lists)));
  }
  throw py::type_error(absl::StrCat(what, " must be a densefb.Filter, a bool mask (n_docs,) or (n_queries, n_docs), ",
                                    "a sequence of ids, or one sequence of ids per query"));
}

void RegisterFilter(py::module_& m) {
  py::class_<Filter>(m, "Filter", R"doc(
Which documents each query of a batch may return: one allow-list shared by every query, or one
per query. Searches with a filter return the top k among the allowed documents only (fewer than
k when fewer match), exact for flat and BM25 indexes; in a pipeline every retriever is
filtered, so PRF feedback documents also come from the allowed set.

    f = densefb.Filter.from_ids([3, 9, 12])               # every query
    f = densefb.Filter.from_id_lists([[3, 9], [1, 2]])    # query 0, query 1
    f = densefb.Filter.from_mask(mask)                    # bool (n_docs,) or (n_queries, n_docs)

Anywhere a `filter=` argument is taken, a mask, an id sequence or a list of id sequences
is converted the same way.
)doc")
      .def_static("from_ids", [](const py::object& ids) { return ValueOrThrow(Filter::FromIds(IdList(ids, "ids"))); },
                  py::arg("ids"), "One allow-list for every query (non-negative ids, any order, repeats ignored).")
      .def_static("from_id_lists", [](const py::sequence& lists) {
                    std::vector<std::vector<std::int64_t>> rows;
                    for (std::size_t r = 0; r < lists.size(); ++r) rows.push_back(IdList(lists[r], absl::StrCat("lists[", r, "]")));
                    return ValueOrThrow(Filter::FromIdLists(rows));
                  }, py::arg("lists"), "One allow-list per query.")
      .def_static("from_mask", [](const py::array& mask) { return *FilterArg(mask, "mask"); }, py::arg("mask"),
                  "A bool mask: (n_docs,) for every query or (n_queries, n_docs); column = document id.")
      .def_property_readonly("rows", &Filter::rows, "1 (shared by every query) or the number of queries.")
      .def("count", [](const Filter& f, std::int64_t q) {
             if (q < 0 || q >= f.rows()) throw py::index_error(absl::StrCat("row ", q, " of a filter with ", f.rows(), " rows"));
             return f.Count(q);
           }, py::arg("query") = 0, "Number of ids allowed for a query.")
      .def("ids", [](const Filter& f, std::int64_t q) {
             if (q < 0 || q >= f.rows()) throw py::index_error(absl::StrCat("row ", q, " of a filter with ", f.rows(), " rows"));
             const std::vector<std::int64_t> ids = f.Ids(q);
             return py::array_t<std::int64_t>(static_cast<py::ssize_t>(ids.size()), ids.data());
           }, py::arg("query") = 0, "The allowed ids of a query, ascending.")
      .def("__repr__", [](const Filter& f) {
        return absl::StrCat("Filter(rows=", f.rows(), ", allowed=", f.Count(0), f.rows() > 1 ? " in row 0" : "", ")");
      });
}

}  // namespace densefb::py_bindings
