// Internal (torch target): the files of a Hugging Face / sentence-transformers model directory.
#ifndef DENSEFB_SRC_TORCH_MODEL_FILES_H_
#define DENSEFB_SRC_TORCH_MODEL_FILES_H_

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include <climits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/encoder.h"
#include "densefb/safetensors.h"
#include "densefb/status.h"
#include "densefb/tokenizer.h"
#include "torch/bert.h"

namespace densefb::torch_impl {

// A sentence-transformers Dense module: activation(x W^T + b).
struct DenseLayer {
  at::Tensor weight;  // (out, in)
  at::Tensor bias;    // (out) or undefined
  std::string activation;  // "identity" or "tanh"
  at::Tensor Apply(const at::Tensor& x) const;
};

// What modules.json and its module folders say; a plain Hugging Face directory (no
// modules.json) is a Transformer at the top level with nothing else.
struct SentenceTransformerLayout {
  std::string dir;
  std::string transformer_dir;
  std::optional<Pooling> pooling;
  bool normalize = false;
  int max_seq_length = 0;  // sentence_bert_config.json; 0 = unknown
  std::vector<DenseLayer> dense;
};

// Fails with "<dir>: not a model directory (...)" when `dir` is missing or lacks config.json,
// and with Unimplemented naming the module for a module type densefb does not reproduce.
absl::StatusOr<SentenceTransformerLayout> ReadSentenceTransformerLayout(const std::string& dir);

// Parses a JSON file; NotFound "<path>: no such file", InvalidArgument for bad JSON or, with
// `require_object`, a value that is not a JSON object.
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path, bool require_object = false);

// Whether a JSON value has the type a field of C++ type T reads: an integer (not a fraction,
// not a bool) within int's range; any number for double; a bool; a string; an array of strings.
template <typename T>
bool JsonHolds(const nlohmann::json& v);
template <>
inline bool JsonHolds<int>(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT_MAX);
  return v.is_number_integer() && v.get<std::int64_t>() >= INT_MIN && v.get<std::int64_t>() <= INT_MAX;
}
template <>
inline bool JsonHolds<double>(const nlohmann::json& v) { return v.is_number(); }
template <>
inline bool JsonHolds<bool>(const nlohmann::json& v) { return v.is_boolean(); }
template <>
inline bool JsonHolds<std::string>(const nlohmann::json& v) { return v.is_string(); }
template <>
inline bool JsonHolds<std::vector<std::string>>(const nlohmann::json& v) {
  if (!v.is_array()) return false;
  for (const auto& e : v) {
    if (!e.is_string()) return false;
  }
  return true;
}
const char* JsonTypeName(const int*);
const char* JsonTypeName(const double*);
const char* JsonTypeName(const bool*);
const char* JsonTypeName(const std::string*);
const char* JsonTypeName(const std::vector<std::string>*);
// `v` as JSON text, shortened to ~40 characters for an error message.
std::string JsonExcerpt(const nlohmann::json& v);

// j[key] read as T; `fallback` when the key is absent or null (or when `j` is not an object).
// InvalidArgument "<path>: \"<key>\" must be <type>, got <value>" for a value of another JSON
// type, so that no nlohmann exception text (or silent truncation of 3.5 to 3) reaches a user.
template <typename T>
absl::StatusOr<T> JsonField(const nlohmann::json& j, const char* key, T fallback, const std::string& path) {
  if (!j.is_object()) return fallback;
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!JsonHolds<T>(*it)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": \"", key, "\" must be ",
                                                   JsonTypeName(static_cast<const T*>(nullptr)), ", got ",
                                                   JsonExcerpt(*it)));
  }
  return it->template get<T>();
}

// A missing tensor or weights file inside a model directory is a malformed model
// (InvalidArgument), not a missing key; missing files and directories stay NotFound.
absl::Status ModelError(const absl::Status& s);

// The BERT part of a model directory, opened and validated as one unit for every encoder
// (bi-encoder, ColBERT, cross-encoder), before any weight is copied:
//   - config.json: types and ranges of every field BertConfig reads (BertConfig::FromFile);
//   - model.safetensors: the tensor layout (SafetensorsFile::Open: offsets inside the data
//     section, tiling it without overlap or gap, dtype x shape = byte length);
//   - the tokenizer against the model: every id it can produce (vocabulary, added and special
//     tokens, padding) has a row of the word embeddings (vocab_size), and every token type id
//     of its post-processor a row of the token type embeddings (type_vocab_size).
// Tensor shapes against the config, and finite values, are checked as the weights are copied
// (LoadParameters, ReadFloatTensor). Errors name the file and the key, tensor or token.
struct BertCheckpoint {
  std::string dir;          // the Transformer module's folder
  std::string config_path;  // <dir>/config.json
  BertConfig config;
  std::unique_ptr<SafetensorsFile> weights;
  WordPieceTokenizer tokenizer;
};
absl::StatusOr<BertCheckpoint> OpenBertCheckpoint(const std::string& dir);

// The sequence length an encoder runs at: `requested` when positive (else the model's
// `configured` max_seq_length when positive, else the tokenizer's model_max_length capped at
// max_position_embeddings, which is often a "no limit" sentinel). A requested or configured
// length above max_position_embeddings is refused, naming both values and where the length
// came from; so is a length below `min_length` (the special tokens, plus room for text).
// `what` names the argument ("max_length"); `configured_in` the file that set `configured`.
absl::StatusOr<int> ResolveMaxLength(const BertCheckpoint& ckpt, int requested, const char* what,
                                     int configured, const std::string& configured_in,
                                     std::int64_t min_length);

// "cpu" (or "cpu:0"), "cuda", "cuda:N". InvalidArgument naming the argument for any other
// string (another device type such as "mps" or "meta", a CPU index other than 0, a malformed
// string); FailedPrecondition when CUDA is asked for but not available or N is out of range.
absl::StatusOr<at::Device> ParseDevice(const std::string& device);

// A torch exception (c10::Error) as a Status: ResourceExhausted for out-of-memory, else
// Internal, prefixed by `what`. Torch exceptions never cross the densefb API.
absl::Status TorchError(const std::exception& e, absl::string_view what);

// <dir>/model.safetensors; pytorch_model.bin alone is reported as unsupported.
absl::StatusOr<std::unique_ptr<SafetensorsFile>> OpenWeights(const std::string& dir);

}  // namespace densefb::torch_impl

#endif  // DENSEFB_SRC_TORCH_MODEL_FILES_H_
