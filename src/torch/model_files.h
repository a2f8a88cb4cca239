// Internal (torch target): the files of a Hugging Face / sentence-transformers model directory.
#ifndef DENSEFB_SRC_TORCH_MODEL_FILES_H_
#define DENSEFB_SRC_TORCH_MODEL_FILES_H_

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "densefb/encoder.h"
#include "densefb/safetensors.h"
#include "densefb/status.h"

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

// "cpu", "cuda", "cuda:N"; FailedPrecondition when CUDA is asked for but not available.
absl::StatusOr<at::Device> ParseDevice(const std::string& device);

// A torch exception (c10::Error) as a Status: ResourceExhausted for out-of-memory, else
// Internal, prefixed by `what`. Torch exceptions never cross the densefb API.
absl::Status TorchError(const std::exception& e, absl::string_view what);

// <dir>/model.safetensors; pytorch_model.bin alone is reported as unsupported.
absl::StatusOr<std::unique_ptr<SafetensorsFile>> OpenWeights(const std::string& dir);

}  // namespace densefb::torch_impl

#endif  // DENSEFB_SRC_TORCH_MODEL_FILES_H_
