#include "torch/bert.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/nn/functional/activation.h>

#include <cmath>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/attention.h"
#include "densefb/file_format.h"
#include "index/checks.h"
#include "torch/model_files.h"

namespace densefb::torch_impl {
namespace {

using Json = nlohmann::json;

torch::nn::Linear MakeLinear(int in, int out, bool bias = true) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

torch::nn::LayerNorm MakeLayerNorm(int h, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({h}).eps(eps));
}

// In place; the same function as torch.nn.functional's.
void ApplyActivation(at::Tensor& x, const std::string& act) {
  if (act == "gelu") {
    at::gelu_(x);
  } else if (act == "gelu_new" || act == "gelu_pytorch_tanh") {
    at::gelu_(x, "tanh");
  } else if (act == "relu") {
    at::relu_(x);
  } else {
    at::silu_(x);  // "silu"/"swish"; others are rejected by BertConfig::FromFile
  }
}

// Rows (tokens) that a layer's post-attention steps process at a time: the (rows, intermediate)
// activation then stays in cache from its GEMM through bias, activation and the second GEMM.
// Each row's arithmetic is the same as in whole-batch passes. On a 2-core AVX-512 machine the
// feed-forward block ran ~30% faster this way, and whole-model encoding 5-10%.
constexpr std::int64_t kRowBlock = 1024;

}  // namespace

absl::StatusOr<BertConfig> BertConfig::FromFile(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(const Json j, ReadJsonFile(path, /*require_object=*/true));
  DENSEFB_ASSIGN_OR_RETURN(const std::string type, JsonField<std::string>(j, "model_type", "", path));
  if (type != "bert") {
    return absl::UnimplementedError(absl::StrCat(
        path, ": model_type \"", type, "\" is not supported (densefb implements \"bert\")"));
  }
  DENSEFB_ASSIGN_OR_RETURN(const std::string pos, JsonField<std::string>(j, "position_embedding_type", "absolute", path));
  if (pos != "absolute") {
    return absl::UnimplementedError(
        absl::StrCat(path, ": position_embedding_type \"", pos, "\" is not supported"));
  }
  BertConfig c;
  // Sizes: integers of the JSON type, at least `min`; the required ones must be present.
  const struct {
    const char* key;
    int* field;
    bool required;
    int min;
  } sizes[] = {{"vocab_size", &c.vocab_size, true, 1},
               {"hidden_size", &c.hidden_size, true, 1},
               {"num_hidden_layers", &c.num_hidden_layers, true, 1},
               {"num_attention_heads", &c.num_attention_heads, true, 1},
               {"intermediate_size", &c.intermediate_size, true, 1},
               {"max_position_embeddings", &c.max_position_embeddings, false, 1},
               {"type_vocab_size", &c.type_vocab_size, false, 1},
               {"num_labels", &c.num_labels, false, 0}};
  if (j.contains("id2label") && j["id2label"].is_object()) c.num_labels = static_cast<int>(j["id2label"].size());
  for (const auto& s : sizes) {
    if (s.required && (!j.contains(s.key) || j[s.key].is_null())) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": missing \"", s.key, "\""));
    }
    DENSEFB_ASSIGN_OR_RETURN(*s.field, JsonField<int>(j, s.key, *s.field, path));
    if (*s.field < s.min) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": \"", s.key, "\" = ", *s.field, " must be at least ", s.min));
    }
  }
  if (c.hidden_size % c.num_attention_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": \"hidden_size\" = ", c.hidden_size,
                                                   " is not divisible by \"num_attention_heads\" = ",
                                                   c.num_attention_heads));
  }
  DENSEFB_ASSIGN_OR_RETURN(c.layer_norm_eps, JsonField<double>(j, "layer_norm_eps", c.layer_norm_eps, path));
  if (!(c.layer_norm_eps > 0) || !std::isfinite(c.layer_norm_eps)) {  // NaN fails the first test
    return absl::InvalidArgumentError(absl::StrCat(path, ": \"layer_norm_eps\" = ", c.layer_norm_eps,
                                                   " must be a finite number > 0"));
  }
  DENSEFB_ASSIGN_OR_RETURN(c.hidden_act, JsonField<std::string>(j, "hidden_act", c.hidden_act, path));
  static const std::set<std::string> kActs = {"gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish"};
  if (!kActs.count(c.hidden_act)) {
    return absl::UnimplementedError(absl::StrCat(path, ": hidden_act \"", c.hidden_act, "\" is not supported"));
  }
  return c;
}

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& c) {
  word_embeddings = register_module("word_embeddings", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  position_embeddings = register_module("position_embeddings", torch::nn::Embedding(c.max_position_embeddings, c.hidden_size));
  token_type_embeddings = register_module("token_type_embeddings", torch::nn::Embedding(c.type_vocab_size, c.hidden_size));
  LayerNorm = register_module("LayerNorm", MakeLayerNorm(c.hidden_size, c.layer_norm_eps));
}

at::Tensor BertEmbeddingsImpl::forward(const at::Tensor& input_ids, const at::Tensor& token_type_ids) {
  const auto seq = input_ids.size(1);
  const at::Tensor positions = at::arange(seq, input_ids.options()).unsqueeze(0);
  at::Tensor x = word_embeddings(input_ids) + token_type_embeddings(token_type_ids);
  x = x + position_embeddings(positions);
  return LayerNorm(x);
}

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertConfig& c) {
  query = register_module("query", MakeLinear(c.hidden_size, c.hidden_size));
  key = register_module("key", MakeLinear(c.hidden_size, c.hidden_size));
  value = register_module("value", MakeLinear(c.hidden_size, c.hidden_size));
}

BertDenseLayerNormImpl::BertDenseLayerNormImpl(int in, int out, double eps) {
  dense = register_module("dense", MakeLinear(in, out));
  LayerNorm = register_module("LayerNorm", MakeLayerNorm(out, eps));
}

BertAttentionImpl::BertAttentionImpl(const BertConfig& c) {
  self = register_module("self", BertSelfAttention(c));
  output = register_module("output", BertDenseLayerNorm(c.hidden_size, c.hidden_size, c.layer_norm_eps));
}

BertIntermediateImpl::BertIntermediateImpl(const BertConfig& c) {
  dense = register_module("dense", MakeLinear(c.hidden_size, c.intermediate_size));
}

BertLayerImpl::BertLayerImpl(const BertConfig& c) : heads(c.num_attention_heads), act(c.hidden_act) {
  attention = register_module("attention", BertAttention(c));
  intermediate = register_module("intermediate", BertIntermediate(c));
  output = register_module("output", BertDenseLayerNorm(c.intermediate_size, c.hidden_size, c.layer_norm_eps));
}

namespace {

// x W^T + b through the int8 kernel (float32 in and out; x's range quantised per call).
at::Tensor QuantizedLinear(const c10::IValue& packed, const at::Tensor& x) {
  static const c10::OperatorHandle op = c10::Dispatcher::singleton().findSchemaOrThrow("quantized::linear_dynamic", "");
  // reduce_range = false: the weights' range leaves the headroom (QuantizeLinearsInt8).
  std::vector<c10::IValue> stack{x, packed, false};
  op.callBoxed(&stack);
  return stack[0].toTensor();
}

// The input of an int8 linear layer, split as in LLM.int8() (Dettmers et al., 2022): the
// features (columns) in which some |x| exceeds kOutlierThreshold go through float32, the rest
// through the int8 kernel, whose per-call range they would otherwise stretch. In MiniLM a few
// LayerNorm features reach ~30 where the median feature's largest value is ~2; without the
// split, int8 output's mean cosine error to float32 was 3.6-7x larger (CACM).
constexpr double kOutlierThreshold = 6.0;  // the paper's threshold

struct Int8Input {
  at::Tensor rest;      // (n, in): x with the outlier features zeroed
  at::Tensor columns;   // (k,) int64: the outlier features; empty when there are none
  at::Tensor outliers;  // (n, k): x's values in those features
};

// x: (n, in), float32. With `overwrite`, x itself becomes `rest` (the caller needs x no more).
Int8Input SplitOutliers(const at::Tensor& x, bool overwrite) {
  // amax and amin, not aminmax: over dimension 0 libtorch's aminmax took ~10x as long.
  const at::Tensor columns =
      at::logical_or(x.amax(0).gt(kOutlierThreshold), x.amin(0).lt(-kOutlierThreshold)).nonzero().view(-1);
  if (columns.numel() == 0) return {x, columns, at::Tensor()};
  Int8Input split{overwrite ? x : x.clone(), columns, x.index_select(1, columns)};
  split.rest.index_fill_(1, columns, 0.0);
  return split;
}

// x W^T + b for x split by SplitOutliers; `weight` is the layer's float32 weight (out, in).
at::Tensor LinearInt8(const c10::IValue& packed, const at::Tensor& weight, const Int8Input& x) {
  at::Tensor y = QuantizedLinear(packed, x.rest);
  if (x.columns.numel() > 0) y.addmm_(x.outliers, weight.index_select(1, x.columns).t());
  return y;
}

// residual + x W^T + b into `out` (rows, out_features), the residual plus bias serving as the
// GEMM's accumulator, so that the sum costs no pass of its own. With `packed` (int8), the
// product comes from the int8 kernel and the residual is added after it; `x` may then be
// overwritten.
void DenseAddResidual(const torch::nn::Linear& dense, const c10::IValue* packed, const at::Tensor& x,
                      const at::Tensor& residual, at::Tensor& out) {
  if (packed != nullptr) {
    at::add_out(out, LinearInt8(*packed, dense->weight, SplitOutliers(x, /*overwrite=*/true)), residual);
    return;
  }
  if (dense->bias.defined()) {
    at::add_out(out, residual, dense->bias);
  } else {
    out.copy_(residual);
  }
  out.addmm_(x, dense->weight.t());
}

// Multi-head attention over (B, S, H) projections q, k, v (contiguous, float32, CPU) through
// kernels::BestAttention(), one (sequence, head) at a time, keys past each sequence's
// length masked; returns the context as (B * S, H). The same arithmetic as SDPA's math path
// (softmax(q k^T / sqrt(d)) v), exact two-pass softmax in registers. Single-threaded, MiniLM's
// attention shape (256 tokens, 12 heads of 32) took ~42 ms per batch of 32 against ~44 ms for
// libtorch's CPU flash kernel; whole encoding gained 1-5% on a 2-core AVX-512 machine.
at::Tensor Attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int heads,
                     const std::vector<std::int64_t>& lengths) {
  const auto b = q.size(0), s = q.size(1), h = q.size(2);
  const std::int64_t d = h / heads;
  at::Tensor ctx = at::empty({b * s, h}, q.options());
  const float* qp = q.data_ptr<float>();
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  float* out = ctx.data_ptr<float>();
  const kernels::AttentionFn attend = kernels::BestAttention();
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  at::parallel_for(0, b * heads, 1, [&](std::int64_t first, std::int64_t last) {
    std::vector<float> scratch(static_cast<std::size_t>(kernels::AttentionScratchFloats(s, d)));
    for (std::int64_t i = first; i < last; ++i) {
      const std::int64_t seq = i / heads;
      const std::int64_t offset = seq * s * h + (i % heads) * d;
      attend(qp + offset, kp + offset, vp + offset, s, lengths[seq], d, h, scale, out + offset,
             scratch.data());
    }
  });
  return ctx;
}

}  // namespace

at::Tensor BertLayerImpl::forward(const at::Tensor& hidden, const at::Tensor& mask,
                                  const std::vector<std::int64_t>* lengths) {
  const auto b = hidden.size(0), s = hidden.size(1), h = hidden.size(2);
  auto& sa = attention->self;
  const bool quantized = !int8.empty();
  // The three projections read the same input: one split for all of them.
  const Int8Input split = quantized ? SplitOutliers(hidden.reshape({b * s, h}), /*overwrite=*/false) : Int8Input{};
  auto project = [&](LinearId id, torch::nn::Linear& linear) {
    if (!quantized) return linear->forward(hidden).contiguous();
    return LinearInt8(int8[id], linear->weight, split).view({b, s, -1});
  };
  const at::Tensor q = project(kQuery, sa->query);
  const at::Tensor k = project(kKey, sa->key);
  const at::Tensor v = project(kValue, sa->value);
  at::Tensor ctx;
  if (lengths != nullptr) {
    ctx = Attention(q, k, v, heads, *lengths);
  } else {
    const auto split = [&](const at::Tensor& t) { return t.view({b, s, heads, h / heads}).transpose(1, 2); };
    const std::optional<at::Tensor> attn_mask = mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt;
    ctx = at::scaled_dot_product_attention(split(q), split(k), split(v), attn_mask).transpose(1, 2).reshape({b * s, h});
  }
  const at::Tensor residual = hidden.reshape({b * s, h});

  // Everything after attention works row by row, so it runs in blocks of rows that stay in
  // cache from one step to the next:
  //   x = LN1(ctx Wo^T + bo + hidden);  out = LN2(act(x W1^T + b1) W2^T + b2 + x).
  const auto& ln1 = attention->output->LayerNorm;
  const auto& ln2 = output->LayerNorm;
  const auto& in = intermediate->dense;
  at::Tensor result = at::empty({b * s, h}, hidden.options());
  const std::int64_t n = b * s;
  // On a GPU one block: the kernels there are not cache-bound on a core, and more blocks only
  // add launches.
  const std::int64_t block = hidden.is_cpu() ? kRowBlock : n;
  for (std::int64_t start = 0; start < n; start += block) {
    const std::int64_t rows = std::min(block, n - start);
    at::Tensor sum = at::empty({rows, h}, hidden.options());
    DenseAddResidual(attention->output->dense, quantized ? &int8[kAttentionOutput] : nullptr,
                     ctx.narrow(0, start, rows), residual.narrow(0, start, rows), sum);
    const at::Tensor x = at::layer_norm(sum, {h}, ln1->weight, ln1->bias, ln1->options.eps());
    at::Tensor y;
    if (quantized) {
      y = LinearInt8(int8[kIntermediate], in->weight, SplitOutliers(x, /*overwrite=*/false));  // x: the residual
    } else {
      y = at::mm(x, in->weight.t());
      if (in->bias.defined()) y.add_(in->bias);
    }
    ApplyActivation(y, act);
    DenseAddResidual(output->dense, quantized ? &int8[kOutput] : nullptr, y, x, sum);
    result.narrow(0, start, rows).copy_(at::layer_norm(sum, {h}, ln2->weight, ln2->bias, ln2->options.eps()));
  }
  return result.view({b, s, h});
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& c) {
  layer = register_module("layer", torch::nn::ModuleList());
  for (int i = 0; i < c.num_hidden_layers; ++i) layer->push_back(BertLayer(c));
}

BertPoolerImpl::BertPoolerImpl(const BertConfig& c) {
  dense = register_module("dense", MakeLinear(c.hidden_size, c.hidden_size));
}

BertModelImpl::BertModelImpl(const BertConfig& c, bool with_pooler) : config(c) {
  embeddings = register_module("embeddings", BertEmbeddings(c));
  encoder = register_module("encoder", BertEncoder(c));
  if (with_pooler) pooler = register_module("pooler", BertPooler(c));
}

at::Tensor BertModelImpl::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                  const at::Tensor& token_type_ids) {
  at::Tensor x = embeddings(input_ids, token_type_ids);
  at::Tensor mask = attention_mask.to(at::kBool);
  // On the CPU in float32, where densefb has an attention kernel for this head size, and the
  // masks are prefixes of ones (right padding, as the tokenizer pads), attention runs on
  // sequence lengths instead of a mask.
  const std::int64_t head_dim = config.hidden_size / config.num_attention_heads;
  if (x.is_cpu() && x.scalar_type() == at::kFloat && kernels::BestAttention() != nullptr &&
      kernels::AttentionSupports(head_dim)) {
    const at::Tensor count = mask.sum(1);
    const at::Tensor prefix = at::arange(mask.size(1), count.options()).unsqueeze(0).lt(count.unsqueeze(1));
    if (prefix.equal(mask)) {
      const at::Tensor c = count.to(at::kLong).contiguous();
      const std::vector<std::int64_t> lengths(c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel());
      for (const auto& layer : *encoder->layer) x = layer->as<BertLayer>()->forward(x, at::Tensor(), &lengths);
      return x;
    }
  }
  // SDPA. On the CPU a batch without padding needs no mask (the kernel then applies none); on
  // a GPU the check would stall the stream, so the mask is always passed.
  mask = attention_mask.is_cpu() && mask.all().item<bool>() ? at::Tensor() : mask.unsqueeze(1).unsqueeze(2);
  for (const auto& layer : *encoder->layer) x = layer->as<BertLayer>()->forward(x, mask);
  return x;
}

at::Tensor BertModelImpl::pool(const at::Tensor& hidden) {
  return at::tanh(pooler->dense(hidden.select(1, 0)));
}

namespace {
// libtorch deprecates its quantized tensor type (the packed weights are built from one) with a
// warning printed at the first quantisation; it is libtorch's, not the caller's, to act on.
struct SilentWarnings : c10::WarningHandler {
  void process(const c10::Warning&) override {}
};
}  // namespace

absl::Status QuantizeLinearsInt8(BertModelImpl& model) {
  // torch.ao's per-channel symmetric MinMax observer's scale, max |w| / ((q_max - q_min) / 2):
  // 127.5 for eight bits, 63.5 for seven.
  const double half_range = densefb::Int8WeightBits() == 8 ? 127.5 : 63.5;
  SilentWarnings silent;
  const c10::WarningUtils::WarningHandlerGuard guard(&silent);
  try {
    const c10::OperatorHandle prepack =
        c10::Dispatcher::singleton().findSchemaOrThrow("quantized::linear_prepack", "");
    at::NoGradGuard no_grad;
    for (const auto& module : *model.encoder->layer) {
      BertLayerImpl& layer = *module->as<BertLayer>();
      const torch::nn::Linear linears[BertLayerImpl::kNumLinears] = {
          layer.attention->self->query, layer.attention->self->key, layer.attention->self->value,
          layer.attention->output->dense, layer.intermediate->dense, layer.output->dense};
      std::vector<c10::IValue> packed;
      for (const torch::nn::Linear& linear : linears) {
        const at::Tensor w = linear->weight.detach().to(at::kFloat).contiguous();
        const at::Tensor scales =
            w.abs().amax(1).div(half_range).clamp_min(std::numeric_limits<float>::epsilon()).to(at::kDouble);
        const at::Tensor zeros = at::zeros({w.size(0)}, at::TensorOptions().dtype(at::kLong));
        const at::Tensor qw = at::quantize_per_channel(w, scales, zeros, 0, at::kQInt8);
        const std::optional<at::Tensor> bias =
            linear->bias.defined() ? std::optional<at::Tensor>(linear->bias.detach().to(at::kFloat)) : std::nullopt;
        std::vector<c10::IValue> stack{qw, bias};
        prepack.callBoxed(&stack);
        packed.push_back(std::move(stack[0]));
      }
      layer.int8 = std::move(packed);
    }
  } catch (const std::exception& e) {
    return absl::UnimplementedError(
        absl::StrCat("int8 precision: this libtorch cannot quantize linear layers on the CPU: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status SetPrecision(BertModelImpl& model, Precision precision, const at::Device& device) {
  switch (precision) {
    case Precision::kBFloat16:
      model.to(device, at::kBFloat16);
      break;
    case Precision::kFloat16:
      model.to(device, at::kHalf);
      break;
    case Precision::kInt8:
      return QuantizeLinearsInt8(model);
    case Precision::kFloat32:
      model.to(device);
      break;
  }
  return absl::OkStatus();
}

absl::StatusOr<at::Tensor> ReadFloatTensor(const SafetensorsFile& file, const std::string& name) {
  DENSEFB_ASSIGN_OR_RETURN(const TensorView view, file.Get(name));
  at::Tensor t = at::empty(view.shape, at::TensorOptions().dtype(at::kFloat));
  float* data = t.data_ptr<float>();
  const absl::Status copied = CopyAsFloat32(view, data);
  if (!copied.ok()) return absl::InvalidArgumentError(absl::StrCat(file.path(), ": tensor \"", name, "\": ", copied.message()));
  // One vectorised pass (the largest magnitude on the bit patterns); the scan for the first
  // offending element runs only when there is one.
  const std::int64_t n = t.numel();
  if (!std::isfinite(LargestMagnitude(data, n))) {
    std::int64_t i = 0;
    while (i < n && std::isfinite(data[i])) ++i;
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": tensor \"", name, "\" holds ", data[i],
                                                   " at element ", i, " (flat index); weights must be finite"));
  }
  return t;
}

absl::Status LoadParameters(torch::nn::Module& module, const SafetensorsFile& file,
                            const std::vector<std::string>& prefixes,
                            const std::vector<std::string>& ignored_prefixes,
                            std::vector<std::string>* consumed_out) {
  std::set<std::string> consumed;
  std::vector<std::string> missing;
  at::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    const TensorView* found = nullptr;
    std::string key;
    for (const std::string& prefix : prefixes) {
      auto it = file.tensors().find(prefix + name);
      if (it != file.tensors().end()) {
        found = &it->second;
        key = it->first;
        break;
      }
    }
    if (found == nullptr) {
      missing.push_back(name);
      continue;
    }
    at::Tensor& param = item.value();
    if (found->shape != param.sizes().vec()) {
      return absl::InvalidArgumentError(absl::StrCat(
          file.path(), ": tensor \"", key, "\" has shape [", absl::StrJoin(found->shape, ", "),
          "], the model expects [", absl::StrJoin(param.sizes().vec(), ", "), "]"));
    }
    DENSEFB_ASSIGN_OR_RETURN(at::Tensor value, ReadFloatTensor(file, key));
    param.copy_(value);
    consumed.insert(key);
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": missing tensors: ",
                                                   absl::StrJoin(missing, ", ")));
  }
  std::vector<std::string> unexpected;
  for (const auto& [key, view] : file.tensors()) {
    if (consumed.count(key)) continue;
    bool ignored = absl::EndsWith(key, "position_ids");  // a buffer older checkpoints saved
    for (const std::string& p : ignored_prefixes) ignored = ignored || absl::StartsWith(key, p);
    if (!ignored) unexpected.push_back(key);
  }
  if (!unexpected.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": unexpected tensors: ",
                                                   absl::StrJoin(unexpected, ", ")));
  }
  if (consumed_out != nullptr) consumed_out->assign(consumed.begin(), consumed.end());
  return absl::OkStatus();
}

}  // namespace densefb::torch_impl

namespace densefb {

int Int8WeightBits() {
  // fbgemm multiplies uint8 activations by int8 weights. With AVX512-VNNI the products are
  // summed in int32; without it, pairs of products are first summed in int16 with
  // saturation (vpmaddubsw), which 255 * 127 * 2 overflows. Seven-bit weights (|q| <= 64:
  // 255 * 64 * 2 = 32640) cannot overflow, and cost less accuracy than seven-bit activations
  // (reduce_range), whose range is per call where the weights' is per channel: on CACM, mean
  // cosine error to float32 1.7e-3 against 2.8e-3, and 4.0e-3 for eight bits saturating.
  static const int bits = __builtin_cpu_supports("avx512vnni") ? 8 : 7;
  return bits;
}

}  // namespace densefb
