// Bindings of include/densefb/hnsw_index.h (Faiss-like API, hnswlib parameter names).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "array.h"
#include "bindings.h"
#include "densefb/hnsw_index.h"

namespace densefb::py_bindings {
namespace {

std::string Repr(const HnswIndex& index) {
  const HnswConfig& c = index.config();
  return absl::StrCat("<densefb.HnswIndex dim=", index.dim(), " metric=", MetricName(index.metric()),
                      " ntotal=", index.size(), " M=", c.M, " ef_construction=",
                      c.ef_construction, " ef_search=", c.ef_search, ">");
}

}  // namespace

void RegisterHnswIndex(py::module_& m) {
  py::class_<HnswIndex, VectorIndex>(m, "HnswIndex", R"doc(
Approximate top-k search with an HNSW graph (hnswlib), inner product ("ip") or cosine.

Parameters keep hnswlib's names and defaults. Scores are the inner product (or cosine),
higher is better; each row is sorted best first, ties by smaller id; slots beyond what the
search found hold score -inf and id -1. Vectors are stored exactly as added (cosine too), so
reconstruct() returns them unchanged. search() is thread-safe and never changes the index:
the candidate list size ef is a per-call argument (default: the index's ef_search).

A build with num_threads=1 is reproducible bit for bit (fixed seed); a multi-threaded build
inserts in thread order, so its graph may differ from run to run.

    index = densefb.HnswIndex(384, metric="ip", M=16, ef_construction=200)
    index.add(doc_vectors)                       # ids 0..n-1, or add(x, ids=...)
    scores, ids = index.search(queries, k=10, ef=64)
)doc")
      .def(py::init([](const Int& dim, const std::string& metric, const Int& M, const Int& ef_construction,
                       const Int& ef_search, const Int& seed, const Int& num_threads) {
             HnswConfig config;
             config.M = M.As<int>("M");
             config.ef_construction = ef_construction.As<int>("ef_construction", 1);
             config.ef_search = ef_search.As<int>("ef_search", 1);
             config.seed = static_cast<std::uint64_t>(seed.As<std::int64_t>("seed", 0));
             config.num_threads = num_threads.As<int>("num_threads", 0);
             return ValueOrThrow(
                 HnswIndex::Create(dim.As<int>("dim", 1), ValueOrThrow(ParseMetric(metric)), config));
           }),
           py::arg("dim"), py::arg("metric") = "ip", py::arg("M") = 16,
           py::arg("ef_construction") = 200, py::arg("ef_search") = 10, py::arg("seed") = 100,
           py::arg("num_threads") = 0,
           "dim: vector dimension (>= 1).\n"
           "metric: \"ip\" (inner product, default) or \"cosine\".\n"
           "M: graph links per node, 2*M on the base layer (default 16, 2..10000).\n"
           "ef_construction: candidate list size while building (default 200, 1..2**31-1).\n"
           "ef_search: default candidate list size while searching (default 10, 1..2**31-1;\n"
           "    a search never keeps more candidates than the index has vectors).\n"
           "seed: seed of the level generator (default 100, hnswlib's).\n"
           "num_threads: threads used by add(); 0 (default) = all cores, 1 = reproducible.")
      .def("add",
           [](HnswIndex& index, const FloatArray& vectors, std::optional<IdArray> ids) {
             const ConstMatrixView v = MatrixArg(vectors, "vectors");
             IdArray id_array = ids ? *ids : IdArray(0);
             const auto id_span = ids ? IdsArg(id_array, "ids") : absl::Span<const std::int64_t>();
             ThrowIfError(WithoutGil([&] { return index.Add(v, id_span); }));
           },
           py::arg("vectors"), py::arg("ids") = py::none(),
           "Adds vectors, a float32 (n, dim) array (C-contiguous float32 is used without a\n"
           "copy; other arrays are converted; a 1-d array is one vector).\n"
           "ids: None (default: continue from ntotal) or n distinct non-negative int64 ids\n"
           "not in the index yet. Vectors must be finite. Uses the index's num_threads.\n"
           "ValueError on a wrong dimension, NaN/Inf, or bad/duplicate ids.")
      .def("search",
           [](const HnswIndex& index, const FloatArray& queries, const Int& k, std::optional<Int> ef,
              const Int& num_threads, const py::object& filter_arg, std::optional<Int> exhaustive_below) {
             const ConstMatrixView q = MatrixArg(queries, "queries");
             const std::shared_ptr<const Filter> filter = FilterArg(filter_arg, "filter");
             SearchOptions options;
             options.filter = filter.get();
             if (exhaustive_below) options.filter_exhaustive_below = exhaustive_below->As<std::int64_t>("filter_exhaustive_below", 0);
             options.k = CappedK(index, k);
             options.num_threads = num_threads.As<int>("num_threads", 0);
             options.ef_search = ef ? ef->As<int>("ef", 1) : 0;
             SearchArrays out(q.rows, options.k);
             float* scores = out.scores.mutable_data();
             std::int64_t* ids = out.ids.mutable_data();
             ThrowIfError(WithoutGil([&] { return index.Search(q, options, scores, ids); }));
             return out.Tuple();
           },
           py::arg("queries"), py::arg("k"), py::arg("ef") = py::none(),
           py::arg("num_threads") = 0, py::arg("filter") = py::none(), py::arg("filter_exhaustive_below") = py::none(),
           "Approximate top-k of each query.\n"
           "queries: float32 (n, dim) array; a 1-d array is one query.\n"
           "k: results per query (>= 0; any larger k than ntotal returns ntotal columns).\n"
           "ef: candidate list size for this call (1..2**31-1; None = the index's ef_search);\n"
           "    the search keeps min(max(ef, k), ntotal) candidates. Does not change the index.\n"
           "num_threads: 0 (default) = all cores.\n"
           "filter: None, a densefb.Filter, a bool mask (n_docs,) or (n_queries, n_docs) over ids,\n"
           "    a sequence of allowed ids, or one per query: only allowed ids are returned.\n"
           "    The graph is traversed past disallowed vectors; a small allowed set (under\n"
           "    sqrt(8 * ef * ntotal) ids, or filter_exhaustive_below when given; 0 = never) is\n"
           "    scored exhaustively instead, exactly.\n"
           "Returns (scores float32 (n, k'), ids int64 (n, k')) with k' = min(k, ntotal), best\n"
           "first; results the search did not find are score -inf, id -1.")
      .def("reconstruct",
           [](const HnswIndex& index, const IdArray& ids) {
             const auto id_span = IdsArg(ids, "ids");
             py::array_t<float> out(std::vector<py::ssize_t>{
                 static_cast<py::ssize_t>(id_span.size()), static_cast<py::ssize_t>(index.dim())});
             MutableMatrixView view{out.mutable_data(), static_cast<std::int64_t>(id_span.size()),
                                    index.dim()};
             ThrowIfError(WithoutGil([&] { return index.Reconstruct(id_span, view); }));
             return out;
           },
           py::arg("ids"),
           "Stored vectors of ids (1-d int64), a float32 (len(ids), dim) array, exactly as\n"
           "added (also for cosine). KeyError for an id not in the index.")
      .def("save",
           [](const HnswIndex& index, const py::object& path) {
             const std::string p = PathArg(path);
             ThrowIfError(WithoutGil([&] { return index.Save(p); }));
           },
           py::arg("path"),
           "Writes the index to path (str or os.PathLike) atomically: versioned, checksummed,\n"
           "written to a temporary file and renamed, so a failed save leaves the old file.")
      .def_static("load",
                  [](const py::object& path) {
                    const std::string p = PathArg(path);
                    return ValueOrThrow(WithoutGil([&] { return HnswIndex::Load(p); }));
                  },
                  py::arg("path"),
                  "Loads an index written by save() (path: str or os.PathLike).\n"
                  "FileNotFoundError if missing; OSError if truncated or corrupt; ValueError\n"
                  "if it is not an HNSW index file; NotImplementedError for a newer format.")
      .def_property_readonly("dim", &HnswIndex::dim, "Vector dimension.")
      .def_property_readonly("metric",
                             [](const HnswIndex& i) { return std::string(MetricName(i.metric())); },
                             "\"ip\" or \"cosine\".")
      .def_property_readonly("ntotal", &HnswIndex::size, "Number of stored vectors.")
      .def_property_readonly("M", [](const HnswIndex& i) { return i.config().M; },
                             "Graph links per node (2*M on the base layer).")
      .def_property_readonly("ef_construction",
                             [](const HnswIndex& i) { return i.config().ef_construction; },
                             "Candidate list size used while building.")
      .def_property_readonly("ef_search", [](const HnswIndex& i) { return i.config().ef_search; },
                             "Default ef of search() (override per call with ef=).")
      .def_property_readonly("seed", [](const HnswIndex& i) { return i.config().seed; },
                             "Seed of the level generator.")
      .def_property_readonly("num_threads",
                             [](const HnswIndex& i) { return i.config().num_threads; },
                             "Threads used by add() (0 = all cores).")
      .def("__len__", &HnswIndex::size, "Number of stored vectors.")
      .def("__repr__", &Repr);
}

}  // namespace densefb::py_bindings
