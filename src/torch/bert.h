// Internal (torch target only): BERT in the libtorch C++ frontend. Module and parameter names
// are exactly the Hugging Face state-dict keys ("embeddings.word_embeddings.weight",
// "encoder.layer.0.attention.self.query.weight", ...), so weights load by name.
#ifndef DENSEFB_SRC_TORCH_BERT_H_
#define DENSEFB_SRC_TORCH_BERT_H_

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "densefb/safetensors.h"
#include "densefb/status.h"
#include "densefb/torch/encoders.h"

namespace densefb::torch_impl {

// The subset of config.json a BERT encoder needs.
struct BertConfig {
  int vocab_size = 0;
  int hidden_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int intermediate_size = 0;
  int max_position_embeddings = 512;
  int type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  std::string hidden_act = "gelu";
  int num_labels = 0;  // sequence classification head size (cross-encoders); 0 = none

  // Reads <dir>/config.json; rejects model types and options this implementation does not
  // reproduce exactly (e.g. relative position embeddings), naming the field. Every field must
  // have its JSON type (an integer, not "384" or 384.5) and its range: sizes >= 1 (num_labels
  // >= 0), hidden_size divisible by num_attention_heads, layer_norm_eps finite and > 0.
  static absl::StatusOr<BertConfig> FromFile(const std::string& path);
};

struct BertEmbeddingsImpl : torch::nn::Module {
  explicit BertEmbeddingsImpl(const BertConfig& c);
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& token_type_ids);
  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr},
      token_type_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
};
TORCH_MODULE(BertEmbeddings);

struct BertSelfAttentionImpl : torch::nn::Module {
  explicit BertSelfAttentionImpl(const BertConfig& c);
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
};
TORCH_MODULE(BertSelfAttention);

struct BertDenseLayerNormImpl : torch::nn::Module {  // "output" blocks: dense + LayerNorm
  BertDenseLayerNormImpl(int in, int out, double eps);
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
};
TORCH_MODULE(BertDenseLayerNorm);

struct BertAttentionImpl : torch::nn::Module {
  explicit BertAttentionImpl(const BertConfig& c);
  BertSelfAttention self{nullptr};
  BertDenseLayerNorm output{nullptr};
};
TORCH_MODULE(BertAttention);

struct BertIntermediateImpl : torch::nn::Module {
  explicit BertIntermediateImpl(const BertConfig& c);
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(BertIntermediate);

struct BertLayerImpl : torch::nn::Module {
  // The linear layers, in the order of `int8`.
  enum LinearId { kQuery, kKey, kValue, kAttentionOutput, kIntermediate, kOutput, kNumLinears };
  explicit BertLayerImpl(const BertConfig& c);
  // hidden: (B, S, H); mask: (B, 1, 1, S) boolean, true = attend (undefined: no padding).
  // `lengths`, when given (CPU, float32, every mask a prefix of ones), holds each sequence's
  // unpadded length, and attention runs through densefb's own kernel instead of SDPA.
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& mask,
                     const std::vector<std::int64_t>* lengths = nullptr);
  BertAttention attention{nullptr};
  BertIntermediate intermediate{nullptr};
  BertDenseLayerNorm output{nullptr};
  int heads;
  std::string act;
  // Empty, or the kNumLinears linear layers packed for int8 dynamic quantisation
  // (QuantizeLinearsInt8): forward then runs them through quantized::linear_dynamic, the
  // outlier features of their inputs through float32 with the modules' own weights.
  std::vector<c10::IValue> int8;
};
TORCH_MODULE(BertLayer);

struct BertEncoderImpl : torch::nn::Module {
  explicit BertEncoderImpl(const BertConfig& c);
  torch::nn::ModuleList layer{nullptr};
};
TORCH_MODULE(BertEncoder);

struct BertPoolerImpl : torch::nn::Module {
  explicit BertPoolerImpl(const BertConfig& c);
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(BertPooler);

// BertModel (+ pooler when `with_pooler`).
struct BertModelImpl : torch::nn::Module {
  BertModelImpl(const BertConfig& c, bool with_pooler);
  // Returns the last hidden states (B, S, H).
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                     const at::Tensor& token_type_ids);
  // tanh(dense(hidden[:, 0])) — BERT's pooler output.
  at::Tensor pool(const at::Tensor& hidden);
  BertConfig config;
  BertEmbeddings embeddings{nullptr};
  BertEncoder encoder{nullptr};
  BertPooler pooler{nullptr};
};
TORCH_MODULE(BertModel);

// Packs every transformer layer's linear layers for int8 dynamic quantisation (densefb's
// Precision::kInt8: weights per output channel, symmetric, Int8WeightBits() bits, scale
// max |w| / 127.5 or / 63.5). Forward then splits each layer's input as in LLM.int8(): the
// features with a value beyond +-6 go through float32, the rest through the int8 kernel.
// Fails, with the reason, where libtorch has no quantized CPU engine.
absl::Status QuantizeLinearsInt8(BertModelImpl& model);

// Moves `model` to `device` in `precision` (already resolved by ResolvePrecision): bf16 / fp16
// cast every parameter; int8 packs the transformer layers' linear layers
// (QuantizeLinearsInt8) and leaves the rest float32 on the CPU; fp32 only moves.
absl::Status SetPrecision(BertModelImpl& model, Precision precision, const at::Device& device);

// Copies tensors from `file` into the parameters of `module`: parameter "p" is read from the
// first of "<prefix>p" for prefix in `prefixes` that exists. Fails on a missing tensor, on a
// shape mismatch, and on any tensor of the file that no parameter consumed unless it starts
// with one of `ignored_prefixes` (e.g. "cls." pre-training heads), naming the tensors.
absl::Status LoadParameters(torch::nn::Module& module, const SafetensorsFile& file,
                            const std::vector<std::string>& prefixes,
                            const std::vector<std::string>& ignored_prefixes,
                            std::vector<std::string>* consumed = nullptr);

// A float32 CPU tensor holding a copy of tensor `name` of `file` (any floating dtype).
// InvalidArgument naming the file, the tensor and the element for a NaN or infinite value
// (found in one vectorised pass), or for a tensor that is not floating point.
absl::StatusOr<at::Tensor> ReadFloatTensor(const SafetensorsFile& file, const std::string& name);

}  // namespace densefb::torch_impl

#endif  // DENSEFB_SRC_TORCH_BERT_H_
