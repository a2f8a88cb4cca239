// EnglishAnalyzer: StandardTokenizer (UAX #29 word rules) -> possessive filter -> lower case
// -> stop words -> Porter stemmer. See include/densefb/bm25.h for what is and is not covered.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <utf8proc.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "densefb/bm25.h"
#include "sparse/porter.h"

namespace densefb {
namespace {

constexpr std::size_t kMaxTokenLength = 255;  // Lucene's StandardTokenizer default

// Word-break classes (UAX #29), merged where the rules below treat them alike.
enum class WB : std::uint8_t {
  kOther,
  kNewline,       // CR, LF, VT, FF, NEL, LS, PS: marks after them do not attach
  kLetter,        // ALetter / Hebrew_Letter (approximated: L*, Nl, circled letters)
  kNumeric,       // Nd
  kKatakana,
  kExtendNumLet,  // Pc ("_")
  kMidLetter,     // ":" and others: joins letter-letter only
  kMidNumLetQ,    // "." "'" "’" and others: joins letter-letter and digit-digit
  kMidNum,        // "," ";" and others: joins digit-digit only
  kExtend,        // Extend / Format / ZWJ: attaches to the previous character (WB4)
  kHan,           // one token per character
  kHiragana,      // one token per character
  kComplex,       // South-East Asian scripts: a run is one token
  kPictographic,  // Extended_Pictographic: emoji-like tokens
  kRegional,      // regional indicators: pairs are tokens
};

bool InRange(char32_t c, char32_t lo, char32_t hi) { return c >= lo && c <= hi; }

bool IsHan(char32_t c) {
  return InRange(c, 0x2E80, 0x2E99) || InRange(c, 0x2E9B, 0x2EF3) || InRange(c, 0x2F00, 0x2FD5) ||
         c == 0x3005 || c == 0x3007 || InRange(c, 0x3021, 0x3029) || InRange(c, 0x3038, 0x303B) ||
         InRange(c, 0x3400, 0x4DBF) || InRange(c, 0x4E00, 0x9FFF) || InRange(c, 0xF900, 0xFAFF) ||
         InRange(c, 0x20000, 0x3134F);
}

bool IsHiragana(char32_t c) {
  return InRange(c, 0x3041, 0x3096) || InRange(c, 0x309D, 0x309F) || InRange(c, 0x1B001, 0x1B11F);
}

bool IsKatakana(char32_t c) {
  return InRange(c, 0x3031, 0x3035) || c == 0x309B || c == 0x309C || c == 0x30A0 ||
         InRange(c, 0x30A1, 0x30FA) || InRange(c, 0x30FC, 0x30FF) || InRange(c, 0x31F0, 0x31FF) ||
         InRange(c, 0x32D0, 0x32FE) || InRange(c, 0x3300, 0x3357) || InRange(c, 0xFF66, 0xFF9D) ||
         c == 0x1B000;
}

// Line_Break = Complex_Context: Thai, Lao, Myanmar, Khmer, Tai Le, New Tai Lue, Tai Tham,
// Tai Viet and their extensions.
bool IsComplexContext(char32_t c) {
  return InRange(c, 0x0E00, 0x0EFF) || InRange(c, 0x1000, 0x109F) || InRange(c, 0x1780, 0x17FF) ||
         InRange(c, 0x1950, 0x19DF) || InRange(c, 0x19E0, 0x19FF) || InRange(c, 0x1A20, 0x1AAF) ||
         InRange(c, 0xA9E0, 0xA9FF) || InRange(c, 0xAA60, 0xAADF);
}

WB ClassifyNonAscii(char32_t c) {
  switch (c) {
    case 0x0085: case 0x2028: case 0x2029:
      return WB::kNewline;
    case 0x00B7: case 0x0387: case 0x05F4: case 0x2027: case 0xFE13: case 0xFE55: case 0xFF1A:
      return WB::kMidLetter;
    case 0x2018: case 0x2019: case 0x2024: case 0xFE52: case 0xFF07: case 0xFF0E:
      return WB::kMidNumLetQ;
    case 0x037E: case 0x0589: case 0x060C: case 0x060D: case 0x066C: case 0x07F8: case 0x2044:
    case 0xFE10: case 0xFE14: case 0xFE50: case 0xFE54: case 0xFF0C: case 0xFF1B:
      return WB::kMidNum;
    case 0x200B:  // ZERO WIDTH SPACE is a break, not a format character
      return WB::kOther;
    case 0x200D:
      return WB::kExtend;
    default:
      break;
  }
  if (IsHan(c)) return WB::kHan;
  if (IsHiragana(c)) return WB::kHiragana;
  if (IsKatakana(c)) return WB::kKatakana;
  if (InRange(c, 0x1F1E6, 0x1F1FF)) return WB::kRegional;
  const utf8proc_property_t* prop = utf8proc_get_property(static_cast<utf8proc_int32_t>(c));
  switch (prop->boundclass) {
    case UTF8PROC_BOUNDCLASS_EXTENDED_PICTOGRAPHIC:
    case UTF8PROC_BOUNDCLASS_E_ZWG:
      return WB::kPictographic;
    case UTF8PROC_BOUNDCLASS_EXTEND:
    case UTF8PROC_BOUNDCLASS_SPACINGMARK:
    case UTF8PROC_BOUNDCLASS_ZWJ:
    case UTF8PROC_BOUNDCLASS_E_MODIFIER:
      return IsComplexContext(c) ? WB::kComplex : WB::kExtend;
    default:
      break;
  }
  switch (prop->category) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
      return IsComplexContext(c) ? WB::kComplex : WB::kLetter;
    case UTF8PROC_CATEGORY_ND:
      return WB::kNumeric;
    case UTF8PROC_CATEGORY_PC:
      return WB::kExtendNumLet;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
      return IsComplexContext(c) ? WB::kComplex : WB::kExtend;
    case UTF8PROC_CATEGORY_SO:
      if (InRange(c, 0x24B6, 0x24E9)) return WB::kLetter;  // circled Latin letters
      return WB::kOther;
    default:
      return IsComplexContext(c) ? WB::kComplex : WB::kOther;
  }
}

struct AsciiTable {
  WB cls[128];
  AsciiTable() {
    for (int c = 0; c < 128; ++c) {
      WB w = WB::kOther;
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) w = WB::kLetter;
      else if (c >= '0' && c <= '9') w = WB::kNumeric;
      else if (c == '_') w = WB::kExtendNumLet;
      else if (c == ':') w = WB::kMidLetter;
      else if (c == '.' || c == '\'') w = WB::kMidNumLetQ;
      else if (c == ',' || c == ';') w = WB::kMidNum;
      else if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C) w = WB::kNewline;
      cls[c] = w;
    }
  }
};

WB Classify(char32_t c) {
  static const AsciiTable table;
  if (c < 128) return table.cls[c];
  return ClassifyNonAscii(c);
}

// One character with the Extend / Format / ZWJ characters that follow it (WB4).
struct Unit {
  WB cls;
  std::uint32_t begin;  // code point range in the decoded text
  std::uint32_t end;
  bool ends_with_zwj;
};

void Decode(absl::string_view text, std::u32string* out) {
  out->clear();
  out->reserve(text.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    if (*p < 0x80) {
      out->push_back(*p);
      ++p;
      --left;
      continue;
    }
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {
      cp = 0xFFFD;
      n = 1;
    }
    out->push_back(static_cast<char32_t>(cp));
    p += n;
    left -= n;
  }
}

void BuildUnits(const std::u32string& cps, std::vector<Unit>* units) {
  units->clear();
  for (std::uint32_t i = 0; i < cps.size(); ++i) {
    WB w = Classify(cps[i]);
    if (w == WB::kExtend) {
      if (!units->empty() && units->back().cls != WB::kNewline) {
        units->back().end = i + 1;
        units->back().ends_with_zwj = cps[i] == 0x200D;
        continue;
      }
      w = WB::kOther;  // a mark at the start of the text or after a line break stands alone
    }
    units->push_back({w, i, i + 1, false});
  }
}

bool IsWordCore(WB w) { return w == WB::kLetter || w == WB::kNumeric || w == WB::kKatakana; }

// Token spans [first unit, last unit] of the StandardTokenizer grammar over `units`.
template <typename Emit>
void ScanTokens(const std::vector<Unit>& units, Emit&& emit) {
  const std::size_t n = units.size();
  auto cls = [&](std::size_t i) { return i < n ? units[i].cls : WB::kOther; };
  std::size_t i = 0;
  while (i < n) {
    const WB c = units[i].cls;
    if (IsWordCore(c) || c == WB::kExtendNumLet) {
      std::size_t j = i;  // last unit of the token so far
      bool core = IsWordCore(c);
      while (j + 1 < n) {
        const WB a = units[j].cls, b = units[j + 1].cls;
        const bool alnum_a = a == WB::kLetter || a == WB::kNumeric;
        const bool alnum_b = b == WB::kLetter || b == WB::kNumeric;
        if ((alnum_a && alnum_b) ||                                        // WB5, 8, 9, 10
            (a == WB::kKatakana && b == WB::kKatakana) ||                 // WB13
            (b == WB::kExtendNumLet && (IsWordCore(a) || a == WB::kExtendNumLet)) ||  // WB13a
            (a == WB::kExtendNumLet && IsWordCore(b))) {                  // WB13b
          ++j;
          core = core || IsWordCore(b);
          continue;
        }
        if (a == WB::kLetter && (b == WB::kMidLetter || b == WB::kMidNumLetQ) &&
            cls(j + 2) == WB::kLetter) {  // WB6, WB7
          j += 2;
          continue;
        }
        if (a == WB::kNumeric && (b == WB::kMidNum || b == WB::kMidNumLetQ) &&
            cls(j + 2) == WB::kNumeric) {  // WB11, WB12
          j += 2;
          continue;
        }
        break;
      }
      if (core) {
        // Leading connectors belong to the token only if a word core follows them; the loop
        // above already guarantees that. Trailing connectors stay (WB13a), as in Lucene.
        emit(i, j);
      }
      i = j + 1;
    } else if (c == WB::kHan || c == WB::kHiragana) {
      emit(i, i);
      ++i;
    } else if (c == WB::kComplex) {
      std::size_t j = i;
      while (j + 1 < n && units[j + 1].cls == WB::kComplex) ++j;
      emit(i, j);
      i = j + 1;
    } else if (c == WB::kPictographic) {
      std::size_t j = i;
      while (j + 1 < n && units[j].ends_with_zwj && units[j + 1].cls == WB::kPictographic) ++j;
      emit(i, j);
      i = j + 1;
    } else if (c == WB::kRegional) {
      if (i + 1 < n && units[i + 1].cls == WB::kRegional) {
        emit(i, i + 1);
        i += 2;
      } else {
        ++i;
      }
    } else {
      ++i;
    }
  }
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
    return;
  }
  utf8proc_uint8_t buf[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
  out->append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

char32_t ToLower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
  return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
}

struct Scratch {
  std::u32string cps;
  std::vector<Unit> units;
};

// Calls piece(begin, end) for each token of `text` (code point ranges of scratch->cps), long
// tokens cut into kMaxTokenLength pieces.
template <typename Piece>
void Tokens(absl::string_view text, Scratch* scratch, Piece&& piece) {
  Decode(text, &scratch->cps);
  BuildUnits(scratch->cps, &scratch->units);
  ScanTokens(scratch->units, [&](std::size_t first, std::size_t last) {
    std::size_t begin = scratch->units[first].begin;
    const std::size_t end = scratch->units[last].end;
    while (end - begin > kMaxTokenLength) {
      piece(begin, begin + kMaxTokenLength);
      begin += kMaxTokenLength;
    }
    piece(begin, end);
  });
}

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

const std::vector<std::string>& StopWordList() {
  static const std::vector<std::string>* words = new std::vector<std::string>{
      "a",    "an",   "and",   "are",  "as",   "at",   "be",    "but",  "by",
      "for",  "if",   "in",    "into", "is",   "it",   "no",    "not",  "of",
      "on",   "or",   "such",  "that", "the",  "their", "then", "there", "these",
      "they", "this", "to",    "was",  "will", "with"};
  return *words;
}

}  // namespace

const std::vector<std::string>& EnglishStopWords() { return StopWordList(); }

bool IsEnglishStopWord(absl::string_view word) {
  if (word.empty() || word.size() > 5) return false;
  const auto& words = StopWordList();
  return std::binary_search(words.begin(), words.end(), word,
                            [](absl::string_view a, absl::string_view b) { return a < b; });
}

absl::StatusOr<Stemmer> ParseStemmer(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "porter") return Stemmer::kPorter;
  if (n == "none" || n.empty() || n == "off") return Stemmer::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown stemmer \"", name, "\" (expected \"porter\" or \"none\")"));
}

absl::string_view StemmerName(Stemmer s) { return s == Stemmer::kPorter ? "porter" : "none"; }

std::vector<std::string> EnglishAnalyzer::Tokenize(absl::string_view text) {
  std::vector<std::string> out;
  Scratch& scratch = ThreadScratch();
  Tokens(text, &scratch, [&](std::size_t begin, std::size_t end) {
    std::string token;
    for (std::size_t i = begin; i < end; ++i) AppendUtf8(scratch.cps[i], &token);
    out.push_back(std::move(token));
  });
  return out;
}

void EnglishAnalyzer::AnalyzeInto(absl::string_view text, std::vector<std::string>* out) const {
  out->clear();
  Scratch& scratch = ThreadScratch();
  const std::u32string& cps = scratch.cps;
  Tokens(text, &scratch, [&](std::size_t begin, std::size_t end) {
    // EnglishPossessiveFilter: drop a final 's (apostrophe, right single quote or fullwidth
    // apostrophe; s in either case).
    if (end - begin >= 2) {
      const char32_t q = cps[end - 2], s = cps[end - 1];
      if ((q == U'\'' || q == 0x2019 || q == 0xFF07) && (s == U's' || s == U'S')) end -= 2;
    }
    if (end == begin) return;
    std::string term;
    term.reserve(end - begin);
    for (std::size_t i = begin; i < end; ++i) AppendUtf8(ToLower(cps[i]), &term);  // LowerCaseFilter
    if (options_.stopwords && IsEnglishStopWord(term)) return;                    // StopFilter
    if (options_.stemmer == Stemmer::kPorter) sparse::PorterStemInPlace(&term);   // PorterStemFilter
    out->push_back(std::move(term));
  });
}

std::vector<std::string> EnglishAnalyzer::Analyze(absl::string_view text) const {
  std::vector<std::string> out;
  AnalyzeInto(text, &out);
  return out;
}

}  // namespace densefb
