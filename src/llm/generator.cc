// FunctionGenerator (include/densefb/generator.h).
#include "densefb/generator.h"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace densefb {

std::int64_t CountWords(const std::string& text) {
  std::int64_t n = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

absl::StatusOr<std::vector<Generation>> FunctionGenerator::Generate(absl::Span<const std::string> prompts,
                                                                    const GenerateOptions& options) const {
  std::vector<Generation> out;
  out.reserve(prompts.size());
  for (const std::string& prompt : prompts) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::string> text = complete_(prompt, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!text.ok()) {
      counters().AddFailure();
      return absl::Status(text.status().code(), absl::StrCat(name_, ": ", text.status().message()));
    }
    Generation g;
    g.text = *std::move(text);
    g.prompt_tokens = CountWords(prompt);
    g.completion_tokens = CountWords(g.text);
    counters().AddCall(g.prompt_tokens, g.completion_tokens, seconds);
    out.push_back(std::move(g));
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<double>>> FunctionGenerator::FirstTokenLogprobs(
    absl::Span<const std::string> prompts, absl::Span<const std::string> labels,
    const GenerateOptions& options) const {
  if (!logprobs_) return Generator::FirstTokenLogprobs(prompts, labels, options);
  std::vector<std::vector<double>> out;
  out.reserve(prompts.size());
  for (const std::string& prompt : prompts) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::vector<double>> lp = logprobs_(prompt, labels);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!lp.ok()) {
      counters().AddFailure();
      return absl::Status(lp.status().code(), absl::StrCat(name_, ": ", lp.status().message()));
    }
    if (lp->size() != labels.size()) {
      counters().AddFailure();
      return absl::InvalidArgumentError(absl::StrCat(name_, ": ", lp->size(), " log-probabilities for ",
                                                     labels.size(), " labels"));
    }
    counters().AddCall(CountWords(prompt), 1, seconds);
    out.push_back(*std::move(lp));
  }
  return out;
}

}  // namespace densefb
