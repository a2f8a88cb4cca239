// Bindings of include/densefb/quantized_index.h and include/densefb/pq_index.h (the FlatIndex API,
// plus train and memory_usage).
#include <pybind11/stl.h>

#include <string>

#include "array.h"
#include "bindings.h"
#include "flat_methods.h"
#include "densefb/pq_index.h"
#include "densefb/quantized_index.h"

namespace densefb::py_bindings {
namespace {

py::dict MemoryUsageDict(const QuantizedMemoryUsage& u) {
  py::dict d;
  d["codes"] = u.codes;
  d["originals"] = u.originals;
  d["norms"] = u.norms;
  d["ids"] = u.ids;
  d["params"] = u.params;
  d["total"] = u.total();
  d["flat_equivalent"] = u.flat_equivalent;
  return d;
}

void RegisterProductQuantizedIndex(py::module_& m);

}  // namespace

void RegisterQuantizedIndex(py::module_& m) {
  py::class_<ScalarQuantizedIndex, VectorIndex> sq(m, "ScalarQuantizedIndex", R"doc(
Exhaustive top-k search over compressed vectors: int8 (1 byte per dimension, a per-dimension
range trained from data), fp16 or bf16 (2 bytes). Usable wherever a FlatIndex is, pipelines
included: reconstruct() returns the decoded vectors, which vector PRF (rocchio, avg) reads.

int8: code = round((x - vmin) / (vmax - vmin) * 255) per dimension, with [vmin, vmax] learned
by train(sample) or, if not trained, by the first add() that has vectors (on that batch).
Values outside the trained range are clamped to it. fp16 clamps magnitudes above 65504.

Search decodes blocks of codes to float32 and runs FlatIndex's blocked GEMM: its ranking is the
exact ranking of the decoded vectors (ties by the earlier-added vector). rescore_factor=r >= 1
also keeps the float32 vectors and re-scores the top r*k candidates exactly (more memory:
memory_usage() counts it).

    index = densefb.ScalarQuantizedIndex(384, metric="ip", encoding="int8")
    index.add(doc_vectors)
    scores, ids = index.search(queries, k=10)
    index.memory_usage()["total"]          # bytes; ["flat_equivalent"]: a FlatIndex's
)doc");
  FlatMethodDocs sq_docs;
  sq_docs.add = "Encodes and adds (n, dim) vectors. ids: n distinct non-negative int64 (default: continue\n"
      "from ntotal). An untrained int8 index trains on this batch first.";
  sq_docs.search = "Top-k of each query: (scores float32 (n, k'), ids int64 (n, k')), best first, k' =\n"
      "min(k, ntotal), as FlatIndex.search (filter included). Scores are those of the decoded\n"
      "vectors, or exact float32 scores with rescore_factor >= 1.";
  sq_docs.reconstruct = "Decoded vectors of ids, (len(ids), dim). KeyError for an unknown id.";
  DefineFlatMethods(sq, sq_docs);
  sq
      .def(py::init([](const Int& dim, const std::string& metric, const std::string& encoding,
                       const Int& rescore_factor) {
             return ValueOrThrow(ScalarQuantizedIndex::Create(
                 dim.As<int>("dim", 1), ValueOrThrow(ParseMetric(metric)), ValueOrThrow(ParseScalarEncoding(encoding)),
                 rescore_factor.As<int>("rescore_factor", 0)));
           }),
           py::arg("dim"), py::arg("metric") = "ip", py::arg("encoding") = "int8", py::arg("rescore_factor") = 0,
           "dim: vector dimension (>= 1); metric: \"ip\" or \"cosine\"; encoding: \"int8\", \"fp16\" or\n"
           "\"bf16\"; rescore_factor: 0 (no re-scoring) or r in [1, 1024]: keep float32 vectors and\n"
           "re-score the top r*k candidates exactly.")
      .def("train", [](ScalarQuantizedIndex& index, const FloatArray& sample) {
             const ConstMatrixView v = MatrixArg(sample, "sample");
             ThrowIfError(WithoutGil([&] { return index.Train(v); }));
           }, py::arg("sample"),
           "int8: learns the per-dimension range from (n, dim) vectors; only on an empty index.\n"
           "A no-op for fp16 and bf16.")
      .def_property_readonly("is_trained", &ScalarQuantizedIndex::trained,
                             "Whether the int8 range is set (always True for fp16/bf16).")
      .def_static("load", [](const py::object& path) {
             const auto p = PathArg(path);
             return ValueOrThrow(WithoutGil([&] { return ScalarQuantizedIndex::Load(p); }));
           }, py::arg("path"), "Loads an index saved by save(); OSError if the file is corrupt or truncated.")
      .def("memory_usage", [](const ScalarQuantizedIndex& index) {
             return MemoryUsageDict(index.memory_usage());
           },
           "Bytes held, by part: codes, originals (float32 copies for re-scoring), norms (cosine),\n"
           "ids (estimated, 24 a vector), params (the int8 range), total; and flat_equivalent, what a\n"
           "FlatIndex of the same vectors holds (float32 vectors, norms, ids).")
      .def_property_readonly("encoding", [](const ScalarQuantizedIndex& i) { return std::string(ScalarEncodingName(i.encoding())); })
      .def_property_readonly("rescore_factor", &ScalarQuantizedIndex::rescore_factor)
      .def_property_readonly("vmin", [](const ScalarQuantizedIndex& i) {
             const std::vector<float> v = i.vmin();
             return py::array_t<float>(static_cast<py::ssize_t>(v.size()), v.data());
           }, "int8: the trained range start per dimension (empty before training and for fp16/bf16).")
      .def_property_readonly("vmax", [](const ScalarQuantizedIndex& i) {
             const std::vector<float> v = i.vmax();
             return py::array_t<float>(static_cast<py::ssize_t>(v.size()), v.data());
           }, "int8: the trained range end per dimension.")
      .def_property_readonly("dim", &ScalarQuantizedIndex::dim)
      .def_property_readonly("metric", [](const ScalarQuantizedIndex& i) { return std::string(MetricName(i.metric())); })
      .def_property_readonly("ntotal", &ScalarQuantizedIndex::size)
      .def("__repr__", [](const ScalarQuantizedIndex& i) {
             return "<densefb.ScalarQuantizedIndex dim=" + std::to_string(i.dim()) + " metric=" +
                    std::string(MetricName(i.metric())) + " encoding=" + std::string(ScalarEncodingName(i.encoding())) +
                    (i.rescore_factor() > 0 ? " rescore_factor=" + std::to_string(i.rescore_factor()) : std::string()) +
                    " ntotal=" + std::to_string(i.size()) + ">";
           });
  RegisterProductQuantizedIndex(m);
}

namespace {

void RegisterProductQuantizedIndex(py::module_& m) {
  py::class_<ProductQuantizedIndex, VectorIndex> pq(m, "ProductQuantizedIndex", R"doc(
Exhaustive top-k search over product-quantised codes (faiss's IndexPQ): the dim dimensions are
split into m sub-spaces of dim/m dimensions, each with 256 centroids learned by k-means (25
iterations, fixed seed), and a vector is stored as the m bytes naming its sub-vectors' nearest
centroids (m bytes instead of 4 x dim). Usable wherever a FlatIndex is, pipelines included:
reconstruct() returns the decoded vectors (the concatenated centroids), which vector PRF reads.

Training: train(sample) or, if not trained, the first add() that has vectors (on that batch);
either needs at least 256 vectors (ValueError otherwise).

Search is asymmetric (ADC): per query a table of inner products between its sub-vectors and the
centroids; a vector's score sums m table entries, the inner product with its decoded vector. The
top k is exact over those scores (ties by the earlier-added vector), whatever the thread count.
Cosine divides by the decoded vector's norm. rescore_factor=r >= 1 also keeps the float32
vectors and re-scores the top r*k candidates exactly (more memory: memory_usage() counts it).

    index = densefb.ProductQuantizedIndex(384, m=48, metric="cosine")
    index.add(doc_vectors)                  # trains on this batch (>= 256 vectors)
    scores, ids = index.search(queries, k=10)
    index.memory_usage()["total"]          # bytes; ["flat_equivalent"]: a FlatIndex's
)doc");
  FlatMethodDocs pq_docs;
  pq_docs.add = "Encodes and adds (n, dim) vectors. ids: n distinct non-negative int64 (default: continue\n"
      "from ntotal). An untrained index trains on this batch first (n >= 256).";
  pq_docs.search = "Top-k of each query: (scores float32 (n, k'), ids int64 (n, k')), best first, k' =\n"
      "min(k, ntotal), as FlatIndex.search (filter included). Scores are those of the decoded\n"
      "vectors (ADC), or exact float32 scores with rescore_factor >= 1.";
  pq_docs.reconstruct = "Decoded vectors of ids, (len(ids), dim). KeyError for an unknown id.";
  DefineFlatMethods(pq, pq_docs);
  pq
      .def(py::init([](const Int& dim, const Int& m_arg, const std::string& metric, const Int& nbits,
                       const Int& rescore_factor) {
             return ValueOrThrow(ProductQuantizedIndex::Create(
                 dim.As<int>("dim", 1), ValueOrThrow(ParseMetric(metric)), m_arg.As<int>("m", 1),
                 nbits.As<int>("nbits", 8), rescore_factor.As<int>("rescore_factor", 0)));
           }),
           py::arg("dim"), py::arg("m"), py::arg("metric") = "ip", py::arg("nbits") = 8,
           py::arg("rescore_factor") = 0,
           "dim: vector dimension (>= 1); m: sub-quantizers (bytes per vector), dividing dim;\n"
           "metric: \"ip\" or \"cosine\"; nbits: 8 (256 centroids per sub-space; the only width);\n"
           "rescore_factor: 0 (no re-scoring) or r in [1, 1024]: keep float32 vectors and re-score\n"
           "the top r*k candidates exactly.")
      .def("train", [](ProductQuantizedIndex& index, const FloatArray& sample, const Int& num_threads) {
             const ConstMatrixView v = MatrixArg(sample, "sample");
             const int threads = num_threads.As<int>("num_threads", 0);
             ThrowIfError(WithoutGil([&] { return index.Train(v, threads); }));
           }, py::arg("sample"), py::arg("num_threads") = 0,
           "Learns the codebooks from (n, dim) vectors, n >= 256 (at most 65536 of them are used, a\n"
           "seeded sample); only on an empty index. Deterministic for any num_threads.")
      .def_property_readonly("is_trained", &ProductQuantizedIndex::trained, "Whether the codebooks are learned.")
      .def("codes", [](const ProductQuantizedIndex& index, const IdArray& ids) {
             const auto id_span = IdsArg(ids, "ids");
             const std::vector<std::uint8_t> c = ValueOrThrow(WithoutGil([&] { return index.codes(id_span); }));
             py::array_t<std::uint8_t> out(std::vector<py::ssize_t>{static_cast<py::ssize_t>(id_span.size()), index.m()});
             std::copy(c.begin(), c.end(), out.mutable_data());
             return out;
           }, py::arg("ids"), "Codes of ids, uint8 (len(ids), m). KeyError for an unknown id.")
      .def_static("load", [](const py::object& path) {
             const auto p = PathArg(path);
             return ValueOrThrow(WithoutGil([&] { return ProductQuantizedIndex::Load(p); }));
           }, py::arg("path"), "Loads an index saved by save(); OSError if the file is corrupt or truncated.")
      .def("memory_usage", [](const ProductQuantizedIndex& index) { return MemoryUsageDict(index.memory_usage()); },
           "Bytes held, by part: codes (m per vector), originals (float32 copies for re-scoring), norms\n"
           "(cosine), ids (estimated, 24 a vector), params (the codebooks, 256 x dim floats), total;\n"
           "and flat_equivalent, what a FlatIndex of the same vectors holds.")
      .def_property_readonly("centroids", [](const ProductQuantizedIndex& i) {
             const std::vector<float> v = i.centroids();
             const py::ssize_t books = v.empty() ? 0 : i.m();
             py::array_t<float> out(std::vector<py::ssize_t>{books, ProductQuantizedIndex::kCentroids, i.sub_dim()});
             std::copy(v.begin(), v.end(), out.mutable_data());
             return out;
           }, "The codebooks, float32 (m, 256, dim/m); (0, 256, dim/m) before training.")
      .def_property_readonly("m", &ProductQuantizedIndex::m)
      .def_property_readonly("nbits", &ProductQuantizedIndex::nbits)
      .def_property_readonly("rescore_factor", &ProductQuantizedIndex::rescore_factor)
      .def_property_readonly("dim", &ProductQuantizedIndex::dim)
      .def_property_readonly("metric", [](const ProductQuantizedIndex& i) { return std::string(MetricName(i.metric())); })
      .def_property_readonly("ntotal", &ProductQuantizedIndex::size)
      .def("__repr__", [](const ProductQuantizedIndex& i) {
             return "<densefb.ProductQuantizedIndex dim=" + std::to_string(i.dim()) + " m=" + std::to_string(i.m()) +
                    " metric=" + std::string(MetricName(i.metric())) +
                    (i.rescore_factor() > 0 ? " rescore_factor=" + std::to_string(i.rescore_factor()) : std::string()) +
                    " ntotal=" + std::to_string(i.size()) + ">";
           });
}

}  // namespace
}  // namespace densefb::py_bindings
