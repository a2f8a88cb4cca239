// Generator: a model that completes prompts. The LLM rerankers (densefb/llm_rerankers.h) and
// generative feedback models (densefb/llm_feedback.h) read one from the resource "generator".
//
// Two operations:
//   Generate            text out, one completion per prompt;
//   FirstTokenLogprobs  the log-probabilities of the first generated token over a given set of
//                       labels (FIRST's single decoding step; pointwise yes/no grades).
// Both take a batch: an implementation may run the prompts concurrently (the HTTP client does,
// up to its concurrency limit). Results are in prompt order.
//
// Implementations: OpenAiGenerator (densefb/openai_client.h; any OpenAI-compatible server:
// vLLM, llama.cpp's server, a hosted API), FunctionGenerator (below: any C++ callable), and in
// Python any subclass of densefb.Generator or callable. CachingGenerator (densefb/
// openai_client.h) adds a persistent response cache to any of them.
//
// Every call is counted (GeneratorStats): requests made, cache hits, prompt and completion
// tokens, seconds waited, retries. The counters are cumulative; take Stats() before and after
// a run for that run's cost.
#ifndef DENSEFB_GENERATOR_H_
#define DENSEFB_GENERATOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "densefb/status.h"

namespace densefb {

// Sampling settings of one batch. They are part of the cache key.
struct GenerateOptions {
  int max_tokens = 256;       // completion tokens at most
  double temperature = 0.0;   // 0 = greedy, what reproducible experiments use
  std::vector<std::string> stop;  // stop sequences (may be empty)
  std::string system;         // system message for chat models (may be empty)
  // Which sample of a repeated prompt this is (HyDE's n passages at temperature > 0): part of
  // the cache key, so that n samples are n entries; not sent to the model.
  int sample = 0;
};

// One completion.
struct Generation {
  std::string text;
  std::int64_t prompt_tokens = 0;      // as the server reports them (0 if it does not)
  std::int64_t completion_tokens = 0;
};

// Counters, cumulative since the generator was made.
struct GeneratorStats {
  std::int64_t requests = 0;          // model calls made (cache hits excluded)
  std::int64_t cache_hits = 0;        // answers served from the cache
  std::int64_t prompt_tokens = 0;     // of the calls made
  std::int64_t completion_tokens = 0;
  double seconds = 0;                 // wall time spent in calls made (summed over threads)
  std::int64_t retries = 0;           // repeated requests after 429 / 5xx / timeouts
  std::int64_t failures = 0;          // calls that failed after their last retry

  GeneratorStats operator-(const GeneratorStats& o) const {
    return {requests - o.requests, cache_hits - o.cache_hits, prompt_tokens - o.prompt_tokens,
            completion_tokens - o.completion_tokens, seconds - o.seconds, retries - o.retries,
            failures - o.failures};
  }
};

// Thread-safe counters an implementation adds to.
class GeneratorCounters {
 public:
  void AddCall(std::int64_t prompt_tokens, std::int64_t completion_tokens, double seconds) {
    requests_.fetch_add(1, std::memory_order_relaxed);
    prompt_tokens_.fetch_add(prompt_tokens, std::memory_order_relaxed);
    completion_tokens_.fetch_add(completion_tokens, std::memory_order_relaxed);
    micros_.fetch_add(static_cast<std::int64_t>(seconds * 1e6), std::memory_order_relaxed);
  }
  void AddCacheHit() { cache_hits_.fetch_add(1, std::memory_order_relaxed); }
  void AddRetry() { retries_.fetch_add(1, std::memory_order_relaxed); }
  void AddFailure() { failures_.fetch_add(1, std::memory_order_relaxed); }
  GeneratorStats Snapshot() const {
    GeneratorStats s;
    s.requests = requests_.load(std::memory_order_relaxed);
    s.cache_hits = cache_hits_.load(std::memory_order_relaxed);
    s.prompt_tokens = prompt_tokens_.load(std::memory_order_relaxed);
    s.completion_tokens = completion_tokens_.load(std::memory_order_relaxed);
    s.seconds = static_cast<double>(micros_.load(std::memory_order_relaxed)) / 1e6;
    s.retries = retries_.load(std::memory_order_relaxed);
    s.failures = failures_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::atomic<std::int64_t> requests_{0}, cache_hits_{0}, prompt_tokens_{0}, completion_tokens_{0},
      micros_{0}, retries_{0}, failures_{0};
};

class Generator {
 public:
  virtual ~Generator() = default;

  // One completion per prompt, in order. Thread-safe.
  virtual absl::StatusOr<std::vector<Generation>> Generate(absl::Span<const std::string> prompts,
                                                           const GenerateOptions& options = {}) const = 0;

  // For each prompt, the log-probability of each of `labels` as the first generated token
  // (out[i][j] for prompt i, label j); a label the model gave no log-probability gets -inf.
  // Labels are matched after trimming whitespace. Unimplemented unless the model exposes them.
  virtual absl::StatusOr<std::vector<std::vector<double>>> FirstTokenLogprobs(
      absl::Span<const std::string> prompts, absl::Span<const std::string> labels,
      const GenerateOptions& options = {}) const {
    (void)prompts, (void)labels, (void)options;
    return absl::UnimplementedError(ToString() + " gives no first-token log-probabilities");
  }

  // Names the model, e.g. "openai(model=\"qwen2.5-7b\",base_url=\"http://127.0.0.1:8000/v1\")".
  // The cache keys answers by Model(), not by ToString(): the same model behind another URL
  // answers from the same cache.
  virtual std::string ToString() const = 0;
  virtual std::string Model() const { return ToString(); }

  // Cumulative counters of this generator.
  virtual GeneratorStats Stats() const { return counters_.Snapshot(); }

 protected:
  GeneratorCounters& counters() const { return counters_; }

 private:
  mutable GeneratorCounters counters_;
};

inline constexpr double kNoLogprob = -std::numeric_limits<double>::infinity();

// A generator from C++ callables (a deterministic stand-in, an in-process model). `complete`
// answers one prompt; `logprobs`, if given, answers FirstTokenLogprobs for one prompt. Calls run
// one after another, each counted as a request (tokens: whitespace-separated words).
class FunctionGenerator final : public Generator {
 public:
  using Complete = std::function<absl::StatusOr<std::string>(const std::string& prompt, const GenerateOptions&)>;
  using Logprobs = std::function<absl::StatusOr<std::vector<double>>(const std::string& prompt,
                                                                     absl::Span<const std::string> labels)>;

  FunctionGenerator(std::string name, Complete complete, Logprobs logprobs = nullptr)
      : name_(std::move(name)), complete_(std::move(complete)), logprobs_(std::move(logprobs)) {}

  absl::StatusOr<std::vector<Generation>> Generate(absl::Span<const std::string> prompts,
                                                   const GenerateOptions& options = {}) const override;
  absl::StatusOr<std::vector<std::vector<double>>> FirstTokenLogprobs(
      absl::Span<const std::string> prompts, absl::Span<const std::string> labels,
      const GenerateOptions& options = {}) const override;
  std::string ToString() const override { return name_; }

 private:
  std::string name_;
  Complete complete_;
  Logprobs logprobs_;
};

// Whitespace-separated words: the token count FunctionGenerator reports.
std::int64_t CountWords(const std::string& text);

}  // namespace densefb

#endif  // DENSEFB_GENERATOR_H_
