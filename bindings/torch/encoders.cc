// densefb._torch: the libtorch encoders. Imported lazily by densefb.encoders, so that
// `import densefb` does not load torch.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "../array.h"
#include "../bindings.h"
#include "densefb/indexing.h"
#include "densefb/pipeline.h"
#include "densefb/torch/encoders.h"
#include "densefb/torch/flat_index.h"

namespace densefb::py_bindings {
namespace {

std::optional<Pooling> ParsePooling(const std::optional<std::string>& name) {
  if (!name) return std::nullopt;
  if (*name == "mean") return Pooling::kMean;
  if (*name == "cls") return Pooling::kCls;
  if (*name == "max") return Pooling::kMax;
  throw py::value_error("pooling must be \"mean\", \"cls\" or \"max\", got \"" + *name + "\"");
}

const char* PoolingName(Pooling p) {
  switch (p) {
    case Pooling::kCls: return "cls";
    case Pooling::kMax: return "max";
    default: return "mean";
  }
}

// Adapts a Python `progress(done, total)` callable (or None) to the C++ progress callback.
// The callback never throws through C++: a Python error (Ctrl-C, or raised by `progress`) is
// kept and cancels the work; Rethrow() raises it once the GIL is held again.
class PythonProgress {
 public:
  explicit PythonProgress(const py::object& progress) : progress_(progress) {}
  std::function<bool(std::int64_t, std::int64_t)> Callback() {
    return [this](std::int64_t done, std::int64_t total) {
      py::gil_scoped_acquire gil;
      try {
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        if (!progress_.is_none()) progress_(done, total);
        return true;
      } catch (py::error_already_set& e) {
        error_.emplace(std::move(e));
        return false;
      }
    };
  }
  void Rethrow() {
    if (error_) throw std::move(*error_);
  }

 private:
  const py::object& progress_;
  std::optional<py::error_already_set> error_;
};

// Encodes into a new (n, dim) float32 array, written in place by C++ with the GIL released.
// `progress(done, total)` is called between batches with the GIL held; Ctrl-C cancels.
py::array_t<float> Encode(const Encoder& encoder, const std::vector<std::string>& texts,
                          int batch_size, const py::object& progress, bool queries) {
  py::array_t<float> out(std::vector<py::ssize_t>{static_cast<py::ssize_t>(texts.size()), encoder.Dimension()});
  MutableMatrixView view{out.mutable_data(), static_cast<std::int64_t>(texts.size()), encoder.Dimension()};
  EncodeOptions options;
  options.batch_size = batch_size;
  PythonProgress guard(progress);
  options.progress = guard.Callback();
  absl::Status status;
  {
    py::gil_scoped_release release;
    status = queries ? encoder.EncodeQueries(texts, view, options)
                     : encoder.EncodeDocuments(texts, view, options);
  }
  guard.Rethrow();
  ThrowIfError(status);
  return out;
}

// A (rows, cols) float32 array owning `m` (moved, no copy).
py::array_t<float> MatrixToArray(RowMatrix&& m) {
  const py::ssize_t rows = m.rows(), cols = m.cols();
  if (rows == 0) return py::array_t<float>(std::vector<py::ssize_t>{0, cols});
  auto* owned = new RowMatrix(std::move(m));
  py::capsule base(owned, [](void* p) { delete static_cast<RowMatrix*>(p); });
  return py::array_t<float>({rows, cols}, {cols * static_cast<py::ssize_t>(sizeof(float)),
                                           static_cast<py::ssize_t>(sizeof(float))},
                            owned->data(), base);
}

// Token-level encoding: a list of (tokens, dim) float32 arrays, computed with the GIL released.
py::list EncodeTokens(const ColbertEncoder& encoder, const std::vector<std::string>& texts, int batch_size,
                      const py::object& progress, bool queries) {
  EncodeOptions options;
  options.batch_size = batch_size;
  PythonProgress guard(progress);
  options.progress = guard.Callback();
  absl::StatusOr<std::vector<RowMatrix>> result;
  {
    py::gil_scoped_release release;
    result = queries ? encoder.EncodeQueries(texts, options) : encoder.EncodeDocuments(texts, options);
  }
  guard.Rethrow();
  ThrowIfError(result.status());
  py::list out;
  for (RowMatrix& matrix : *result) out.append(MatrixToArray(std::move(matrix)));
  return out;
}

// Document token encoding with ids: (list of (tokens, dim) float32, list of (tokens,) int32).
py::tuple EncodeTokensWithIds(const ColbertEncoder& encoder, const std::vector<std::string>& texts, int batch_size,
                              const py::object& progress) {
  EncodeOptions options;
  options.batch_size = batch_size;
  PythonProgress guard(progress);
  options.progress = guard.Callback();
  absl::StatusOr<std::vector<densefb::TokenEmbeddings>> result;
  {
    py::gil_scoped_release release;
    result = encoder.EncodeDocumentsWithIds(texts, options);
  }
  guard.Rethrow();
  ThrowIfError(result.status());
  py::list vectors, ids;
  for (densefb::TokenEmbeddings& e : *result) {
    vectors.append(MatrixToArray(std::move(e.vectors)));
    py::array_t<std::int32_t> row(static_cast<py::ssize_t>(e.token_ids.size()));
    std::copy(e.token_ids.begin(), e.token_ids.end(), row.mutable_data());
    ids.append(row);
  }
  return py::make_tuple(vectors, ids);
}

// Cross-encoder scores of (queries[i], passages[i]) as a new float32 array.
py::array_t<float> ScorePairs(const CrossEncoder& scorer, const std::vector<std::string>& queries,
                              const std::vector<std::string>& passages, int batch_size, const py::object& progress) {
  py::array_t<float> out(std::vector<py::ssize_t>{static_cast<py::ssize_t>(queries.size())});
  EncodeOptions options;
  options.batch_size = batch_size;
  PythonProgress guard(progress);
  options.progress = guard.Callback();
  absl::Status status;
  {
    py::gil_scoped_release release;
    status = scorer.Score(queries, passages, absl::Span<float>(out.mutable_data(), queries.size()), options);
  }
  guard.Rethrow();
  ThrowIfError(status);
  return out;
}

TokenCheckpointFormat ParseFormat(const std::string& name) {
  if (name == "auto") return TokenCheckpointFormat::kAuto;
  if (name == "colbert" || name == "stanford") return TokenCheckpointFormat::kStanford;
  if (name == "pylate") return TokenCheckpointFormat::kPylate;
  if (name == "bert") return TokenCheckpointFormat::kBert;
  throw py::value_error("format must be \"auto\", \"colbert\", \"pylate\" or \"bert\", got \"" + name + "\"");
}

const char* FormatName(TokenCheckpointFormat f) {
  switch (f) {
    case TokenCheckpointFormat::kStanford: return "colbert";
    case TokenCheckpointFormat::kPylate: return "pylate";
    case TokenCheckpointFormat::kBert: return "bert";
    default: return "auto";
  }
}

ScoreActivation ParseActivation(const std::string& name) {
  if (name == "none") return ScoreActivation::kNone;
  if (name == "sigmoid") return ScoreActivation::kSigmoid;
  throw py::value_error("activation must be \"none\" or \"sigmoid\", got \"" + name + "\"");
}

}  // namespace
}  // namespace densefb::py_bindings

PYBIND11_MODULE(_torch, m) {
  namespace b = densefb::py_bindings;
  using densefb::Encoder;
  m.doc() = "densefb libtorch encoders (private; use densefb.Encoder)";
  m.def("cuda_available", &densefb::CudaAvailable);
  b::RegisterTorchFlatIndex(m);
  m.def("cpu_has_bf16", &densefb::CpuHasBf16,
        "Whether this CPU has bf16 dot-product instructions (AVX512_BF16 or AMX-BF16).");
  m.def("int8_weight_bits", &densefb::Int8WeightBits,
        "The bits of precision=\"int8\" weights on this CPU: 8 with AVX512-VNNI, 7 elsewhere.");
  m.def("resolve_precision", [](const std::string& precision, const std::string& device) {
          const densefb::Precision requested = b::ValueOrThrow(densefb::ParsePrecision(precision));
          return std::string(densefb::PrecisionName(b::ValueOrThrow(densefb::ResolvePrecision(requested, device))));
        }, b::py::arg("precision"), b::py::arg("device") = "cpu",
        "The precision an encoder on `device` runs in when `precision` is asked for: \"bf16\" on a CPU\n"
        "without bf16 instructions is \"fp32\"; \"fp16\" on a CPU and \"int8\" on CUDA are errors.");
  // As densefb._core._core_address: equal when both modules share one libdensefb.
  m.def("_core_address", [] { return reinterpret_cast<std::uintptr_t>(&densefb::RegisteredStages); });
  // The index object comes from densefb._core; pybind11 finds its type across modules.
  m.def("encode_and_add", [](const Encoder& encoder, const std::vector<std::string>& texts,
                             densefb::VectorIndex& index, std::optional<b::IdArray> ids, int batch_size,
                             std::int64_t chunk_size, const b::py::object& progress) {
          b::IdArray id_array = ids ? *ids : b::IdArray(0);
          const auto id_span = ids ? b::IdsArg(id_array, "ids") : absl::Span<const std::int64_t>();
          densefb::IndexingOptions options;
          options.batch_size = batch_size;
          options.chunk_size = chunk_size;
          b::PythonProgress guard(progress);
          options.progress = guard.Callback();
          absl::Status status;
          {
            b::py::gil_scoped_release release;
            // The device index takes a torch encoder's output on the device.
            auto* device_index = dynamic_cast<densefb::TorchFlatIndex*>(&index);
            status = device_index != nullptr ? densefb::EncodeAndAdd(encoder, texts, device_index, id_span, options)
                                             : densefb::EncodeAndAdd(encoder, texts, &index, id_span, options);
          }
          guard.Rethrow();
          b::ThrowIfError(status);
        }, b::py::arg("encoder"), b::py::arg("texts"), b::py::arg("index"), b::py::arg("ids") = b::py::none(),
        b::py::arg("batch_size") = 32, b::py::arg("chunk_size") = 4096, b::py::arg("progress") = b::py::none());

  b::py::class_<Encoder, std::shared_ptr<Encoder>>(m, "BertEncoder")
      .def(b::py::init([](const std::string& model_dir, std::optional<std::string> pooling,
                          std::optional<bool> normalize, int max_length, const std::string& device,
                          int num_threads, const std::string& query_prefix,
                          const std::string& document_prefix, const std::string& precision) {
             densefb::BertEncoderConfig config;
             config.precision = b::ValueOrThrow(densefb::ParsePrecision(precision));
             config.model_dir = model_dir;
             config.pooling = b::ParsePooling(pooling);
             config.normalize = normalize;
             config.max_length = max_length;
             config.device = device;
             config.num_threads = num_threads;
             config.query_prefix = query_prefix;
             config.document_prefix = document_prefix;
             auto encoder = b::ValueOrThrow(b::WithoutGil([&] { return densefb::MakeBertEncoder(config); }));
             return std::shared_ptr<Encoder>(std::move(encoder));
           }),
           b::py::arg("model_dir"), b::py::arg("pooling") = b::py::none(), b::py::arg("normalize") = b::py::none(),
           b::py::arg("max_length") = 0, b::py::arg("device") = "cpu", b::py::arg("num_threads") = 0,
           b::py::arg("query_prefix") = "", b::py::arg("document_prefix") = "", b::py::arg("precision") = "fp32")
      .def("encode_queries", [](const Encoder& e, const std::vector<std::string>& texts, int batch_size,
                                const b::py::object& progress) { return b::Encode(e, texts, batch_size, progress, true); },
           b::py::arg("texts"), b::py::arg("batch_size") = 32, b::py::arg("progress") = b::py::none())
      .def("encode_documents", [](const Encoder& e, const std::vector<std::string>& texts, int batch_size,
                                  const b::py::object& progress) { return b::Encode(e, texts, batch_size, progress, false); },
           b::py::arg("texts"), b::py::arg("batch_size") = 32, b::py::arg("progress") = b::py::none())
      .def_property_readonly("dim", &Encoder::Dimension)
      .def_property_readonly("max_length", &Encoder::MaxLength)
      .def_property_readonly("normalized", &Encoder::Normalized);

  using densefb::ColbertEncoder;
  b::py::class_<ColbertEncoder, std::shared_ptr<ColbertEncoder>>(m, "ColbertEncoder")
      .def(b::py::init([](const std::string& model_dir, const std::string& format, int query_maxlen, int doc_maxlen,
                          std::optional<std::string> query_marker, std::optional<std::string> doc_marker,
                          std::optional<bool> query_augmentation, std::optional<bool> attend_to_mask_tokens,
                          std::optional<bool> mask_punctuation, std::optional<std::vector<std::string>> skiplist_words,
                          std::optional<bool> projection, const std::string& device, int num_threads,
                          const std::string& precision) {
             densefb::ColbertEncoderConfig config;
             config.model_dir = model_dir;
             config.format = b::ParseFormat(format);
             config.query_maxlen = query_maxlen;
             config.doc_maxlen = doc_maxlen;
             config.query_marker = std::move(query_marker);
             config.doc_marker = std::move(doc_marker);
             config.query_augmentation = query_augmentation;
             config.attend_to_mask_tokens = attend_to_mask_tokens;
             config.mask_punctuation = mask_punctuation;
             config.skiplist_words = std::move(skiplist_words);
             config.projection = projection;
             config.device = device;
             config.num_threads = num_threads;
             config.precision = b::ValueOrThrow(densefb::ParsePrecision(precision));
             auto encoder = b::ValueOrThrow(b::WithoutGil([&] { return densefb::MakeColbertEncoder(config); }));
             return std::shared_ptr<ColbertEncoder>(std::move(encoder));
           }),
           b::py::arg("model_dir"), b::py::arg("format") = "auto", b::py::arg("query_maxlen") = 0,
           b::py::arg("doc_maxlen") = 0, b::py::arg("query_marker") = b::py::none(),
           b::py::arg("doc_marker") = b::py::none(), b::py::arg("query_augmentation") = b::py::none(),
           b::py::arg("attend_to_mask_tokens") = b::py::none(), b::py::arg("mask_punctuation") = b::py::none(),
           b::py::arg("skiplist_words") = b::py::none(), b::py::arg("projection") = b::py::none(),
           b::py::arg("device") = "cpu", b::py::arg("num_threads") = 0, b::py::arg("precision") = "fp32")
      .def("encode_queries", [](const ColbertEncoder& e, const std::vector<std::string>& texts, int batch_size,
                                const b::py::object& progress) { return b::EncodeTokens(e, texts, batch_size, progress, true); },
           b::py::arg("texts"), b::py::arg("batch_size") = 32, b::py::arg("progress") = b::py::none())
      .def("encode_documents", [](const ColbertEncoder& e, const std::vector<std::string>& texts, int batch_size,
                                  const b::py::object& progress) { return b::EncodeTokens(e, texts, batch_size, progress, false); },
           b::py::arg("texts"), b::py::arg("batch_size") = 32, b::py::arg("progress") = b::py::none())
      .def("encode_documents_with_ids", &b::EncodeTokensWithIds, b::py::arg("texts"), b::py::arg("batch_size") = 32,
           b::py::arg("progress") = b::py::none())
      .def_property_readonly("dim", &ColbertEncoder::Dimension)
      .def_property_readonly("format", [](const ColbertEncoder& e) { return b::FormatName(e.Info().format); })
      .def_property_readonly("query_maxlen", [](const ColbertEncoder& e) { return e.Info().query_maxlen; })
      .def_property_readonly("doc_maxlen", [](const ColbertEncoder& e) { return e.Info().doc_maxlen; })
      .def_property_readonly("query_marker", [](const ColbertEncoder& e) { return e.Info().query_marker; })
      .def_property_readonly("doc_marker", [](const ColbertEncoder& e) { return e.Info().doc_marker; })
      .def_property_readonly("query_augmentation", [](const ColbertEncoder& e) { return e.Info().query_augmentation; })
      .def_property_readonly("attend_to_mask_tokens", [](const ColbertEncoder& e) { return e.Info().attend_to_mask_tokens; })
      .def_property_readonly("mask_punctuation", [](const ColbertEncoder& e) { return e.Info().mask_punctuation; })
      .def_property_readonly("skiplist_ids", [](const ColbertEncoder& e) { return e.Info().skiplist_ids; });

  using densefb::CrossEncoder;
  b::py::class_<CrossEncoder, std::shared_ptr<CrossEncoder>>(m, "CrossEncoder")
      .def(b::py::init([](const std::string& model_dir, int max_length, int label, const std::string& activation,
                          const std::string& device, int num_threads, const std::string& precision) {
             densefb::CrossEncoderConfig config;
             config.model_dir = model_dir;
             config.max_length = max_length;
             config.label = label;
             config.activation = b::ParseActivation(activation);
             config.device = device;
             config.num_threads = num_threads;
             config.precision = b::ValueOrThrow(densefb::ParsePrecision(precision));
             auto scorer = b::ValueOrThrow(b::WithoutGil([&] { return densefb::MakeCrossEncoder(config); }));
             return std::shared_ptr<CrossEncoder>(std::move(scorer));
           }),
           b::py::arg("model_dir"), b::py::arg("max_length") = 0, b::py::arg("label") = 0,
           b::py::arg("activation") = "none", b::py::arg("device") = "cpu", b::py::arg("num_threads") = 0, b::py::arg("precision") = "fp32")
      .def("score", &b::ScorePairs, b::py::arg("queries"), b::py::arg("passages"), b::py::arg("batch_size") = 32,
           b::py::arg("progress") = b::py::none())
      .def_property_readonly("max_length", &CrossEncoder::MaxLength)
      .def_property_readonly("num_labels", &CrossEncoder::NumLabels);
}
