// Bindings of include/densefb/flat_index.h (Faiss-style API).
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "array.h"
#include "bindings.h"
#include "densefb/flat_index.h"
#include "flat_methods.h"

namespace densefb::py_bindings {
namespace {

// A vector index written in Python: a subclass of densefb.VectorIndex that passes its dim,
// metric, size and exactness to VectorIndex.__init__ and defines search(queries, k,
// num_threads, ef_search) -> (scores, ids) and reconstruct(ids) -> (len(ids), dim) vectors.
// Pipelines then search it and read feedback vectors from it as from a FlatIndex (the sharded
// index of densefb.distributed is one). Add and Save are not part of it.
class PyVectorIndex : public VectorIndex {
 public:
  PyVectorIndex(int dim, Metric metric, std::int64_t size, bool exact)
      : dim_(dim), metric_(metric), size_(size), exact_(exact) {}

  int dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  std::int64_t size() const override { return size_; }
  bool exact() const override { return exact_; }

  absl::Status Add(ConstMatrixView, absl::Span<const std::int64_t>) override {
    return absl::UnimplementedError(absl::StrCat(Who(), " does not take add()"));
  }
  absl::Status Save(const std::string&) const override {
    return absl::UnimplementedError(absl::StrCat(Who(), " does not take save()"));
  }

  absl::Status Search(ConstMatrixView queries, const SearchOptions& options, float* scores,
                      std::int64_t* ids) const override {
    py::gil_scoped_acquire gil;
    const std::string who = Who();
    py::function f = py::get_override(static_cast<const VectorIndex*>(this), "search");
    if (!f) return absl::UnimplementedError(absl::StrCat(who, " does not define search(queries, k, num_threads, ef_search)"));
    const std::int64_t n = queries.rows;
    const std::int64_t k = options.k;
    std::fill(scores, scores + n * k, -std::numeric_limits<float>::infinity());
    std::fill(ids, ids + n * k, kNoId);
    try {
      py::array_t<float> q(std::vector<py::ssize_t>{n, queries.cols});
      std::copy(queries.data, queries.data + n * queries.cols, q.mutable_data());
      // A filter goes to the Python index as a keyword, only when there is one.
      py::tuple r = options.filter == nullptr
                        ? f(q, k, options.num_threads, options.ef_search)
                        : f(q, k, options.num_threads, options.ef_search, py::arg("filter") = *options.filter);
      if (r.size() != 2) return absl::InvalidArgumentError(absl::StrCat(who, ".search returned ", r.size(), " values; expected (scores, ids)"));
      py::array_t<float, py::array::c_style | py::array::forcecast> s(r[0]);
      py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> d(r[1]);
      if (s.ndim() != 2 || d.ndim() != 2 || s.shape(0) != n || d.shape(0) != n || s.shape(1) != d.shape(1) ||
          s.shape(1) > k) {
        return absl::InvalidArgumentError(absl::StrCat(who, ".search returned arrays of shapes (", s.shape(0), ", ",
                                                       s.ndim() == 2 ? s.shape(1) : 0, ") and (", d.shape(0), ", ",
                                                       d.ndim() == 2 ? d.shape(1) : 0, "); expected two (", n,
                                                       ", k') arrays with k' <= ", k));
      }
      const std::int64_t width = s.shape(1);
      for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t j = 0; j < width; ++j) {
          const std::int64_t id = d.at(i, j);
          const float v = s.at(i, j);
          if (id == kNoId) continue;
          if (id < 0 || std::isnan(v)) {
            return absl::InvalidArgumentError(absl::StrCat(who, ".search returned id ", id, " with score ", v,
                                                           " for query row ", i, "; ids are >= 0 (-1 = none), scores not NaN"));
          }
          scores[i * k + j] = v;
          ids[i * k + j] = id;
        }
      }
      return absl::OkStatus();
    } catch (py::error_already_set& e) {
      return FromPython(e, who + ".search");
    }
  }

  absl::Status Reconstruct(absl::Span<const std::int64_t> ids, MutableMatrixView out) const override {
    py::gil_scoped_acquire gil;
    const std::string who = Who();
    py::function f = py::get_override(static_cast<const VectorIndex*>(this), "reconstruct");
    if (!f) return absl::UnimplementedError(absl::StrCat(who, " does not define reconstruct(ids)"));
    try {
      py::array_t<std::int64_t> a(static_cast<py::ssize_t>(ids.size()));
      std::copy(ids.begin(), ids.end(), a.mutable_data());
      py::array_t<float, py::array::c_style | py::array::forcecast> v(f(a));
      if (v.ndim() != 2 || v.shape(0) != out.rows || v.shape(1) != out.cols) {
        return absl::InvalidArgumentError(absl::StrCat(who, ".reconstruct returned an array of ", v.ndim(),
                                                       " dimensions; expected (", out.rows, ", ", out.cols, ")"));
      }
      std::copy(v.data(), v.data() + out.rows * out.cols, out.data);
      return absl::OkStatus();
    } catch (py::error_already_set& e) {
      return FromPython(e, who + ".reconstruct");
    }
  }

 private:
  // "Python vector index <class name>"; called with the GIL held.
  std::string Who() const {
    py::object self = py::cast(static_cast<const VectorIndex*>(this));
    return absl::StrCat("Python vector index ", std::string(py::str(py::type::of(self).attr("__name__"))));
  }

  int dim_;
  Metric metric_;
  std::int64_t size_;
  bool exact_;
};

}  // namespace

void RegisterIndex(py::module_& m) {
  // The common base, so functions taking any index (e.g. densefb._torch.encode_and_add)
  // accept both FlatIndex and HnswIndex.
  py::class_<VectorIndex, PyVectorIndex>(m, "VectorIndex", R"doc(
Base class of the vector indexes. A Python subclass is a vector index that pipelines search and
read feedback vectors from (the dense retriever, avg, rocchio, rescore): call
VectorIndex.__init__(self, dim, metric, ntotal, exact) and define

    search(self, queries, k, num_threads, ef_search) -> (scores, ids)
        (n, k') float32 and int64 arrays, k' <= k, best first (score descending, ties by
        smaller id); -1 marks an empty slot.
    reconstruct(self, ids) -> (len(ids), dim) float32 stored vectors.

exact=True promises that the top d of a search is the same for every k >= d (pipelines then
retrieve only as deep as the next stage reads).
)doc")
      .def(py::init([](const Int& dim, const std::string& metric, const Int& ntotal, bool exact) {
             return new PyVectorIndex(dim.As<int>("dim", 1), ValueOrThrow(ParseMetric(metric)),
                                      ntotal.As<std::int64_t>("ntotal", 0), exact);
           }), py::arg("dim"), py::arg("metric") = "ip", py::arg("ntotal") = 0, py::arg("exact") = false)
      .def_property_readonly("metric", [](const VectorIndex& i) { return std::string(MetricName(i.metric())); })
      .def_property_readonly("exact", &VectorIndex::exact)
      .def_property_readonly("dim", &VectorIndex::dim)
      .def_property_readonly("ntotal", &VectorIndex::size)
      .def("reserve", [](VectorIndex& index, const Int& n_arg) {
             const auto n = n_arg.As<std::int64_t>("n", 0);
             ThrowIfError(WithoutGil([&] { return index.Reserve(n); }));
           },
           py::arg("n"),
           "Makes room for n vectors in total, so that adding up to n allocates no larger storage\n"
           "(no transient copy of the old one); never shrinks. MemoryError when the memory is not there.")
      .def("delete", [](VectorIndex& index, const IdArray& ids) {
             const auto id_span = IdsArg(ids, "ids");
             ThrowIfError(WithoutGil([&] { return index.Delete(id_span); }));
           }, py::arg("ids"),
           "Removes the vectors of ids (distinct, all present: KeyError names the first unknown id,\n"
           "and nothing changes). Safe while other threads search: they see the index before or\n"
           "after the call. The ids may be added again.")
      .def("update", [](VectorIndex& index, const FloatArray& vectors, const IdArray& ids) {
             const ConstMatrixView v = MatrixArg(vectors, "vectors");
             const auto id_span = IdsArg(ids, "ids");
             ThrowIfError(WithoutGil([&] { return index.Update(v, id_span); }));
           }, py::arg("vectors"), py::arg("ids"),
           "Replaces the stored vectors of existing ids, (len(ids), dim), in one step.")
      .def("compact", [](VectorIndex& index) { ThrowIfError(WithoutGil([&] { return index.Compact(); })); },
           "Reclaims the space of deleted vectors (HNSW: rebuilds the graph over the live ones).")
      .def_property_readonly("num_deleted", &VectorIndex::num_deleted,
           "Deleted vectors still occupying storage (HNSW waypoints until reused or compacted).");

  py::class_<FlatIndex, VectorIndex> flat(m, "FlatIndex", R"doc(
Exact top-k search over float32 vectors by inner product ("ip") or cosine ("cosine").

Blocked GEMM with a bounded heap per query (memory independent of the corpus size),
multithreaded, deterministic: ties go to the earlier-added vector. Scores are higher-is-better.

    index = densefb.FlatIndex(384, metric="ip")
    index.add(doc_vectors)                 # ids 0..n-1, or add(x, ids=...)
    scores, ids = index.search(queries, k=10)   # (n_queries, min(k, ntotal)) arrays
)doc");
  DefineFlatMethods(flat);
  flat.def(py::init([](const Int& dim, const std::string& metric) {
             return ValueOrThrow(FlatIndex::Create(dim.As<int>("dim", 1), ValueOrThrow(ParseMetric(metric))));
           }), py::arg("dim"), py::arg("metric") = "ip",
           "dim: vector dimension (>= 1); metric: \"ip\" (inner product) or \"cosine\".")
      .def_static("load", [](const py::object& path) {
             const auto p = PathArg(path);
             return ValueOrThrow(WithoutGil([&] { return FlatIndex::Load(p); }));
           }, py::arg("path"), "Loads an index saved by save(); OSError if the file is corrupt or truncated.")
      .def_property_readonly("dim", &FlatIndex::dim)
      .def_property_readonly("metric", [](const FlatIndex& i) { return std::string(MetricName(i.metric())); })
      .def_property_readonly("ntotal", &FlatIndex::size)
      .def("__repr__", [](const FlatIndex& i) {
             return "<densefb.FlatIndex dim=" + std::to_string(i.dim()) + " metric=" +
                    std::string(MetricName(i.metric())) + " ntotal=" + std::to_string(i.size()) + ">";
           });
}

}  // namespace densefb::py_bindings
