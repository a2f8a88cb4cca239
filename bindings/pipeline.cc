// Bindings of include/densefb/pipeline.h (the Python layer is densefb/pipeline.py).
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "array.h"
#include "bindings.h"
#include "densefb/bm25.h"
#include "densefb/encoder.h"
#include "densefb/index.h"
#include "densefb/multivector.h"
#include "densefb/pipeline.h"
#include "densefb/torch/encoders.h"  // torch-free interfaces of the encoders densefb._torch registers

namespace densefb::py_bindings {
namespace {

// Resources plus references to the Python objects that own them (kept alive with it).
struct PyResources {
  Resources resources;
  std::vector<py::object> owners;
};

template <typename T>
const T* Borrow(const py::object& obj, const char* name, PyResources* r) {
  if (obj.is_none()) return nullptr;
  try {
    const T* p = obj.cast<const T*>();
    r->owners.push_back(obj);
    return p;
  } catch (const py::cast_error&) {
    throw py::type_error(std::string("Resources: ") + name + " has the wrong type (" +
                         std::string(py::str(py::type::of(obj).attr("__name__"))) + ")");
  }
}

// A concrete type registered by densefb._torch, else its torch-free base if that is registered.
template <typename Concrete, typename Base>
const Base* BorrowEither(const py::object& obj, const char* name, PyResources* r) {
  if (obj.is_none()) return nullptr;
  try {
    const Base* p = obj.cast<const Concrete*>();
    r->owners.push_back(obj);
    return p;
  } catch (const py::cast_error&) {
    return Borrow<Base>(obj, name, r);
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

}  // namespace

void RegisterPipeline(py::module_& m) {
  py::class_<PyResources>(m, "PipelineResources",
                          "Borrowed resources of a pipeline run (see densefb.Resources).")
      .def(py::init([](const py::object& corpus, const py::object& encoder, const py::object& dense_index,
                       const py::object& bm25, const py::object& token_encoder,
                       const py::object& multivector, const py::object& cross_encoder) {
             PyResources r;
             r.resources.corpus = Borrow<Corpus>(corpus, "corpus", &r);
             r.resources.encoder = Borrow<Encoder>(encoder, "encoder", &r);
             r.resources.dense_index = Borrow<VectorIndex>(dense_index, "dense_index", &r);
             r.resources.bm25 = Borrow<Bm25Index>(bm25, "bm25", &r);
             r.resources.token_encoder =
                 BorrowEither<ColbertEncoder, TokenEncoder>(token_encoder, "token_encoder", &r);
             r.resources.multivector = Borrow<MultiVectorIndex>(multivector, "multivector", &r);
             r.resources.cross_encoder =
                 BorrowEither<CrossEncoder, PairScorer>(cross_encoder, "cross_encoder", &r);
             return r;
           }),
           py::arg("corpus") = py::none(), py::arg("encoder") = py::none(),
           py::arg("dense_index") = py::none(), py::arg("bm25") = py::none(),
           py::arg("token_encoder") = py::none(), py::arg("multivector") = py::none(),
           py::arg("cross_encoder") = py::none())
      .def("has", [](const PyResources& r, const std::string& name) { return r.resources.Has(name); },
           py::arg("name"))
      .def_property_readonly_static("names", [](const py::object&) { return Resources::Names(); });

  py::class_<Pipeline>(m, "Pipeline", "A parsed pipeline (see densefb.Pipeline).")
      .def_static("parse", [](const std::string& spec, bool fragment) {
                    return ValueOrThrow(fragment ? Pipeline::ParseFragment(spec) : Pipeline::Parse(spec));
                  }, py::arg("spec"), py::arg("fragment") = false)
      .def_property_readonly("spec", &Pipeline::ToString)
      .def_property_readonly("requires", &Pipeline::Requires)
      .def_property_readonly("num_stages", [](const Pipeline& p) { return p.stages().size(); })
      .def("run", [](const Pipeline& p, const PyResources& r, const std::vector<std::string>& ids,
                     const std::vector<std::string>& texts, std::int64_t k, int num_threads,
                     int encode_batch_size, std::optional<FloatArray> query_vectors) {
             const Queries queries = MakeQueries(ids, texts);
             PipelineOptions options;
             options.k = k;
             options.num_threads = num_threads;
             options.encode_batch_size = encode_batch_size;
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
             return ValueOrThrow(WithoutGil([&] {
               return p.Search(r.resources, queries, options, vectors ? &*vectors : nullptr);
             }));
           },
           py::arg("resources"), py::arg("query_ids"), py::arg("query_texts"), py::arg("k") = 1000,
           py::arg("num_threads") = 0, py::arg("encode_batch_size") = 32,
           py::arg("query_vectors") = py::none())
      .def("explain", [](const Pipeline& p, const PyResources& r) { return p.Explain(r.resources); },
           py::arg("resources"))
      .def("__str__", &Pipeline::ToString);

  m.def("pipeline_stages", [] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const StageInfo& s : RegisteredStages()) out.emplace_back(s.name, s.help);
    return out;
  }, "(name, help) of every registered pipeline stage, sorted by name.");
}

}  // namespace densefb::py_bindings
