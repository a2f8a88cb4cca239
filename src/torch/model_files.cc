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
  DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJsonFile(config.string(), /*require_object=*/true));
  std::vector<std::pair<std::string, Pooling>> on;
  const std::pair<const char*, Pooling> supported[] = {{"pooling_mode_cls_token", Pooling::kCls},
                                                       {"pooling_mode_mean_tokens", Pooling::kMean},
                                                       {"pooling_mode_max_tokens", Pooling::kMax}};
  for (const auto& [key, mode] : supported) {
    DENSEFB_ASSIGN_OR_RETURN(const bool set, JsonField<bool>(j, key, false, config.string()));
    if (set) on.emplace_back(key, mode);
  }
  for (const char* key : {"pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                          "pooling_mode_lasttoken"}) {
    DENSEFB_ASSIGN_OR_RETURN(const bool set, JsonField<bool>(j, key, false, config.string()));
    if (set) {
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
  const std::string config = (dir / "config.json").string();
  DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJsonFile(config, /*require_object=*/true));
  DENSEFB_ASSIGN_OR_RETURN(auto weights, OpenWeights(dir.string()));
  DenseLayer layer;
  DENSEFB_ASSIGN_OR_RETURN(const std::string act,
                           JsonField<std::string>(j, "activation_function", "torch.nn.modules.linear.Identity", config));
  if (absl::EndsWith(act, "Identity")) {
    layer.activation = "identity";
  } else if (absl::EndsWith(act, "Tanh")) {
    layer.activation = "tanh";
  } else {
    return absl::UnimplementedError(absl::StrCat((dir / "config.json").string(), ": activation \"", act, "\" is not supported"));
  }
  DENSEFB_ASSIGN_OR_RETURN(layer.weight, ReadFloatTensor(*weights, "linear.weight"));
  DENSEFB_ASSIGN_OR_RETURN(const bool bias, JsonField<bool>(j, "bias", true, config));
  if (bias) {
    DENSEFB_ASSIGN_OR_RETURN(layer.bias, ReadFloatTensor(*weights, "linear.bias"));
  }
  DENSEFB_ASSIGN_OR_RETURN(const int in, JsonField<int>(j, "in_features", -1, config));
  DENSEFB_ASSIGN_OR_RETURN(const int out, JsonField<int>(j, "out_features", -1, config));
  if (layer.weight.dim() != 2 || layer.weight.size(0) != out || layer.weight.size(1) != in) {
    return absl::InvalidArgumentError(absl::StrCat(dir.string(), ": linear.weight does not match in_features ",
                                                   in, " / out_features ", out));
  }
  return layer;
}

}  // namespace

const char* JsonTypeName(const int*) { return "an integer"; }
const char* JsonTypeName(const double*) { return "a number"; }
const char* JsonTypeName(const bool*) { return "true or false"; }
const char* JsonTypeName(const std::string*) { return "a string"; }
const char* JsonTypeName(const std::vector<std::string>*) { return "an array of strings"; }

std::string JsonExcerpt(const nlohmann::json& v) {
  std::string text = v.dump(-1, ' ', /*ensure_ascii=*/true);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

absl::Status ModelError(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kNotFound && s.message().find(": no such ") == absl::string_view::npos) {
    return absl::InvalidArgumentError(s.message());
  }
  return s;
}

absl::StatusOr<BertCheckpoint> OpenBertCheckpoint(const std::string& dir) {
  const std::string config_path = dir + "/config.json";
  DENSEFB_ASSIGN_OR_RETURN(BertConfig config, BertConfig::FromFile(config_path));
  DENSEFB_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> weights, OpenWeights(dir));
  DENSEFB_ASSIGN_OR_RETURN(WordPieceTokenizer tokenizer, WordPieceTokenizer::FromDirectory(dir));
  // Every id the tokenizer emits indexes the word embeddings: its largest id (vocabulary and
  // added tokens; special and padding ids are among them) must have a row.
  const std::int64_t top = tokenizer.num_ids() - 1;
  if (top >= config.vocab_size) {
    const auto token = tokenizer.IdToToken(top);
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": tokenizer token \"", token.ok() ? *token : std::string("?"), "\" has id ", top,
        ", beyond the word embedding matrix of ", config.vocab_size, " rows (\"vocab_size\" in ", config_path,
        ", tensor embeddings.word_embeddings.weight)"));
  }
  if (tokenizer.num_type_ids() > config.type_vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": the tokenizer's post-processor assigns token type id ", tokenizer.num_type_ids() - 1,
        ", beyond the token type embedding matrix of ", config.type_vocab_size, " rows (\"type_vocab_size\" in ",
        config_path, ")"));
  }
  return BertCheckpoint{dir, config_path, std::move(config), std::move(weights), std::move(tokenizer)};
}

absl::StatusOr<int> ResolveMaxLength(const BertCheckpoint& ckpt, int requested, const char* what,
                                     int configured, const std::string& configured_in,
                                     std::int64_t min_length) {
  const int max_pos = ckpt.config.max_position_embeddings;
  std::string source;
  int length = 0;
  if (requested > 0) {
    length = requested;
    source = absl::StrCat(what, " = ", requested);
  } else if (configured > 0) {
    length = configured;
    source = absl::StrCat(configured_in, ": \"max_seq_length\" = ", configured);
  } else {
    // tokenizer_config.json's model_max_length is often a "no limit" sentinel (1e30): capped.
    const std::int64_t t = ckpt.tokenizer.model_max_length();
    length = t > 0 && t < max_pos ? static_cast<int>(t) : max_pos;
    source = absl::StrCat(what, " = ", length, " (the tokenizer's model_max_length, at most max_position_embeddings)");
  }
  if (length > max_pos) {
    return absl::InvalidArgumentError(absl::StrCat(source, " exceeds the model's ", max_pos,
                                                   " position embeddings (\"max_position_embeddings\" in ",
                                                   ckpt.config_path, ")"));
  }
  if (length < min_length) {
    return absl::InvalidArgumentError(absl::StrCat(source, " must be at least ", min_length,
                                                   " (the tokenizer's special tokens need that many)"));
  }
  return length;
}

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
  const auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid device \"", device, "\": ", why,
                                                   " (expected \"cpu\", \"cuda\" or \"cuda:N\")"));
  };
  std::optional<at::Device> parsed;
  try {
    parsed.emplace(device);
  } catch (const std::exception&) {
    return invalid("not a device");
  }
  const at::Device d = *parsed;
  if (!d.is_cpu() && !d.is_cuda()) return invalid(absl::StrCat("densefb does not run on ", d.str()));
  // The CPU is one device: "cpu:0" is the "cpu" torch also names, any other index is a mistake.
  if (d.is_cpu() && d.has_index() && d.index() != 0) return invalid("the CPU has no device index other than 0");
  if (d.is_cuda() && !CudaAvailable()) {
    return absl::FailedPreconditionError(absl::StrCat("device \"", device, "\": CUDA is not available"));
  }
  if (d.is_cuda() && d.has_index() && d.index() >= static_cast<int>(torch::cuda::device_count())) {
    return absl::FailedPreconditionError(absl::StrCat("device \"", device, "\": there are ",
                                                      torch::cuda::device_count(), " CUDA devices"));
  }
  return d;
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
      if (!m.is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(modules.string(), ": entry ", JsonExcerpt(m), " is not an object"));
      }
      DENSEFB_ASSIGN_OR_RETURN(const std::string type, JsonField<std::string>(m, "type", "", modules.string()));
      DENSEFB_ASSIGN_OR_RETURN(const std::string sub, JsonField<std::string>(m, "path", "", modules.string()));
      const fs::path path = fs::path(dir) / sub;
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
    DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJsonFile(sbert.string(), /*require_object=*/true));
    // A value that is present must be a positive integer (absent or null: unknown).
    DENSEFB_ASSIGN_OR_RETURN(layout.max_seq_length, JsonField<int>(j, "max_seq_length", 0, sbert.string()));
    if (j.contains("max_seq_length") && !j["max_seq_length"].is_null() && layout.max_seq_length <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(sbert.string(), ": \"max_seq_length\" = ",
                                                     layout.max_seq_length, " must be a positive integer"));
    }
  }
  return layout;
}

}  // namespace densefb::torch_impl
