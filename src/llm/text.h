// Text pieces the LLM stages share: prompt templates, reasoning blocks, passage truncation,
// stage-named errors.
#ifndef DENSEFB_SRC_LLM_TEXT_H_
#define DENSEFB_SRC_LLM_TEXT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "densefb/status.h"

namespace densefb::llm {

// A model's answer with a leading reasoning block (Rank-R1, ERank, DeepSeek-R1 style:
// "<think>...</think> answer") split off.
struct Answer {
  std::string text;          // what follows the last "</think>", trimmed; the whole text if none
  bool reasoning = false;    // a <think> block was present
  bool unterminated = false; // "<think>" without "</think>": the answer is empty
};
Answer StripReasoning(absl::string_view text);

// Fills "{name}" placeholders of `tmpl` from `values`; "{{" and "}}" are literal braces.
// InvalidArgument naming `stage`, the placeholder and the known names for an unknown or
// unclosed placeholder.
absl::StatusOr<std::string> FillTemplate(absl::string_view tmpl,
                                         const std::map<std::string, std::string>& values,
                                         absl::string_view stage);
// The same check without filling: every placeholder of `tmpl` is one of `names` (for parse-time
// errors, before any model call).
absl::Status CheckTemplate(absl::string_view tmpl, const std::vector<std::string>& names,
                           absl::string_view stage);
// A stage's `prompt` parameter: empty (the stage's default template) or CheckTemplate's check.
absl::Status CheckPrompt(const std::string& prompt, const std::vector<std::string>& names, absl::string_view stage);

// `s` with "stage '<stage>': " before its message (OK stays OK).
absl::Status InStage(const absl::Status& s, absl::string_view stage);

// The first `max_words` whitespace-separated words of `text`, joined by single spaces
// (max_words <= 0: all of them).
std::string TruncateWords(absl::string_view text, int max_words);

}  // namespace densefb::llm

#endif  // DENSEFB_SRC_LLM_TEXT_H_
