// The pipeline spec grammar (include/densefb/pipeline.h): lexer, recursive-descent parser,
// typed stage arguments and canonical number formatting.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
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
  if (v->kind != SpecValue::Kind::kNumber || v->number != std::floor(v->number) ||
      std::fabs(v->number) > 9.0e15) {
    return TypeError(stage_, key, *v, "an integer");
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
  std::size_t column = 0;  // 1-based
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

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

absl::StatusOr<std::vector<Token>> Lex(absl::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const std::size_t col = i + 1;
    if (std::isspace(static_cast<unsigned char>(c))) {
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
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.') {
      // strtod on a bounded copy: digits, sign, point, exponent.
      std::size_t j = i + 1;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '.' ||
                              ((s[j] == '-' || s[j] == '+') && (s[j - 1] == 'e' || s[j - 1] == 'E')))) {
        ++j;
      }
      const std::string text(s.substr(i, j - i));
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size() || text == "-" || text == "+" || text == "." ||
          !std::isfinite(v)) {
        return SpecError(col, absl::StrCat("'", text, "' is not a finite number"));
      }
      out.push_back({Tok::kNumber, text, v, col});
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
    return SpecError(col, absl::StrCat("unexpected character '", std::string(1, c), "'"));
  }
  out.push_back({Tok::kEnd, "", 0, s.size() + 1});
  return out;
}

// ---- parser ---------------------------------------------------------------------------------

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<Pipeline> ParseAll() {
    DENSEFB_ASSIGN_OR_RETURN(Pipeline p, ParsePipeline());
    if (Peek().type != Tok::kEnd) {
      return Expected("'>>' or the end of the spec");
    }
    return p;
  }

 private:
  const Token& Peek(std::size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& Next() { return tokens_[std::min(pos_++, tokens_.size() - 1)]; }
  absl::Status Expected(absl::string_view what) const {
    return SpecError(Peek().column, absl::StrCat("expected ", what, ", got ", Describe(Peek())));
  }
  absl::Status Expect(Tok type, absl::string_view what) {
    if (Peek().type != type) return Expected(what);
    Next();
    return absl::OkStatus();
  }

  absl::StatusOr<Pipeline> ParsePipeline() {
    std::vector<std::shared_ptr<const Stage>> stages;
    while (true) {
      DENSEFB_RETURN_IF_ERROR(ParseTerm(&stages));
      if (Peek().type != Tok::kThen) break;
      Next();
    }
    return Pipeline(std::move(stages));
  }

  absl::Status ParseTerm(std::vector<std::shared_ptr<const Stage>>* stages) {
    const Token& t = Peek();
    if (t.type == Tok::kLParen) {
      Next();
      DENSEFB_ASSIGN_OR_RETURN(Pipeline inner, ParsePipeline());
      DENSEFB_RETURN_IF_ERROR(Expect(Tok::kRParen, "')' or '>>'"));
      for (const auto& s : inner.stages()) stages->push_back(s);
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
    absl::StatusOr<std::unique_ptr<Stage>> stage = MakeStage(name, stage_args);
    if (!stage.ok()) return SpecError(column, stage.status().message());
    stages->push_back(std::shared_ptr<const Stage>(std::move(*stage)));
    return absl::OkStatus();
  }

  absl::Status ParseFuse(std::vector<std::shared_ptr<const Stage>>* stages) {
    Next();  // fuse
    DENSEFB_RETURN_IF_ERROR(Expect(Tok::kLParen, "'(' after 'fuse'"));
    if (Peek().type != Tok::kName) {
      return Expected("a fusion method (rrf, interpolate, combsum, combmnz, combmax, borda)");
    }
    const std::size_t method_column = Peek().column;
    const std::string method = Next().text;
    if (method != "rrf" && method != "interpolate" && method != "interpolation" &&
        method != "combsum" && method != "combmnz" && method != "combmax" && method != "borda") {
      return SpecError(method_column,
                       absl::StrCat("unknown fusion method '", method,
                                    "'; expected rrf, interpolate, combsum, combmnz, combmax or borda"));
    }
    std::vector<std::pair<std::string, SpecValue>> args;
    if (Peek().type == Tok::kLParen) {
      DENSEFB_ASSIGN_OR_RETURN(args, ParseArgs());
    }
    std::vector<Pipeline> branches;
    while (Peek().type == Tok::kComma) {
      Next();
      DENSEFB_ASSIGN_OR_RETURN(Pipeline branch, ParsePipeline());
      branches.push_back(std::move(branch));
    }
    if (branches.size() < 2) {
      return Expected(branches.empty() ? "',' and at least two pipelines to fuse"
                                       : "',' and a second pipeline to fuse");
    }
    DENSEFB_RETURN_IF_ERROR(Expect(Tok::kRParen, "',' or ')' closing 'fuse('"));
    StageArgs method_args(method, std::move(args));
    absl::StatusOr<std::unique_ptr<Stage>> stage =
        pipeline_internal::MakeFuseStage(method_args, std::move(branches));
    if (!stage.ok()) return SpecError(method_column, stage.status().message());
    stages->push_back(std::shared_ptr<const Stage>(std::move(*stage)));
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::pair<std::string, SpecValue>>> ParseArgs() {
    Next();  // (
    std::vector<std::pair<std::string, SpecValue>> args;
    if (Peek().type == Tok::kRParen) {
      Next();
      return args;
    }
    while (true) {
      if (Peek().type != Tok::kName) return Expected("an argument name (name=value) or ')'");
      const Token& key = Next();
      for (const auto& kv : args) {
        if (kv.first == key.text) {
          return SpecError(key.column, absl::StrCat("argument '", key.text, "' given twice"));
        }
      }
      DENSEFB_RETURN_IF_ERROR(Expect(Tok::kEquals, absl::StrCat("'=' after argument name '", key.text, "'")));
      DENSEFB_ASSIGN_OR_RETURN(SpecValue value, ParseValue());
      args.emplace_back(key.text, std::move(value));
      if (Peek().type == Tok::kComma) {
        Next();
        continue;
      }
      DENSEFB_RETURN_IF_ERROR(Expect(Tok::kRParen, "',' or ')' after an argument"));
      return args;
    }
  }

  absl::StatusOr<SpecValue> ParseValue() {
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
        v.kind = SpecValue::Kind::kList;
        std::vector<std::string> parts;
        Next();
        if (Peek().type != Tok::kRBracket) {
          while (true) {
            DENSEFB_ASSIGN_OR_RETURN(SpecValue e, ParseValue());
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
  std::size_t pos_ = 0;
};

// Every stage that reads the current ranking must follow one that produces a ranking.
absl::Status CheckRankingOrder(const Pipeline& p, bool has_ranking) {
  for (const auto& stage : p.stages()) {
    if (stage->NeedsRanking() && !has_ranking) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pipeline spec: stage '", stage->ToString(),
          "' needs a ranking from an earlier stage (e.g. 'dense >> ", stage->ToString(), "')"));
    }
    has_ranking = has_ranking || !stage->NeedsRanking();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Pipeline> Pipeline::ParseFragment(absl::string_view spec) {
  DENSEFB_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(spec));
  if (tokens.size() == 1) return absl::InvalidArgumentError("pipeline spec is empty");
  Parser parser(std::move(tokens));
  return parser.ParseAll();
}

absl::StatusOr<Pipeline> Pipeline::Parse(absl::string_view spec) {
  DENSEFB_ASSIGN_OR_RETURN(Pipeline p, ParseFragment(spec));
  DENSEFB_RETURN_IF_ERROR(CheckRankingOrder(p, false));
  return p;
}

}  // namespace densefb
