// A Generator for any OpenAI-compatible HTTP server (vLLM, llama.cpp's llama-server, a hosted
// API), usable from C++ alone (libcurl), and a persistent response cache for any Generator.
//
//   OpenAiConfig c;                        // base_url, model, api_key from the environment
//   c.model = "Qwen/Qwen2.5-7B-Instruct";  // or DENSEFB_LLM_MODEL
//   auto llm = *OpenAiGenerator::Create(c);
//   auto cached = *CachingGenerator::Create(llm, "llm-cache");   // re-runs cost nothing
//   resources.Set<Generator>(resource::kGenerator, cached);
//
// Requests: POST {base_url}/chat/completions (chat = true: messages [system?, user]) or
// {base_url}/completions (prompt), "temperature", "max_tokens", "stop". FirstTokenLogprobs asks
// for one token with the top 20 log-probabilities ("logprobs": true, "top_logprobs": 20 for
// chat; "logprobs": 20 for completions) and reads the labels among them (-inf when absent).
//
// A batch runs on up to max_concurrency threads, and at most max_concurrency requests of this
// generator are in flight at once over all callers. HTTP 429 and 5xx, timeouts and failed
// connections are retried up to max_retries times with exponential backoff (backoff_s, 2x
// each, at most 30 s; a Retry-After header of at most 30 s is honoured). Other errors are not
// retried: an HTTP 4xx, or a body that is not the JSON an OpenAI server returns, is an error
// naming the URL, the HTTP status and the start of the body.
#ifndef DENSEFB_OPENAI_CLIENT_H_
#define DENSEFB_OPENAI_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "densefb/generator.h"

namespace densefb {

struct OpenAiConfig {
  std::string base_url;  // "" = $DENSEFB_LLM_BASE_URL, else $OPENAI_BASE_URL; e.g. "http://127.0.0.1:8000/v1"
  std::string model;     // "" = $DENSEFB_LLM_MODEL
  std::string api_key;   // "" = $DENSEFB_LLM_API_KEY, else $OPENAI_API_KEY; may stay empty (local servers)
  bool chat = true;      // chat completions; false = completions
  int max_concurrency = 8;   // requests in flight at once
  double timeout_s = 60;     // per request, connection included
  int max_retries = 4;       // after the first attempt
  double backoff_s = 0.5;    // the first retry's wait
};

class OpenAiGenerator final : public Generator {
 public:
  // InvalidArgument naming the setting and its environment variable when base_url or model is
  // missing, or when a number is out of range.
  static absl::StatusOr<std::shared_ptr<OpenAiGenerator>> Create(OpenAiConfig config);
  ~OpenAiGenerator() override;

  absl::StatusOr<std::vector<Generation>> Generate(absl::Span<const std::string> prompts,
                                                   const GenerateOptions& options = {}) const override;
  absl::StatusOr<std::vector<std::vector<double>>> FirstTokenLogprobs(
      absl::Span<const std::string> prompts, absl::Span<const std::string> labels,
      const GenerateOptions& options = {}) const override;
  // openai(model="...",base_url="...",chat=true): never the API key.
  std::string ToString() const override;
  std::string Model() const override { return config_.model; }
  const OpenAiConfig& config() const { return config_; }

  struct Impl;

 private:
  explicit OpenAiGenerator(OpenAiConfig config);
  OpenAiConfig config_;
  std::unique_ptr<Impl> impl_;
};

// A persistent cache in front of any generator: one file per answer under `dir`, named by a
// 128-bit hash of the key (inner Model(), operation, prompt, GenerateOptions, labels) and
// holding the full key, the answer and a CRC-32 of both. Files are written atomically (a
// temporary file renamed); an entry whose key or checksum does not match is not used (the
// model is asked again and the entry rewritten) and is counted in corrupt_entries(). Stats():
// the inner generator's, plus this cache's hits.
class CachingGenerator final : public Generator {
 public:
  static absl::StatusOr<std::shared_ptr<CachingGenerator>> Create(std::shared_ptr<const Generator> inner,
                                                                  std::string dir);

  absl::StatusOr<std::vector<Generation>> Generate(absl::Span<const std::string> prompts,
                                                   const GenerateOptions& options = {}) const override;
  absl::StatusOr<std::vector<std::vector<double>>> FirstTokenLogprobs(
      absl::Span<const std::string> prompts, absl::Span<const std::string> labels,
      const GenerateOptions& options = {}) const override;
  std::string ToString() const override;
  std::string Model() const override { return inner_->Model(); }
  GeneratorStats Stats() const override;

  const std::string& dir() const { return dir_; }
  std::int64_t corrupt_entries() const { return corrupt_.load(); }
  const std::shared_ptr<const Generator>& inner() const { return inner_; }

 private:
  CachingGenerator(std::shared_ptr<const Generator> inner, std::string dir)
      : inner_(std::move(inner)), dir_(std::move(dir)) {}
  std::shared_ptr<const Generator> inner_;
  // Cache lookups, one inner call for the misses, write-back (src/llm/cache.cc).
  template <typename T, typename KeyFn, typename Decode, typename Fetch, typename Encode>
  absl::StatusOr<std::vector<T>> Cached(absl::Span<const std::string> prompts, KeyFn key, Decode decode,
                                        Fetch fetch, Encode encode) const;
  std::string dir_;
  mutable std::atomic<std::int64_t> corrupt_{0};
};

}  // namespace densefb

#endif  // DENSEFB_OPENAI_CLIENT_H_
