// Bindings of the pipeline (include/densefb/pipeline.h) and of the four role interfaces, which
// Python classes may implement (trampolines below; the Python layer is densefb/pipeline.py).
//
// Python stages run inside a pipeline whose built-in stages run without the GIL: a trampoline
// takes the GIL around the Python call only. An exception raised there is kept (with its
// traceback) and re-raised to the caller of run() when the pipeline returns its error.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "array.h"
#include "bindings.h"
#include "densefb/bm25.h"
#include "densefb/encoder.h"
#include "densefb/index.h"
#include "densefb/multivector.h"
#include "densefb/generator.h"
#include "densefb/pipeline.h"
#include "densefb/torch/encoders.h"  // torch-free interfaces of the encoders densefb._torch registers

namespace densefb::py_bindings {

// ---- Python errors raised inside stages ------------------------------------------------------

// The Python exception a stage raised on this thread, re-raised by run() (the pipeline carries
// only a status). Created and destroyed with the GIL held.
namespace {
thread_local std::unique_ptr<py::error_already_set> pending_error;
}  // namespace

absl::Status FromPython(py::error_already_set& e, const std::string& where) {
  std::string what = e.what();
  pending_error = std::make_unique<py::error_already_set>(std::move(e));
  return absl::InternalError(absl::StrCat(where, " raised ", what));
}

void RaisePending() {
  if (pending_error != nullptr) {
    std::unique_ptr<py::error_already_set> e = std::move(pending_error);
    e->restore();
    throw py::error_already_set();
  }
}

namespace {

// A shared_ptr to the C++ object behind a Python object that keeps the Python object alive (a
// Python subclass of a role lives as long as a pipeline holds it).
template <typename T>
std::shared_ptr<const T> Share(const py::object& obj) {
  const T* p = obj.cast<const T*>();
  auto* keep = new py::object(obj);
  return std::shared_ptr<const T>(p, [keep](const T*) {
    py::gil_scoped_acquire gil;
    delete keep;
  });
}

// ---- numpy <-> rankings ------------------------------------------------------------------------

py::tuple ToArrays(const BatchRanking& r) {
  std::size_t width = 0;
  for (const Ranking& l : r.lists) width = std::max(width, l.size());
  const auto n = static_cast<py::ssize_t>(r.size());
  const auto m = static_cast<py::ssize_t>(width);
  py::array_t<float> scores({n, m});
  py::array_t<std::int64_t> ids({n, m});
  auto s = scores.mutable_unchecked<2>();
  auto d = ids.mutable_unchecked<2>();
  for (py::ssize_t i = 0; i < n; ++i) {
    const Ranking& l = r.lists[static_cast<std::size_t>(i)];
    for (py::ssize_t j = 0; j < m; ++j) {
      const bool has = static_cast<std::size_t>(j) < l.size();
      s(i, j) = has ? l[j].score : -std::numeric_limits<float>::infinity();
      d(i, j) = has ? l[j].id : kNoId;
    }
  }
  return py::make_tuple(scores, ids);
}

// (scores, ids) from a Python stage: n rows, -1 ids are padding; sorted best first here.
absl::StatusOr<BatchRanking> FromArrays(const py::handle& result, std::size_t n, const std::string& who) {
  py::tuple t;
  try {
    t = py::reinterpret_borrow<py::tuple>(result);
    if (!py::isinstance<py::tuple>(result) || t.size() != 2) throw py::cast_error();
  } catch (const py::cast_error&) {
    return absl::InvalidArgumentError(absl::StrCat(who, " must return a (scores, ids) pair of arrays, not ",
                                                   std::string(py::str(py::type::of(result).attr("__name__")))));
  }
  py::array_t<float, py::array::c_style | py::array::forcecast> scores(t[0]);
  py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> ids(t[1]);
  if (scores.ndim() != 2 || ids.ndim() != 2 || scores.shape(0) != ids.shape(0) ||
      scores.shape(1) != ids.shape(1) || static_cast<std::size_t>(ids.shape(0)) != n) {
    return absl::InvalidArgumentError(absl::StrCat(who, " returned arrays of shapes (",
                                                   absl::StrJoin(std::vector<py::ssize_t>(scores.shape(), scores.shape() + scores.ndim()), ", "),
                                                   ") and (", absl::StrJoin(std::vector<py::ssize_t>(ids.shape(), ids.shape() + ids.ndim()), ", "),
                                                   "); expected two (", n, ", k) arrays"));
  }
  auto s = scores.unchecked<2>();
  auto d = ids.unchecked<2>();
  BatchRanking out;
  out.lists.resize(n);
  for (py::ssize_t i = 0; i < ids.shape(0); ++i) {
    Ranking& l = out.lists[static_cast<std::size_t>(i)];
    for (py::ssize_t j = 0; j < ids.shape(1); ++j) {
      if (d(i, j) == kNoId) continue;
      if (d(i, j) < 0 || !std::isfinite(s(i, j))) {
        return absl::InvalidArgumentError(absl::StrCat(who, " returned id ", d(i, j), " with score ", s(i, j),
                                                       " for query row ", i, "; ids are >= 0 (-1 = none) and scores finite"));
      }
      l.push_back({d(i, j), s(i, j)});
    }
    SortRanking(l);
  }
  return out;
}

// The batch as the Python stage sees it: densefb.pipeline.QueryBatch(ids, texts, vectors,
// original_texts, bm25_queries), copies (a stage may keep it). bm25_queries: per query a list of
// (term, weight) pairs, or None until a stage has analysed the queries.
py::object Batch(const QueryState& q) {
  py::object vectors = py::none();
  if (q.has_query_vectors()) {
    py::array_t<float> v({static_cast<py::ssize_t>(q.query_vectors.rows()), static_cast<py::ssize_t>(q.query_vectors.cols())});
    std::copy(q.query_vectors.data(), q.query_vectors.data() + q.query_vectors.size(), v.mutable_data());
    vectors = v;
  }
  py::object bm25 = py::none();
  if (q.has_bm25_queries()) bm25 = py::cast(q.bm25_queries);
  return py::module_::import("densefb.pipeline").attr("QueryBatch")(q.query_ids, q.query_texts, vectors,
                                                                    q.original_texts, bm25);
}

// Weighted BM25 queries returned by a Python feedback model: a list of n lists of (str term,
// finite float weight) pairs. Errors name the query row.
absl::StatusOr<std::vector<WeightedQuery>> WeightedQueriesFrom(const py::handle& r, std::size_t n,
                                                              const std::string& who) {
  const py::sequence rows = py::reinterpret_borrow<py::sequence>(r);
  if (rows.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(who, " returned ", rows.size(), " weighted queries for ", n,
                                                   " queries; expected one per query"));
  }
  std::vector<WeightedQuery> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const py::handle row = rows[i];
    if (!(py::isinstance<py::list>(row) || py::isinstance<py::tuple>(row))) {
      return absl::InvalidArgumentError(absl::StrCat(who, " returned a ", std::string(py::str(py::type::of(row).attr("__name__"))),
                                                     " for query row ", i, "; expected a list of (term, weight) pairs"));
    }
    for (py::handle pair : row) {
      const auto bad = [&] {
        return absl::InvalidArgumentError(absl::StrCat(who, " returned ", std::string(py::repr(pair)), " in query row ", i,
                                                       "; expected (term: str, weight: float) pairs"));
      };
      if (!(py::isinstance<py::tuple>(pair) || py::isinstance<py::list>(pair)) || py::len(pair) != 2) return bad();
      const py::sequence p = py::reinterpret_borrow<py::sequence>(pair);
      if (!py::isinstance<py::str>(p[0]) || py::isinstance<py::str>(p[1]) || py::isinstance<py::bool_>(p[1])) return bad();
      double w = 0;
      try {
        w = p[1].cast<double>();
      } catch (const py::cast_error&) {
        return bad();
      }
      if (!std::isfinite(w) || !std::isfinite(static_cast<float>(w))) {
        return absl::InvalidArgumentError(absl::StrCat(who, " returned weight ", w, " for term \"", p[0].cast<std::string>(),
                                                       "\" in query row ", i, "; weights must be finite"));
      }
      out[i].emplace_back(p[0].cast<std::string>(), static_cast<float>(w));
    }
  }
  return out;
}

std::string SpecOf(const py::handle& self) {
  py::object spec = py::getattr(self, "spec", py::none());
  if (spec.is_none()) return std::string(py::str(py::type::of(self).attr("__name__")));
  return std::string(py::str(spec));
}

}  // namespace

// ---- trampolines -------------------------------------------------------------------------------

class PyRetriever : public Retriever {
 public:
  absl::StatusOr<BatchRanking> Retrieve(QueryState& queries) const override {
    py::gil_scoped_acquire gil;
    py::function f = py::get_override(static_cast<const Retriever*>(this), "retrieve");
    const std::string who = absl::StrCat("Python retriever ", ToString());
    if (!f) return absl::UnimplementedError(absl::StrCat(who, " does not define retrieve(queries)"));
    try {
      py::object r = f(Batch(queries));
      return FromArrays(r, queries.size(), absl::StrCat(who, ".retrieve"));
    } catch (py::error_already_set& e) {
      return FromPython(e, who);
    }
  }
  std::string ToString() const override {
    py::gil_scoped_acquire gil;
    return SpecOf(py::cast(static_cast<const Retriever*>(this)));
  }
};

class PyFeedbackModel : public FeedbackModel {
 public:
  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override {
    py::gil_scoped_acquire gil;
    py::function f = py::get_override(static_cast<const FeedbackModel*>(this), "refine");
    const std::string who = absl::StrCat("Python feedback model ", ToString());
    if (!f) return absl::UnimplementedError(absl::StrCat(who, " does not define refine(queries, scores, ids)"));
    try {
      py::tuple arrays = ToArrays(ranking);
      py::object r = f(Batch(queries), arrays[0], arrays[1]);
      if (py::isinstance<py::list>(r) || py::isinstance<py::tuple>(r)) {
        // A list of lists: weighted BM25 queries; a list of str: new query texts.
        const bool weighted = py::len(r) > 0 && (py::isinstance<py::list>(r[py::int_(0)]) ||
                                                 py::isinstance<py::tuple>(r[py::int_(0)]));
        if (weighted) {
          DENSEFB_ASSIGN_OR_RETURN(std::vector<WeightedQuery> bm25,
                                   WeightedQueriesFrom(r, queries.size(), absl::StrCat(who, ".refine")));
          queries.bm25_queries = std::move(bm25);
          return absl::OkStatus();
        }
        std::vector<std::string> texts;
        for (py::handle t : r) {
          if (!py::isinstance<py::str>(t)) {
            return absl::InvalidArgumentError(absl::StrCat(who, ".refine returned a list holding a ",
                                                           std::string(py::str(py::type::of(t).attr("__name__"))),
                                                           "; expected new query texts (str), weighted queries (lists of "
                                                           "(term, weight) pairs) or a vector array"));
          }
          texts.push_back(t.cast<std::string>());
        }
        return queries.ReplaceTexts(std::move(texts));
      }
      py::array_t<float, py::array::c_style | py::array::forcecast> v(r);
      if (v.ndim() != 2 || static_cast<std::size_t>(v.shape(0)) != queries.size()) {
        return absl::InvalidArgumentError(absl::StrCat(who, ".refine returned an array of ", v.ndim(),
                                                       " dimensions; expected (", queries.size(), ", dim) query vectors"));
      }
      RowMatrix m = Eigen::Map<const RowMatrix>(v.data(), v.shape(0), v.shape(1));
      DENSEFB_RETURN_IF_ERROR(CheckFinite(View(m), absl::StrCat(who, " query vectors")));
      queries.query_vectors = std::move(m);
      return absl::OkStatus();
    } catch (py::error_already_set& e) {
      return FromPython(e, who);
    }
  }
  std::string ToString() const override {
    py::gil_scoped_acquire gil;
    return SpecOf(py::cast(static_cast<const FeedbackModel*>(this)));
  }
  std::int64_t DepthRead() const override {
    py::gil_scoped_acquire gil;
    py::object d = py::getattr(py::cast(static_cast<const FeedbackModel*>(this)), "depth_read", py::none());
    return d.is_none() ? -1 : d.cast<std::int64_t>();
  }
};

class PyReranker : public Reranker {
 public:
  absl::StatusOr<BatchRanking> Rerank(QueryState& queries, BatchRanking ranking) const override {
    py::gil_scoped_acquire gil;
    py::function f = py::get_override(static_cast<const Reranker*>(this), "rerank");
    const std::string who = absl::StrCat("Python reranker ", ToString());
    if (!f) return absl::UnimplementedError(absl::StrCat(who, " does not define rerank(queries, scores, ids)"));
    try {
      py::tuple arrays = ToArrays(ranking);
      py::object r = f(Batch(queries), arrays[0], arrays[1]);
      return FromArrays(r, queries.size(), absl::StrCat(who, ".rerank"));
    } catch (py::error_already_set& e) {
      return FromPython(e, who);
    }
  }
  std::string ToString() const override {
    py::gil_scoped_acquire gil;
    return SpecOf(py::cast(static_cast<const Reranker*>(this)));
  }
};

class PyFusion : public Fusion {
 public:
  absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs) const override {
    py::gil_scoped_acquire gil;
    py::function f = py::get_override(static_cast<const Fusion*>(this), "fuse");
    const std::string who = absl::StrCat("Python fusion ", ToString(inputs.size()));
    if (!f) return absl::UnimplementedError(absl::StrCat(who, " does not define fuse(runs)"));
    try {
      py::list runs;
      for (const BatchRanking* r : inputs) runs.append(ToArrays(*r));
      py::object r = f(runs);
      return FromArrays(r, inputs.empty() ? 0 : inputs[0]->size(), absl::StrCat(who, ".fuse"));
    } catch (py::error_already_set& e) {
      return FromPython(e, who);
    }
  }
  std::string ToString(std::size_t) const override {
    py::gil_scoped_acquire gil;
    return SpecOf(py::cast(static_cast<const Fusion*>(this)));
  }
};

namespace {

// ---- resources -----------------------------------------------------------------------------------

// Resources plus the Python objects that own them.
struct PyResources {
  Resources resources;
  const Corpus* corpus = nullptr;
  const Bm25Index* bm25 = nullptr;
};

template <typename T>
void SetShared(PyResources& r, const char* name, const py::object& obj) {
  if (obj.is_none()) return;
  try {
    r.resources.Set<T>(name, Share<T>(obj));
  } catch (const py::cast_error&) {
    throw py::type_error(std::string("Resources: ") + name + " has the wrong type (" +
                         std::string(py::str(py::type::of(obj).attr("__name__"))) + ")");
  }
}

// A concrete type registered by densefb._torch, else its torch-free base.
template <typename Concrete, typename Base>
void SetEither(PyResources& r, const char* name, const py::object& obj) {
  if (obj.is_none()) return;
  try {
    const Base* p = obj.cast<const Concrete*>();
    auto* keep = new py::object(obj);
    r.resources.Set<Base>(name, std::shared_ptr<const Base>(p, [keep](const Base*) {
      py::gil_scoped_acquire gil;
      delete keep;
    }));
  } catch (const py::cast_error&) {
    SetShared<Base>(r, name, obj);
  }
}

Queries MakeQueries(const std::vector<std::string>& ids, const std::vector<std::string>& texts) {
  if (ids.size() != texts.size()) {
    throw py::value_error("got " + std::to_string(ids.size()) + " query ids and " +
                          std::to_string(texts.size()) + " query texts");
  }
  Queries queries;
  for (std::size_t i = 0; i < ids.size(); ++i) ThrowIfError(queries.Add({ids[i], texts[i]}));
  return queries;
}

template <typename T>
T ValueOrRaise(absl::StatusOr<T> v) {
  if (!v.ok()) RaisePending();
  return ValueOrThrow(std::move(v));
}

// A spec value as a Python object (for Python factories).
py::object ToPython(const SpecValue& v) {
  switch (v.kind) {
    case SpecValue::Kind::kNumber:
      if (v.number == std::floor(v.number) && std::fabs(v.number) < 9.0e15 &&
          v.text.find_first_of(".eE") == std::string::npos) {
        return py::int_(static_cast<std::int64_t>(v.number));
      }
      return py::float_(v.number);
    case SpecValue::Kind::kBool: return py::bool_(v.boolean);
    case SpecValue::Kind::kList: {
      py::list l;
      for (const SpecValue& x : v.list) l.append(ToPython(x));
      return std::move(l);
    }
    default: return py::str(v.text);
  }
}

// Calls a Python factory with the spec's arguments as keywords; the result is the stage object.
absl::StatusOr<py::object> CallFactory(const py::object& factory, StageArgs& args) {
  py::gil_scoped_acquire gil;
  py::dict kwargs;
  for (const std::string& key : args.Keys()) kwargs[py::str(key)] = ToPython(*args.Get(key));
  try {
    return factory(**kwargs);
  } catch (py::error_already_set& e) {
    return FromPython(e, absl::StrCat("the Python factory of stage '", args.stage(), "'"));
  }
}

template <typename T>
absl::StatusOr<std::shared_ptr<const T>> MadeBy(const py::object& factory, StageArgs& args) {
  DENSEFB_ASSIGN_OR_RETURN(py::object obj, CallFactory(factory, args));
  py::gil_scoped_acquire gil;
  try {
    return Share<T>(obj);
  } catch (const py::cast_error&) {
    return absl::InvalidArgumentError(absl::StrCat("the Python factory of stage '", args.stage(), "' returned a ",
                                                   std::string(py::str(py::type::of(obj).attr("__name__"))),
                                                   ", not a densefb stage of its role"));
  }
}

// Keeps Python factories alive for the life of the process (the registry is global).
py::object Immortal(py::object obj) {
  obj.inc_ref();
  return obj;
}

}  // namespace

void RegisterPipeline(py::module_& m) {
  py::class_<Retriever, PyRetriever>(m, "Retriever", "Base class of retrievers (see densefb.Retriever).")
      .def(py::init<>())
      .def("_spec", &Retriever::ToString);
  py::class_<FeedbackModel, PyFeedbackModel>(m, "FeedbackModel", "Base class of feedback models.")
      .def(py::init<>())
      .def("_spec", &FeedbackModel::ToString);
  py::class_<Reranker, PyReranker>(m, "Reranker", "Base class of rerankers.")
      .def(py::init<>())
      .def("_spec", &Reranker::ToString);
  py::class_<Fusion, PyFusion>(m, "Fusion", "Base class of fusion methods.")
      .def(py::init<>())
      .def("_spec", [](const Fusion& f, std::size_t n) { return f.ToString(n); }, py::arg("num_inputs") = 2);

  py::class_<PyResources>(m, "PipelineResources", "Resources of a pipeline run (see densefb.Resources).")
      .def(py::init([](const py::object& corpus, const py::object& encoder, const py::object& dense_index,
                       const py::object& bm25, const py::object& token_encoder,
                       const py::object& multivector, const py::object& cross_encoder,
                       const py::object& generator) {
             PyResources r;
             SetShared<Corpus>(r, resource::kCorpus, corpus);
             SetShared<Encoder>(r, resource::kEncoder, encoder);
             SetShared<VectorIndex>(r, resource::kDenseIndex, dense_index);
             SetShared<Bm25Collection>(r, resource::kBm25, bm25);
             SetEither<ColbertEncoder, TokenEncoder>(r, resource::kTokenEncoder, token_encoder);
             SetShared<TokenCollection>(r, resource::kMultiVector, multivector);
             SetEither<CrossEncoder, PairScorer>(r, resource::kCrossEncoder, cross_encoder);
             SetShared<Generator>(r, resource::kGenerator, generator);
             if (!corpus.is_none()) r.corpus = corpus.cast<const Corpus*>();
             if (!bm25.is_none() && py::isinstance<Bm25Index>(bm25)) r.bm25 = bm25.cast<const Bm25Index*>();
             return r;
           }),
           py::arg("corpus") = py::none(), py::arg("encoder") = py::none(),
           py::arg("dense_index") = py::none(), py::arg("bm25") = py::none(),
           py::arg("token_encoder") = py::none(), py::arg("multivector") = py::none(),
           py::arg("cross_encoder") = py::none(), py::arg("generator") = py::none())
      .def("has", [](const PyResources& r, const std::string& name) { return r.resources.Has(name); },
           py::arg("name"))
      .def_property_readonly("names", [](const PyResources& r) { return r.resources.Names(); });

  py::class_<Pipeline>(m, "Pipeline", "A pipeline of stages (see densefb.Pipeline).")
      .def_static("parse", [](const std::string& spec, bool fragment, const PyResources* r) {
                    static const Resources empty;
                    const Resources& res = r != nullptr ? r->resources : empty;
                    return ValueOrRaise(fragment ? Pipeline::ParseFragment(spec, res) : Pipeline::Parse(spec, res));
                  }, py::arg("spec"), py::arg("fragment") = false, py::arg("resources") = nullptr)
      .def_static("of", [](const py::object& stage) {
                    if (py::isinstance<Retriever>(stage)) return Pipeline(std::const_pointer_cast<Retriever>(Share<Retriever>(stage)));
                    if (py::isinstance<FeedbackModel>(stage)) return Pipeline(std::const_pointer_cast<FeedbackModel>(Share<FeedbackModel>(stage)));
                    if (py::isinstance<Reranker>(stage)) return Pipeline(std::const_pointer_cast<Reranker>(Share<Reranker>(stage)));
                    throw py::type_error("expected a densefb.Retriever, FeedbackModel or Reranker, not " +
                                         std::string(py::str(py::type::of(stage).attr("__name__"))));
                  }, py::arg("stage"))
      .def_static("fuse", [](const py::object& method, const std::vector<Pipeline>& branches) {
                    return ValueOrRaise(Pipeline::Fuse(Share<Fusion>(method), branches));
                  }, py::arg("method"), py::arg("branches"))
      .def_static("fuse_spec", [](const std::string& method, const std::vector<Pipeline>& branches) {
                    // The registered fusion method that `method` names ("rrf(k=60)").
                    return ValueOrRaise(Pipeline::Fuse(ValueOrRaise(ParseFusion(method, branches.size())), branches));
                  }, py::arg("method"), py::arg("branches"))
      .def("then", &Pipeline::Then, py::arg("next"))
      .def("validate", [](const Pipeline& p) { ThrowIfError(p.Validate()); })
      .def("bind", [](const Pipeline& p, const PyResources& r) { return ValueOrRaise(p.Bind(r.resources)); },
           py::arg("resources"))
      .def_property_readonly("spec", &Pipeline::ToString)
      .def_property_readonly("requires", &Pipeline::Requires)
      .def_property_readonly("num_stages", [](const Pipeline& p) { return p.steps().size(); })
      .def("explain", &Pipeline::Explain)
      .def("run", [](const Pipeline& p, const PyResources& r, const std::vector<std::string>& ids,
                     const std::vector<std::string>& texts, std::int64_t k, int num_threads,
                     int encode_batch_size, std::optional<FloatArray> query_vectors, py::object counters,
                     const py::object& filter) {
             const std::vector<std::string>* names = nullptr;
             if (r.corpus != nullptr) {
               names = &r.corpus->ids().names();
             } else if (r.bm25 != nullptr) {
               names = &r.bm25->doc_names();
             } else {
               throw py::value_error("document names come from the corpus or the BM25 index; neither resource is set");
             }
             const Queries queries = MakeQueries(ids, texts);
             PipelineOptions options;
             options.k = k;
             options.num_threads = num_threads;
             options.encode_batch_size = encode_batch_size;
             options.filter = FilterArg(filter, "filter");
             // Ctrl-C: polled between stages and encoder batches (signals reach the main thread).
             options.interrupted = [] {
               py::gil_scoped_acquire gil;
               if (PyErr_CheckSignals() == 0) return false;
               PyErr_Clear();  // re-raised as KeyboardInterrupt from the Cancelled status
               return true;
             };
             std::optional<RowMatrix> vectors;
             if (query_vectors) {
               const ConstMatrixView v = MatrixArg(*query_vectors, "query_vectors");
               vectors = Eigen::Map<const RowMatrix>(v.data, v.rows, v.cols);
             }
             absl::StatusOr<Pipeline> bound = p.Bind(r.resources);
             if (!bound.ok()) return ValueOrRaise<densefb::Run>(bound.status());
             densefb::Run run = ValueOrRaise(WithoutGil([&] {
               return bound->Search(queries, *names, options, vectors ? &*vectors : nullptr);
             }));
             if (!counters.is_none()) {
               for (const Pipeline::StageCounters& c : bound->Counters()) {
                 py::dict d;
                 for (const auto& [name, value] : c.counters) d[py::str(name)] = value;
                 counters[py::str(c.stage)] = d;
               }
             }
             return run;
           },
           py::arg("resources"), py::arg("query_ids"), py::arg("query_texts"), py::arg("k") = 1000,
           py::arg("num_threads") = 0, py::arg("encode_batch_size") = 32,
           py::arg("query_vectors") = py::none(), py::arg("counters") = py::none(), py::arg("filter") = py::none())
      .def("rank", [](const Pipeline& p, const std::vector<std::string>& texts, std::int64_t k, int num_threads,
                      int encode_batch_size, std::optional<FloatArray> query_vectors, const py::object& filter) {
             std::vector<std::string> ids;
             for (std::size_t i = 0; i < texts.size(); ++i) ids.push_back(std::to_string(i));
             const Queries queries = MakeQueries(ids, texts);
             PipelineOptions options;
             options.k = k;
             options.num_threads = num_threads;
             options.encode_batch_size = encode_batch_size;
             options.filter = FilterArg(filter, "filter");
             std::optional<RowMatrix> vectors;
             if (query_vectors) {
               const ConstMatrixView v = MatrixArg(*query_vectors, "query_vectors");
               vectors = Eigen::Map<const RowMatrix>(v.data, v.rows, v.cols);
             }
             BatchRanking r = ValueOrRaise(WithoutGil([&] { return p.Run(queries, options, vectors ? &*vectors : nullptr); }));
             return ToArrays(r);
           },
           py::arg("query_texts"), py::arg("k") = 1000, py::arg("num_threads") = 0,
           py::arg("encode_batch_size") = 32, py::arg("query_vectors") = py::none(), py::arg("filter") = py::none(),
           "Runs a bound pipeline; Faiss-style (scores, ids) arrays of document positions.\n"
           "filter: allowed document positions (densefb.Filter, a bool mask, ids, or ids per query).")
      .def("__str__", &Pipeline::ToString);

  m.def("fuse_runs", [](const std::vector<const Run*>& runs, const py::object& method) {
    // `method`: a fusion method spec ("rrf(k=60)") or a Fusion object (built-in or Python).
    std::shared_ptr<const Fusion> fusion =
        py::isinstance<py::str>(method) ? ValueOrRaise(ParseFusion(method.cast<std::string>(), runs.size()))
                                        : Share<Fusion>(method);
    return ValueOrRaise(WithoutGil([&] { return fusion->FuseRuns(runs); }));
  }, py::arg("runs"), py::arg("method"),
     "Fuses Runs with a fusion method spec or object (private; use densefb.fuse). The run's name is "
     "the method's canonical spec.");

  m.def("pipeline_stages", [] {
    py::list out;
    for (const StageInfo& s : RegisteredStages()) {
      py::list params;
      for (const ParamInfo& p : s.params) params.append(py::make_tuple(p.name, p.default_value, p.help));
      out.append(py::dict(py::arg("name") = s.name, py::arg("role") = std::string(StageRoleName(s.role)),
                          py::arg("help") = s.help, py::arg("params") = params,
                          py::arg("resources") = s.resources));
    }
    return out;
  }, "Every registered stage and fusion method: name, role, help, params (name, default, help), resources.");

  m.def("register_stage", [](const std::string& role, const std::string& name, const py::object& factory,
                             const std::string& help, const std::vector<std::string>& resources) {
    StageInfo info;
    info.name = name;
    info.help = help;
    info.resources = resources;
    py::object f = Immortal(factory);
    absl::Status s;
    if (role == "retriever") {
      s = RegisterRetriever(info, [f](StageArgs& a, const Resources&) { return MadeBy<Retriever>(f, a); });
    } else if (role == "feedback") {
      s = RegisterFeedbackModel(info, [f](StageArgs& a, const Resources&) { return MadeBy<FeedbackModel>(f, a); });
    } else if (role == "reranker") {
      s = RegisterReranker(info, [f](StageArgs& a, const Resources&) { return MadeBy<Reranker>(f, a); });
    } else if (role == "fusion") {
      s = RegisterFusion(info, [f](StageArgs& a, std::size_t) { return MadeBy<Fusion>(f, a); });
    } else {
      throw py::value_error("role must be retriever, feedback, reranker or fusion, not '" + role + "'");
    }
    ThrowIfError(s);
  }, py::arg("role"), py::arg("name"), py::arg("factory"), py::arg("help") = "",
     py::arg("resources") = std::vector<std::string>{});

  m.def("unregister_stage", [](const std::string& role, const std::string& name) {
    StageRole r = role == "retriever" ? StageRole::kRetriever
                  : role == "feedback" ? StageRole::kFeedbackModel
                  : role == "reranker" ? StageRole::kReranker
                  : role == "fusion" ? StageRole::kFusion
                  : throw py::value_error("unknown role '" + role + "'");
    ThrowIfError(Unregister(r, name));
  }, py::arg("role"), py::arg("name"));
}

}  // namespace densefb::py_bindings
