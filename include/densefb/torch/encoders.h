// Factories of the libtorch-backed encoders (target densefb::torch). This header does not
// include torch: the modules live in src/torch/.
#ifndef DENSEFB_TORCH_ENCODERS_H_
#define DENSEFB_TORCH_ENCODERS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "densefb/encoder.h"
#include "densefb/status.h"

namespace densefb {

// Arithmetic of an encoder's forward pass. Outputs are float32 whatever the precision.
//   kFloat32   everything in float32 (the default; equal to sentence-transformers' output).
//   kBFloat16  weights and activations in bfloat16 (LayerNorm, softmax and pooling accumulate
//              in float32 inside their kernels), on CUDA and on CPUs with bf16 dot-product
//              instructions (AVX512_BF16 or AMX-BF16, detected at run time); on any other CPU
//              the encoder runs in float32 (ResolvePrecision says which).
//   kFloat16   IEEE half weights and activations; CUDA only (CPUs have no fast fp16 GEMM).
//   kInt8      dynamic quantisation of every linear layer of the transformer, CPU only:
//              weights per output channel, symmetric, 8 bits on CPUs with AVX512-VNNI
//              (scale = max |w| / 127.5, as torch.ao's per-channel MinMax observer) and
//              7 bits elsewhere (scale max |w| / 63.5: without VNNI, fbgemm sums pairs of
//              8-bit products in int16, which would saturate); activations quantised per
//              call to uint8 from their observed range (quantized::linear_dynamic, fbgemm);
//              accumulation in int32, bias and output in float32. As in LLM.int8(), the
//              input features holding a value beyond +-6 (a few LayerNorm features of BERT
//              models) bypass the int8 kernel and are multiplied in float32. Embeddings,
//              LayerNorm, attention, pooling and sentence-transformers Dense layers stay
//              float32. The activation range is observed per call, over every token of the
//              batch (or block of 1024 tokens): the same texts in the same batches give the
//              same vectors, but a text's vector moves slightly (cosine ~0.999) with the
//              texts it is batched with.
// The bi-encoder, the ColBERT token encoder and the cross-encoder all take a precision.
enum class Precision : std::uint8_t { kFloat32, kBFloat16, kFloat16, kInt8 };

// "fp32", "bf16", "fp16", "int8" (also "float32", "bfloat16", "float16"); anything else is
// InvalidArgument naming the accepted values.
absl::StatusOr<Precision> ParsePrecision(const std::string& name);
const char* PrecisionName(Precision precision);  // "fp32", "bf16", "fp16", "int8"
// Whether this CPU has bf16 dot-product instructions (AVX512_BF16 or AMX-BF16) the OS enables.
bool CpuHasBf16();
// The bits of kInt8's weights on this CPU: 8 with AVX512-VNNI, 7 elsewhere (see kInt8).
int Int8WeightBits();
// The precision an encoder on `device` runs in when `requested`: bf16 on a CPU without bf16
// instructions is fp32; fp16 on a CPU and int8 on CUDA are InvalidArgument (not implemented
// there, named in the message).
absl::StatusOr<Precision> ResolvePrecision(Precision requested, const std::string& device);

// A sentence-transformers / Hugging Face BERT bi-encoder read from a model directory:
// config.json, model.safetensors, tokenizer files, and where present the sentence-transformers
// files (modules.json, <pooling>/config.json, Normalize, Dense, sentence_bert_config.json).
struct BertEncoderConfig {
  std::string model_dir;             // a model directory, or a name (see densefb/model_dir.h)
  std::optional<Pooling> pooling;    // default: the model's pooling config, else mean
  std::optional<bool> normalize;     // default: true iff modules.json has a Normalize module
  int max_length = 0;                // tokens per text; 0 = sentence_bert_config max_seq_length
  std::string query_prefix;          // prepended to each query (e.g. "query: "); default none
  std::string document_prefix;       // prepended to each document
  std::string device = "cpu";        // "cpu", "cuda", "cuda:1"
  int num_threads = 0;               // torch intra-op threads (process-wide); 0 = leave as is
  Precision precision = Precision::kFloat32;  // see Precision; resolved by ResolvePrecision
  absl::Status Validate() const;
};
absl::StatusOr<std::unique_ptr<Encoder>> MakeBertEncoder(const BertEncoderConfig& config);

// ---- ColBERT late-interaction token encoder ---------------------------------------------------
//
// BERT, a linear projection (no bias) and L2 normalisation of every token embedding, read from
// one of three checkpoint layouts:
//   kStanford: stanford-futuredata/ColBERT (HF_ColBERT): config.json, model.safetensors holding
//     "bert.*" and "linear.weight" (dim x hidden), tokenizer files, and artifact.metadata or
//     colbert_config.json (query_maxlen, doc_maxlen, dim, mask_punctuation,
//     attend_to_mask_tokens, query_token_id, doc_token_id; a nested "config" object is read too).
//   kPylate: PyLate (sentence-transformers layout): modules.json with a Transformer and one or
//     more Dense modules (applied as plain linear maps, as PyLate does), and
//     config_sentence_transformers.json (query_prefix, document_prefix, query_length,
//     document_length, attend_to_expansion_tokens, skiplist_words).
//   kBert: any BERT as a token encoder: the last hidden states, normalised; no projection, no
//     markers, no query augmentation and no punctuation masking unless asked for.
//   kAuto: kPylate if modules.json has a Dense module and no Pooling module, else kStanford if
//     the directory has artifact.metadata, colbert_config.json, config.json architectures
//     "HF_ColBERT" or a "linear.weight" tensor; otherwise an error (name kBert explicitly for a
//     plain BERT).
//
// Sequences: query  = [CLS] <query marker> tokens [SEP], truncated to query_maxlen and, with
// query augmentation, padded with [MASK] up to query_maxlen (attention 0 on that padding unless
// attend_to_mask_tokens); every position is output, so an augmented query always has
// query_maxlen vectors. document = [CLS] <doc marker> tokens [SEP] truncated to doc_maxlen; the
// non-padding tokens are output except, with mask_punctuation, those whose id is in the skiplist
// (ColBERT: the first id of each string.punctuation character; PyLate: the ids of
// skiplist_words). Token type ids are 0. Outputs are float32 with unit-length rows.
enum class TokenCheckpointFormat : std::uint8_t { kAuto, kStanford, kPylate, kBert };

struct ColbertEncoderConfig {
  std::string model_dir;  // a model directory (see ResolveModelDir)
  TokenCheckpointFormat format = TokenCheckpointFormat::kAuto;
  // Tokens per query / document, specials and marker included. 0 = the checkpoint's
  // (ColBERT: query_maxlen (32) / doc_maxlen (180); PyLate: query_length (32) /
  // document_length (180); kBert: sentence_bert_config max_seq_length, else the tokenizer's
  // model_max_length, at most max_position_embeddings).
  int query_maxlen = 0;
  int doc_maxlen = 0;
  // Token inserted after [CLS] ("" = none). Default: ColBERT query_token_id "[unused0]" /
  // doc_token_id "[unused1]"; PyLate query_prefix "[Q] " / document_prefix "[D] "; kBert none.
  std::optional<std::string> query_marker;
  std::optional<std::string> doc_marker;
  // Pad queries with [MASK] to query_maxlen. Default: true for ColBERT / PyLate, false for kBert.
  std::optional<bool> query_augmentation;
  // Attention on the [MASK] padding of queries. Default: attend_to_mask_tokens /
  // attend_to_expansion_tokens of the checkpoint (false), false for kBert.
  std::optional<bool> attend_to_mask_tokens;
  // Drop skiplist tokens from documents. Default: the checkpoint's mask_punctuation (true);
  // PyLate always (true); kBert false.
  std::optional<bool> mask_punctuation;
  // Words skipped by mask_punctuation. Default: PyLate's skiplist_words, else the characters
  // of Python's string.punctuation.
  std::optional<std::vector<std::string>> skiplist_words;
  // Apply the checkpoint's projection. Default: true for ColBERT / PyLate (required there);
  // kBert has none (true is an error).
  std::optional<bool> projection;
  std::string device = "cpu";  // "cpu", "cuda", "cuda:1"
  int num_threads = 0;         // torch intra-op threads (process-wide); 0 = leave as is
  // The BERT layers' arithmetic (see Precision; resolved by ResolvePrecision); the projection
  // and the normalisation run in float32.
  Precision precision = Precision::kFloat32;
  absl::Status Validate() const;
};

// The settings a ColBERT encoder resolved from its checkpoint and config.
struct ColbertEncoderInfo {
  TokenCheckpointFormat format = TokenCheckpointFormat::kAuto;
  int dim = 0;
  int query_maxlen = 0;
  int doc_maxlen = 0;
  std::string query_marker;  // "" = none
  std::string doc_marker;
  bool query_augmentation = false;
  bool attend_to_mask_tokens = false;
  bool mask_punctuation = false;
  std::vector<std::int64_t> skiplist_ids;  // sorted
};

class ColbertEncoder : public TokenEncoder {
 public:
  virtual const ColbertEncoderInfo& Info() const = 0;
};

absl::StatusOr<std::unique_ptr<ColbertEncoder>> MakeColbertEncoder(const ColbertEncoderConfig& config);

// ---- Cross-encoder (BertForSequenceClassification) --------------------------------------------
//
// config.json + model.safetensors holding "bert.*" (with the pooler) and "classifier.weight" /
// "classifier.bias" (num_labels x hidden), plus tokenizer files. Each (query, passage) pair is
// encoded as [CLS] query [SEP] passage [SEP] (token types 0 / 1, longest_first truncation to
// max_length); the score is the logit of `label`, optionally through a sigmoid.
enum class ScoreActivation : std::uint8_t { kNone, kSigmoid };

struct CrossEncoderConfig {
  std::string model_dir;
  // Tokens per pair, specials included. 0 = the tokenizer's model_max_length, else 512; at most
  // max_position_embeddings.
  int max_length = 0;
  int label = 0;  // logit index scored (num_labels == 1: must be 0)
  ScoreActivation activation = ScoreActivation::kNone;  // raw logits by default
  std::string device = "cpu";
  int num_threads = 0;
  // The BERT layers' and the pooler's arithmetic (see Precision; resolved by
  // ResolvePrecision); the classifier runs in float32.
  Precision precision = Precision::kFloat32;
  absl::Status Validate() const;
};

class CrossEncoder : public PairScorer {
 public:
  virtual int MaxLength() const = 0;
  virtual int NumLabels() const = 0;
};

absl::StatusOr<std::unique_ptr<CrossEncoder>> MakeCrossEncoder(const CrossEncoderConfig& config);

// Whether CUDA can be used by this process.
bool CudaAvailable();

}  // namespace densefb

#endif  // DENSEFB_TORCH_ENCODERS_H_
