// The pipeline spec grammar (include/densefb/pipeline.h): lexer, recursive-descent parser,
// typed stage arguments and canonical number formatting.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_join.h"
#include "densefb/pipeline.h"
#include "pipeline/internal.h"

namespace densefb {

std::string SpecNumber(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[40];
  if (x == std::floor(x) && std::fabs(x) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", x);
    return x == 0 ? "0" : buf;  // no "-0"
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

std::string SpecString(const std::string& s) {
  return s.find('"') == std::string::npos ? absl::StrCat("\"", s, "\"") : absl::StrCat("'", s, "'");
}

// ---- StageArgs -----------------------------------------------------------------------------

namespace {

const char* KindName(SpecValue::Kind kind) {
  switch (kind) {
    case SpecValue::Kind::kNumber: return "a number";
    case SpecValue::Kind::kBool: return "a boolean";
    case SpecValue::Kind::kList: return "a list";
    default: return "a name";
  }
}

std::string Quote(absl::string_view s) { return absl::StrCat("'", s, "'"); }

}  // namespace

StageArgs::StageArgs(std::string stage, std::vector<std::pair<std::string, SpecValue>> args)
    : stage_(std::move(stage)), args_(std::move(args)) {}

std::vector<std::string> StageArgs::Keys() const {
  std::vector<std::string> keys;
  for (const auto& kv : args_) keys.push_back(kv.first);
  return keys;
}

bool StageArgs::Has(absl::string_view key) const {
  for (const auto& kv : args_) {
    if (kv.first == key) return true;
  }
  return false;
}

const SpecValue* StageArgs::Find(absl::string_view key) {
  bool known = false;
  for (const std::string& a : accepted_) known = known || a == key;
  if (!known) accepted_.emplace_back(key);
  for (const auto& kv : args_) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

namespace {

absl::Status TypeError(const std::string& stage, absl::string_view key, const SpecValue& v,
                       absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat("stage ", Quote(stage), ": argument ", key, "=",
                                                 v.text, " is ", KindName(v.kind), ", expected ",
                                                 expected));
}

}  // namespace

absl::StatusOr<double> StageArgs::GetDouble(absl::string_view key, double default_value) {
  const SpecValue* v = Find(key);
  if (v == nullptr) return default_value;
  if (v->kind != SpecValue::Kind::kNumber) return TypeError(stage_, key, *v, "a number");
  return v->number;
}

absl::StatusOr<std::int64_t> StageArgs::GetInt(absl::string_view key, std::int64_t default_value) {
  const SpecValue* v = Find(key);
  if (v == nullptr) return default_value;
  if (v->kind != SpecValue::Kind::kNumber || v->number != std::floor(v->number)) {
    return TypeError(stage_, key, *v, "an integer");
  }
  // Exactly representable, so the cast below cannot wrap around.
  constexpr double kMaxInt = 9007199254740992.0;  // 2^53
  if (std::fabs(v->number) > kMaxInt) {
    return absl::InvalidArgumentError(absl::StrCat("stage ", Quote(stage_), ": argument ", key, "=",
                                                   v->text, " is too large for an integer (at most 2^53 "
                                                   "in magnitude, and each argument has a smaller range)"));
  }
  return static_cast<std::int64_t>(v->number);
}

absl::StatusOr<bool> StageArgs::GetBool(absl::string_view key, bool default_value) {
  const SpecValue* v = Find(key);
  if (v == nullptr) return default_value;
  if (v->kind == SpecValue::Kind::kBool) return v->boolean;
  if (v->kind == SpecValue::Kind::kNumber && (v->number == 0 || v->number == 1)) {
    return v->number == 1;
  }
  return TypeError(stage_, key, *v, "true or false");
}

absl::StatusOr<std::string> StageArgs::GetString(absl::string_view key,
                                                 absl::string_view default_value) {
  const SpecValue* v = Find(key);
  if (v == nullptr) return std::string(default_value);
  if (v->kind != SpecValue::Kind::kString) return TypeError(stage_, key, *v, "a name");
  return v->text;
}

absl::StatusOr<std::vector<double>> StageArgs::GetDoubleList(absl::string_view key,
                                                             std::vector<double> default_value) {
  const SpecValue* v = Find(key);
  if (v == nullptr) return default_value;
  if (v->kind == SpecValue::Kind::kNumber) return std::vector<double>{v->number};
  if (v->kind != SpecValue::Kind::kList) return TypeError(stage_, key, *v, "a list of numbers");
  if (v->list.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("stage ", Quote(stage_), ": argument ", key,
                                                   "=[] is an empty list (leave ", key,
                                                   " out for its default)"));
  }
  std::vector<double> out;
  for (const SpecValue& e : v->list) {
    if (e.kind != SpecValue::Kind::kNumber) {
      return TypeError(stage_, key, *v, "a list of numbers, e.g. [0.3,0.7]");
    }
    out.push_back(e.number);
  }
  return out;
}

absl::Status StageArgs::Finish() const {
  for (const auto& kv : args_) {
    bool known = false;
    for (const std::string& a : accepted_) known = known || a == kv.first;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stage ", Quote(stage_), " has no argument ", Quote(kv.first), "; it accepts ",
          accepted_.empty() ? std::string("no arguments") : absl::StrJoin(accepted_, ", ")));
    }
  }
  return absl::OkStatus();
}

// ---- lexer ----------------------------------------------------------------------------------

namespace {

enum class Tok : std::uint8_t {
  kName, kNumber, kString, kLParen, kRParen, kComma, kEquals, kLBracket, kRBracket, kThen, kEnd
};

struct Token {
  Tok type;
  std::string text;
  double number = 0;
  std::size_t column = 0;  // 1-based, in characters
};

std::string Describe(const Token& t) {
  switch (t.type) {
    case Tok::kEnd: return "the end of the spec";
    case Tok::kName: return absl::StrCat("name '", t.text, "'");
    case Tok::kNumber: return absl::StrCat("number ", t.text);
    case Tok::kString: return absl::StrCat("string \"", t.text, "\"");
    default: return absl::StrCat("'", t.text, "'");
  }
}

absl::Status SpecError(std::size_t column, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("pipeline spec column ", column, ": ", message));
}

bool IsNameStart(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

// The length (1-4) of the UTF-8 sequence at s[i] with its code point in *cp; 0 if it is not
// valid UTF-8 (truncated, overlong, a surrogate or above U+10FFFF).
std::size_t DecodeUtf8(absl::string_view s, std::size_t i, std::uint32_t* cp) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  std::uint32_t v = 0, min = 0;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    n = 2, v = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, v = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

// The character column of byte offsets, asked in increasing order (one pass over the spec).
class Columns {
 public:
  explicit Columns(absl::string_view s) : s_(s) {}
  std::size_t At(std::size_t byte) {
    for (; byte_ < byte && byte_ < s_.size(); ++byte_) {
      if ((static_cast<unsigned char>(s_[byte_]) & 0xC0) != 0x80) ++column_;
    }
    return column_;
  }

 private:
  absl::string_view s_;
  std::size_t byte_ = 0;
  std::size_t column_ = 1;
};

// "U+00A0 (no-break space)": characters that are pasted into specs by accident, by name.
std::string DescribeCharacter(std::uint32_t cp, absl::string_view utf8) {
  char code[16];
  std::snprintf(code, sizeof(code), "U+%04X", static_cast<unsigned>(cp));
  const char* name = nullptr;
  switch (cp) {
    case 0x00A0: name = "no-break space"; break;
    case 0x00AD: name = "soft hyphen"; break;
    case 0x00BB: name = "right-pointing double angle quotation mark; the operator is '>>'"; break;
    case 0x200B: name = "zero-width space"; break;
    case 0x202F: name = "narrow no-break space"; break;
    case 0x2013: name = "en dash"; break;
    case 0x2014: name = "em dash"; break;
    case 0x2018: case 0x2019: name = "curly single quote; quote strings with ' or \""; break;
    case 0x201C: case 0x201D: name = "curly double quote; quote strings with \" or '"; break;
    case 0x2212: name = "minus sign; write '-'"; break;
    case 0x226B: name = "much greater-than; the operator is '>>'"; break;
    case 0x3000: name = "ideographic space"; break;
    case 0xFEFF: name = "byte order mark"; break;
    default: break;
  }
  if (name == nullptr && cp >= 0x2000 && cp <= 0x200A) name = "a Unicode space";
  if (name != nullptr) return absl::StrCat(code, " (", name, ")");
  if (cp < 0x20 || cp == 0x7F) return absl::StrCat(code, " (a control character)");
  if (cp >= 0x80 && cp < 0xA0) return absl::StrCat(code, " (a control character)");
  return absl::StrCat("'", utf8, "' (", code, ")");
}

// [+-] digits [. digits] [(e|E) [+-] digits], with at least one digit before the exponent.
bool IsNumberText(absl::string_view t) {
  std::size_t i = 0, digits = 0;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
  for (; i < t.size() && absl::ascii_isdigit(static_cast<unsigned char>(t[i])); ++i) ++digits;
  if (i < t.size() && t[i] == '.') {
    for (++i; i < t.size() && absl::ascii_isdigit(static_cast<unsigned char>(t[i])); ++i) ++digits;
  }
  if (digits == 0) return false;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    std::size_t exponent_digits = 0;
    for (; i < t.size() && absl::ascii_isdigit(static_cast<unsigned char>(t[i])); ++i) ++exponent_digits;
    if (exponent_digits == 0) return false;
  }
  return i == t.size();
}

// One pass over the spec. ASCII classification only (independent of the C locale).
absl::StatusOr<std::vector<Token>> Lex(absl::string_view s) {
  Columns columns(s);
  // The whole spec must be UTF-8 (quoted strings may hold any character).
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      char byte[8];
      std::snprintf(byte, sizeof(byte), "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(s[i])));
      return SpecError(columns.At(i), absl::StrCat("byte ", byte, " is not valid UTF-8 (a spec is UTF-8 text)"));
    }
    i += n;
  }
  columns = Columns(s);
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const std::size_t col = columns.At(i);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    if (c == '>') {
      if (i + 1 < s.size() && s[i + 1] == '>') {
        out.push_back({Tok::kThen, ">>", 0, col});
        i += 2;
        continue;
      }
      return SpecError(col, "expected '>>', got a single '>'");
    }
    const char* punct = "(),=[]";
    const Tok punct_types[] = {Tok::kLParen, Tok::kRParen, Tok::kComma,
                               Tok::kEquals, Tok::kLBracket, Tok::kRBracket};
    bool is_punct = false;
    for (int p = 0; punct[p] != '\0'; ++p) {
      if (c == punct[p]) {
        out.push_back({punct_types[p], std::string(1, c), 0, col});
        ++i;
        is_punct = true;
        break;
      }
    }
    if (is_punct) continue;
    if (IsNameStart(c)) {
      std::size_t j = i + 1;
      while (j < s.size() && IsNameChar(s[j])) ++j;
      out.push_back({Tok::kName, std::string(s.substr(i, j - i)), 0, col});
      i = j;
      continue;
    }
    if (absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.') {
      // The token runs over letters, digits, points and an exponent's sign; then it must be a
      // plain decimal number (no hex, inf or nan).
      std::size_t j = i + 1;
      while (j < s.size() && (absl::ascii_isalnum(static_cast<unsigned char>(s[j])) || s[j] == '.' ||
                              ((s[j] == '-' || s[j] == '+') && (s[j - 1] == 'e' || s[j - 1] == 'E')))) {
        ++j;
      }
      const absl::string_view text = s.substr(i, j - i);
      double v = 0;
      if (!IsNumberText(text) || !absl::SimpleAtod(text, &v) || !std::isfinite(v)) {
        return SpecError(col, absl::StrCat("'", text, "' is not a finite decimal number (e.g. 0.5, 3 or 1e3)"));
      }
      out.push_back({Tok::kNumber, std::string(text), v, col});
      i = j;
      continue;
    }
    if (c == '"' || c == '\'') {
      std::size_t j = i + 1;
      while (j < s.size() && s[j] != c) ++j;
      if (j >= s.size()) return SpecError(col, "unterminated quoted string");
      out.push_back({Tok::kString, std::string(s.substr(i + 1, j - i - 1)), 0, col});
      i = j + 1;
      continue;
    }
    std::uint32_t cp = 0;
    const std::size_t n = DecodeUtf8(s, i, &cp);
    return SpecError(col, absl::StrCat("unexpected character ", DescribeCharacter(cp, s.substr(i, n)),
                                       cp >= 0x80 ? "; outside quoted strings a spec is ASCII "
                                                    "(columns count characters)"
                                                  : ""));
  }
  out.push_back({Tok::kEnd, "", 0, columns.At(s.size())});
  return out;
}

// ---- parser ---------------------------------------------------------------------------------

// A step with the column it starts at (for errors found after parsing it).
struct ParsedStep {
  PipelineStep step;
  std::size_t column = 0;
};

// Recursive descent over the token list: every token is looked at a bounded number of times,
// and recursion is bounded by kMaxSpecNesting, so the parse is linear in the spec and its stack
// depth is bounded.
class Parser {
 public:
  Parser(std::vector<Token> tokens, bool fragment, const Resources& resources)
      : tokens_(std::move(tokens)), fragment_(fragment), resources_(resources) {}

  absl::StatusOr<Pipeline> ParseAll() {
    std::vector<ParsedStep> parsed;
    DENSEFB_RETURN_IF_ERROR(ParsePipeline(&parsed));
    if (Peek().type != Tok::kEnd) {
      return Expected("'>>' or the end of the spec");
    }
    std::vector<PipelineStep> steps;
    steps.reserve(parsed.size());
    bool has_ranking = false;
    for (ParsedStep& p : parsed) {
      // Every stage that reads the current ranking must follow one that produces a ranking.
      const bool needs = pipeline_internal::NeedsRanking(p.step);
      if (!fragment_ && needs && !has_ranking) {
        const std::string spec = p.step.ToString();
        return SpecError(p.column, absl::StrCat("stage '", spec, "' needs a ranking from an earlier stage "
                                                "(e.g. 'dense >> ", spec, "')"));
      }
      has_ranking = has_ranking || p.step.role != StageRole::kFeedbackModel;  // feedback passes it on
      steps.push_back(std::move(p.step));
    }
    return Pipeline(std::move(steps));
  }

  // A whole spec that is one fusion method, e.g. "rrf(k=60)", for `num_inputs` inputs.
  absl::StatusOr<std::shared_ptr<const Fusion>> ParseFusionMethod(std::size_t num_inputs) {
    DENSEFB_ASSIGN_OR_RETURN(MethodCall call, ParseMethodCall());
    if (Peek().type != Tok::kEnd) return Expected("'(' or the end of the fusion method");
    return MakeMethod(call, num_inputs);
  }

 private:
  const Token& Peek() const { return tokens_[std::min(pos_, tokens_.size() - 1)]; }
  const Token& Next() { return tokens_[std::min(pos_++, tokens_.size() - 1)]; }
  absl::Status Expected(absl::string_view what) const {
    return SpecError(Peek().column, absl::StrCat("expected ", what, ", got ", Describe(Peek())));
  }
  absl::Status Expect(Tok type, absl::string_view what) {
    if (Peek().type != type) return Expected(what);
    Next();
    return absl::OkStatus();
  }
  // One more level of pipelines ('(' group or 'fuse('), opened at `column`.
  absl::Status Enter(std::size_t column) {
    if (++depth_ > kMaxSpecNesting) {
      return SpecError(column, absl::StrCat("more than ", kMaxSpecNesting,
                                            " nested levels of '(' groups and 'fuse(' (the limit)"));
    }
    return absl::OkStatus();
  }

  absl::Status ParsePipeline(std::vector<ParsedStep>* stages) {
    while (true) {
      DENSEFB_RETURN_IF_ERROR(ParseTerm(stages));
      if (Peek().type != Tok::kThen) return absl::OkStatus();
      Next();
    }
  }

  absl::Status ParseTerm(std::vector<ParsedStep>* stages) {
    const Token& t = Peek();
    if (t.type == Tok::kLParen) {
      DENSEFB_RETURN_IF_ERROR(Enter(t.column));
      Next();
      DENSEFB_RETURN_IF_ERROR(ParsePipeline(stages));  // a group's stages join the sequence
      DENSEFB_RETURN_IF_ERROR(Expect(Tok::kRParen, "')' or '>>'"));
      --depth_;
      return absl::OkStatus();
    }
    if (t.type != Tok::kName) return Expected("a stage name, 'fuse(' or '('");
    if (t.text == "fuse") return ParseFuse(stages);
    const std::size_t column = t.column;
    const std::string name = Next().text;
    std::vector<std::pair<std::string, SpecValue>> args;
    if (Peek().type == Tok::kLParen) {
      DENSEFB_ASSIGN_OR_RETURN(args, ParseArgs());
    }
    StageArgs stage_args(name, std::move(args));
    absl::StatusOr<PipelineStep> step = pipeline_internal::MakeStep(name, stage_args, resources_);
    if (!step.ok()) return SpecError(column, step.status().message());
    stages->push_back({*std::move(step), column});
    return absl::OkStatus();
  }

  absl::Status ParseFuse(std::vector<ParsedStep>* stages) {
    const std::size_t fuse_column = Next().column;  // fuse
    if (Peek().type == Tok::kLParen) DENSEFB_RETURN_IF_ERROR(Enter(Peek().column));
    DENSEFB_RETURN_IF_ERROR(Expect(Tok::kLParen, "'(' after 'fuse'"));
    DENSEFB_ASSIGN_OR_RETURN(MethodCall call, ParseMethodCall());
    std::vector<Pipeline> branches;
    while (Peek().type == Tok::kComma) {
      Next();
      std::vector<ParsedStep> branch;
      DENSEFB_RETURN_IF_ERROR(ParsePipeline(&branch));
      std::vector<PipelineStep> branch_steps;
      branch_steps.reserve(branch.size());
      for (ParsedStep& p : branch) branch_steps.push_back(std::move(p.step));
      branches.emplace_back(std::move(branch_steps));
    }
    if (branches.size() < 2) {
      return Expected(branches.empty() ? "',' and at least two pipelines to fuse"
                                       : "',' and a second pipeline to fuse");
    }
    DENSEFB_RETURN_IF_ERROR(Expect(Tok::kRParen, "',' or ')' closing 'fuse('"));
    --depth_;
    DENSEFB_ASSIGN_OR_RETURN(std::shared_ptr<const Fusion> fusion, MakeMethod(call, branches.size()));
    absl::StatusOr<Pipeline> node = Pipeline::Fuse(std::move(fusion), std::move(branches));
    if (!node.ok()) return SpecError(call.column, node.status().message());
    stages->push_back({node->steps().front(), fuse_column});
    return absl::OkStatus();
  }

  // A fusion method with its arguments: NAME [ '(' args ')' ].
  struct MethodCall {
    std::size_t column = 0;
    std::string name;
    std::vector<std::pair<std::string, SpecValue>> args;
  };
  absl::StatusOr<MethodCall> ParseMethodCall() {
    if (Peek().type != Tok::kName) {
      return Expected(absl::StrCat("a fusion method (", pipeline_internal::FusionNames(), ")"));
    }
    MethodCall call;
    call.column = Peek().column;
    call.name = Next().text;
    if (Peek().type == Tok::kLParen) {
      DENSEFB_ASSIGN_OR_RETURN(call.args, ParseArgs());
    }
    return call;
  }
  absl::StatusOr<std::shared_ptr<const Fusion>> MakeMethod(MethodCall& call, std::size_t num_inputs) {
    StageArgs args(call.name, std::move(call.args));
    absl::StatusOr<std::shared_ptr<const Fusion>> fusion = pipeline_internal::MakeFusion(call.name, args, num_inputs);
    if (!fusion.ok()) return SpecError(call.column, fusion.status().message());
    return fusion;
  }

  absl::StatusOr<std::vector<std::pair<std::string, SpecValue>>> ParseArgs() {
    Next();  // (
    std::vector<std::pair<std::string, SpecValue>> args;
    std::set<std::string> seen;
    if (Peek().type == Tok::kRParen) {
      Next();
      return args;
    }
    while (true) {
      if (Peek().type != Tok::kName) return Expected("an argument name (name=value) or ')'");
      const Token& key = Next();
      if (!seen.insert(key.text).second) {
        return SpecError(key.column, absl::StrCat("argument '", key.text, "' given twice"));
      }
      DENSEFB_RETURN_IF_ERROR(Expect(Tok::kEquals, absl::StrCat("'=' after argument name '", key.text, "'")));
      DENSEFB_ASSIGN_OR_RETURN(SpecValue value, ParseValue(0));
      args.emplace_back(key.text, std::move(value));
      if (Peek().type == Tok::kComma) {
        Next();
        continue;
      }
      DENSEFB_RETURN_IF_ERROR(Expect(Tok::kRParen, "',' or ')' after an argument"));
      return args;
    }
  }

  // `lists`: how many lists enclose the value.
  absl::StatusOr<SpecValue> ParseValue(int lists) {
    const Token& t = Peek();
    SpecValue v;
    switch (t.type) {
      case Tok::kNumber:
        v.kind = SpecValue::Kind::kNumber;
        v.number = t.number;
        v.text = t.text;
        Next();
        return v;
      case Tok::kString:
        v.kind = SpecValue::Kind::kString;
        v.text = t.text;
        Next();
        return v;
      case Tok::kName:
        v.text = t.text;
        if (t.text == "true" || t.text == "false") {
          v.kind = SpecValue::Kind::kBool;
          v.boolean = t.text == "true";
        } else {
          v.kind = SpecValue::Kind::kString;
        }
        Next();
        return v;
      case Tok::kLBracket: {
        if (lists + 1 > kMaxSpecNesting) {
          return SpecError(t.column, absl::StrCat("lists nested more than ", kMaxSpecNesting,
                                                  " deep (the limit)"));
        }
        v.kind = SpecValue::Kind::kList;
        std::vector<std::string> parts;
        Next();
        if (Peek().type != Tok::kRBracket) {
          while (true) {
            DENSEFB_ASSIGN_OR_RETURN(SpecValue e, ParseValue(lists + 1));
            parts.push_back(e.text);
            v.list.push_back(std::move(e));
            if (Peek().type == Tok::kComma) {
              Next();
              continue;
            }
            break;
          }
        }
        DENSEFB_RETURN_IF_ERROR(Expect(Tok::kRBracket, "',' or ']' in a list"));
        v.text = absl::StrCat("[", absl::StrJoin(parts, ","), "]");
        return v;
      }
      default:
        return Expected("a value (number, name, true/false or [list])");
    }
  }

  std::vector<Token> tokens_;
  bool fragment_;
  const Resources& resources_;
  std::size_t pos_ = 0;
  int depth_ = 0;  // pipelines open ('(' groups and 'fuse(')
};

absl::StatusOr<Pipeline> ParseSpec(absl::string_view spec, bool fragment, const Resources& resources) {
  DENSEFB_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(spec));
  if (tokens.size() == 1) return SpecError(1, "the spec is empty");
  Parser parser(std::move(tokens), fragment, resources);
  return parser.ParseAll();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Fusion>> ParseFusion(absl::string_view method,
                                                          std::size_t num_inputs) {
  DENSEFB_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(method));
  if (tokens.size() == 1) return SpecError(1, "the fusion method is empty");
  const Resources none;
  Parser parser(std::move(tokens), /*fragment=*/true, none);
  absl::StatusOr<std::shared_ptr<const Fusion>> fusion = parser.ParseFusionMethod(num_inputs);
  if (fusion.ok()) return fusion;
  // The errors name the column of `method`, which is not a whole pipeline spec.
  std::string message(fusion.status().message());
  absl::StrReplaceAll({{"pipeline spec column", "fusion method spec column"}}, &message);
  return absl::Status(fusion.status().code(), message);
}

absl::StatusOr<Pipeline> Pipeline::ParseFragment(absl::string_view spec, const Resources& resources) {
  return ParseSpec(spec, /*fragment=*/true, resources);
}

absl::StatusOr<Pipeline> Pipeline::Parse(absl::string_view spec, const Resources& resources) {
  return ParseSpec(spec, /*fragment=*/false, resources);
}

}  // namespace densefb
