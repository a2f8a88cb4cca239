// densefb.TorchFlatIndex and densefb.TorchTokenCollection: exact search and MaxSim with the
// vectors on a torch device (include/densefb/torch/flat_index.h, multivector.h).
#include "densefb/torch/flat_index.h"
#include "densefb/torch/multivector.h"

#include <pybind11/stl.h>

#include <string>

#include "../array.h"
#include "../bindings.h"
#include "../flat_methods.h"

namespace densefb::py_bindings {

namespace {

TorchFlatIndexOptions MakeOptions(const std::string& device, const Int& query_block, const Int& doc_block,
                                  const Int& memory_limit, const std::string& storage) {
  TorchFlatIndexOptions options;
  options.device = device;
  options.storage = ValueOrThrow(ParsePrecision(storage));
  options.query_block = query_block.As<std::int64_t>("query_block", 1);
  options.doc_block = doc_block.As<std::int64_t>("doc_block", 1);
  options.memory_limit = memory_limit.As<std::int64_t>("memory_limit", 0);
  ThrowIfError(options.Validate());
  return options;
}

}  // namespace

void RegisterTorchFlatIndex(py::module_& m) {
  py::class_<TorchTokenCollection, TokenCollection, std::shared_ptr<TorchTokenCollection>>(m, "TorchTokenCollection", R"doc(
The token embeddings of a densefb.MultiVectorIndex on a torch device ("cuda", "cuda:1", or
"cpu" through torch), where candidate generation (the exact nearest document tokens of each
query token) and exact weighted MaxSim run. The maxsim, rerank_maxsim and colbert_prf stages
read it as they read the host index (Resources(multivector=...)).

    device_tokens = densefb.TorchTokenCollection(mv_index, device="cuda")

A snapshot of the index's live documents: later updates to the index are not seen (make a new
one). Rankings equal the host index's with an exact token index, up to rounding near-ties.
memory_limit: device bytes for the token embeddings (0 = what the device has; MemoryError
names the bytes when they do not fit); rerank_block: candidates scored per batched matmul.
)doc")
      .def(py::init([](const MultiVectorIndex& index, const std::string& device, const Int& memory_limit,
                       const Int& rerank_block) {
             TorchTokenCollectionOptions options;
             options.device = device;
             options.memory_limit = memory_limit.As<std::int64_t>("memory_limit", 0);
             options.rerank_block = rerank_block.As<std::int64_t>("rerank_block", 1);
             ThrowIfError(options.Validate());
             return std::shared_ptr<TorchTokenCollection>(
                 ValueOrThrow(WithoutGil([&] { return TorchTokenCollection::Create(index, options); })));
           }),
           py::arg("index"), py::arg("device") = "cpu", py::arg("memory_limit") = 0, py::arg("rerank_block") = 512)
      .def_property_readonly("device", [](const TorchTokenCollection& c) { return c.options().device; })
      .def_property_readonly("num_documents", &TorchTokenCollection::num_documents)
      .def("__repr__", [](const TorchTokenCollection& c) {
        return "<densefb.TorchTokenCollection dim=" + std::to_string(c.dim()) + " documents=" +
               std::to_string(c.num_documents()) + " tokens=" + std::to_string(c.num_tokens()) +
               " device=" + c.options().device + ">";
      });

  py::class_<TorchFlatIndex, VectorIndex> cls(m, "TorchFlatIndex", R"doc(
Exact top-k search with the vectors on a torch device: a CUDA GPU ("cuda", "cuda:1") or the
CPU through torch ("cpu"). The same API, results and file format as densefb.FlatIndex.

Each block of queries is multiplied by each block of stored vectors (float32 matmul) and the top
k kept with torch.topk over keys that order by score, then by insertion: ties go to the
earlier-added vector, as in FlatIndex, and a ranking equals FlatIndex's except where two scores
differ by a rounding of the sum (~1e-7). TF32 is not used unless torch is told to
(torch.backends.cuda.matmul.allow_tf32), which makes scores approximate.

    index = densefb.TorchFlatIndex(384, metric="ip", device="cuda")
    densefb.encode_and_add(encoder, texts, index)   # a CUDA encoder's output stays on the GPU
    scores, ids = index.search(queries, k=10)

Memory: ntotal x dim x 4 bytes on the device (grown by half again when full; reserve(n) avoids
it), plus query_block x doc_block scores while searching. An add that does not fit in device
memory, or in memory_limit bytes when given, raises MemoryError naming the sizes and leaves the
index as it was; a corpus larger than the device is not searched from host memory.
)doc");
  FlatMethodDocs docs;
  docs.reconstruct = "Stored vectors of ids, (len(ids), dim), gathered on the device: exactly as added with\n"
      "storage \"fp32\", rounded with \"fp16\" / \"bf16\". KeyError for an unknown id.";
  DefineFlatMethods(cls, docs);
  cls.def(py::init([](const Int& dim, const std::string& metric, const std::string& device, const Int& query_block,
                      const Int& doc_block, const Int& memory_limit, const std::string& storage) {
             return ValueOrThrow(TorchFlatIndex::Create(dim.As<int>("dim", 1), ValueOrThrow(ParseMetric(metric)),
                                                        MakeOptions(device, query_block, doc_block, memory_limit, storage)));
           }),
           py::arg("dim"), py::arg("metric") = "ip", py::arg("device") = "cpu", py::arg("query_block") = 1024,
           py::arg("doc_block") = 65536, py::arg("memory_limit") = 0, py::arg("storage") = "fp32",
           "dim: vector dimension (>= 1); metric: \"ip\" or \"cosine\"; device: \"cpu\", \"cuda\", \"cuda:N\";\n"
           "query_block, doc_block: the queries and stored vectors of one matmul; memory_limit: device\n"
           "bytes the stored vectors may take (0 = what the device has); storage: \"fp32\", or \"fp16\" /\n"
           "\"bf16\" (half the memory; searches and reconstruct see the rounded vectors, as in\n"
           "ScalarQuantizedIndex).")
      .def_static("load", [](const py::object& path, const std::string& device, const Int& query_block,
                             const Int& doc_block, const Int& memory_limit, const std::string& storage) {
             const std::string p = PathArg(path);
             const TorchFlatIndexOptions options = MakeOptions(device, query_block, doc_block, memory_limit, storage);
             return ValueOrThrow(WithoutGil([&] { return TorchFlatIndex::Load(p, options); }));
           }, py::arg("path"), py::arg("device") = "cpu", py::arg("query_block") = 1024, py::arg("doc_block") = 65536,
           py::arg("memory_limit") = 0, py::arg("storage") = "fp32",
           "Loads a file saved by FlatIndex.save or TorchFlatIndex.save onto `device`.")
      .def_static("from_index", [](const FlatIndex& index, const std::string& device, const Int& query_block,
                                   const Int& doc_block, const Int& memory_limit, const std::string& storage) {
             const TorchFlatIndexOptions options = MakeOptions(device, query_block, doc_block, memory_limit, storage);
             return ValueOrThrow(WithoutGil([&] { return TorchFlatIndex::FromFlat(index, options); }));
           }, py::arg("index"), py::arg("device") = "cpu", py::arg("query_block") = 1024, py::arg("doc_block") = 65536,
           py::arg("memory_limit") = 0, py::arg("storage") = "fp32", "The vectors and ids of a densefb.FlatIndex, copied to `device`.")
      .def("to_flat", [](const TorchFlatIndex& index) { return ValueOrThrow(WithoutGil([&] { return index.ToFlat(); })); },
           "A densefb.FlatIndex (host memory) with the same vectors and ids.")
      .def_property_readonly("device", [](const TorchFlatIndex& i) { return i.options().device; })
      .def_property_readonly("storage", [](const TorchFlatIndex& i) { return std::string(PrecisionName(i.options().storage)); })
      .def_property_readonly("device_bytes", &TorchFlatIndex::device_bytes,
                             "Device bytes held by the stored vectors (their capacity).")
      .def_property_readonly("dim", &TorchFlatIndex::dim)
      .def_property_readonly("metric", [](const TorchFlatIndex& i) { return std::string(MetricName(i.metric())); })
      .def_property_readonly("ntotal", &TorchFlatIndex::size)
      .def("__repr__", [](const TorchFlatIndex& i) {
        return "<densefb.TorchFlatIndex dim=" + std::to_string(i.dim()) + " metric=" + std::string(MetricName(i.metric())) +
               " device=" + i.options().device + " storage=" + PrecisionName(i.options().storage) + " ntotal=" + std::to_string(i.size()) + ">";
      });
}

}  // namespace densefb::py_bindings
