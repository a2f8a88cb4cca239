// Bindings of include/densefb/feedback.h (dense vector PRF); the Python API is densefb.feedback.
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "array.h"
#include "bindings.h"
#include "densefb/feedback.h"

namespace densefb::py_bindings {
namespace {

// (n, depth) int64 first-pass ids; a 1-d array is one query's list.
ConstIdMatrixView IdMatrixArg(const IdArray& a, const char* what) {
  a.Check(what);
  if (a.ndim() == 1) return {a.data(), 1, static_cast<std::int64_t>(a.shape(0))};
  if (a.ndim() != 2) {
    throw py::value_error(std::string(what) + " must be a 1-d or 2-d array of ids, got " +
                          std::to_string(a.ndim()) + " dimensions");
  }
  return {a.data(), static_cast<std::int64_t>(a.shape(0)), static_cast<std::int64_t>(a.shape(1))};
}

py::array_t<float> RefineArrays(const VectorFeedback& model, const VectorIndex& index,
                                const FloatArray& queries, const IdArray& first_pass) {
  const ConstMatrixView q = MatrixArg(queries, "query_vectors");
  const ConstIdMatrixView ids = IdMatrixArg(first_pass, "first_pass_ids");
  py::array_t<float> out(std::vector<py::ssize_t>{q.rows, q.cols});
  MutableMatrixView view{out.mutable_data(), q.rows, q.cols};
  ThrowIfError(WithoutGil([&] { return model.Refine(index, q, ids, view); }));
  if (queries.ndim() == 1) return out.reshape(std::vector<py::ssize_t>{q.cols});
  return out;
}

py::tuple ResultTuple(SearchResult r) {
  py::array_t<float> scores(std::vector<py::ssize_t>{r.scores.rows(), r.scores.cols()});
  py::array_t<std::int64_t> ids(std::vector<py::ssize_t>{r.ids.rows(), r.ids.cols()});
  std::copy(r.scores.data(), r.scores.data() + r.scores.size(), scores.mutable_data());
  std::copy(r.ids.data(), r.ids.data() + r.ids.size(), ids.mutable_data());
  return py::make_tuple(scores, ids);
}

}  // namespace

void RegisterFeedback(py::module_& m) {
  py::class_<VectorFeedback>(m, "VectorFeedback", "Base class of the dense vector PRF models.")
      .def("validate", [](const VectorFeedback& f) { ThrowIfError(f.Validate()); },
           "Raises ValueError if a parameter is out of range.")
      .def_property_readonly("required_depth", &VectorFeedback::RequiredDepth,
                             "First-pass depth the model reads.")
      .def("_refine", &RefineArrays, py::arg("index"), py::arg("query_vectors"),
           py::arg("first_pass_ids"),
           "New query vectors (n, d) float32 from (n, d) query vectors and the (n, depth) ids of\n"
           "their first-pass lists (best first, -1 padding skipped).")
      .def("__str__", &VectorFeedback::ToString);

  // Integer fields go through Int (one message naming the field, for a float, a bool or a
  // value beyond int); sizes above int's range mean "all there is" and are capped.
  py::class_<AveragePrf, VectorFeedback>(m, "AveragePrf")
      .def(py::init([](const Int& k, bool normalize) { return AveragePrf(k.Count<int>("k"), normalize); }),
           py::arg("k") = 3, py::arg("normalize") = false)
      .def_property("k", [](const AveragePrf& f) { return f.k; },
                    [](AveragePrf& f, const Int& k) { f.k = k.Count<int>("k"); })
      .def_readwrite("normalize", &AveragePrf::normalize)
      .def("__repr__", &AveragePrf::ToString);

  py::class_<RocchioPrf, VectorFeedback>(m, "RocchioPrf")
      .def(py::init([](double alpha, double beta, double gamma, const Int& topk, const Int& bottomk,
                       const Int& depth, bool normalize) {
             return RocchioPrf(alpha, beta, gamma, topk.Count<int>("topk"), bottomk.Count<int>("bottomk"),
                               depth.Count<int>("depth"), normalize);
           }),
           py::arg("alpha") = 0.9, py::arg("beta") = 0.1, py::arg("gamma") = 0.1, py::arg("topk") = 3,
           py::arg("bottomk") = 0, py::arg("depth") = 0, py::arg("normalize") = false)
      .def_readwrite("alpha", &RocchioPrf::alpha)
      .def_readwrite("beta", &RocchioPrf::beta)
      .def_readwrite("gamma", &RocchioPrf::gamma)
      .def_property("topk", [](const RocchioPrf& f) { return f.topk; },
                    [](RocchioPrf& f, const Int& v) { f.topk = v.Count<int>("topk"); })
      .def_property("bottomk", [](const RocchioPrf& f) { return f.bottomk; },
                    [](RocchioPrf& f, const Int& v) { f.bottomk = v.Count<int>("bottomk"); })
      .def_property("depth", [](const RocchioPrf& f) { return f.depth; },
                    [](RocchioPrf& f, const Int& v) { f.depth = v.Count<int>("depth"); })
      .def_readwrite("normalize", &RocchioPrf::normalize)
      .def("__repr__", &RocchioPrf::ToString);

  m.def("prf_search", [](const VectorIndex& index, const FloatArray& queries,
                         const VectorFeedback& model, const Int& first_k_arg, const Int& k_arg, bool rerank,
                         const Int& num_threads, const Int& ef_search) {
          const ConstMatrixView q = MatrixArg(queries, "query_vectors");
          // Sizes are capped by what exists before anything is allocated (k and first_k by
          // the index size, in the core; ef by it, in HNSW's search).
          const int first_k = first_k_arg.Count<int>("first_k");
          const int k = k_arg.Count<int>("k");
          const SearchOptions options{k, num_threads.As<int>("num_threads", 0), ef_search.As<int>("ef_search", 0)};
          return ResultTuple(ValueOrThrow(WithoutGil([&] {
            return rerank ? PrfRerank(index, q, model, first_k, k, options)
                          : PrfSearch(index, q, model, first_k, k, options);
          })));
        }, py::arg("index"), py::arg("query_vectors"), py::arg("model"), py::arg("first_k") = 0,
        py::arg("k") = 1000, py::arg("rerank") = false, py::arg("num_threads") = 0,
        py::arg("ef_search") = 0,
        "First pass, vector PRF, then a second full search (or, rerank=True, re-scoring of the\n"
        "first-pass candidates). Returns (scores (n, k'), ids (n, k')), k' <= min(k, ntotal).");
}

}  // namespace densefb::py_bindings
