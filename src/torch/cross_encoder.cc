// The BERT cross-encoder (BertForSequenceClassification): [CLS] query [SEP] passage [SEP]
// (length-sorted batches), BertModel + pooler, the classifier, the logit of one label.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "densefb/model_dir.h"
#include "densefb/tokenizer.h"
#include "densefb/torch/encoders.h"
#include "torch/batches.h"
#include "torch/bert.h"
#include "torch/model_files.h"

namespace densefb {
namespace {

using torch_impl::BertConfig;
using torch_impl::BertModel;

using torch_impl::ModelError;

class CrossEncoderImpl final : public CrossEncoder {
 public:
  CrossEncoderImpl(CrossEncoderConfig config, WordPieceTokenizer tokenizer, BertModel model, at::Tensor weight,
                   at::Tensor bias, int max_length, at::Device device)
      : config_(std::move(config)),
        tokenizer_(std::move(tokenizer)),
        model_(std::move(model)),
        weight_(std::move(weight)),
        bias_(std::move(bias)),
        max_length_(max_length),
        device_(device) {}

  int MaxLength() const override { return max_length_; }
  int NumLabels() const override { return static_cast<int>(weight_.size(0)); }

  absl::Status Score(absl::Span<const std::string> queries, absl::Span<const std::string> passages,
                     absl::Span<float> out, const EncodeOptions& options) const override;

 private:
  CrossEncoderConfig config_;
  WordPieceTokenizer tokenizer_;
  mutable BertModel model_;  // forward() is not const in libtorch; it mutates nothing here
  at::Tensor weight_;        // classifier (num_labels, hidden), on device_
  at::Tensor bias_;          // (num_labels)
  int max_length_;
  at::Device device_;
};

absl::Status CrossEncoderImpl::Score(absl::Span<const std::string> queries, absl::Span<const std::string> passages,
                                     absl::Span<float> out, const EncodeOptions& options) const {
  const auto n = static_cast<std::int64_t>(queries.size());
  if (passages.size() != queries.size()) {
    return absl::InvalidArgumentError(absl::StrCat(queries.size(), " queries but ", passages.size(),
                                                   " passages: expected one passage per query"));
  }
  if (static_cast<std::int64_t>(out.size()) != n) {
    return absl::InvalidArgumentError(absl::StrCat("output has ", out.size(), " scores, expected ", n));
  }
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size = ", options.batch_size, " must be >= 1"));
  }
  if (n == 0) return absl::OkStatus();
  if (config_.num_threads > 0) at::set_num_threads(config_.num_threads);
  // Longest pair first: batches of similar lengths, the largest batch first.
  std::vector<std::int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return queries[a].size() + passages[a].size() > queries[b].size() + passages[b].size();
  });
  return torch_impl::RunBatches(
      n, options.batch_size, device_, options.progress, {"cross-encoder scoring", "scoring", "pairs"},
      [&](std::int64_t start, std::int64_t end) -> absl::Status {
        std::vector<absl::string_view> first, second;
        for (std::int64_t i = start; i < end; ++i) {
          first.push_back(queries[order[i]]);
          second.push_back(passages[order[i]]);
        }
        BatchOptions bo;
        bo.max_length = max_length_;
        BatchEncoding batch;
        DENSEFB_RETURN_IF_ERROR(tokenizer_.EncodeBatchPairs(first, second, bo, &batch));
        const auto opts = at::TensorOptions().dtype(at::kLong);
        at::Tensor ids = at::from_blob(batch.input_ids.data(), {batch.rows, batch.cols}, opts).to(device_);
        at::Tensor mask = at::from_blob(batch.attention_mask.data(), {batch.rows, batch.cols}, opts).to(device_);
        at::Tensor types = at::from_blob(batch.token_type_ids.data(), {batch.rows, batch.cols}, opts).to(device_);
        at::Tensor hidden = model_->forward(ids, mask, types);
        at::Tensor logits = at::linear(model_->pool(hidden).to(at::kFloat), weight_, bias_);
        at::Tensor scores = logits.select(1, config_.label);
        if (config_.activation == ScoreActivation::kSigmoid) scores = at::sigmoid(scores);
        scores = scores.to(at::kCPU, at::kFloat).contiguous();
        const float* src = scores.data_ptr<float>();
        for (std::int64_t i = start; i < end; ++i) out[order[i]] = src[i - start];
        return absl::OkStatus();
      });
}

}  // namespace

absl::Status CrossEncoderConfig::Validate() const {
  if (model_dir.empty()) return absl::InvalidArgumentError("model_dir is empty");
  if (max_length < 0) return absl::InvalidArgumentError(absl::StrCat("max_length = ", max_length, " is negative"));
  if (label < 0) return absl::InvalidArgumentError(absl::StrCat("label = ", label, " is negative"));
  if (num_threads < 0) return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  return torch_impl::ParseDevice(device).status();
}

absl::StatusOr<std::unique_ptr<CrossEncoder>> MakeCrossEncoder(const CrossEncoderConfig& requested) {
  DENSEFB_RETURN_IF_ERROR(requested.Validate());
  CrossEncoderConfig config = requested;
  DENSEFB_ASSIGN_OR_RETURN(config.model_dir, ResolveModelDir(requested.model_dir));
  DENSEFB_ASSIGN_OR_RETURN(const at::Device device, torch_impl::ParseDevice(config.device));
  auto layout_or = torch_impl::ReadSentenceTransformerLayout(config.model_dir);
  if (!layout_or.ok()) return ModelError(layout_or.status());
  torch_impl::SentenceTransformerLayout layout = *std::move(layout_or);
  auto ckpt_or = torch_impl::OpenBertCheckpoint(layout.transformer_dir);
  if (!ckpt_or.ok()) return ModelError(ckpt_or.status());
  torch_impl::BertCheckpoint ckpt = *std::move(ckpt_or);
  const std::string& config_json = ckpt.config_path;
  const BertConfig& bert_config = ckpt.config;
  const std::unique_ptr<SafetensorsFile>& weights = ckpt.weights;
  // The classification head.
  const auto& tensors = weights->tensors();
  if (!tensors.count("classifier.weight") || !tensors.count("classifier.bias")) {
    return absl::InvalidArgumentError(absl::StrCat(
        weights->path(), ": no \"classifier.weight\" / \"classifier.bias\" tensors; not a "
                         "BertForSequenceClassification (cross-encoder) checkpoint"));
  }
  if (!tensors.count("bert.pooler.dense.weight") && !tensors.count("pooler.dense.weight")) {
    return absl::InvalidArgumentError(absl::StrCat(weights->path(), ": no \"bert.pooler.dense.weight\" tensor; a "
                                                   "cross-encoder scores BERT's pooler output"));
  }
  DENSEFB_ASSIGN_OR_RETURN(TensorView wv, weights->Get("classifier.weight"));
  DENSEFB_ASSIGN_OR_RETURN(TensorView bv, weights->Get("classifier.bias"));
  if (wv.shape.size() != 2 || wv.shape[1] != bert_config.hidden_size || wv.shape[0] < 1 || bv.shape.size() != 1 ||
      bv.shape[0] != wv.shape[0]) {
    return absl::InvalidArgumentError(absl::StrCat(
        weights->path(), ": \"classifier.weight\" [", absl::StrJoin(wv.shape, ", "), "] / \"classifier.bias\" [",
        absl::StrJoin(bv.shape, ", "), "] do not fit [num_labels, ", bert_config.hidden_size, "] / [num_labels]"));
  }
  const std::int64_t num_labels = wv.shape[0];
  if (bert_config.num_labels > 0 && bert_config.num_labels != num_labels) {
    return absl::InvalidArgumentError(absl::StrCat(config_json, ": num_labels = ", bert_config.num_labels, " but ",
                                                   weights->path(), " \"classifier.weight\" has ", num_labels,
                                                   " rows"));
  }
  if (config.label >= num_labels) {
    return absl::InvalidArgumentError(absl::StrCat("label = ", config.label, " but ", config_json, " has ",
                                                   num_labels, " label", num_labels == 1 ? "" : "s"));
  }

  WordPieceTokenizer& tokenizer = ckpt.tokenizer;
  DENSEFB_ASSIGN_OR_RETURN(const int max_length,
                           torch_impl::ResolveMaxLength(ckpt, config.max_length, "max_length", 0, "",
                                                        tokenizer.num_special_tokens(/*is_pair=*/true) + 2));

  DENSEFB_ASSIGN_OR_RETURN(const Precision precision, ResolvePrecision(config.precision, config.device));
  config.precision = precision;
  BertModel model(bert_config, /*with_pooler=*/true);
  at::Tensor weight, bias;
  try {
    DENSEFB_RETURN_IF_ERROR(torch_impl::LoadParameters(*model, *weights, {"bert.", ""}, {"classifier.", "cls."}));
    model->eval();
    DENSEFB_RETURN_IF_ERROR(torch_impl::SetPrecision(*model, precision, device));
    DENSEFB_ASSIGN_OR_RETURN(weight, torch_impl::ReadFloatTensor(*weights, "classifier.weight"));
    DENSEFB_ASSIGN_OR_RETURN(bias, torch_impl::ReadFloatTensor(*weights, "classifier.bias"));
    weight = weight.to(device);
    bias = bias.to(device);
  } catch (const std::exception& e) {
    return torch_impl::TorchError(e, config.model_dir);
  }
  return std::unique_ptr<CrossEncoder>(new CrossEncoderImpl(config, std::move(tokenizer), std::move(model),
                                                            std::move(weight), std::move(bias), max_length, device));
}

}  // namespace densefb
