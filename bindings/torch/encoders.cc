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
#include "densefb/torch/encoders.h"

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

}  // namespace
}  // namespace densefb::py_bindings

PYBIND11_MODULE(_torch, m) {
  namespace b = densefb::py_bindings;
  using densefb::Encoder;
  m.doc() = "densefb libtorch encoders (private; use densefb.Encoder)";
  m.def("cuda_available", &densefb::CudaAvailable);
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
            status = densefb::EncodeAndAdd(encoder, texts, &index, id_span, options);
          }
          guard.Rethrow();
          b::ThrowIfError(status);
        }, b::py::arg("encoder"), b::py::arg("texts"), b::py::arg("index"), b::py::arg("ids") = b::py::none(),
        b::py::arg("batch_size") = 32, b::py::arg("chunk_size") = 4096, b::py::arg("progress") = b::py::none());

  b::py::class_<Encoder, std::shared_ptr<Encoder>>(m, "BertEncoder")
      .def(b::py::init([](const std::string& model_dir, std::optional<std::string> pooling,
                          std::optional<bool> normalize, int max_length, const std::string& device,
                          int num_threads, const std::string& query_prefix,
                          const std::string& document_prefix) {
             densefb::BertEncoderConfig config;
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
           b::py::arg("query_prefix") = "", b::py::arg("document_prefix") = "")
      .def("encode_queries", [](const Encoder& e, const std::vector<std::string>& texts, int batch_size,
                                const b::py::object& progress) { return b::Encode(e, texts, batch_size, progress, true); },
           b::py::arg("texts"), b::py::arg("batch_size") = 32, b::py::arg("progress") = b::py::none())
      .def("encode_documents", [](const Encoder& e, const std::vector<std::string>& texts, int batch_size,
                                  const b::py::object& progress) { return b::Encode(e, texts, batch_size, progress, false); },
           b::py::arg("texts"), b::py::arg("batch_size") = 32, b::py::arg("progress") = b::py::none())
      .def_property_readonly("dim", &Encoder::Dimension)
      .def_property_readonly("max_length", &Encoder::MaxLength)
      .def_property_readonly("normalized", &Encoder::Normalized);
}
