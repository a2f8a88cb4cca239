// The BERT bi-encoder: tokenize (length-sorted batches), run BertModel, pool, normalise.
#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "densefb/model_dir.h"
#include "densefb/tokenizer.h"
#include "densefb/torch/encoders.h"
#include "torch/batches.h"
#include "torch/bert.h"
#include "torch/model_files.h"
#include "torch/tensor_encoder.h"

namespace densefb {
namespace {

using torch_impl::BertConfig;
using torch_impl::BertModel;

class BertEncoder final : public Encoder, public torch_impl::TensorEncoder {
 public:
  BertEncoder(BertEncoderConfig config, WordPieceTokenizer tokenizer, BertModel model,
              torch_impl::SentenceTransformerLayout layout, Pooling pooling, bool normalize,
              int max_length, at::Device device)
      : config_(std::move(config)),
        tokenizer_(std::move(tokenizer)),
        model_(std::move(model)),
        layout_(std::move(layout)),
        pooling_(pooling),
        normalize_(normalize),
        max_length_(max_length),
        device_(device) {}

  int Dimension() const override {
    return layout_.dense.empty() ? model_->config.hidden_size
                                 : static_cast<int>(layout_.dense.back().weight.size(0));
  }
  int MaxLength() const override { return max_length_; }
  bool Normalized() const override { return normalize_; }

  absl::Status EncodeQueries(absl::Span<const std::string> texts, MutableMatrixView out,
                             const EncodeOptions& options) const override {
    return EncodeToHost(texts, config_.query_prefix, out, options);
  }
  absl::Status EncodeDocuments(absl::Span<const std::string> texts, MutableMatrixView out,
                               const EncodeOptions& options) const override {
    return EncodeToHost(texts, config_.document_prefix, out, options);
  }
  absl::StatusOr<at::Tensor> EncodeDocumentsTensor(absl::Span<const std::string> texts,
                                                   const EncodeOptions& options) const override;

 private:
  // Rows [start, end) of a batch, in the order `order` gives them (rows of `pooled`).
  using Sink = std::function<void(const std::vector<std::int64_t>& order, std::int64_t start,
                                  std::int64_t end, const at::Tensor& pooled)>;
  // Encodes `texts` (with `prefix`) in length-sorted batches and hands each batch's pooled
  // (and normalised) float32 vectors, on the device, to `sink`.
  absl::Status Encode(absl::Span<const std::string> texts, const std::string& prefix,
                      const EncodeOptions& options, const Sink& sink) const;
  absl::Status EncodeToHost(absl::Span<const std::string> texts, const std::string& prefix,
                            MutableMatrixView out, const EncodeOptions& options) const;
  at::Tensor Pool(const at::Tensor& hidden, const at::Tensor& mask) const;

  BertEncoderConfig config_;
  WordPieceTokenizer tokenizer_;
  mutable BertModel model_;  // forward() is not const in libtorch; it mutates nothing here
  torch_impl::SentenceTransformerLayout layout_;
  Pooling pooling_;
  bool normalize_;
  int max_length_;
  at::Device device_;
};

at::Tensor BertEncoder::Pool(const at::Tensor& hidden, const at::Tensor& mask) const {
  switch (pooling_) {
    case Pooling::kCls:
      return hidden.select(1, 0);
    case Pooling::kMax: {
      const at::Tensor m = mask.unsqueeze(-1).to(at::kBool);
      return hidden.masked_fill(m.logical_not(), -1e9).amax(1);
    }
    case Pooling::kMean:
    default: {
      const at::Tensor m = mask.unsqueeze(-1).to(hidden.scalar_type());
      return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9);
    }
  }
}

absl::Status BertEncoder::EncodeToHost(absl::Span<const std::string> texts, const std::string& prefix,
                                       MutableMatrixView out, const EncodeOptions& options) const {
  const auto n = static_cast<std::int64_t>(texts.size());
  if (out.rows != n || (n > 0 && out.cols != Dimension())) {
    return absl::InvalidArgumentError(absl::StrCat("output buffer is ", out.rows, " x ", out.cols,
                                                   ", expected ", n, " x ", Dimension()));
  }
  const int d = Dimension();
  return Encode(texts, prefix, options,
                [&](const std::vector<std::int64_t>& order, std::int64_t start, std::int64_t end,
                    const at::Tensor& pooled) {
                  const at::Tensor host = pooled.to(at::kCPU, at::kFloat).contiguous();
                  const float* src = host.data_ptr<float>();
                  for (std::int64_t i = start; i < end; ++i) {
                    std::copy_n(src + (i - start) * d, d, out.row(order[i]));
                  }
                });
}

absl::StatusOr<at::Tensor> BertEncoder::EncodeDocumentsTensor(absl::Span<const std::string> texts,
                                                              const EncodeOptions& options) const {
  const auto n = static_cast<std::int64_t>(texts.size());
  at::Tensor out;
  try {
    c10::InferenceMode guard;
    out = at::empty({n, Dimension()}, at::TensorOptions().dtype(at::kFloat).device(device_));
  } catch (const std::exception& e) {
    return torch_impl::TorchError(e, "encoding");
  }
  // Batches may run concurrently (RunBatches on a CPU): each writes its own rows.
  DENSEFB_RETURN_IF_ERROR(Encode(
      texts, config_.document_prefix, options,
      [&](const std::vector<std::int64_t>& order, std::int64_t start, std::int64_t end, const at::Tensor& pooled) {
        const at::Tensor rows = at::tensor(std::vector<std::int64_t>(order.begin() + start, order.begin() + end),
                                           at::TensorOptions().dtype(at::kLong)).to(device_);
        out.index_copy_(0, rows, pooled.to(at::kFloat));
      }));
  return out;
}

absl::Status BertEncoder::Encode(absl::Span<const std::string> texts, const std::string& prefix,
                                 const EncodeOptions& options, const Sink& sink) const {
  const auto n = static_cast<std::int64_t>(texts.size());
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size = ", options.batch_size, " must be >= 1"));
  }
  if (n == 0) return absl::OkStatus();
  if (config_.num_threads > 0) at::set_num_threads(config_.num_threads);

  std::vector<std::string> prefixed;
  if (!prefix.empty()) {
    prefixed.reserve(n);
    for (const std::string& t : texts) prefixed.push_back(prefix + t);
  }
  auto text = [&](std::int64_t i) -> const std::string& { return prefix.empty() ? texts[i] : prefixed[i]; };
  // Longest first by token count (after truncation): each batch holds texts of nearly equal
  // length, so padding is almost nil (sorting by characters, as sentence-transformers does,
  // leaves ~4% padding on SciFact), and the largest batch comes first (memory errors surface
  // early). Counting tokens costs a tokenizer pass, ~1% of the encoding time.
  std::vector<std::int64_t> tokens(n);
  for (std::int64_t i = 0; i < n; ++i) {
    DENSEFB_ASSIGN_OR_RETURN(Encoding e, tokenizer_.Encode(text(i), max_length_));
    tokens[i] = static_cast<std::int64_t>(e.size());
  }
  std::vector<std::int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return tokens[a] > tokens[b]; });

  return torch_impl::RunBatches(
      n, options.batch_size, device_, options.progress, {"encoding", "encoding", "texts"},
      [&](std::int64_t start, std::int64_t end) -> absl::Status {
        std::vector<absl::string_view> views;
        for (std::int64_t i = start; i < end; ++i) views.push_back(text(order[i]));
        BatchOptions bo;
        bo.max_length = max_length_;
        BatchEncoding batch;
        DENSEFB_RETURN_IF_ERROR(tokenizer_.EncodeBatch(views, bo, &batch));
        const auto opts = at::TensorOptions().dtype(at::kLong);
        at::Tensor ids = at::from_blob(batch.input_ids.data(), {batch.rows, batch.cols}, opts).to(device_);
        at::Tensor mask = at::from_blob(batch.attention_mask.data(), {batch.rows, batch.cols}, opts).to(device_);
        at::Tensor types = at::from_blob(batch.token_type_ids.data(), {batch.rows, batch.cols}, opts).to(device_);
        at::Tensor hidden = model_->forward(ids, mask, types);
        if (hidden.scalar_type() != at::kFloat) hidden = hidden.to(at::kFloat);  // bf16 / fp16: pool in float32
        at::Tensor pooled = Pool(hidden, mask);
        for (const auto& dense : layout_.dense) pooled = dense.Apply(pooled.cpu()).to(device_);
        if (normalize_) pooled = pooled / pooled.norm(2, 1, true).clamp_min(1e-12);
        sink(order, start, end, pooled);
        return absl::OkStatus();
      });
}


}  // namespace

bool CudaAvailable() { return torch::cuda::is_available(); }

absl::StatusOr<Precision> ParsePrecision(const std::string& name) {
  if (name == "fp32" || name == "float32") return Precision::kFloat32;
  if (name == "bf16" || name == "bfloat16") return Precision::kBFloat16;
  if (name == "fp16" || name == "float16") return Precision::kFloat16;
  if (name == "int8") return Precision::kInt8;
  return absl::InvalidArgumentError(
      absl::StrCat("precision \"", name, "\" is not one of \"fp32\", \"bf16\", \"fp16\", \"int8\""));
}

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kBFloat16:
      return "bf16";
    case Precision::kFloat16:
      return "fp16";
    case Precision::kInt8:
      return "int8";
    case Precision::kFloat32:
    default:
      return "fp32";
  }
}

bool CpuHasBf16() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) return false;  // also false where the OS keeps AVX-512 off
  unsigned a = 0, b = 0, c = 0, d = 0;
  bool amx = false, avx512_bf16 = false;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) != 0) amx = (d >> 22) & 1u;          // AMX-BF16
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d) != 0) avx512_bf16 = (a >> 5) & 1u;   // AVX512_BF16
  return amx || avx512_bf16;
#else
  return false;
#endif
}

absl::StatusOr<Precision> ResolvePrecision(Precision requested, const std::string& device) {
  DENSEFB_ASSIGN_OR_RETURN(const at::Device d, torch_impl::ParseDevice(device));
  if (d.is_cuda()) {
    if (requested == Precision::kInt8) {
      return absl::InvalidArgumentError(absl::StrCat(
          "precision \"int8\" (dynamic quantisation) runs on the CPU only; on ", device, " use \"fp16\" or \"bf16\""));
    }
    return requested;
  }
  if (requested == Precision::kFloat16) {
    return absl::InvalidArgumentError(
        "precision \"fp16\" runs on CUDA devices only; on the CPU use \"bf16\" or \"int8\"");
  }
  if (requested == Precision::kBFloat16 && !CpuHasBf16()) return Precision::kFloat32;
  return requested;
}

absl::Status BertEncoderConfig::Validate() const {
  if (model_dir.empty()) return absl::InvalidArgumentError("model_dir is empty");
  if (max_length < 0) return absl::InvalidArgumentError(absl::StrCat("max_length = ", max_length, " is negative"));
  if (num_threads < 0) return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  return torch_impl::ParseDevice(device).status();
}

absl::StatusOr<std::unique_ptr<Encoder>> MakeBertEncoder(const BertEncoderConfig& requested) {
  DENSEFB_RETURN_IF_ERROR(requested.Validate());
  BertEncoderConfig config = requested;
  DENSEFB_ASSIGN_OR_RETURN(config.model_dir, ResolveModelDir(requested.model_dir));
  DENSEFB_ASSIGN_OR_RETURN(const at::Device device, torch_impl::ParseDevice(config.device));
  DENSEFB_ASSIGN_OR_RETURN(torch_impl::SentenceTransformerLayout layout,
                           torch_impl::ReadSentenceTransformerLayout(config.model_dir));
  DENSEFB_ASSIGN_OR_RETURN(torch_impl::BertCheckpoint ckpt, torch_impl::OpenBertCheckpoint(layout.transformer_dir));
  DENSEFB_ASSIGN_OR_RETURN(
      const int max_length,
      torch_impl::ResolveMaxLength(ckpt, config.max_length, "max_length", layout.max_seq_length,
                                   layout.transformer_dir + "/sentence_bert_config.json",
                                   ckpt.tokenizer.num_special_tokens(/*is_pair=*/false)));
  DENSEFB_ASSIGN_OR_RETURN(const Precision precision, ResolvePrecision(config.precision, config.device));
  BertModel model(ckpt.config, /*with_pooler=*/false);
  try {
    DENSEFB_RETURN_IF_ERROR(torch_impl::LoadParameters(*model, *ckpt.weights, {"", "bert."}, {"pooler.", "cls."}));
    model->eval();
    DENSEFB_RETURN_IF_ERROR(torch_impl::SetPrecision(*model, precision, device));
  } catch (const std::exception& e) {
    return torch_impl::TorchError(e, config.model_dir);
  }

  const Pooling pooling = config.pooling.value_or(layout.pooling.value_or(Pooling::kMean));
  const bool normalize = config.normalize.value_or(layout.normalize);
  return std::unique_ptr<Encoder>(new BertEncoder(config, std::move(ckpt.tokenizer), std::move(model),
                                                  std::move(layout), pooling, normalize, max_length,
                                                  device));
}

}  // namespace densefb
