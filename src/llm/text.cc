#include "llm/text.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace densefb::llm {

Answer StripReasoning(absl::string_view text) {
  Answer a;
  const std::size_t open = text.find("<think>");
  const std::size_t close = text.rfind("</think>");
  if (close != absl::string_view::npos) {
    a.reasoning = true;
    a.text = std::string(absl::StripAsciiWhitespace(text.substr(close + 8)));
  } else if (open != absl::string_view::npos) {
    a.reasoning = true;
    a.unterminated = true;
  } else {
    a.text = std::string(absl::StripAsciiWhitespace(text));
  }
  return a;
}

namespace {

// Walks the template; calls `on_text` for literal text and `on_name` for each placeholder.
template <typename OnText, typename OnName>
absl::Status Walk(absl::string_view tmpl, absl::string_view stage, OnText on_text, OnName on_name) {
  std::size_t i = 0;
  while (i < tmpl.size()) {
    const char c = tmpl[i];
    if (c == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
      on_text("{");
      i += 2;
    } else if (c == '}' && i + 1 < tmpl.size() && tmpl[i + 1] == '}') {
      on_text("}");
      i += 2;
    } else if (c == '{') {
      const std::size_t end = tmpl.find('}', i + 1);
      if (end == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("stage '", stage, "': prompt template has an unclosed '{' at character ", i));
      }
      DENSEFB_RETURN_IF_ERROR(on_name(std::string(tmpl.substr(i + 1, end - i - 1))));
      i = end + 1;
    } else {
      on_text(absl::string_view(&tmpl[i], 1));
      ++i;
    }
  }
  return absl::OkStatus();
}

absl::Status Unknown(absl::string_view stage, const std::string& name, const std::vector<std::string>& names) {
  return absl::InvalidArgumentError(absl::StrCat("stage '", stage, "': prompt template names {", name,
                                                 "}; it may use ", names.empty() ? "none" : absl::StrCat(
                                                 "{", absl::StrJoin(names, "}, {"), "}"),
                                                 " (write {{ and }} for literal braces)"));
}

}  // namespace

absl::StatusOr<std::string> FillTemplate(absl::string_view tmpl, const std::map<std::string, std::string>& values,
                                         absl::string_view stage) {
  std::string out;
  std::vector<std::string> names;
  for (const auto& [k, v] : values) names.push_back(k);
  DENSEFB_RETURN_IF_ERROR(Walk(
      tmpl, stage, [&](absl::string_view t) { out.append(t.data(), t.size()); },
      [&](const std::string& name) -> absl::Status {
        auto it = values.find(name);
        if (it == values.end()) return Unknown(stage, name, names);
        out += it->second;
        return absl::OkStatus();
      }));
  return out;
}

absl::Status CheckTemplate(absl::string_view tmpl, const std::vector<std::string>& names, absl::string_view stage) {
  return Walk(
      tmpl, stage, [](absl::string_view) {},
      [&](const std::string& name) -> absl::Status {
        for (const std::string& n : names) {
          if (n == name) return absl::OkStatus();
        }
        return Unknown(stage, name, names);
      });
}

absl::Status CheckPrompt(const std::string& prompt, const std::vector<std::string>& names, absl::string_view stage) {
  return prompt.empty() ? absl::OkStatus() : CheckTemplate(prompt, names, stage);
}

absl::Status InStage(const absl::Status& s, absl::string_view stage) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("stage '", stage, "': ", s.message()));
}

std::string TruncateWords(absl::string_view text, int max_words) {
  std::string out;
  int n = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && absl::ascii_isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size()) break;
    std::size_t j = i;
    while (j < text.size() && !absl::ascii_isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (max_words > 0 && n == max_words) break;
    if (!out.empty()) out += ' ';
    out.append(text.data() + i, j - i);
    ++n;
    i = j;
  }
  return out;
}

}  // namespace densefb::llm
