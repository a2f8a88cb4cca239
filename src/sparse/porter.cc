// The Porter stemmer, written from the published algorithm (M.F. Porter, "An algorithm for
// suffix stripping", Program 14(3), 1980) with the departures of Porter's own reference
// implementation, which Lucene's PorterStemFilter follows:
//   * step 2 rewrites -bli as -ble (the paper: -abli as -able) and also -logi as -log;
//   * words of at most two characters are returned unchanged.
// The notation follows the paper: C / V are consonant / vowel runs, m is the measure of a
// stem ([C](VC)^m[V]), *v* "the stem contains a vowel", *d "ends with a double consonant",
// *o "ends consonant-vowel-consonant, the last not w, x or y".
//
// Words are processed as code points (ASCII words directly as bytes); every character other
// than a, e, i, o, u and y counts as a consonant, as in the reference implementation.
#include "sparse/porter.h"

#include <cstddef>
#include <cstring>
#include <string>

#include <utf8proc.h>

#include "densefb/bm25.h"

namespace densefb {
namespace sparse {
namespace {

struct Rule {
  const char* suffix;
  const char* replacement;
};

// Step 2 (condition m > 0). For a word ending with several of these suffixes the longest is
// listed first, and only the first match is considered (as in the paper and the reference).
constexpr Rule kStep2[] = {
    {"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"},   {"anci", "ance"},
    {"izer", "ize"},    {"bli", "ble"},     {"alli", "al"},     {"entli", "ent"},
    {"eli", "e"},       {"ousli", "ous"},   {"ization", "ize"}, {"ation", "ate"},
    {"ator", "ate"},    {"alism", "al"},    {"iveness", "ive"}, {"fulness", "ful"},
    {"ousness", "ous"}, {"aliti", "al"},    {"iviti", "ive"},   {"biliti", "ble"},
    {"logi", "log"},
};

// Step 3 (condition m > 0).
constexpr Rule kStep3[] = {
    {"icate", "ic"}, {"ative", ""}, {"alize", "al"}, {"iciti", "ic"},
    {"ical", "ic"},  {"ful", ""},   {"ness", ""},
};

// Step 4 (condition m > 1; "ion" also needs the stem to end in s or t). Longer suffixes
// first where one ends another (ement / ment / ent).
constexpr const char* kStep4[] = {
    "al",  "ance", "ence", "er",  "ic",  "able", "ible", "ant", "ement", "ment",
    "ent", "ion",  "ou",   "ism", "ate", "iti",  "ous",  "ive", "ize",
};

template <typename CharT>
class Stemmer {
 public:
  explicit Stemmer(std::basic_string<CharT>& w) : w_(w) {}

  void Run() {
    if (w_.size() <= 2) return;
    Step1a();
    Step1b();
    Step1c();
    Step2();
    Step3();
    Step4();
    Step5();
  }

 private:
  std::size_t size() const { return w_.size(); }

  bool IsConsonant(std::size_t i) const {
    switch (w_[i]) {
      case 'a': case 'e': case 'i': case 'o': case 'u':
        return false;
      case 'y':
        return i == 0 || !IsConsonant(i - 1);
      default:
        return true;
    }
  }

  // m of w_[0, len).
  int Measure(std::size_t len) const {
    std::size_t i = 0;
    while (i < len && IsConsonant(i)) ++i;  // [C]
    int m = 0;
    while (i < len) {
      while (i < len && !IsConsonant(i)) ++i;  // V
      if (i == len) break;
      while (i < len && IsConsonant(i)) ++i;   // C
      ++m;
    }
    return m;
  }

  bool HasVowel(std::size_t len) const {  // *v* of w_[0, len)
    for (std::size_t i = 0; i < len; ++i) {
      if (!IsConsonant(i)) return true;
    }
    return false;
  }

  bool EndsDoubleConsonant(std::size_t len) const {  // *d of w_[0, len)
    return len >= 2 && w_[len - 1] == w_[len - 2] && IsConsonant(len - 1);
  }

  bool EndsCvc(std::size_t len) const {  // *o of w_[0, len)
    if (len < 3 || !IsConsonant(len - 1) || IsConsonant(len - 2) || !IsConsonant(len - 3)) return false;
    const CharT c = w_[len - 1];
    return c != 'w' && c != 'x' && c != 'y';
  }

  bool EndsWith(const char* suffix) const {
    const std::size_t n = std::strlen(suffix);
    if (n > size()) return false;
    const std::size_t o = size() - n;
    for (std::size_t i = 0; i < n; ++i) {
      if (w_[o + i] != static_cast<CharT>(static_cast<unsigned char>(suffix[i]))) return false;
    }
    return true;
  }

  void Replace(std::size_t suffix_len, const char* replacement) {
    w_.resize(size() - suffix_len);
    for (const char* p = replacement; *p; ++p) w_.push_back(static_cast<CharT>(*p));
  }

  // Plurals: sses -> ss, ies -> i, ss -> ss, s -> "".
  void Step1a() {
    if (EndsWith("sses")) {
      Replace(4, "ss");
    } else if (EndsWith("ies")) {
      Replace(3, "i");
    } else if (EndsWith("ss")) {
      // unchanged
    } else if (EndsWith("s")) {
      Replace(1, "");
    }
  }

  // (m > 0) eed -> ee; (*v*) ed -> ""; (*v*) ing -> "", then tidy the stem.
  void Step1b() {
    if (EndsWith("eed")) {
      if (Measure(size() - 3) > 0) Replace(1, "");
      return;
    }
    std::size_t cut = 0;
    if (EndsWith("ed") && HasVowel(size() - 2)) {
      cut = 2;
    } else if (EndsWith("ing") && HasVowel(size() - 3)) {
      cut = 3;
    }
    if (cut == 0) return;
    Replace(cut, "");
    if (EndsWith("at") || EndsWith("bl") || EndsWith("iz")) {
      Replace(0, "e");
    } else if (EndsDoubleConsonant(size())) {
      const CharT last = w_.back();
      if (last != 'l' && last != 's' && last != 'z') Replace(1, "");
    } else if (Measure(size()) == 1 && EndsCvc(size())) {
      Replace(0, "e");
    }
  }

  // (*v*) y -> i.
  void Step1c() {
    if (EndsWith("y") && HasVowel(size() - 1)) w_.back() = 'i';
  }

  template <std::size_t N>
  void ApplyFirstMatch(const Rule (&rules)[N], int min_measure) {
    for (const Rule& r : rules) {
      if (!EndsWith(r.suffix)) continue;
      const std::size_t n = std::strlen(r.suffix);
      if (Measure(size() - n) > min_measure) Replace(n, r.replacement);
      return;
    }
  }

  void Step2() { ApplyFirstMatch(kStep2, 0); }
  void Step3() { ApplyFirstMatch(kStep3, 0); }

  void Step4() {
    for (const char* suffix : kStep4) {
      if (!EndsWith(suffix)) continue;
      const std::size_t n = std::strlen(suffix);
      const std::size_t stem = size() - n;
      if (std::strcmp(suffix, "ion") == 0) {
        if (stem == 0 || (w_[stem - 1] != 's' && w_[stem - 1] != 't')) return;
      }
      if (Measure(stem) > 1) Replace(n, "");
      return;
    }
  }

  // 5a: (m > 1) e -> ""; (m = 1 and not *o) e -> "". 5b: (m > 1 and *d and *l) -> single l.
  void Step5() {
    if (EndsWith("e")) {
      const std::size_t stem = size() - 1;
      const int m = Measure(stem);
      if (m > 1 || (m == 1 && !EndsCvc(stem))) Replace(1, "");
    }
    if (EndsWith("l") && EndsDoubleConsonant(size()) && Measure(size()) > 1) Replace(1, "");
  }

  std::basic_string<CharT>& w_;
};

bool IsAscii(const std::string& s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

}  // namespace

void PorterStemInPlace(std::string* word) {
  if (IsAscii(*word)) {
    Stemmer<char>(*word).Run();
    return;
  }
  // Decode (the analyser only produces valid UTF-8; stray bytes become U+FFFD), stem, encode.
  std::u32string cps;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(word->data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(word->size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {
      cp = 0xFFFD;
      n = 1;
    }
    cps.push_back(static_cast<char32_t>(cp));
    p += n;
    left -= n;
  }
  if (cps.size() <= 2) return;
  Stemmer<char32_t>(cps).Run();
  std::string out;
  out.reserve(word->size());
  utf8proc_uint8_t buf[4];
  for (char32_t c : cps) {
    const utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
  }
  *word = std::move(out);
}

}  // namespace sparse

std::string PorterStem(absl::string_view word) {
  std::string w(word);
  sparse::PorterStemInPlace(&w);
  return w;
}

}  // namespace densefb
