#include "torch/model_files.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "torch/bert.h"
#include "densefb/file_format.h"
#include "densefb/torch/encoders.h"

#include <c10/util/Exception.h>
#include <torch/cuda.h>

namespace densefb::torch_impl {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

absl::StatusOr<Json> ReadJson(const fs::path& path) { return ReadJsonFile(path.string()); }

absl::StatusOr<Pooling> ReadPooling(const fs::path& config) {
  DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(config));
  std::vector<std::pair<std::string, Pooling>> on;
  const std::pair<const char*, Pooling> supported[] = {{"pooling_mode_cls_token", Pooling::kCls},
                                                       {"pooling_mode_mean_tokens", Pooling::kMean},
                                                       {"pooling_mode_max_tokens", Pooling::kMax}};
  for (const auto& [key, mode] : supported) {
    if (j.value(key, false)) on.emplace_back(key, mode);
  }
  for (const char* key : {"pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                          "pooling_mode_lasttoken"}) {
    if (j.value(key, false)) {
      return absl::UnimplementedError(absl::StrCat(config.string(), ": ", key, " is not supported"));
    }
  }
  if (on.size() != 1) {
    return absl::UnimplementedError(absl::StrCat(config.string(), ": expected exactly one of cls, mean, max pooling, got ",
                                                 on.size()));
  }
  return on[0].second;
}

absl::StatusOr<DenseLayer> ReadDense(const fs::path& dir) {
  DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(dir / "config.json"));
  DENSEFB_ASSIGN_OR_RETURN(auto weights, OpenWeights(dir.string()));
  DenseLayer layer;
  const std::string act = j.value("activation_function", "torch.nn.modules.linear.Identity");
  if (absl::EndsWith(act, "Identity")) {
    layer.activation = "identity";
  } else if (absl::EndsWith(act, "Tanh")) {
    layer.activation = "tanh";
  } else {
    return absl::UnimplementedError(absl::StrCat((dir / "config.json").string(), ": activation \"", act, "\" is not supported"));
  }
  DENSEFB_ASSIGN_OR_RETURN(TensorView w, weights->Get("linear.weight"));
  DENSEFB_ASSIGN_OR_RETURN(layer.weight, ToFloatTensor(w));
  if (j.value("bias", true)) {
    DENSEFB_ASSIGN_OR_RETURN(TensorView b, weights->Get("linear.bias"));
    DENSEFB_ASSIGN_OR_RETURN(layer.bias, ToFloatTensor(b));
  }
  const int in = j.value("in_features", -1), out = j.value("out_features", -1);
  if (layer.weight.dim() != 2 || layer.weight.size(0) != out || layer.weight.size(1) != in) {
    return absl::InvalidArgumentError(absl::StrCat(dir.string(), ": linear.weight does not match in_features ",
                                                   in, " / out_features ", out));
  }
  return layer;
}

}  // namespace

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path, bool require_object) {
  DENSEFB_RETURN_IF_ERROR(CheckPath(path));
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  try {
    nlohmann::json j;
    in >> j;
    if (require_object && !j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
    }
    return j;
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON: ", e.what()));
  }
}

absl::StatusOr<at::Device> ParseDevice(const std::string& device) {
  try {
    at::Device d(device);
    if (d.is_cuda() && !CudaAvailable()) {
      return absl::FailedPreconditionError(absl::StrCat("device \"", device, "\": CUDA is not available"));
    }
    if (d.is_cuda() && d.has_index() && d.index() >= static_cast<int>(torch::cuda::device_count())) {
      return absl::FailedPreconditionError(absl::StrCat("device \"", device, "\": there are ",
                                                        torch::cuda::device_count(), " CUDA devices"));
    }
    return d;
  } catch (const std::exception&) {
    return absl::InvalidArgumentError(absl::StrCat("invalid device \"", device, "\""));
  }
}

absl::Status TorchError(const std::exception& e, absl::string_view what) {
  std::string msg = e.what();
  if (const auto* c10e = dynamic_cast<const c10::Error*>(&e)) msg = c10e->what_without_backtrace();
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": out of memory: ", msg));
  }
  return absl::InternalError(absl::StrCat(what, ": torch error: ", msg));
}

at::Tensor DenseLayer::Apply(const at::Tensor& x) const {
  at::Tensor y = bias.defined() ? at::linear(x, weight, bias) : at::linear(x, weight);
  return activation == "tanh" ? at::tanh(y) : y;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> OpenWeights(const std::string& dir) {
  DENSEFB_RETURN_IF_ERROR(CheckPath(dir));
  const fs::path st = fs::path(dir) / "model.safetensors";
  std::error_code ec;
  if (fs::exists(st, ec)) return SafetensorsFile::Open(st.string());
  if (fs::exists(fs::path(dir) / "pytorch_model.bin", ec)) {
    return absl::UnimplementedError(absl::StrCat(
        dir, ": only pytorch_model.bin (pickle) weights found; densefb reads model.safetensors "
             "(convert with safetensors' save_file or save_pretrained(safe_serialization=True))"));
  }
  return absl::NotFoundError(absl::StrCat(dir, ": not a model directory (no model.safetensors)"));
}

absl::StatusOr<SentenceTransformerLayout> ReadSentenceTransformerLayout(const std::string& dir) {
  DENSEFB_RETURN_IF_ERROR(CheckPath(dir));
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, ": no such directory (expected a model directory)"));
  }
  SentenceTransformerLayout layout;
  layout.dir = dir;
  layout.transformer_dir = dir;
  const fs::path modules = fs::path(dir) / "modules.json";
  if (fs::exists(modules, ec)) {
    DENSEFB_ASSIGN_OR_RETURN(Json list, ReadJson(modules));
    if (!list.is_array()) return absl::InvalidArgumentError(absl::StrCat(modules.string(), ": expected a JSON array"));
    for (const Json& m : list) {
      const std::string type = m.value("type", "");
      const fs::path path = fs::path(dir) / m.value("path", "");
      if (absl::EndsWith(type, ".Transformer")) {
        layout.transformer_dir = path.string();
      } else if (absl::EndsWith(type, ".Pooling")) {
        DENSEFB_ASSIGN_OR_RETURN(layout.pooling, ReadPooling(path / "config.json"));
      } else if (absl::EndsWith(type, ".Normalize")) {
        layout.normalize = true;
      } else if (absl::EndsWith(type, ".Dense")) {
        DENSEFB_ASSIGN_OR_RETURN(DenseLayer layer, ReadDense(path));
        layout.dense.push_back(std::move(layer));
      } else {
        return absl::UnimplementedError(absl::StrCat(modules.string(), ": module type \"", type, "\" is not supported"));
      }
    }
  }
  if (!fs::exists(fs::path(layout.transformer_dir) / "config.json", ec)) {
    return absl::InvalidArgumentError(absl::StrCat(layout.transformer_dir, ": not a model directory (no config.json)"));
  }
  const fs::path sbert = fs::path(layout.transformer_dir) / "sentence_bert_config.json";
  if (fs::exists(sbert, ec)) {
    DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(sbert));
    layout.max_seq_length = j.value("max_seq_length", 0);
  }
  return layout;
}

}  // namespace densefb::torch_impl
