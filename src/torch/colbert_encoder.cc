// The ColBERT token encoder: [CLS] <marker> tokens [SEP] (queries augmented with [MASK]),
// BertModel, the projection, per-token L2 normalisation; documents keep their non-padding,
// non-punctuation tokens. Checkpoints: stanford-futuredata/ColBERT, PyLate, or a plain BERT.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include <nlohmann/json.hpp>

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

using Json = nlohmann::json;
namespace fs = std::filesystem;
using torch_impl::BertConfig;
using torch_impl::BertModel;

// Python's string.punctuation, one word per character.
const char kPunctuation[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

using torch_impl::ModelError;

absl::StatusOr<Json> ReadJson(const fs::path& path) {
  return torch_impl::ReadJsonFile(path.string(), /*require_object=*/true);
}

template <typename T>
absl::StatusOr<T> Field(const Json& j, const char* key, T fallback, const fs::path& path) {
  return torch_impl::JsonField<T>(j, key, std::move(fallback), path.string());
}

bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// What a checkpoint says, before the caller's overrides.
struct CheckpointSettings {
  int query_maxlen = 0;
  int doc_maxlen = 0;
  int dim = 0;  // 0 = not stated
  std::string query_marker, doc_marker;
  bool query_augmentation = false;
  bool attend_to_mask_tokens = false;
  bool mask_punctuation = false;
  std::vector<std::string> skiplist_words;
  fs::path config_path;  // the file the settings came from ("" = defaults)
};

std::vector<std::string> PunctuationWords() {
  std::vector<std::string> words;
  for (const char* c = kPunctuation; *c != '\0'; ++c) words.emplace_back(1, *c);
  return words;
}

absl::StatusOr<CheckpointSettings> ReadStanfordSettings(const fs::path& dir) {
  CheckpointSettings s;
  s.query_maxlen = 32;
  s.doc_maxlen = 180;
  s.query_marker = "[unused0]";
  s.doc_marker = "[unused1]";
  s.query_augmentation = true;
  s.mask_punctuation = true;
  s.skiplist_words = PunctuationWords();
  for (const char* name : {"artifact.metadata", "colbert_config.json"}) {
    if (!Exists(dir / name)) continue;
    s.config_path = dir / name;
    DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(s.config_path));
    if (j.contains("config") && j["config"].is_object()) j = Json(j["config"]);
    const fs::path& p = s.config_path;
    DENSEFB_ASSIGN_OR_RETURN(s.query_maxlen, Field<int>(j, "query_maxlen", s.query_maxlen, p));
    DENSEFB_ASSIGN_OR_RETURN(s.doc_maxlen, Field<int>(j, "doc_maxlen", s.doc_maxlen, p));
    DENSEFB_ASSIGN_OR_RETURN(s.dim, Field<int>(j, "dim", 0, p));
    DENSEFB_ASSIGN_OR_RETURN(s.mask_punctuation, Field<bool>(j, "mask_punctuation", true, p));
    DENSEFB_ASSIGN_OR_RETURN(s.attend_to_mask_tokens, Field<bool>(j, "attend_to_mask_tokens", false, p));
    DENSEFB_ASSIGN_OR_RETURN(s.query_marker, Field<std::string>(j, "query_token_id", s.query_marker, p));
    DENSEFB_ASSIGN_OR_RETURN(s.doc_marker, Field<std::string>(j, "doc_token_id", s.doc_marker, p));
    break;
  }
  return s;
}

absl::StatusOr<CheckpointSettings> ReadPylateSettings(const fs::path& dir) {
  CheckpointSettings s;
  s.query_maxlen = 32;
  s.doc_maxlen = 180;
  s.query_marker = "[Q] ";
  s.doc_marker = "[D] ";
  s.query_augmentation = true;
  s.mask_punctuation = true;  // PyLate always applies its skiplist to documents
  s.skiplist_words = PunctuationWords();
  const fs::path p = dir / "config_sentence_transformers.json";
  if (!Exists(p)) return s;
  s.config_path = p;
  DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(p));
  // PyLate treats empty / zero values as unset ("value or default").
  DENSEFB_ASSIGN_OR_RETURN(std::string qp, Field<std::string>(j, "query_prefix", "", p));
  DENSEFB_ASSIGN_OR_RETURN(std::string dp, Field<std::string>(j, "document_prefix", "", p));
  DENSEFB_ASSIGN_OR_RETURN(int ql, Field<int>(j, "query_length", 0, p));
  DENSEFB_ASSIGN_OR_RETURN(int dl, Field<int>(j, "document_length", 0, p));
  DENSEFB_ASSIGN_OR_RETURN(s.attend_to_mask_tokens, Field<bool>(j, "attend_to_expansion_tokens", false, p));
  DENSEFB_ASSIGN_OR_RETURN(std::vector<std::string> skip,
                           Field<std::vector<std::string>>(j, "skiplist_words", {}, p));
  if (!qp.empty()) s.query_marker = qp;
  if (!dp.empty()) s.doc_marker = dp;
  if (ql > 0) s.query_maxlen = ql;
  if (dl > 0) s.doc_maxlen = dl;
  if (!skip.empty()) s.skiplist_words = std::move(skip);
  return s;
}

// Rows of one batch as the model sees them (row-major rows x cols).
struct TokenBatch {
  std::int64_t rows = 0, cols = 0;
  std::vector<std::int64_t> ids, mask, types;
  std::vector<std::int64_t> lengths;  // non-padding tokens of each row
};

class ColbertEncoderImpl final : public ColbertEncoder {
 public:
  ColbertEncoderImpl(ColbertEncoderConfig config, ColbertEncoderInfo info, WordPieceTokenizer tokenizer,
                     BertModel model, std::vector<torch_impl::DenseLayer> projection, at::Device device,
                     std::int64_t query_marker_id, std::int64_t doc_marker_id, bool stanford_pad_rules)
      : config_(std::move(config)),
        info_(std::move(info)),
        tokenizer_(std::move(tokenizer)),
        model_(std::move(model)),
        projection_(std::move(projection)),
        device_(device),
        query_marker_id_(query_marker_id),
        doc_marker_id_(doc_marker_id),
        stanford_pad_rules_(stanford_pad_rules),
        skip_(info_.skiplist_ids.begin(), info_.skiplist_ids.end()) {}

  int Dimension() const override { return info_.dim; }
  const ColbertEncoderInfo& Info() const override { return info_; }

  absl::StatusOr<std::vector<RowMatrix>> EncodeQueries(absl::Span<const std::string> texts,
                                                       const EncodeOptions& options) const override {
    return Encode(texts, /*queries=*/true, options);
  }
  absl::StatusOr<std::vector<RowMatrix>> EncodeDocuments(absl::Span<const std::string> texts,
                                                         const EncodeOptions& options) const override {
    return Encode(texts, /*queries=*/false, options);
  }
  absl::StatusOr<std::vector<TokenEmbeddings>> EncodeDocumentsWithIds(
      absl::Span<const std::string> texts, const EncodeOptions& options) const override {
    std::vector<std::vector<std::int32_t>> ids;
    DENSEFB_ASSIGN_OR_RETURN(std::vector<RowMatrix> vectors, Encode(texts, /*queries=*/false, options, &ids));
    std::vector<TokenEmbeddings> out(vectors.size());
    for (std::size_t i = 0; i < vectors.size(); ++i) {
      out[i].vectors = std::move(vectors[i]);
      out[i].token_ids = std::move(ids[i]);
    }
    return out;
  }

 private:
  // `token_ids`, when given, receives the vocabulary id of every output row.
  absl::StatusOr<std::vector<RowMatrix>> Encode(absl::Span<const std::string> texts, bool queries,
                                                const EncodeOptions& options,
                                                std::vector<std::vector<std::int32_t>>* token_ids = nullptr) const;
  absl::Status Tokenize(absl::Span<const absl::string_view> texts, bool queries, BatchEncoding* scratch,
                        TokenBatch* out) const;
  bool Keep(bool queries, std::int64_t id) const {
    if (queries) return true;
    if (stanford_pad_rules_ && id == tokenizer_.pad_id()) return false;  // ColBERT drops id 0 (pad)
    return !(info_.mask_punctuation && skip_.count(id) > 0);
  }

  ColbertEncoderConfig config_;
  ColbertEncoderInfo info_;
  WordPieceTokenizer tokenizer_;
  mutable BertModel model_;  // forward() is not const in libtorch; it mutates nothing here
  std::vector<torch_impl::DenseLayer> projection_;  // applied as plain linear maps, in order
  at::Device device_;
  std::int64_t query_marker_id_;  // -1 = no marker
  std::int64_t doc_marker_id_;
  bool stanford_pad_rules_;
  std::set<std::int64_t> skip_;
};

absl::Status ColbertEncoderImpl::Tokenize(absl::Span<const absl::string_view> texts, bool queries,
                                          BatchEncoding* b, TokenBatch* out) const {
  const std::int64_t marker = queries ? query_marker_id_ : doc_marker_id_;
  const std::int64_t m = marker >= 0 ? 1 : 0;
  const std::int64_t maxlen = queries ? info_.query_maxlen : info_.doc_maxlen;
  const bool augment = queries && info_.query_augmentation;
  // [CLS] tokens [SEP] truncated to maxlen - m, then the marker goes in after [CLS]: the same
  // ids as ColBERT's "." placeholder overwritten by the marker, and as PyLate's insertion.
  BatchOptions bo;
  bo.max_length = maxlen - m;
  DENSEFB_RETURN_IF_ERROR(tokenizer_.EncodeBatch(texts, bo, b));
  const std::int64_t pad = tokenizer_.pad_id() >= 0 ? tokenizer_.pad_id() : 0;
  const std::int64_t mask_id = tokenizer_.mask_id();
  out->rows = b->rows;
  out->cols = augment ? maxlen : b->cols + m;
  const std::size_t size = static_cast<std::size_t>(out->rows * out->cols);
  out->ids.assign(size, augment ? mask_id : pad);
  out->mask.assign(size, augment && info_.attend_to_mask_tokens ? 1 : 0);
  out->types.assign(size, 0);
  out->lengths.resize(b->rows);
  for (std::int64_t r = 0; r < b->rows; ++r) {
    const std::int64_t len = b->lengths[r];
    const std::int64_t* src = b->input_ids.data() + r * b->cols;
    std::int64_t* ids = out->ids.data() + r * out->cols;
    std::int64_t* mask = out->mask.data() + r * out->cols;
    std::int64_t j = 0;
    for (std::int64_t i = 0; i < len; ++i) {
      ids[j++] = src[i];
      if (i == 0 && m == 1) ids[j++] = marker;
    }
    if (len == 0 && m == 1) ids[j++] = marker;
    std::fill(mask, mask + j, 1);
    if (augment && stanford_pad_rules_) {  // ColBERT: every [PAD] id becomes [MASK]
      for (std::int64_t i = 0; i < j; ++i) {
        if (ids[i] == tokenizer_.pad_id()) ids[i] = mask_id;
      }
    }
    out->lengths[r] = j;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RowMatrix>> ColbertEncoderImpl::Encode(absl::Span<const std::string> texts, bool queries,
                                                                  const EncodeOptions& options,
                                                                  std::vector<std::vector<std::int32_t>>* token_ids) const {
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size = ", options.batch_size, " must be >= 1"));
  }
  const auto n = static_cast<std::int64_t>(texts.size());
  std::vector<RowMatrix> result(n);
  if (token_ids != nullptr) token_ids->assign(n, {});
  if (n == 0) return result;
  if (config_.num_threads > 0) at::set_num_threads(config_.num_threads);
  // Longest first: batches of similar lengths, the largest batch first.
  std::vector<std::int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return texts[a].size() > texts[b].size(); });
  const bool keep_all_query_rows = queries && info_.query_augmentation;
  const int dim = info_.dim;
  DENSEFB_RETURN_IF_ERROR(torch_impl::RunBatches(
      n, options.batch_size, device_, options.progress, {"ColBERT encoding", "encoding", "texts"},
      [&](std::int64_t start, std::int64_t end) -> absl::Status {
        std::vector<absl::string_view> views;
        for (std::int64_t i = start; i < end; ++i) views.push_back(texts[order[i]]);
        BatchEncoding scratch;
        TokenBatch batch;
        DENSEFB_RETURN_IF_ERROR(Tokenize(views, queries, &scratch, &batch));
        const auto opts = at::TensorOptions().dtype(at::kLong);
        at::Tensor ids = at::from_blob(batch.ids.data(), {batch.rows, batch.cols}, opts).to(device_);
        at::Tensor mask = at::from_blob(batch.mask.data(), {batch.rows, batch.cols}, opts).to(device_);
        at::Tensor types = at::from_blob(batch.types.data(), {batch.rows, batch.cols}, opts).to(device_);
        at::Tensor x = model_->forward(ids, mask, types).to(at::kFloat);  // bf16 / fp16: project in float32
        for (const auto& dense : projection_) {
          x = dense.bias.defined() ? at::linear(x, dense.weight, dense.bias) : at::linear(x, dense.weight);
        }
        x = x / x.norm(2, -1, true).clamp_min(1e-12);
        x = x.to(at::kCPU, at::kFloat).contiguous();
        const float* src = x.data_ptr<float>();
        for (std::int64_t r = 0; r < batch.rows; ++r) {
          const std::int64_t* row_ids = batch.ids.data() + r * batch.cols;
          const std::int64_t len = keep_all_query_rows ? batch.cols : batch.lengths[r];
          std::vector<std::int64_t> keep;
          keep.reserve(len);
          for (std::int64_t t = 0; t < len; ++t) {
            if (Keep(queries, row_ids[t])) keep.push_back(t);
          }
          RowMatrix& m = result[order[start + r]];
          m.resize(static_cast<Eigen::Index>(keep.size()), dim);
          for (std::size_t k = 0; k < keep.size(); ++k) {
            std::copy_n(src + (r * batch.cols + keep[k]) * dim, dim, m.data() + k * dim);
          }
          if (token_ids != nullptr) {
            std::vector<std::int32_t>& row_out = (*token_ids)[order[start + r]];
            row_out.resize(keep.size());
            for (std::size_t k = 0; k < keep.size(); ++k) row_out[k] = static_cast<std::int32_t>(row_ids[keep[k]]);
          }
        }
        return absl::OkStatus();
      }));
  return result;
}

// `marker` as a token id (-1 for none), naming the tokenizer directory on failure.
absl::StatusOr<std::int64_t> MarkerId(const WordPieceTokenizer& tok, const std::string& marker, const char* what,
                                      const std::string& dir) {
  if (marker.empty()) return -1;
  const std::int64_t id = tok.TokenToId(marker);
  if (id < 0) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": the ", what, " \"", marker,
                                                   "\" is not a token of the tokenizer"));
  }
  return id;
}

absl::Status CheckLength(int value, const char* name, int min, int max, const std::string& where) {
  if (value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", name, " = ", value, " must be in [", min, ", ", max,
                                                   "] (specials and marker included; max_position_embeddings ",
                                                   max, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ColbertEncoderConfig::Validate() const {
  if (model_dir.empty()) return absl::InvalidArgumentError("model_dir is empty");
  if (query_maxlen < 0) return absl::InvalidArgumentError(absl::StrCat("query_maxlen = ", query_maxlen, " is negative"));
  if (doc_maxlen < 0) return absl::InvalidArgumentError(absl::StrCat("doc_maxlen = ", doc_maxlen, " is negative"));
  if (num_threads < 0) return absl::InvalidArgumentError(absl::StrCat("num_threads = ", num_threads, " is negative"));
  return torch_impl::ParseDevice(device).status();
}

absl::StatusOr<std::unique_ptr<ColbertEncoder>> MakeColbertEncoder(const ColbertEncoderConfig& requested) {
  DENSEFB_RETURN_IF_ERROR(requested.Validate());
  ColbertEncoderConfig config = requested;
  DENSEFB_ASSIGN_OR_RETURN(config.model_dir, ResolveModelDir(requested.model_dir));
  DENSEFB_ASSIGN_OR_RETURN(const at::Device device, torch_impl::ParseDevice(config.device));
  auto layout_or = torch_impl::ReadSentenceTransformerLayout(config.model_dir);
  if (!layout_or.ok()) return ModelError(layout_or.status());
  torch_impl::SentenceTransformerLayout layout = *std::move(layout_or);
  const fs::path dir(config.model_dir);
  auto ckpt_or = torch_impl::OpenBertCheckpoint(layout.transformer_dir);
  if (!ckpt_or.ok()) return ModelError(ckpt_or.status());
  torch_impl::BertCheckpoint ckpt = *std::move(ckpt_or);
  const std::string& config_json = ckpt.config_path;
  const BertConfig& bert_config = ckpt.config;
  const std::unique_ptr<SafetensorsFile>& weights = ckpt.weights;
  const bool has_linear = weights->tensors().count("linear.weight") > 0;

  // Which layout.
  TokenCheckpointFormat format = config.format;
  if (format == TokenCheckpointFormat::kAuto) {
    bool hf_colbert = false;
    if (auto j = ReadJson(config_json); j.ok() && j->contains("architectures") && (*j)["architectures"].is_array()) {
      for (const Json& a : (*j)["architectures"]) hf_colbert = hf_colbert || (a.is_string() && a.get<std::string>() == "HF_ColBERT");
    }
    if (!layout.dense.empty() && !layout.pooling) {
      format = TokenCheckpointFormat::kPylate;
    } else if (hf_colbert || has_linear || Exists(dir / "artifact.metadata") || Exists(dir / "colbert_config.json")) {
      format = TokenCheckpointFormat::kStanford;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          config.model_dir, ": not a ColBERT checkpoint (no artifact.metadata, colbert_config.json, "
                            "\"linear.weight\" tensor in ", weights->path(),
          " or PyLate Dense module in modules.json); use format \"bert\" for a plain BERT's token embeddings"));
    }
  }

  CheckpointSettings s;
  std::vector<torch_impl::DenseLayer> projection;
  std::vector<std::string> ignored = {"cls.", "pooler.", "bert.pooler."};
  switch (format) {
    case TokenCheckpointFormat::kStanford: {
      DENSEFB_ASSIGN_OR_RETURN(s, ReadStanfordSettings(layout.transformer_dir));
      if (!has_linear) {
        return absl::InvalidArgumentError(absl::StrCat(
            weights->path(), ": no tensor \"linear.weight\" (the ColBERT projection, dim x hidden); "
                             "not a ColBERT checkpoint"));
      }
      DENSEFB_ASSIGN_OR_RETURN(TensorView view, weights->Get("linear.weight"));
      torch_impl::DenseLayer layer;
      DENSEFB_ASSIGN_OR_RETURN(layer.weight, torch_impl::ReadFloatTensor(*weights, "linear.weight"));
      layer.activation = "identity";
      if (layer.weight.dim() != 2 || layer.weight.size(1) != bert_config.hidden_size) {
        return absl::InvalidArgumentError(absl::StrCat(weights->path(), ": \"linear.weight\" has shape [",
                                                       absl::StrJoin(view.shape, ", "), "], expected [dim, ",
                                                       bert_config.hidden_size, "]"));
      }
      if (s.dim > 0 && s.dim != layer.weight.size(0)) {
        return absl::InvalidArgumentError(absl::StrCat(s.config_path.string(), ": dim = ", s.dim, " but ",
                                                       weights->path(), " \"linear.weight\" has ",
                                                       layer.weight.size(0), " rows"));
      }
      if (weights->tensors().count("linear.bias")) {
        return absl::UnimplementedError(absl::StrCat(weights->path(), ": \"linear.bias\": ColBERT's projection has no bias"));
      }
      projection.push_back(std::move(layer));
      ignored.push_back("linear.");
      break;
    }
    case TokenCheckpointFormat::kPylate: {
      if (layout.pooling || layout.normalize) {
        return absl::InvalidArgumentError(absl::StrCat(config.model_dir, "/modules.json: has a Pooling or Normalize "
                                                       "module; not a PyLate ColBERT model"));
      }
      if (layout.dense.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(config.model_dir, ": no Dense module in modules.json; "
                                                       "not a PyLate ColBERT model"));
      }
      DENSEFB_ASSIGN_OR_RETURN(s, ReadPylateSettings(dir));
      std::int64_t in = bert_config.hidden_size;
      for (const auto& d : layout.dense) {
        if (d.weight.size(1) != in) {
          return absl::InvalidArgumentError(absl::StrCat(config.model_dir, ": a Dense module expects ", d.weight.size(1),
                                                         " inputs, the previous layer gives ", in));
        }
        in = d.weight.size(0);
      }
      projection = layout.dense;  // PyLate's Dense applies the linear map only (no activation)
      break;
    }
    case TokenCheckpointFormat::kBert:
    default: {
      if (config.projection.value_or(false)) {
        return absl::InvalidArgumentError(absl::StrCat(config.model_dir, ": format \"bert\" has no projection"));
      }
      s.skiplist_words = PunctuationWords();
      ignored.push_back("linear.");
      break;
    }
  }
  if (!config.projection.value_or(true)) projection.clear();

  WordPieceTokenizer& tokenizer = ckpt.tokenizer;
  DENSEFB_ASSIGN_OR_RETURN(const Precision precision, ResolvePrecision(config.precision, config.device));
  config.precision = precision;
  BertModel model(bert_config, /*with_pooler=*/false);
  try {
    DENSEFB_RETURN_IF_ERROR(torch_impl::LoadParameters(*model, *weights, {"bert.", ""}, ignored));
    model->eval();
    DENSEFB_RETURN_IF_ERROR(torch_impl::SetPrecision(*model, precision, device));
    for (auto& d : projection) {
      d.weight = d.weight.to(device);
      if (d.bias.defined()) d.bias = d.bias.to(device);
    }
  } catch (const std::exception& e) {
    return torch_impl::TorchError(e, config.model_dir);
  }

  ColbertEncoderInfo info;
  info.format = format;
  info.dim = projection.empty() ? bert_config.hidden_size : static_cast<int>(projection.back().weight.size(0));
  const int max_pos = bert_config.max_position_embeddings;
  if (format == TokenCheckpointFormat::kBert) {
    DENSEFB_ASSIGN_OR_RETURN(const int default_len,
                             torch_impl::ResolveMaxLength(ckpt, 0, "max_length", layout.max_seq_length,
                                                          layout.transformer_dir + "/sentence_bert_config.json", 0));
    s.query_maxlen = s.doc_maxlen = default_len;
  }
  info.query_maxlen = config.query_maxlen > 0 ? config.query_maxlen : s.query_maxlen;
  info.doc_maxlen = config.doc_maxlen > 0 ? config.doc_maxlen : s.doc_maxlen;
  info.query_marker = config.query_marker.value_or(s.query_marker);
  info.doc_marker = config.doc_marker.value_or(s.doc_marker);
  info.query_augmentation = config.query_augmentation.value_or(s.query_augmentation);
  info.attend_to_mask_tokens = config.attend_to_mask_tokens.value_or(s.attend_to_mask_tokens);
  info.mask_punctuation = config.mask_punctuation.value_or(s.mask_punctuation);
  const std::vector<std::string> words = config.skiplist_words.value_or(s.skiplist_words);

  const std::string& tdir = layout.transformer_dir;
  DENSEFB_ASSIGN_OR_RETURN(const std::int64_t qid, MarkerId(tokenizer, info.query_marker, "query marker", tdir));
  DENSEFB_ASSIGN_OR_RETURN(const std::int64_t did, MarkerId(tokenizer, info.doc_marker, "document marker", tdir));
  const int specials = static_cast<int>(tokenizer.num_special_tokens(false));
  DENSEFB_RETURN_IF_ERROR(CheckLength(info.query_maxlen, "query_maxlen", specials + (qid >= 0 ? 1 : 0), max_pos, config.model_dir));
  DENSEFB_RETURN_IF_ERROR(CheckLength(info.doc_maxlen, "doc_maxlen", specials + (did >= 0 ? 1 : 0), max_pos, config.model_dir));
  if (info.query_augmentation && tokenizer.mask_id() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(tdir, ": query augmentation needs a [MASK] token, the tokenizer has none"));
  }
  std::set<std::int64_t> skip;
  for (const std::string& w : words) {
    if (w.empty()) continue;
    if (format == TokenCheckpointFormat::kPylate) {  // convert_tokens_to_ids: unknown -> [UNK]
      const std::int64_t id = tokenizer.TokenToId(w);
      skip.insert(id >= 0 ? id : tokenizer.unk_id());
    } else {  // ColBERT: the first id of encode(word, add_special_tokens=False)
      DENSEFB_ASSIGN_OR_RETURN(Encoding e, tokenizer.Encode(w, 0, /*add_special_tokens=*/false));
      if (!e.ids.empty()) skip.insert(e.ids[0]);
    }
  }
  info.skiplist_ids.assign(skip.begin(), skip.end());
  return std::unique_ptr<ColbertEncoder>(new ColbertEncoderImpl(
      config, std::move(info), std::move(tokenizer), std::move(model), std::move(projection), device, qid, did,
      format == TokenCheckpointFormat::kStanford));
}

}  // namespace densefb
