// Bindings of include/densefb/flat_index.h (Faiss-style API).
#include <pybind11/stl.h>

#include "array.h"
#include "bindings.h"
#include "densefb/flat_index.h"

namespace densefb::py_bindings {

void RegisterIndex(py::module_& m) {
  // The common base, so functions taking any index (e.g. densefb._torch.encode_and_add)
  // accept both FlatIndex and HnswIndex.
  py::class_<VectorIndex>(m, "VectorIndex", "Base class of the vector indexes.")
      .def_property_readonly("dim", &VectorIndex::dim)
      .def_property_readonly("ntotal", &VectorIndex::size)
      .def("reserve", [](VectorIndex& index, const Int& n_arg) {
             const auto n = n_arg.As<std::int64_t>("n", 0);
             ThrowIfError(WithoutGil([&] { return index.Reserve(n); }));
           },
           py::arg("n"),
           "Makes room for n vectors in total, so that adding up to n allocates no larger storage\n"
           "(no transient copy of the old one); never shrinks. MemoryError when the memory is not there.");

  py::class_<FlatIndex, VectorIndex>(m, "FlatIndex", R"doc(
Exact top-k search over float32 vectors by inner product ("ip") or cosine ("cosine").

Blocked GEMM with a bounded heap per query (memory independent of the corpus size),
multithreaded, deterministic: ties go to the earlier-added vector. Scores are higher-is-better.

    index = densefb.FlatIndex(384, metric="ip")
    index.add(doc_vectors)                 # ids 0..n-1, or add(x, ids=...)
    scores, ids = index.search(queries, k=10)   # (n_queries, min(k, ntotal)) arrays
)doc")
      .def(py::init([](const Int& dim, const std::string& metric) {
             return ValueOrThrow(FlatIndex::Create(dim.As<int>("dim", 1), ValueOrThrow(ParseMetric(metric))));
           }), py::arg("dim"), py::arg("metric") = "ip",
           "dim: vector dimension (>= 1); metric: \"ip\" (inner product) or \"cosine\".")
      .def("add", [](FlatIndex& index, const FloatArray& vectors, std::optional<IdArray> ids) {
             const ConstMatrixView v = MatrixArg(vectors, "vectors");
             IdArray id_array = ids ? *ids : IdArray(0);
             const auto id_span = ids ? IdsArg(id_array, "ids") : absl::Span<const std::int64_t>();
             ThrowIfError(WithoutGil([&] { return index.Add(v, id_span); }));
           }, py::arg("vectors"), py::arg("ids") = py::none(),
           "Adds (n, dim) vectors. ids: n distinct non-negative int64 (default: continue from ntotal).")
      .def("search", [](const FlatIndex& index, const FloatArray& queries, const Int& k_arg,
                        const Int& num_threads) {
             const ConstMatrixView q = MatrixArg(queries, "queries");
             const SearchOptions options{CappedK(index, k_arg), num_threads.As<int>("num_threads", 0), 0};
             SearchArrays out(q.rows, options.k);
             float* scores = out.scores.mutable_data();
             std::int64_t* ids = out.ids.mutable_data();
             ThrowIfError(WithoutGil([&] { return index.Search(q, options, scores, ids); }));
             return out.Tuple();
           }, py::arg("queries"), py::arg("k"), py::arg("num_threads") = 0,
           "Top-k of each query: returns (scores float32 (n, k'), ids int64 (n, k')), best first,\n"
           "where k' = min(k, ntotal): k larger than the index returns every vector (any k >= 0,\n"
           "nothing is allocated beyond what exists); an empty index gives (n, 0) arrays.\n"
           "num_threads: 0 = all cores.")
      .def("reconstruct", [](const FlatIndex& index, const IdArray& ids) {
             const auto id_span = IdsArg(ids, "ids");
             py::array_t<float> out(std::vector<py::ssize_t>{static_cast<py::ssize_t>(id_span.size()), index.dim()});
             MutableMatrixView view{out.mutable_data(), static_cast<std::int64_t>(id_span.size()), index.dim()};
             ThrowIfError(WithoutGil([&] { return index.Reconstruct(id_span, view); }));
             return out;
           }, py::arg("ids"), "Stored vectors of ids, (len(ids), dim), exactly as added. KeyError for an unknown id.")
      .def("save", [](const FlatIndex& index, const py::object& path) {
             const auto p = py::str(py::module_::import("os").attr("fspath")(path)).cast<std::string>();
             ThrowIfError(WithoutGil([&] { return index.Save(p); }));
           }, py::arg("path"), "Writes the index atomically (versioned, checksummed).")
      .def_static("load", [](const py::object& path) {
             const auto p = py::str(py::module_::import("os").attr("fspath")(path)).cast<std::string>();
             return ValueOrThrow(WithoutGil([&] { return FlatIndex::Load(p); }));
           }, py::arg("path"), "Loads an index saved by save(); OSError if the file is corrupt or truncated.")
      .def_property_readonly("dim", &FlatIndex::dim)
      .def_property_readonly("metric", [](const FlatIndex& i) { return std::string(MetricName(i.metric())); })
      .def_property_readonly("ntotal", &FlatIndex::size)
      .def_property_readonly("ids", [](const FlatIndex& i) {
             return py::array_t<std::int64_t>(static_cast<py::ssize_t>(i.ids().size()), i.ids().data());
           }, "Ids of the stored vectors in insertion order (a copy).")
      .def("__len__", &FlatIndex::size)
      .def("__repr__", [](const FlatIndex& i) {
             return "<densefb.FlatIndex dim=" + std::to_string(i.dim()) + " metric=" +
                    std::string(MetricName(i.metric())) + " ntotal=" + std::to_string(i.size()) + ">";
           });
}

}  // namespace densefb::py_bindings
