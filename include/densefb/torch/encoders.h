// Factories of the libtorch-backed encoders (target densefb::torch). This header does not
// include torch: the modules live in src/torch/.
#ifndef DENSEFB_TORCH_ENCODERS_H_
#define DENSEFB_TORCH_ENCODERS_H_

#include <memory>
#include <optional>
#include <string>

#include "densefb/encoder.h"
#include "densefb/status.h"

namespace densefb {

// A sentence-transformers / Hugging Face BERT bi-encoder read from a model directory:
// config.json, model.safetensors, tokenizer files, and where present the sentence-transformers
// files (modules.json, <pooling>/config.json, Normalize, Dense, sentence_bert_config.json).
struct BertEncoderConfig {
  std::string model_dir;             // a directory holding config.json (see ResolveModelDir)
  std::optional<Pooling> pooling;    // default: the model's pooling config, else mean
  std::optional<bool> normalize;     // default: true iff modules.json has a Normalize module
  int max_length = 0;                // tokens per text; 0 = sentence_bert_config max_seq_length
  std::string query_prefix;          // prepended to each query (e.g. "query: "); default none
  std::string document_prefix;       // prepended to each document
  std::string device = "cpu";        // "cpu", "cuda", "cuda:1"
  int num_threads = 0;               // torch intra-op threads (process-wide); 0 = leave as is
  absl::Status Validate() const;
};
absl::StatusOr<std::unique_ptr<Encoder>> MakeBertEncoder(const BertEncoderConfig& config);

// Whether CUDA can be used by this process.
bool CudaAvailable();

}  // namespace densefb

#endif  // DENSEFB_TORCH_ENCODERS_H_
