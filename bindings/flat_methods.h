// The Python methods shared by the flat (exhaustive) indexes: densefb.FlatIndex,
// ScalarQuantizedIndex and ProductQuantizedIndex in _core, densefb.TorchFlatIndex in _torch:
// add, search, reconstruct, save, ids and len, with one signature each. Each index may word
// the docstrings of add, search and reconstruct for what it stores.
#ifndef DENSEFB_BINDINGS_FLAT_METHODS_H_
#define DENSEFB_BINDINGS_FLAT_METHODS_H_

#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "array.h"
#include "bindings.h"
#include "densefb/index.h"

namespace densefb::py_bindings {

struct FlatMethodDocs {
  const char* add = "Adds (n, dim) vectors. ids: n distinct non-negative int64 (default: continue from ntotal).";
  const char* search =
      "Top-k of each query: returns (scores float32 (n, k'), ids int64 (n, k')), best first,\n"
      "where k' = min(k, ntotal): k larger than the index returns every vector (any k >= 0,\n"
      "nothing is allocated beyond what exists); an empty index gives (n, 0) arrays.\n"
      "num_threads: 0 = all cores.\n"
      "filter: None, a densefb.Filter, a bool mask (n_docs,) or (n_queries, n_docs) over ids,\n"
      "    a sequence of allowed ids, or one per query: only allowed ids are returned.\n"
      "    Exact top-k among them; slots past the allowed matches hold (-inf, -1).";
  const char* reconstruct = "Stored vectors of ids, (len(ids), dim), exactly as added. KeyError for an unknown id.";
};

template <typename Index>
void DefineFlatMethods(py::class_<Index, VectorIndex>& cls, const FlatMethodDocs& docs = {}) {
  cls.def("add", [](Index& index, const FloatArray& vectors, std::optional<IdArray> ids) {
           const ConstMatrixView v = MatrixArg(vectors, "vectors");
           IdArray id_array = ids ? *ids : IdArray(0);
           const auto id_span = ids ? IdsArg(id_array, "ids") : absl::Span<const std::int64_t>();
           ThrowIfError(WithoutGil([&] { return index.Add(v, id_span); }));
         }, py::arg("vectors"), py::arg("ids") = py::none(), docs.add)
      .def("search", [](const Index& index, const FloatArray& queries, const Int& k_arg,
                        const Int& num_threads, const py::object& filter_arg) {
             const ConstMatrixView q = MatrixArg(queries, "queries");
             const std::shared_ptr<const Filter> filter = FilterArg(filter_arg, "filter");
             const SearchOptions options{CappedK(index, k_arg), num_threads.As<int>("num_threads", 0), 0, filter.get()};
             SearchArrays out(q.rows, options.k);
             float* scores = out.scores.mutable_data();
             std::int64_t* ids = out.ids.mutable_data();
             ThrowIfError(WithoutGil([&] { return index.Search(q, options, scores, ids); }));
             return out.Tuple();
           }, py::arg("queries"), py::arg("k"), py::arg("num_threads") = 0, py::arg("filter") = py::none(),
           docs.search)
      .def("reconstruct", [](const Index& index, const IdArray& ids) {
             const auto id_span = IdsArg(ids, "ids");
             py::array_t<float> out(std::vector<py::ssize_t>{static_cast<py::ssize_t>(id_span.size()), index.dim()});
             MutableMatrixView view{out.mutable_data(), static_cast<std::int64_t>(id_span.size()), index.dim()};
             ThrowIfError(WithoutGil([&] { return index.Reconstruct(id_span, view); }));
             return out;
           }, py::arg("ids"), docs.reconstruct)
      .def("save", [](const Index& index, const py::object& path) {
             const auto p = PathArg(path);
             ThrowIfError(WithoutGil([&] { return index.Save(p); }));
           }, py::arg("path"), "Writes the index atomically (versioned, checksummed).")
      .def_property_readonly("ids", [](const Index& i) {
             const auto& ids = i.ids();
             return py::array_t<std::int64_t>(static_cast<py::ssize_t>(ids.size()), ids.data());
           }, "Ids of the stored vectors in insertion order (a copy).")
      .def("__len__", &Index::size);
}

}  // namespace densefb::py_bindings

#endif  // DENSEFB_BINDINGS_FLAT_METHODS_H_
