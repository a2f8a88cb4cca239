// BERT WordPiece tokenizer matching Hugging Face `tokenizers` (see include/densefb/tokenizer.h).
//
// Pipeline of one text, as `tokenizers` runs it:
//   1. added tokens with normalized=false are matched (leftmost-longest) in the raw text;
//   2. each remaining piece is normalized (BertNormalizer: clean_text, handle_chinese_chars,
//      strip_accents = NFD + drop nonspacing marks, lowercase) and added tokens with
//      normalized=true are matched in it;
//   3. BertPreTokenizer splits on whitespace (dropped) and punctuation (kept, one char a word);
//   4. WordPiece: greedy longest-match-first with the continuing-subword prefix; a word longer
//      than max_input_chars_per_word, or one that cannot be matched to the end, is [UNK];
//   5. truncation (longest_first for pairs) then the template ([CLS] A [SEP] B [SEP]).
// Steps 2-4 run fused, one code point at a time, through a per-configuration table of the
// Basic Multilingual Plane, without materialising the normalized text.
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "densefb/file_format.h"
#include "densefb/tokenizer.h"
#include "index/parallel.h"

namespace densefb {
namespace {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Unicode character classes as `tokenizers` 0.23 sees them.
//
// `tokenizers` takes general categories from the unicode_categories crate and NFD from
// unicode-normalization-alignments (both older than utf8proc 2.8's Unicode 15), and lowercasing
// and White_Space from Rust's std (newer). The tables below are the differences from utf8proc,
// found by running every code point through both (tests/python/test_tokenizer.py repeats the
// comparison over all 1.1M code points, so a change of `tokenizers` is caught).
// ---------------------------------------------------------------------------------------------

struct Range {
  char32_t lo, hi;
};

template <std::size_t N>
bool InRanges(const Range (&ranges)[N], char32_t c) {
  const Range* it = std::upper_bound(std::begin(ranges), std::end(ranges), c,
                                     [](char32_t v, const Range& r) { return v < r.lo; });
  return it != std::begin(ranges) && c <= (it - 1)->hi;
}

// utf8proc says Cf, `tokenizers` does not count them as control characters (kept by clean_text).
constexpr Range kNotOther[] = {{0x890, 0x891}, {0x8E2, 0x8E2}, {0x110CD, 0x110CD},
                               {0x13430, 0x1343F}};

// utf8proc says Mn, `tokenizers` keeps them when stripping accents.
constexpr Range kNotMn[] = {
    {0x7FD, 0x7FD}, {0x898, 0x89F}, {0x8CA, 0x8E1}, {0x9FE, 0x9FE}, {0xAFA, 0xAFF},
    {0xB55, 0xB55}, {0xC04, 0xC04}, {0xC3C, 0xC3C}, {0xD00, 0xD00}, {0xD3B, 0xD3C},
    {0xD81, 0xD81}, {0xEBA, 0xEBA}, {0xECE, 0xECE}, {0x180F, 0x180F}, {0x1885, 0x1886},
    {0x1ABF, 0x1ACE}, {0x1DF6, 0x1DFB}, {0xA82C, 0xA82C}, {0xA8C5, 0xA8C5}, {0xA8FF, 0xA8FF},
    {0xA9BD, 0xA9BD}, {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF},
    {0x10F46, 0x10F50}, {0x10F82, 0x10F85}, {0x11070, 0x11070}, {0x11073, 0x11074},
    {0x110C2, 0x110C2}, {0x111C9, 0x111C9}, {0x111CF, 0x111CF}, {0x1123E, 0x1123E},
    {0x11241, 0x11241}, {0x1133B, 0x1133B}, {0x11438, 0x1143F}, {0x11442, 0x11444},
    {0x11446, 0x11446}, {0x1145E, 0x1145E}, {0x1182F, 0x11837}, {0x11839, 0x1183A},
    {0x1193B, 0x1193C}, {0x1193E, 0x1193E}, {0x11943, 0x11943}, {0x119D4, 0x119D7},
    {0x119DA, 0x119DB}, {0x119E0, 0x119E0}, {0x11A01, 0x11A0A}, {0x11A33, 0x11A38},
    {0x11A3B, 0x11A3E}, {0x11A47, 0x11A47}, {0x11A51, 0x11A56}, {0x11A59, 0x11A5B},
    {0x11A8A, 0x11A96}, {0x11A98, 0x11A99}, {0x11C30, 0x11C36}, {0x11C38, 0x11C3D},
    {0x11C3F, 0x11C3F}, {0x11C92, 0x11CA7}, {0x11CAA, 0x11CB0}, {0x11CB2, 0x11CB3},
    {0x11CB5, 0x11CB6}, {0x11D31, 0x11D36}, {0x11D3A, 0x11D3A}, {0x11D3C, 0x11D3D},
    {0x11D3F, 0x11D45}, {0x11D47, 0x11D47}, {0x11D90, 0x11D91}, {0x11D95, 0x11D95},
    {0x11D97, 0x11D97}, {0x11EF3, 0x11EF4}, {0x11F00, 0x11F01}, {0x11F36, 0x11F3A},
    {0x11F40, 0x11F40}, {0x11F42, 0x11F42}, {0x13440, 0x13440}, {0x13447, 0x13455},
    {0x16F4F, 0x16F4F}, {0x16FE4, 0x16FE4}, {0x1CF00, 0x1CF2D}, {0x1CF30, 0x1CF46},
    {0x1E000, 0x1E006}, {0x1E008, 0x1E018}, {0x1E01B, 0x1E021}, {0x1E023, 0x1E024},
    {0x1E026, 0x1E02A}, {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE},
    {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF}, {0x1E944, 0x1E94A},
};
// `tokenizers` strips it (Mn in its table), utf8proc says Mc.
constexpr char32_t kExtraMn = 0x1734;

// utf8proc says P*, `tokenizers` does not split on them.
constexpr Range kNotPunct[] = {
    {0x61D, 0x61D}, {0x9FD, 0x9FD}, {0xA76, 0xA76}, {0xC77, 0xC77}, {0xC84, 0xC84},
    {0x1B7D, 0x1B7E}, {0x2E43, 0x2E4F}, {0x2E52, 0x2E5D}, {0x10EAD, 0x10EAD},
    {0x10F55, 0x10F59}, {0x10F86, 0x10F89}, {0x1144B, 0x1144F}, {0x1145A, 0x1145B},
    {0x1145D, 0x1145D}, {0x11660, 0x1166C}, {0x116B9, 0x116B9}, {0x1183B, 0x1183B},
    {0x11944, 0x11946}, {0x119E2, 0x119E2}, {0x11A3F, 0x11A46}, {0x11A9A, 0x11A9C},
    {0x11A9E, 0x11AA2}, {0x11B00, 0x11B09}, {0x11C41, 0x11C45}, {0x11C70, 0x11C71},
    {0x11EF7, 0x11EF8}, {0x11F43, 0x11F4F}, {0x11FFF, 0x11FFF}, {0x12FF1, 0x12FF2},
    {0x16E97, 0x16E9A}, {0x16FE2, 0x16FE2}, {0x1E95E, 0x1E95F},
};
// `tokenizers` splits on them (punctuation in its table), utf8proc says So / Lo.
constexpr char32_t kExtraPunct[] = {0x166D, 0x111C9};

// Canonical combining class nonzero in utf8proc, zero in `tokenizers`' NFD (no reordering).
constexpr Range kZeroCcc[] = {
    {0x7FD, 0x7FD}, {0x898, 0x89F}, {0x8CA, 0x8D3}, {0x9FE, 0x9FE}, {0xC3C, 0xC3C},
    {0xD3B, 0xD3C}, {0xEBA, 0xEBA}, {0x1715, 0x1715}, {0x1ABF, 0x1ACE}, {0x1DF6, 0x1DFA},
    {0xA82C, 0xA82C}, {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF},
    {0x10F46, 0x10F50}, {0x10F82, 0x10F85}, {0x11070, 0x11070}, {0x1133B, 0x1133B},
    {0x1145E, 0x1145E}, {0x11839, 0x1183A}, {0x1193D, 0x1193E}, {0x11943, 0x11943},
    {0x119E0, 0x119E0}, {0x11A34, 0x11A34}, {0x11A47, 0x11A47}, {0x11A99, 0x11A99},
    {0x11D42, 0x11D42}, {0x11D44, 0x11D45}, {0x11D97, 0x11D97}, {0x11F41, 0x11F42},
    {0x16FF0, 0x16FF1}, {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE},
    {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF},
};
// Canonical decomposition in utf8proc, none in `tokenizers`' NFD.
constexpr char32_t kNoDecomposition = 0x11938;

// Lowercase mappings of Rust's std (Unicode 16) that utf8proc 2.8 (Unicode 15) lacks.
struct LowerPair {
  char32_t from, to;
};
constexpr LowerPair kExtraLower[] = {
    {0x1C89, 0x1C8A}, {0xA7CB, 0x0264}, {0xA7CC, 0xA7CD}, {0xA7CE, 0xA7CF}, {0xA7D2, 0xA7D3},
    {0xA7D4, 0xA7D5}, {0xA7DA, 0xA7DB}, {0xA7DC, 0x019B},
};
// Ranges mapping to c + delta.
struct LowerRange {
  char32_t lo, hi;
  int delta;
};
constexpr LowerRange kExtraLowerRanges[] = {{0x10D50, 0x10D65, 0x20}, {0x16EA0, 0x16EB8, 0x1B}};

// Rust's char::is_whitespace (the White_Space property).
bool IsWhitespace(char32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || c == 0x20;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

int Category(char32_t c) {
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->category;
}

// BertNormalizer's is_control: Cc, Cf, Co (and Cs) but not \t \n \r; unassigned code points
// are not control characters.
bool IsControl(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  const int cat = Category(c);
  if (cat != UTF8PROC_CATEGORY_CC && cat != UTF8PROC_CATEGORY_CF && cat != UTF8PROC_CATEGORY_CO &&
      cat != UTF8PROC_CATEGORY_CS) {
    return false;
  }
  return !InRanges(kNotOther, c);
}

// BertPreTokenizer's is_bert_punc: ASCII punctuation or a P* category.
bool IsPunctuation(char32_t c) {
  if (c < 0x80) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
  }
  if (c == kExtraPunct[0] || c == kExtraPunct[1]) return true;
  const int cat = Category(c);
  if (cat < UTF8PROC_CATEGORY_PC || cat > UTF8PROC_CATEGORY_PO) return false;
  return !InRanges(kNotPunct, c);
}

bool IsNonspacingMark(char32_t c) {
  if (c == kExtraMn) return true;
  return Category(c) == UTF8PROC_CATEGORY_MN && !InRanges(kNotMn, c);
}

int CombiningClass(char32_t c) {
  if (c < 0x300) return 0;
  const int ccc = utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
  if (ccc == 0 || InRanges(kZeroCcc, c)) return 0;
  return ccc;
}

// BERT's CJK ideograph ranges (the ones `tokenizers` uses).
bool IsChineseChar(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

constexpr int kMaxOut = 32;  // code points one input code point may normalize to

// Full canonical decomposition (NFD of one code point, Hangul included).
int Decompose(char32_t c, char32_t* out) {
  if (c < 0xC0 || c == kNoDecomposition) {
    out[0] = c;
    return 1;
  }
  utf8proc_int32_t buf[kMaxOut];
  int last_boundclass = 0;
  const utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf,
                                                     kMaxOut, UTF8PROC_DECOMPOSE, &last_boundclass);
  if (n <= 0 || n > kMaxOut) {
    out[0] = c;
    return 1;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) out[i] = static_cast<char32_t>(buf[i]);
  return static_cast<int>(n);
}

// Rust's char::to_lowercase: the full (unconditional) mapping; only U+0130 maps to two.
int Lowercase(char32_t c, char32_t* out) {
  if (c < 0x80) {
    out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    return 1;
  }
  if (c == 0x130) {
    out[0] = 'i';
    out[1] = 0x307;
    return 2;
  }
  for (const LowerPair& p : kExtraLower) {
    if (p.from == c) {
      out[0] = p.to;
      return 1;
    }
  }
  for (const LowerRange& r : kExtraLowerRanges) {
    if (c >= r.lo && c <= r.hi) {
      out[0] = c + r.delta;
      return 1;
    }
  }
  out[0] = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
  return 1;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// Decodes the code point starting at s[i] (a byte >= 0x80); returns its length, 0 if the
// bytes are not valid UTF-8.
inline int DecodeUtf8(const unsigned char* s, std::size_t avail, char32_t* c) {
  const unsigned char b0 = s[0];
  if (b0 < 0xC2) return 0;
  if (b0 < 0xE0) {
    if (avail < 2 || (s[1] & 0xC0) != 0x80) return 0;
    *c = ((b0 & 0x1F) << 6) | (s[1] & 0x3F);
    return 2;
  }
  if (b0 < 0xF0) {
    if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
    const char32_t v = ((b0 & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *c = v;
    return 3;
  }
  if (b0 < 0xF5) {
    if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) {
      return 0;
    }
    const char32_t v =
        ((b0 & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    if (v < 0x10000 || v > 0x10FFFF) return 0;
    *c = v;
    return 4;
  }
  return 0;
}

absl::Status InvalidUtf8(std::size_t offset) {
  return absl::InvalidArgumentError(
      absl::StrCat("text is not valid UTF-8 (bad byte at offset ", offset, ")"));
}

// Stable-sorts each run of code points with a nonzero combining class (canonical ordering),
// runs being cut at `barriers` (positions where a stripped mark of class 0 stood).
void CanonicalReorder(std::vector<char32_t>* cps, const std::vector<std::size_t>& barriers) {
  std::size_t b = 0;
  std::size_t i = 0;
  const std::size_t n = cps->size();
  while (i < n) {
    if (CombiningClass((*cps)[i]) == 0) {
      ++i;
      continue;
    }
    while (b < barriers.size() && barriers[b] <= i) ++b;
    const std::size_t limit = b < barriers.size() ? barriers[b] : n;
    std::size_t j = i + 1;
    while (j < n && j < limit && CombiningClass((*cps)[j]) != 0) ++j;
    std::stable_sort(cps->begin() + i, cps->begin() + j, [](char32_t x, char32_t y) {
      return CombiningClass(x) < CombiningClass(y);
    });
    i = j;
  }
}

// ---------------------------------------------------------------------------------------------
// Per-configuration character table: what normalization + pre-tokenization do with each code
// point of the Basic Multilingual Plane (others are computed on the fly).
// ---------------------------------------------------------------------------------------------

enum Kind : std::uint8_t {
  kLetter,   // appended to the current word as `value`
  kSpace,    // ends the current word
  kDrop,     // removed (cleaned control char, or a stripped accent)
  kPunct,    // a word of its own: `value`
  kComplex,  // several outputs (or a CJK char, or a combining char to reorder): see `outs`
};

struct Entry {
  std::uint8_t kind;
  std::uint8_t isolate;  // CJK: spaces around it
  std::uint8_t count;    // kComplex: number of outputs
  std::uint8_t barrier;  // kDrop: a stripped mark of combining class 0 (blocks reordering)
  std::uint32_t value;   // kLetter / kPunct: the code point; kComplex (BMP): offset in pool
};

struct Flags {
  bool clean_text, handle_chinese_chars, strip_accents, lowercase;
  int Bits() const {
    return (clean_text ? 1 : 0) | (handle_chinese_chars ? 2 : 0) | (strip_accents ? 4 : 0) |
           (lowercase ? 8 : 0);
  }
};

// Strip accents then lowercase one code point; sets *barrier when a stripped mark had
// combining class 0.
int NormalizeCodePoint(char32_t c, const Flags& f, char32_t* out, bool* barrier) {
  char32_t tmp[kMaxOut];
  int n = 1;
  tmp[0] = c;
  *barrier = false;
  if (f.strip_accents) {
    char32_t dec[kMaxOut];
    const int nd = Decompose(c, dec);
    n = 0;
    for (int i = 0; i < nd; ++i) {
      if (IsNonspacingMark(dec[i])) {
        if (CombiningClass(dec[i]) == 0) *barrier = true;
        continue;
      }
      tmp[n++] = dec[i];
    }
  }
  if (!f.lowercase) {
    std::copy(tmp, tmp + n, out);
    return n;
  }
  int m = 0;
  for (int i = 0; i < n && m + 2 <= kMaxOut; ++i) m += Lowercase(tmp[i], out + m);
  return m;
}

Entry ComputeEntry(char32_t c, const Flags& f, char32_t* outs) {
  Entry e{kLetter, 0, 0, 0, static_cast<std::uint32_t>(c)};
  if (f.clean_text) {
    if (c == 0 || c == 0xFFFD || IsControl(c)) {
      e.kind = kDrop;
      return e;
    }
    if (IsWhitespace(c)) {
      e.kind = kSpace;
      return e;
    }
  }
  const bool cjk = f.handle_chinese_chars && IsChineseChar(c);
  bool barrier = false;
  const int n = NormalizeCodePoint(c, f, outs, &barrier);
  if (!cjk && n == 0) {
    e.kind = kDrop;
    e.barrier = barrier ? 1 : 0;
    return e;
  }
  if (!cjk && n == 1) {
    const char32_t o = outs[0];
    e.value = o;
    if (IsWhitespace(o)) {
      e.kind = kSpace;
    } else if (IsPunctuation(o)) {
      e.kind = kPunct;
    } else if (f.strip_accents && CombiningClass(o) != 0) {
      e.kind = kComplex;
      e.count = 1;
    } else {
      e.kind = kLetter;
    }
    return e;
  }
  e.kind = kComplex;
  e.isolate = cjk ? 1 : 0;
  e.count = static_cast<std::uint8_t>(n);
  return e;
}

class CharTable {
 public:
  explicit CharTable(const Flags& flags) : flags_(flags), bmp_(0x10000) {
    char32_t outs[kMaxOut];
    for (char32_t c = 0; c < 0x10000; ++c) {
      if (c >= 0xD800 && c <= 0xDFFF) {
        bmp_[c] = Entry{kDrop, 0, 0, 0, 0};
        continue;
      }
      Entry e = ComputeEntry(c, flags_, outs);
      if (e.kind == kComplex) {
        e.value = static_cast<std::uint32_t>(pool_.size());
        pool_.insert(pool_.end(), outs, outs + e.count);
      }
      bmp_[c] = e;
    }
  }

  const Flags& flags() const { return flags_; }

  // The entry of `c`; for kComplex, *outs points at its outputs (in `scratch` outside the BMP).
  inline Entry Get(char32_t c, char32_t* scratch, const char32_t** outs) const {
    if (c < 0x10000) {
      const Entry& e = bmp_[c];
      if (e.kind == kComplex) *outs = pool_.data() + e.value;
      return e;
    }
    Entry e = ComputeEntry(c, flags_, scratch);
    *outs = scratch;
    return e;
  }

  // Shared tables, one per configuration, built on first use.
  static std::shared_ptr<const CharTable> For(const Flags& flags) {
    static std::mutex mu;
    static std::array<std::shared_ptr<const CharTable>, 16> tables;
    std::lock_guard<std::mutex> lock(mu);
    auto& t = tables[flags.Bits()];
    if (!t) t = std::make_shared<const CharTable>(flags);
    return t;
  }

 private:
  Flags flags_;
  std::vector<Entry> bmp_;
  std::vector<char32_t> pool_;
};

// ---------------------------------------------------------------------------------------------
// Added tokens: leftmost-longest matching (AhoCorasick MatchKind::LeftmostLongest).
// ---------------------------------------------------------------------------------------------

class TokenMatcher {
 public:
  struct Pattern {
    std::string text;
    std::int64_t id;
    bool lstrip, rstrip;
  };
  struct Match {
    std::size_t start, end;  // after lstrip / rstrip
    std::int64_t id;
  };

  void Build(std::vector<Pattern> patterns) {
    patterns_.clear();
    for (auto& p : patterns) {
      if (!p.text.empty()) patterns_.push_back(std::move(p));
    }
    // By first byte, longest first: the first pattern that matches at a position is the
    // longest one there.
    std::stable_sort(patterns_.begin(), patterns_.end(), [](const Pattern& a, const Pattern& b) {
      const auto fa = static_cast<unsigned char>(a.text[0]);
      const auto fb = static_cast<unsigned char>(b.text[0]);
      if (fa != fb) return fa < fb;
      return a.text.size() > b.text.size();
    });
    first_.fill({0, 0});
    for (std::size_t i = 0; i < patterns_.size(); ++i) {
      auto& r = first_[static_cast<unsigned char>(patterns_[i].text[0])];
      if (r.second == r.first) r.first = static_cast<std::uint32_t>(i);
      r.second = static_cast<std::uint32_t>(i + 1);
    }
  }

  bool empty() const { return patterns_.empty(); }

  // The leftmost-longest match starting at or after `from`; `prev_end` bounds lstrip.
  bool Find(absl::string_view text, std::size_t from, std::size_t prev_end, Match* m) const {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    for (std::size_t i = from; i < text.size(); ++i) {
      const auto& r = first_[s[i]];
      if (r.first == r.second) continue;
      for (std::uint32_t k = r.first; k < r.second; ++k) {
        const Pattern& p = patterns_[k];
        if (text.size() - i < p.text.size() ||
            std::memcmp(text.data() + i, p.text.data(), p.text.size()) != 0) {
          continue;
        }
        m->start = i;
        m->end = i + p.text.size();
        m->id = p.id;
        if (p.lstrip) m->start = std::max(WhitespaceStart(text, i), prev_end);
        if (p.rstrip) m->end = WhitespaceEnd(text, m->end);
        return true;
      }
    }
    return false;
  }

 private:
  // Start of the whitespace run ending at `pos`.
  static std::size_t WhitespaceStart(absl::string_view text, std::size_t pos) {
    std::size_t start = pos;
    while (start > 0) {
      std::size_t k = start - 1;
      while (k > 0 && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
      char32_t c = static_cast<unsigned char>(text[k]);
      if (c >= 0x80 &&
          DecodeUtf8(reinterpret_cast<const unsigned char*>(text.data()) + k, text.size() - k,
                     &c) == 0) {
        break;
      }
      if (!IsWhitespace(c)) break;
      start = k;
    }
    return start;
  }
  // End of the whitespace run starting at `pos`.
  static std::size_t WhitespaceEnd(absl::string_view text, std::size_t pos) {
    while (pos < text.size()) {
      char32_t c = static_cast<unsigned char>(text[pos]);
      int len = 1;
      if (c >= 0x80) {
        len = DecodeUtf8(reinterpret_cast<const unsigned char*>(text.data()) + pos,
                         text.size() - pos, &c);
        if (len == 0) break;
      }
      if (!IsWhitespace(c)) break;
      pos += len;
    }
    return pos;
  }

  std::vector<Pattern> patterns_;
  std::array<std::pair<std::uint32_t, std::uint32_t>, 256> first_{};
};

// Post-processor template: [CLS]:0 $A:0 [SEP]:0 and [CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1 for BERT.
struct TemplateItem {
  enum Type { kSpecial, kSequenceA, kSequenceB } type;
  std::vector<std::int64_t> ids;  // kSpecial
  std::int64_t type_id;
};

// Reusable buffers of one thread.
struct Scratch {
  std::string word;
  std::int64_t word_chars = 0;
  bool word_reorder = false;
  std::vector<std::size_t> barriers;  // byte offsets in `word`
  std::vector<char32_t> cps;
  std::vector<std::size_t> cp_barriers;
  std::string normalized;
  std::vector<std::int64_t> a, b;
};

// Pair truncation of `tokenizers` (utils/truncation.rs, LongestFirst): the lengths kept.
void LongestFirst(std::size_t len_a, std::size_t len_b, std::size_t max_length,
                  std::size_t* keep_a, std::size_t* keep_b) {
  if (max_length == 0) {
    *keep_a = *keep_b = 0;
    return;
  }
  if (len_a + len_b <= max_length) {
    *keep_a = len_a;
    *keep_b = len_b;
    return;
  }
  std::size_t n1 = len_a, n2 = len_b;
  const bool swap = n1 > n2;
  if (swap) std::swap(n1, n2);
  n2 = n1 > max_length ? n1 : std::max(n1, max_length - n1);
  if (n1 + n2 > max_length) {
    n1 = max_length / 2;
    n2 = n1 + max_length % 2;
  }
  if (swap) std::swap(n1, n2);
  *keep_a = std::min(len_a, n1);
  *keep_b = std::min(len_b, n2);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

struct WordPieceTokenizer::Impl {
  WordPieceOptions options;
  std::shared_ptr<const CharTable> table;           // the configured normalizer
  std::shared_ptr<const CharTable> identity_table;  // pre-tokenization of normalized text

  // WordPiece vocabulary: whole tokens, and tokens with the continuing prefix keyed without it.
  absl::flat_hash_map<std::string, std::int64_t> vocab;
  absl::flat_hash_map<std::string, std::int64_t> continuation;
  std::size_t max_token_bytes = 0;
  std::size_t max_continuation_bytes = 0;
  std::vector<std::string> id_to_token;  // vocabulary then added tokens; "" for holes
  std::vector<bool> has_token;
  std::int64_t model_vocab_size = 0;

  std::vector<AddedToken> added;
  absl::flat_hash_map<std::string, std::int64_t> added_ids;
  TokenMatcher raw_matcher;         // normalized=false
  TokenMatcher normalized_matcher;  // normalized=true, patterns normalized

  std::vector<TemplateItem> single, pair;
  std::int64_t special_single = 0, special_pair = 0;

  std::int64_t unk = -1, cls = -1, sep = -1, pad = -1, mask = -1;

  // ---- setup ----

  void SetVocab(absl::flat_hash_map<std::string, std::int64_t> v) {
    vocab = std::move(v);
    std::int64_t max_id = -1;
    for (const auto& [token, id] : vocab) max_id = std::max(max_id, id);
    model_vocab_size = max_id + 1;
    id_to_token.assign(static_cast<std::size_t>(max_id + 1), std::string());
    has_token.assign(static_cast<std::size_t>(max_id + 1), false);
    const std::string& prefix = options.continuing_subword_prefix;
    for (const auto& [token, id] : vocab) {
      id_to_token[id] = token;
      has_token[id] = true;
      max_token_bytes = std::max(max_token_bytes, token.size());
      if (token.size() >= prefix.size() && token.compare(0, prefix.size(), prefix) == 0) {
        std::string rest = token.substr(prefix.size());
        max_continuation_bytes = std::max(max_continuation_bytes, rest.size());
        continuation.emplace(std::move(rest), id);
      }
    }
  }

  void SetTables() {
    const Flags flags{options.clean_text, options.handle_chinese_chars,
                      options.effective_strip_accents(), options.lowercase};
    table = CharTable::For(flags);
    identity_table = CharTable::For(Flags{false, false, false, false});
  }

  // After vocab, options and added tokens are set: the matchers and id table.
  absl::Status SetAddedTokens(std::vector<AddedToken> tokens) {
    added = std::move(tokens);
    std::vector<TokenMatcher::Pattern> raw, normalized;
    for (const AddedToken& t : added) {
      if (t.id < 0 || t.id > static_cast<std::int64_t>(id_to_token.size()) + (1 << 20)) {
        return absl::InvalidArgumentError(absl::StrCat("added token \"", t.content, "\" has id ",
                                                       t.id, " outside the vocabulary (",
                                                       id_to_token.size(), " ids)"));
      }
      added_ids[t.content] = t.id;
      if (t.id >= static_cast<std::int64_t>(id_to_token.size())) {
        id_to_token.resize(t.id + 1);
        has_token.resize(t.id + 1, false);
      }
      // Added tokens come first in id -> token, as in tokenizers.
      id_to_token[t.id] = t.content;
      has_token[t.id] = true;
      if (t.normalized) {
        std::string pattern;
        DENSEFB_RETURN_IF_ERROR(NormalizeInto(t.content, &pattern));
        normalized.push_back({std::move(pattern), t.id, t.lstrip, t.rstrip});
      } else {
        raw.push_back({t.content, t.id, t.lstrip, t.rstrip});
      }
    }
    raw_matcher.Build(std::move(raw));
    normalized_matcher.Build(std::move(normalized));
    return absl::OkStatus();
  }

  std::int64_t Lookup(absl::string_view token) const {
    auto a = added_ids.find(token);
    if (a != added_ids.end()) return a->second;
    auto v = vocab.find(token);
    return v == vocab.end() ? -1 : v->second;
  }

  // ---- normalization (materialised; used for Normalize() and normalized added tokens) ----

  absl::Status NormalizeInto(absl::string_view text, std::string* out) const {
    const Flags& f = table->flags();
    std::vector<char32_t> cps;
    std::vector<std::size_t> barriers;
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    char32_t outs[kMaxOut];
    for (std::size_t i = 0; i < text.size();) {
      char32_t c = s[i];
      int len = 1;
      if (c >= 0x80) {
        len = DecodeUtf8(s + i, text.size() - i, &c);
        if (len == 0) return InvalidUtf8(i);
      }
      i += len;
      if (f.clean_text) {
        if (c == 0 || c == 0xFFFD || IsControl(c)) continue;
        if (IsWhitespace(c)) {
          cps.push_back(' ');
          continue;
        }
      }
      const bool cjk = f.handle_chinese_chars && IsChineseChar(c);
      if (cjk) cps.push_back(' ');
      bool barrier = false;
      const int n = NormalizeCodePoint(c, f, outs, &barrier);
      if (barrier) barriers.push_back(cps.size());
      cps.insert(cps.end(), outs, outs + n);
      if (cjk) cps.push_back(' ');
    }
    if (f.strip_accents) CanonicalReorder(&cps, barriers);
    out->clear();
    for (char32_t c : cps) AppendUtf8(c, out);
    return absl::OkStatus();
  }

  // ---- fused normalization + pre-tokenization ----

  // Reorders the current word's combining marks (rare: only words with a surviving mark).
  void ReorderWord(Scratch& s) const {
    s.cps.clear();
    s.cp_barriers.clear();
    std::size_t b = 0;
    const auto* p = reinterpret_cast<const unsigned char*>(s.word.data());
    for (std::size_t i = 0; i < s.word.size();) {
      while (b < s.barriers.size() && s.barriers[b] <= i) {
        s.cp_barriers.push_back(s.cps.size());
        ++b;
      }
      char32_t c = p[i];
      int len = 1;
      if (c >= 0x80) len = DecodeUtf8(p + i, s.word.size() - i, &c);
      if (len == 0) len = 1;  // cannot happen: the word was encoded here
      s.cps.push_back(c);
      i += len;
    }
    CanonicalReorder(&s.cps, s.cp_barriers);
    s.word.clear();
    for (char32_t c : s.cps) AppendUtf8(c, &s.word);
  }

  // Splits `seg` into the words WordPiece sees, calling on_word(word, n_chars) for each;
  // on_word returns false to stop. Returns false if stopped early.
  template <typename OnWord>
  absl::StatusOr<bool> SplitWords(absl::string_view seg, const CharTable& tab, Scratch& s,
                                  OnWord&& on_word) const {
    const bool strip = tab.flags().strip_accents;
    s.word.clear();
    s.word_chars = 0;
    s.word_reorder = false;
    s.barriers.clear();
    auto flush = [&]() -> bool {
      if (s.word.empty()) {
        s.barriers.clear();
        return true;
      }
      if (s.word_reorder) ReorderWord(s);
      const bool more = on_word(absl::string_view(s.word), s.word_chars);
      s.word.clear();
      s.word_chars = 0;
      s.word_reorder = false;
      s.barriers.clear();
      return more;
    };
    auto single = [&](char32_t c) -> bool {
      if (!flush()) return false;
      AppendUtf8(c, &s.word);
      s.word_chars = 1;
      return flush();
    };
    // One output code point of normalization, classified by the pre-tokenizer.
    auto emit = [&](char32_t o) -> bool {
      if (IsWhitespace(o)) return flush();
      if (IsPunctuation(o)) return single(o);
      AppendUtf8(o, &s.word);
      ++s.word_chars;
      if (strip && CombiningClass(o) != 0) s.word_reorder = true;
      return true;
    };

    const auto* p = reinterpret_cast<const unsigned char*>(seg.data());
    const std::size_t n = seg.size();
    char32_t scratch[kMaxOut];
    for (std::size_t i = 0; i < n;) {
      char32_t c = p[i];
      if (c < 0x80) {
        ++i;
      } else {
        const int len = DecodeUtf8(p + i, n - i, &c);
        if (len == 0) return InvalidUtf8(i);
        i += len;
      }
      const char32_t* outs = nullptr;
      const Entry e = tab.Get(c, scratch, &outs);
      switch (e.kind) {
        case kLetter:
          if (e.value < 0x80) {
            s.word.push_back(static_cast<char>(e.value));
          } else {
            AppendUtf8(e.value, &s.word);
          }
          ++s.word_chars;
          break;
        case kSpace:
          if (!flush()) return false;
          break;
        case kDrop:
          if (e.barrier && strip) s.barriers.push_back(s.word.size());
          break;
        case kPunct:
          if (!single(e.value)) return false;
          break;
        case kComplex:
          if (e.isolate && !flush()) return false;
          for (int k = 0; k < e.count; ++k) {
            if (!emit(outs[k])) return false;
          }
          if (e.isolate && !flush()) return false;
          break;
      }
    }
    return flush();
  }

  // ---- WordPiece ----

  void WordPiece(absl::string_view word, std::int64_t n_chars,
                 std::vector<std::int64_t>* out) const {
    if (n_chars > options.max_input_chars_per_word) {
      out->push_back(unk);
      return;
    }
    const std::size_t base = out->size();
    std::size_t start = 0;
    while (start < word.size()) {
      const bool first = start == 0;
      const auto& map = first ? vocab : continuation;
      std::size_t end = std::min(word.size(), start + (first ? max_token_bytes
                                                             : max_continuation_bytes));
      while (end > start && end < word.size() &&
             (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) {
        --end;
      }
      std::int64_t found = -1;
      while (end > start) {
        auto it = map.find(word.substr(start, end - start));
        if (it != map.end()) {
          found = it->second;
          break;
        }
        do {
          --end;
        } while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
      }
      if (found < 0) {
        out->resize(base);
        out->push_back(unk);
        return;
      }
      out->push_back(found);
      start = end;
    }
  }

  // ---- one sequence: added tokens, normalization, pre-tokenization, WordPiece ----

  // Pieces of already-normalized text left between normalized added tokens.
  absl::Status TokenizeNormalizedPiece(absl::string_view piece, Scratch& s,
                                       std::vector<std::int64_t>* out, std::size_t limit) const {
    auto on_word = [&](absl::string_view w, std::int64_t nc) {
      WordPiece(w, nc, out);
      return out->size() < limit;
    };
    return SplitWords(piece, *identity_table, s, on_word).status();
  }

  absl::Status TokenizeRawPiece(absl::string_view piece, Scratch& s,
                                std::vector<std::int64_t>* out, std::size_t limit) const {
    if (normalized_matcher.empty()) {
      auto on_word = [&](absl::string_view w, std::int64_t nc) {
        WordPiece(w, nc, out);
        return out->size() < limit;
      };
      return SplitWords(piece, *table, s, on_word).status();
    }
    DENSEFB_RETURN_IF_ERROR(NormalizeInto(piece, &s.normalized));
    const std::string normalized = s.normalized;  // s.normalized may be reused below
    std::size_t pos = 0;
    TokenMatcher::Match m;
    while (out->size() < limit && normalized_matcher.Find(normalized, pos, pos, &m)) {
      if (m.start > pos) {
        DENSEFB_RETURN_IF_ERROR(TokenizeNormalizedPiece(
            absl::string_view(normalized).substr(pos, m.start - pos), s, out, limit));
        if (out->size() >= limit) return absl::OkStatus();
      }
      out->push_back(m.id);
      pos = m.end;
    }
    if (pos < normalized.size() && out->size() < limit) {
      DENSEFB_RETURN_IF_ERROR(
          TokenizeNormalizedPiece(absl::string_view(normalized).substr(pos), s, out, limit));
    }
    return absl::OkStatus();
  }

  // Token ids of `text` (no special tokens), at most `limit` of them (the first ones).
  absl::Status TokenizeText(absl::string_view text, Scratch& s, std::vector<std::int64_t>* out,
                            std::size_t limit) const {
    out->clear();
    if (limit == 0) return absl::OkStatus();
    std::size_t pos = 0;
    TokenMatcher::Match m;
    if (!raw_matcher.empty()) {
      while (raw_matcher.Find(text, pos, pos, &m)) {
        if (m.start > pos) {
          DENSEFB_RETURN_IF_ERROR(TokenizeRawPiece(text.substr(pos, m.start - pos), s, out, limit));
        }
        if (out->size() >= limit) break;
        out->push_back(m.id);
        pos = m.end;
        if (out->size() >= limit) break;
      }
    }
    if (pos < text.size() && out->size() < limit) {
      DENSEFB_RETURN_IF_ERROR(TokenizeRawPiece(text.substr(pos), s, out, limit));
    }
    if (out->size() > limit) out->resize(limit);
    return absl::OkStatus();
  }

  // ---- templates and truncation ----

  absl::Status CheckMaxLength(std::int64_t max_length, bool is_pair, bool add_special) const {
    if (max_length < 0) {
      return absl::InvalidArgumentError(absl::StrCat("max_length = ", max_length,
                                                     " is negative (0 means no truncation)"));
    }
    const std::int64_t specials = add_special ? (is_pair ? special_pair : special_single) : 0;
    if (max_length > 0 && max_length < std::max<std::int64_t>(specials, 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "max_length = ", max_length, " is too small: the ", is_pair ? "pair" : "single",
          " template adds ", specials, " special tokens"));
    }
    return absl::OkStatus();
  }

  // Encodes one row (b == nullptr: single sequence) into ids / type_ids (cleared first).
  absl::Status EncodeRow(absl::string_view a, const absl::string_view* b,
                         std::int64_t max_length, bool add_special, Scratch& s,
                         std::vector<std::int64_t>* ids, std::vector<std::int64_t>* types) const {
    const bool is_pair = b != nullptr;
    const std::int64_t specials = add_special ? (is_pair ? special_pair : special_single) : 0;
    const std::size_t budget = max_length > 0 ? static_cast<std::size_t>(max_length - specials)
                                              : static_cast<std::size_t>(-1);
    std::size_t keep_a, keep_b = 0;
    if (!is_pair) {
      DENSEFB_RETURN_IF_ERROR(TokenizeText(a, s, &s.a, budget));
      keep_a = s.a.size();
    } else {
      const std::size_t unlimited = static_cast<std::size_t>(-1);
      DENSEFB_RETURN_IF_ERROR(TokenizeText(a, s, &s.a, unlimited));
      DENSEFB_RETURN_IF_ERROR(TokenizeText(*b, s, &s.b, unlimited));
      if (max_length > 0) {
        LongestFirst(s.a.size(), s.b.size(), budget, &keep_a, &keep_b);
      } else {
        keep_a = s.a.size();
        keep_b = s.b.size();
      }
    }
    ids->clear();
    types->clear();
    auto append = [&](const std::vector<std::int64_t>& src, std::size_t n, std::int64_t type) {
      ids->insert(ids->end(), src.begin(), src.begin() + n);
      types->insert(types->end(), n, type);
    };
    if (!add_special) {
      append(s.a, keep_a, 0);
      if (is_pair) append(s.b, keep_b, 1);
      return absl::OkStatus();
    }
    for (const TemplateItem& item : is_pair ? pair : single) {
      switch (item.type) {
        case TemplateItem::kSpecial:
          append(item.ids, item.ids.size(), item.type_id);
          break;
        case TemplateItem::kSequenceA:
          append(s.a, keep_a, item.type_id);
          break;
        case TemplateItem::kSequenceB:
          if (is_pair) append(s.b, keep_b, item.type_id);
          break;
      }
    }
    return absl::OkStatus();
  }

  absl::Status EncodeBatch(std::size_t rows, const absl::string_view* first,
                           const absl::string_view* second, const BatchOptions& options_,
                           BatchEncoding* out) const {
    DENSEFB_RETURN_IF_ERROR(
        CheckMaxLength(options_.max_length, second != nullptr, options_.add_special_tokens));
    if (options_.pad_to_multiple_of < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("pad_to_multiple_of = ", options_.pad_to_multiple_of, " is negative"));
    }
    // Each row's ids then type ids, in one buffer per row.
    std::vector<std::vector<std::int64_t>> encoded(rows);
    const int threads = std::max(1, ResolveThreads(options_.num_threads));
    std::vector<Scratch> scratch(static_cast<std::size_t>(
        std::min<std::int64_t>(threads, std::max<std::size_t>(rows, 1))));
    std::vector<absl::Status> errors(rows);
    std::vector<std::vector<std::int64_t>> ids(scratch.size()), types(scratch.size());
    ParallelFor(static_cast<std::int64_t>(rows), static_cast<int>(scratch.size()),
                [&](std::int64_t i, int worker) {
                  auto& wid = ids[worker];
                  auto& wty = types[worker];
                  absl::Status st =
                      EncodeRow(first[i], second ? &second[i] : nullptr, options_.max_length,
                                options_.add_special_tokens, scratch[worker], &wid, &wty);
                  if (!st.ok()) {
                    errors[i] = std::move(st);
                    return;
                  }
                  auto& row = encoded[i];
                  row.resize(wid.size() * 2);
                  std::copy(wid.begin(), wid.end(), row.begin());
                  std::copy(wty.begin(), wty.end(), row.begin() + wid.size());
                });
    for (std::size_t i = 0; i < rows; ++i) {
      if (!errors[i].ok()) {
        return absl::Status(errors[i].code(),
                            absl::StrCat(second ? "pair " : "text ", i, ": ", errors[i].message()));
      }
    }
    std::size_t cols = 0;
    for (const auto& row : encoded) cols = std::max(cols, row.size() / 2);
    if (options_.pad_to_multiple_of > 1) {
      const auto m = static_cast<std::size_t>(options_.pad_to_multiple_of);
      cols = (cols + m - 1) / m * m;
    }
    out->rows = static_cast<std::int64_t>(rows);
    out->cols = static_cast<std::int64_t>(cols);
    const std::int64_t pad_value = pad >= 0 ? pad : 0;
    out->input_ids.assign(rows * cols, pad_value);
    out->attention_mask.assign(rows * cols, 0);
    out->token_type_ids.assign(rows * cols, 0);
    out->lengths.resize(rows);
    for (std::size_t i = 0; i < rows; ++i) {
      const auto& row = encoded[i];
      const std::size_t len = row.size() / 2;
      std::copy(row.begin(), row.begin() + len, out->input_ids.begin() + i * cols);
      std::copy(row.begin() + len, row.end(), out->token_type_ids.begin() + i * cols);
      std::fill_n(out->attention_mask.begin() + i * cols, len, 1);
      out->lengths[i] = static_cast<std::int64_t>(len);
    }
    return absl::OkStatus();
  }
};

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  DENSEFB_RETURN_IF_ERROR(CheckPath(path));
  std::error_code ec;
  if (!fs::exists(path, ec)) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  if (fs::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, expected a file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot be read"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return ss.str();
}

absl::StatusOr<Json> ReadJson(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  try {
    Json j = Json::parse(text);
    if (!j.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": expected a JSON object, got ", j.type_name()));
    }
    return j;
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": malformed JSON: ", e.what()));
  }
}

absl::Status Bad(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}
absl::Status Unsupported(const std::string& path, absl::string_view what) {
  return absl::UnimplementedError(
      absl::StrCat(path, ": ", what, " is not supported (densefb reproduces BERT WordPiece "
                                     "tokenizers only)"));
}

// Reads an optional bool field; null or absent leaves *out unchanged.
absl::Status OptionalBool(const Json& obj, const char* key, const std::string& path,
                          absl::string_view where, std::optional<bool>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean()) {
    return Bad(path, absl::StrCat(where, key, " must be true, false or null, got ", it->dump()));
  }
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status BoolField(const Json& obj, const char* key, const std::string& path,
                       absl::string_view where, bool* out) {
  std::optional<bool> v;
  DENSEFB_RETURN_IF_ERROR(OptionalBool(obj, key, path, where, &v));
  if (v) *out = *v;
  return absl::OkStatus();
}

// A special token given as "text" or {"content": "text", ...}; absent or null leaves *out.
absl::Status TokenField(const Json& obj, const char* key, const std::string& path,
                        std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (it->is_string()) {
    *out = it->get<std::string>();
    return absl::OkStatus();
  }
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) {
      *out = c->get<std::string>();
      return absl::OkStatus();
    }
  }
  return Bad(path, absl::StrCat("\"", key, "\" must be a string or {\"content\": ...}, got ",
                                it->dump()));
}

// Settings of tokenizer_config.json (all optional).
struct TokenizerConfig {
  std::string path;
  std::optional<bool> do_lower_case, strip_accents, tokenize_chinese_chars;
  bool strip_accents_given = false;  // strip_accents present (null counts as given)
  std::int64_t model_max_length = 0;
  std::string tokenizer_class;
  std::vector<AddedToken> added_tokens_decoder;
  std::vector<std::string> additional_special_tokens;
};

absl::Status ApplySpecialNames(const Json& j, const std::string& path, WordPieceOptions* o) {
  DENSEFB_RETURN_IF_ERROR(TokenField(j, "unk_token", path, &o->unk_token));
  DENSEFB_RETURN_IF_ERROR(TokenField(j, "cls_token", path, &o->cls_token));
  DENSEFB_RETURN_IF_ERROR(TokenField(j, "sep_token", path, &o->sep_token));
  DENSEFB_RETURN_IF_ERROR(TokenField(j, "pad_token", path, &o->pad_token));
  DENSEFB_RETURN_IF_ERROR(TokenField(j, "mask_token", path, &o->mask_token));
  return absl::OkStatus();
}

absl::StatusOr<TokenizerConfig> ParseTokenizerConfig(const Json& j, const std::string& path,
                                                     WordPieceOptions* options);

absl::StatusOr<TokenizerConfig> ReadTokenizerConfig(const std::string& path,
                                                    WordPieceOptions* options) {
  DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(path));
  try {
    return ParseTokenizerConfig(j, path, options);
  } catch (const Json::exception& e) {
    return Bad(path, absl::StrCat("unexpected content: ", e.what()));
  }
}

absl::StatusOr<TokenizerConfig> ParseTokenizerConfig(const Json& j, const std::string& path,
                                                     WordPieceOptions* options) {
  TokenizerConfig c;
  c.path = path;
  DENSEFB_RETURN_IF_ERROR(OptionalBool(j, "do_lower_case", path, "", &c.do_lower_case));
  DENSEFB_RETURN_IF_ERROR(OptionalBool(j, "strip_accents", path, "", &c.strip_accents));
  c.strip_accents_given = j.contains("strip_accents");
  DENSEFB_RETURN_IF_ERROR(
      OptionalBool(j, "tokenize_chinese_chars", path, "", &c.tokenize_chinese_chars));
  if (auto it = j.find("model_max_length"); it != j.end() && !it->is_null()) {
    if (!it->is_number()) return Bad(path, "model_max_length must be a number");
    const double v = it->get<double>();
    // transformers writes 1e30 (VERY_LARGE_INTEGER) for "no limit".
    c.model_max_length = (v >= 1 && v < 1e15) ? static_cast<std::int64_t>(v) : 0;
  }
  if (auto it = j.find("tokenizer_class"); it != j.end() && it->is_string()) {
    c.tokenizer_class = it->get<std::string>();
  }
  if (auto it = j.find("added_tokens_decoder"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Bad(path, "added_tokens_decoder must be an object");
    for (const auto& [key, value] : it->items()) {
      AddedToken t;
      try {
        std::size_t used = 0;
        t.id = std::stoll(key, &used);
        if (used != key.size()) throw std::invalid_argument(key);
      } catch (const std::exception&) {
        return Bad(path, absl::StrCat("added_tokens_decoder key \"", key, "\" is not an id"));
      }
      if (!value.is_object() || !value.contains("content") || !value["content"].is_string()) {
        return Bad(path, absl::StrCat("added_tokens_decoder[\"", key, "\"] has no content"));
      }
      t.content = value["content"].get<std::string>();
      const std::string where = absl::StrCat("added_tokens_decoder[\"", key, "\"].");
      DENSEFB_RETURN_IF_ERROR(BoolField(value, "special", path, where, &t.special));
      DENSEFB_RETURN_IF_ERROR(BoolField(value, "normalized", path, where, &t.normalized));
      DENSEFB_RETURN_IF_ERROR(BoolField(value, "lstrip", path, where, &t.lstrip));
      DENSEFB_RETURN_IF_ERROR(BoolField(value, "rstrip", path, where, &t.rstrip));
      bool single_word = false;
      DENSEFB_RETURN_IF_ERROR(BoolField(value, "single_word", path, where, &single_word));
      if (single_word) return Unsupported(path, absl::StrCat(where, "single_word = true"));
      c.added_tokens_decoder.push_back(std::move(t));
    }
    std::sort(c.added_tokens_decoder.begin(), c.added_tokens_decoder.end(),
              [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  }
  if (auto it = j.find("additional_special_tokens"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return Bad(path, "additional_special_tokens must be a list");
    for (const auto& v : *it) {
      if (v.is_string()) {
        c.additional_special_tokens.push_back(v.get<std::string>());
      } else if (v.is_object() && v.contains("content") && v["content"].is_string()) {
        c.additional_special_tokens.push_back(v["content"].get<std::string>());
      } else {
        return Bad(path, "additional_special_tokens entries must be strings");
      }
    }
  }
  DENSEFB_RETURN_IF_ERROR(ApplySpecialNames(j, path, options));
  options->model_max_length = c.model_max_length;
  return c;
}

// special_tokens_map.json: names of the special tokens (they override tokenizer_config.json's,
// as in transformers).
absl::Status ReadSpecialTokensMap(const std::string& path, WordPieceOptions* options) {
  DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(path));
  return ApplySpecialNames(j, path, options);
}

bool IsBertTokenizerClass(absl::string_view name) {
  static const char* const kClasses[] = {"BertTokenizer", "DistilBertTokenizer",
                                         "ElectraTokenizer", "MobileBertTokenizer",
                                         "SqueezeBertTokenizer"};
  for (const char* c : kClasses) {
    if (name == c || name == absl::StrCat(c, "Fast")) return true;
  }
  return false;
}

// Special-token ids every BERT tokenizer needs; errors name `source`.
absl::Status ResolveSpecialIds(WordPieceTokenizer::Impl* impl, const std::string& source) {
  const WordPieceOptions& o = impl->options;
  auto need = [&](const std::string& token, const char* role,
                  std::int64_t* id) -> absl::Status {
    *id = impl->Lookup(token);
    if (*id < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": the vocabulary has no ", role, " token \"", token, "\""));
    }
    return absl::OkStatus();
  };
  DENSEFB_RETURN_IF_ERROR(need(o.unk_token, "unknown", &impl->unk));
  DENSEFB_RETURN_IF_ERROR(need(o.cls_token, "classifier", &impl->cls));
  DENSEFB_RETURN_IF_ERROR(need(o.sep_token, "separator", &impl->sep));
  impl->pad = impl->Lookup(o.pad_token);
  impl->mask = impl->Lookup(o.mask_token);
  return absl::OkStatus();
}

void SetBertTemplates(WordPieceTokenizer::Impl* impl) {
  using T = TemplateItem;
  impl->single = {T{T::kSpecial, {impl->cls}, 0}, T{T::kSequenceA, {}, 0},
                  T{T::kSpecial, {impl->sep}, 0}};
  impl->pair = {T{T::kSpecial, {impl->cls}, 0}, T{T::kSequenceA, {}, 0},
                T{T::kSpecial, {impl->sep}, 0}, T{T::kSequenceB, {}, 1},
                T{T::kSpecial, {impl->sep}, 1}};
}

std::int64_t CountSpecial(const std::vector<TemplateItem>& items) {
  std::int64_t n = 0;
  for (const auto& item : items) {
    if (item.type == TemplateItem::kSpecial) n += static_cast<std::int64_t>(item.ids.size());
  }
  return n;
}

// "type" of a tokenizer.json component; `what` names it in errors.
absl::StatusOr<std::string> ComponentType(const Json& obj, const std::string& path,
                                          absl::string_view what) {
  if (!obj.is_object()) return Bad(path, absl::StrCat(what, " must be an object or null"));
  auto it = obj.find("type");
  if (it == obj.end() || !it->is_string()) {
    return Bad(path, absl::StrCat(what, " has no \"type\""));
  }
  return it->get<std::string>();
}

// A Sequence with a single element stands for that element.
const Json& Unwrap(const Json& obj, const char* list_key) {
  if (obj.is_object() && obj.value("type", "") == "Sequence") {
    auto it = obj.find(list_key);
    if (it != obj.end() && it->is_array() && it->size() == 1) return (*it)[0];
  }
  return obj;
}

absl::Status ParseNormalizer(const Json& j, const std::string& path, WordPieceOptions* o) {
  auto it = j.find("normalizer");
  if (it == j.end() || it->is_null()) {
    o->clean_text = o->handle_chinese_chars = o->lowercase = false;
    o->strip_accents = false;
    return absl::OkStatus();
  }
  const Json& n = Unwrap(*it, "normalizers");
  DENSEFB_ASSIGN_OR_RETURN(std::string type, ComponentType(n, path, "normalizer"));
  if (type != "BertNormalizer") {
    return Unsupported(path, absl::StrCat("normalizer \"", type, "\""));
  }
  const std::string where = "normalizer.";
  DENSEFB_RETURN_IF_ERROR(BoolField(n, "clean_text", path, where, &o->clean_text));
  DENSEFB_RETURN_IF_ERROR(
      BoolField(n, "handle_chinese_chars", path, where, &o->handle_chinese_chars));
  DENSEFB_RETURN_IF_ERROR(BoolField(n, "lowercase", path, where, &o->lowercase));
  o->strip_accents.reset();
  DENSEFB_RETURN_IF_ERROR(OptionalBool(n, "strip_accents", path, where, &o->strip_accents));
  return absl::OkStatus();
}

absl::Status ParsePreTokenizer(const Json& j, const std::string& path) {
  auto it = j.find("pre_tokenizer");
  if (it == j.end() || it->is_null()) return Unsupported(path, "a null pre_tokenizer");
  const Json& p = Unwrap(*it, "pretokenizers");
  DENSEFB_ASSIGN_OR_RETURN(std::string type, ComponentType(p, path, "pre_tokenizer"));
  if (type != "BertPreTokenizer") {
    return Unsupported(path, absl::StrCat("pre_tokenizer \"", type, "\""));
  }
  return absl::OkStatus();
}

absl::Status ParseModel(const Json& j, const std::string& path, WordPieceOptions* o,
                        absl::flat_hash_map<std::string, std::int64_t>* vocab) {
  auto it = j.find("model");
  if (it == j.end() || !it->is_object()) return Bad(path, "no \"model\" object");
  const Json& m = *it;
  std::string type = m.value("type", "");
  if (type.empty()) {
    // Old files omit the type; tokenizers tells the models apart by their fields.
    if (m.contains("merges")) {
      type = "BPE";
    } else if (m.contains("continuing_subword_prefix") ||
               m.contains("max_input_chars_per_word")) {
      type = "WordPiece";
    } else {
      type = "unknown";
    }
  }
  if (type != "WordPiece") return Unsupported(path, absl::StrCat("model type \"", type, "\""));
  auto v = m.find("vocab");
  if (v == m.end() || !v->is_object()) return Bad(path, "model.vocab must be an object");
  if (v->empty()) return Bad(path, "model.vocab is empty");
  vocab->reserve(v->size());
  for (const auto& [token, id] : v->items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0) {
      return Bad(path, absl::StrCat("model.vocab[\"", token, "\"] must be a non-negative integer"));
    }
    (*vocab)[token] = id.get<std::int64_t>();
  }
  std::int64_t max_id = 0;
  for (const auto& [token, id] : *vocab) max_id = std::max(max_id, id);
  if (max_id >= 4 * static_cast<std::int64_t>(vocab->size()) + 1024) {
    return Bad(path, absl::StrCat("model.vocab ids are not dense (largest id ", max_id, " for ",
                                  vocab->size(), " tokens)"));
  }
  if (auto u = m.find("unk_token"); u != m.end() && !u->is_null()) {
    if (!u->is_string()) return Bad(path, "model.unk_token must be a string");
    o->unk_token = u->get<std::string>();
  }
  if (auto p = m.find("continuing_subword_prefix"); p != m.end() && !p->is_null()) {
    if (!p->is_string()) return Bad(path, "model.continuing_subword_prefix must be a string");
    o->continuing_subword_prefix = p->get<std::string>();
  }
  if (auto c = m.find("max_input_chars_per_word"); c != m.end() && !c->is_null()) {
    if (!c->is_number_integer() || c->get<std::int64_t>() < 0) {
      return Bad(path, "model.max_input_chars_per_word must be a non-negative integer");
    }
    o->max_input_chars_per_word = c->get<std::int64_t>();
  }
  return absl::OkStatus();
}

absl::Status ParseAddedTokens(const Json& j, const std::string& path,
                              std::vector<AddedToken>* out) {
  auto it = j.find("added_tokens");
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return Bad(path, "added_tokens must be a list");
  for (std::size_t i = 0; i < it->size(); ++i) {
    const Json& t = (*it)[i];
    const std::string where = absl::StrCat("added_tokens[", i, "].");
    if (!t.is_object() || !t.contains("content") || !t["content"].is_string() ||
        !t.contains("id") || !t["id"].is_number_integer()) {
      return Bad(path, absl::StrCat("added_tokens[", i, "] needs a string content and an id"));
    }
    AddedToken a;
    a.content = t["content"].get<std::string>();
    a.id = t["id"].get<std::int64_t>();
    DENSEFB_RETURN_IF_ERROR(BoolField(t, "special", path, where, &a.special));
    a.normalized = !a.special;  // tokenizers' default
    DENSEFB_RETURN_IF_ERROR(BoolField(t, "normalized", path, where, &a.normalized));
    DENSEFB_RETURN_IF_ERROR(BoolField(t, "lstrip", path, where, &a.lstrip));
    DENSEFB_RETURN_IF_ERROR(BoolField(t, "rstrip", path, where, &a.rstrip));
    bool single_word = false;
    DENSEFB_RETURN_IF_ERROR(BoolField(t, "single_word", path, where, &single_word));
    if (single_word) return Unsupported(path, absl::StrCat(where, "single_word = true"));
    out->push_back(std::move(a));
  }
  return absl::OkStatus();
}

absl::Status ParsePostProcessor(const Json& j, const std::string& path,
                                WordPieceTokenizer::Impl* impl) {
  using T = TemplateItem;
  auto it = j.find("post_processor");
  if (it == j.end() || it->is_null()) {
    impl->single = {T{T::kSequenceA, {}, 0}};
    impl->pair = {T{T::kSequenceA, {}, 0}, T{T::kSequenceB, {}, 1}};
    return absl::OkStatus();
  }
  const Json& p = Unwrap(*it, "processors");
  DENSEFB_ASSIGN_OR_RETURN(std::string type, ComponentType(p, path, "post_processor"));
  if (type == "BertProcessing") {
    auto token_id = [&](const char* key, std::int64_t* id) -> absl::Status {
      auto f = p.find(key);
      if (f == p.end() || !f->is_array() || f->size() != 2 || !(*f)[1].is_number_integer()) {
        return Bad(path, absl::StrCat("post_processor.", key, " must be [token, id]"));
      }
      *id = (*f)[1].get<std::int64_t>();
      return absl::OkStatus();
    };
    std::int64_t cls = -1, sep = -1;
    DENSEFB_RETURN_IF_ERROR(token_id("cls", &cls));
    DENSEFB_RETURN_IF_ERROR(token_id("sep", &sep));
    impl->single = {T{T::kSpecial, {cls}, 0}, T{T::kSequenceA, {}, 0}, T{T::kSpecial, {sep}, 0}};
    impl->pair = {T{T::kSpecial, {cls}, 0}, T{T::kSequenceA, {}, 0}, T{T::kSpecial, {sep}, 0},
                  T{T::kSequenceB, {}, 1}, T{T::kSpecial, {sep}, 1}};
    return absl::OkStatus();
  }
  if (type != "TemplateProcessing") {
    return Unsupported(path, absl::StrCat("post_processor \"", type, "\""));
  }
  // special_tokens: name -> ids
  absl::flat_hash_map<std::string, std::vector<std::int64_t>> specials;
  if (auto s = p.find("special_tokens"); s != p.end() && s->is_object()) {
    for (const auto& [name, value] : s->items()) {
      auto ids = value.find("ids");
      if (!value.is_object() || ids == value.end() || !ids->is_array()) {
        return Bad(path, absl::StrCat("post_processor.special_tokens[\"", name, "\"] has no ids"));
      }
      std::vector<std::int64_t> v;
      for (const auto& id : *ids) {
        if (!id.is_number_integer()) {
          return Bad(path, absl::StrCat("post_processor.special_tokens[\"", name,
                                        "\"].ids must be integers"));
        }
        v.push_back(id.get<std::int64_t>());
      }
      specials[name] = std::move(v);
    }
  }
  auto parse = [&](const char* key, bool is_pair, std::vector<T>* out) -> absl::Status {
    auto t = p.find(key);
    if (t == p.end() || !t->is_array()) {
      return Bad(path, absl::StrCat("post_processor.", key, " must be a list"));
    }
    for (const Json& item : *t) {
      if (item.is_object() && item.contains("SpecialToken")) {
        const Json& st = item["SpecialToken"];
        const std::string name = st.value("id", "");
        auto found = specials.find(name);
        if (found == specials.end()) {
          return Bad(path, absl::StrCat("post_processor.", key, ": special token \"", name,
                                        "\" is not in special_tokens"));
        }
        out->push_back(T{T::kSpecial, found->second, st.value("type_id", 0)});
      } else if (item.is_object() && item.contains("Sequence")) {
        const Json& sq = item["Sequence"];
        const std::string id = sq.value("id", "");
        if (id != "A" && id != "B") {
          return Bad(path, absl::StrCat("post_processor.", key, ": sequence \"", id, "\""));
        }
        if (id == "B" && !is_pair) {
          return Bad(path, absl::StrCat("post_processor.", key, " uses sequence B"));
        }
        out->push_back(
            T{id == "A" ? T::kSequenceA : T::kSequenceB, {}, sq.value("type_id", 0)});
      } else {
        return Bad(path, absl::StrCat("post_processor.", key, ": unknown piece ", item.dump()));
      }
    }
    return absl::OkStatus();
  };
  impl->single.clear();
  impl->pair.clear();
  DENSEFB_RETURN_IF_ERROR(parse("single", false, &impl->single));
  DENSEFB_RETURN_IF_ERROR(parse("pair", true, &impl->pair));
  return absl::OkStatus();
}

// The post-processor's special tokens must be ids of the vocabulary (tokenizers would emit
// any number it is given, and the model's embedding lookup would fail on it).
absl::Status CheckTemplateIds(const WordPieceTokenizer::Impl& impl, const std::string& path) {
  const auto num_ids = static_cast<std::int64_t>(impl.id_to_token.size());
  for (const auto* items : {&impl.single, &impl.pair}) {
    for (const TemplateItem& item : *items) {
      for (std::int64_t id : item.ids) {
        if (id < 0 || id >= num_ids) {
          return Bad(path, absl::StrCat("post_processor: special token id ", id,
                                        " is not in the vocabulary (", num_ids, " ids)"));
        }
      }
    }
  }
  return absl::OkStatus();
}

// transformers rebuilds BertNormalizer from tokenizer_config.json; if that disagrees with
// tokenizer.json the two libraries tokenize differently, so refuse rather than pick one.
absl::Status CheckConsistent(const TokenizerConfig& c, const WordPieceOptions& o,
                             const std::string& json_path) {
  if (!c.tokenizer_class.empty() && !IsBertTokenizerClass(c.tokenizer_class)) {
    return absl::OkStatus();
  }
  auto conflict = [&](const char* key, bool config_value, const char* json_key, bool json_value) {
    return absl::InvalidArgumentError(absl::StrCat(
        c.path, ": ", key, " = ", config_value ? "true" : "false", " contradicts ", json_path,
        " (normalizer ", json_key, " = ", json_value ? "true" : "false",
        "); transformers and tokenizers would tokenize differently"));
  };
  if (c.do_lower_case && *c.do_lower_case != o.lowercase) {
    return conflict("do_lower_case", *c.do_lower_case, "lowercase", o.lowercase);
  }
  if (c.tokenize_chinese_chars && *c.tokenize_chinese_chars != o.handle_chinese_chars) {
    return conflict("tokenize_chinese_chars", *c.tokenize_chinese_chars, "handle_chinese_chars",
                    o.handle_chinese_chars);
  }
  if (c.strip_accents_given) {
    const bool config_strip = c.strip_accents.value_or(c.do_lower_case.value_or(o.lowercase));
    if (config_strip != o.effective_strip_accents()) {
      return conflict("strip_accents", config_strip, "strip_accents",
                      o.effective_strip_accents());
    }
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

absl::StatusOr<std::unique_ptr<WordPieceTokenizer::Impl>> BuildFromJson(
    const Json& j, const std::string& path, const std::string& tokenizer_config_path,
    const std::string& special_tokens_map_path) {
  using Impl = WordPieceTokenizer::Impl;
  auto impl = std::make_unique<Impl>();
  WordPieceOptions& o = impl->options;
  std::optional<TokenizerConfig> config;
  if (!tokenizer_config_path.empty()) {
    DENSEFB_ASSIGN_OR_RETURN(config, ReadTokenizerConfig(tokenizer_config_path, &o));
  }
  if (!special_tokens_map_path.empty()) {
    DENSEFB_RETURN_IF_ERROR(ReadSpecialTokensMap(special_tokens_map_path, &o));
  }
  absl::flat_hash_map<std::string, std::int64_t> vocab;
  DENSEFB_RETURN_IF_ERROR(ParseModel(j, path, &o, &vocab));
  DENSEFB_RETURN_IF_ERROR(ParseNormalizer(j, path, &o));
  DENSEFB_RETURN_IF_ERROR(ParsePreTokenizer(j, path));
  if (config) DENSEFB_RETURN_IF_ERROR(CheckConsistent(*config, o, path));
  std::vector<AddedToken> added;
  DENSEFB_RETURN_IF_ERROR(ParseAddedTokens(j, path, &added));
  impl->SetVocab(std::move(vocab));
  impl->SetTables();
  if (absl::Status st = impl->SetAddedTokens(std::move(added)); !st.ok()) return Bad(path, st.message());
  if (impl->vocab.find(o.unk_token) == impl->vocab.end()) {
    return Bad(path, absl::StrCat("model.vocab has no unknown token \"", o.unk_token, "\""));
  }
  DENSEFB_RETURN_IF_ERROR(ResolveSpecialIds(impl.get(), path));
  DENSEFB_RETURN_IF_ERROR(ParsePostProcessor(j, path, impl.get()));
  DENSEFB_RETURN_IF_ERROR(CheckTemplateIds(*impl, path));
  impl->special_single = CountSpecial(impl->single);
  impl->special_pair = CountSpecial(impl->pair);
  return impl;
}

absl::StatusOr<std::unique_ptr<WordPieceTokenizer::Impl>> BuildFromVocab(
    std::vector<std::string> tokens, const WordPieceOptions& options, const std::string& source,
    std::vector<AddedToken> extra_added) {
  using Impl = WordPieceTokenizer::Impl;
  if (tokens.empty()) return Bad(source, "empty vocabulary");
  if (options.max_input_chars_per_word < 0) {
    return Bad(source, "max_input_chars_per_word must be non-negative");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  absl::flat_hash_map<std::string, std::int64_t> vocab;
  vocab.reserve(tokens.size());
  // Like transformers' load_vocab (a dict): a repeated token keeps its last line.
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    vocab[std::move(tokens[i])] = static_cast<std::int64_t>(i);
  }
  impl->SetVocab(std::move(vocab));
  impl->SetTables();
  // transformers' BertTokenizer registers its special tokens as added tokens
  // (normalized=false), then the tokens of added_tokens_decoder.
  std::vector<AddedToken> added;
  absl::flat_hash_map<std::string, bool> seen;
  for (const AddedToken& t : extra_added) {
    added.push_back(t);
    seen[t.content] = true;
  }
  for (const std::string* name : {&options.pad_token, &options.unk_token, &options.cls_token,
                                  &options.sep_token, &options.mask_token}) {
    if (name->empty() || seen.contains(*name)) continue;
    auto it = impl->vocab.find(*name);
    if (it == impl->vocab.end()) continue;
    added.push_back(AddedToken{*name, it->second, true, false, false, false});
    seen[*name] = true;
  }
  if (absl::Status st = impl->SetAddedTokens(std::move(added)); !st.ok()) return Bad(source, st.message());
  if (impl->vocab.find(options.unk_token) == impl->vocab.end()) {
    return Bad(source, absl::StrCat("the vocabulary has no unknown token \"", options.unk_token,
                                    "\""));
  }
  DENSEFB_RETURN_IF_ERROR(ResolveSpecialIds(impl.get(), source));
  SetBertTemplates(impl.get());
  impl->special_single = CountSpecial(impl->single);
  impl->special_pair = CountSpecial(impl->pair);
  return impl;
}

// vocab.txt as transformers reads it: text-mode lines (\n, \r\n and \r end a line).
absl::StatusOr<std::vector<std::string>> ReadVocabLines(const std::string& path) {
  DENSEFB_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' || text[i] == '\r') {
      lines.emplace_back(text, start, i - start);
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < text.size()) lines.emplace_back(text, start, text.size() - start);
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const auto* s = reinterpret_cast<const unsigned char*>(lines[n].data());
    for (std::size_t i = 0; i < lines[n].size();) {
      char32_t c = s[i];
      int len = 1;
      if (c >= 0x80 && (len = DecodeUtf8(s + i, lines[n].size() - i, &c)) == 0) {
        return Bad(path, absl::StrCat("line ", n + 1, " is not valid UTF-8"));
      }
      i += len;
    }
  }
  if (lines.empty()) return Bad(path, "empty vocabulary");
  return lines;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WordPieceTokenizer::WordPieceTokenizer(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer& WordPieceTokenizer::operator=(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer::~WordPieceTokenizer() = default;

absl::StatusOr<WordPieceTokenizer> WordPieceTokenizer::FromTokenizerJson(
    const std::string& path, const std::string& tokenizer_config_path) {
  DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(path));
  try {
    DENSEFB_ASSIGN_OR_RETURN(auto impl, BuildFromJson(j, path, tokenizer_config_path, ""));
    return WordPieceTokenizer(std::move(impl));
  } catch (const Json::exception& e) {
    // A field of an unexpected JSON type that the checks above did not anticipate.
    return Bad(path, absl::StrCat("unexpected content: ", e.what()));
  }
}

absl::StatusOr<WordPieceTokenizer> WordPieceTokenizer::FromVocab(std::vector<std::string> tokens,
                                                                 const WordPieceOptions& options) {
  DENSEFB_ASSIGN_OR_RETURN(auto impl, BuildFromVocab(std::move(tokens), options, "vocabulary", {}));
  return WordPieceTokenizer(std::move(impl));
}

absl::StatusOr<WordPieceTokenizer> WordPieceTokenizer::FromVocabFile(
    const std::string& vocab_path, const WordPieceOptions& options) {
  DENSEFB_ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadVocabLines(vocab_path));
  DENSEFB_ASSIGN_OR_RETURN(auto impl, BuildFromVocab(std::move(lines), options, vocab_path, {}));
  return WordPieceTokenizer(std::move(impl));
}

absl::StatusOr<WordPieceTokenizer> WordPieceTokenizer::FromDirectory(const std::string& dir) {
  DENSEFB_RETURN_IF_ERROR(CheckPath(dir));
  std::error_code ec;
  if (!fs::exists(dir, ec)) return absl::NotFoundError(absl::StrCat(dir, ": no such directory"));
  if (!fs::is_directory(dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": not a directory"));
  }
  const std::string json_path = (fs::path(dir) / "tokenizer.json").string();
  const std::string vocab_path = (fs::path(dir) / "vocab.txt").string();
  const std::string config_path = (fs::path(dir) / "tokenizer_config.json").string();
  const std::string map_path = (fs::path(dir) / "special_tokens_map.json").string();
  const bool has_config = fs::is_regular_file(config_path, ec);
  const bool has_map = fs::is_regular_file(map_path, ec);
  if (fs::exists(json_path, ec)) {
    DENSEFB_ASSIGN_OR_RETURN(Json j, ReadJson(json_path));
    try {
      DENSEFB_ASSIGN_OR_RETURN(auto impl, BuildFromJson(j, json_path, has_config ? config_path : "",
                                                        has_map ? map_path : ""));
      return WordPieceTokenizer(std::move(impl));
    } catch (const Json::exception& e) {
      return Bad(json_path, absl::StrCat("unexpected content: ", e.what()));
    }
  }
  if (!fs::exists(vocab_path, ec)) {
    return absl::NotFoundError(absl::StrCat(
        dir, ": not a tokenizer directory: no such file tokenizer.json or vocab.txt"));
  }
  // transformers' BertTokenizer defaults, overridden by tokenizer_config.json.
  WordPieceOptions options;
  TokenizerConfig config;
  if (has_config) {
    DENSEFB_ASSIGN_OR_RETURN(config, ReadTokenizerConfig(config_path, &options));
    if (!config.tokenizer_class.empty() && !IsBertTokenizerClass(config.tokenizer_class)) {
      return Unsupported(config_path, absl::StrCat("tokenizer_class \"", config.tokenizer_class,
                                                   "\" (with vocab.txt and no tokenizer.json)"));
    }
    if (config.do_lower_case) options.lowercase = *config.do_lower_case;
    options.strip_accents = config.strip_accents;
    if (config.tokenize_chinese_chars) {
      options.handle_chinese_chars = *config.tokenize_chinese_chars;
    }
  }
  if (has_map) DENSEFB_RETURN_IF_ERROR(ReadSpecialTokensMap(map_path, &options));
  DENSEFB_ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadVocabLines(vocab_path));
  // Tokens of added_tokens_decoder / additional_special_tokens must be in the vocabulary
  // (new ids past it are not reproduced).
  std::vector<AddedToken> extra = config.added_tokens_decoder;
  absl::flat_hash_map<std::string, std::int64_t> line_of;
  for (std::size_t i = 0; i < lines.size(); ++i) line_of[lines[i]] = static_cast<std::int64_t>(i);
  for (const AddedToken& t : extra) {
    if (t.id >= static_cast<std::int64_t>(lines.size()) || lines[t.id] != t.content) {
      auto it = line_of.find(t.content);
      if (it == line_of.end() || it->second != t.id) {
        return Unsupported(config_path,
                           absl::StrCat("added token \"", t.content, "\" with id ", t.id,
                                        " that is not line ", t.id + 1, " of ", vocab_path));
      }
    }
  }
  for (const std::string& token : config.additional_special_tokens) {
    bool present = false;
    for (const AddedToken& t : extra) present = present || t.content == token;
    if (present) continue;
    auto it = line_of.find(token);
    if (it == line_of.end()) {
      return Unsupported(config_path, absl::StrCat("additional special token \"", token,
                                                   "\" absent from ", vocab_path));
    }
    extra.push_back(AddedToken{token, it->second, true, false, false, false});
  }
  DENSEFB_ASSIGN_OR_RETURN(
      auto impl, BuildFromVocab(std::move(lines), options, vocab_path, std::move(extra)));
  return WordPieceTokenizer(std::move(impl));
}

// ---------------------------------------------------------------------------------------------
// Encoding API
// ---------------------------------------------------------------------------------------------

absl::StatusOr<Encoding> WordPieceTokenizer::Encode(absl::string_view text,
                                                    std::int64_t max_length,
                                                    bool add_special_tokens) const {
  DENSEFB_RETURN_IF_ERROR(impl_->CheckMaxLength(max_length, false, add_special_tokens));
  Scratch s;
  Encoding e;
  DENSEFB_RETURN_IF_ERROR(
      impl_->EncodeRow(text, nullptr, max_length, add_special_tokens, s, &e.ids, &e.type_ids));
  return e;
}

absl::StatusOr<Encoding> WordPieceTokenizer::EncodePair(absl::string_view a, absl::string_view b,
                                                        std::int64_t max_length,
                                                        bool add_special_tokens) const {
  DENSEFB_RETURN_IF_ERROR(impl_->CheckMaxLength(max_length, true, add_special_tokens));
  Scratch s;
  Encoding e;
  DENSEFB_RETURN_IF_ERROR(
      impl_->EncodeRow(a, &b, max_length, add_special_tokens, s, &e.ids, &e.type_ids));
  return e;
}

absl::Status WordPieceTokenizer::EncodeBatch(absl::Span<const absl::string_view> texts,
                                             const BatchOptions& options,
                                             BatchEncoding* out) const {
  return impl_->EncodeBatch(texts.size(), texts.data(), nullptr, options, out);
}

absl::Status WordPieceTokenizer::EncodeBatchPairs(absl::Span<const absl::string_view> first,
                                                  absl::Span<const absl::string_view> second,
                                                  const BatchOptions& options,
                                                  BatchEncoding* out) const {
  if (first.size() != second.size()) {
    return absl::InvalidArgumentError(absl::StrCat("pairs: ", first.size(), " first texts but ",
                                                   second.size(), " second texts"));
  }
  return impl_->EncodeBatch(first.size(), first.data(), second.data(), options, out);
}

absl::StatusOr<std::vector<std::string>> WordPieceTokenizer::Tokenize(
    absl::string_view text) const {
  Scratch s;
  DENSEFB_RETURN_IF_ERROR(impl_->TokenizeText(text, s, &s.a, static_cast<std::size_t>(-1)));
  std::vector<std::string> tokens;
  tokens.reserve(s.a.size());
  for (std::int64_t id : s.a) tokens.push_back(impl_->id_to_token[id]);
  return tokens;
}

absl::StatusOr<std::string> WordPieceTokenizer::Normalize(absl::string_view text) const {
  std::string out;
  DENSEFB_RETURN_IF_ERROR(impl_->NormalizeInto(text, &out));
  return out;
}

absl::StatusOr<std::vector<std::string>> WordPieceTokenizer::PreTokenize(
    absl::string_view text) const {
  Scratch s;
  std::vector<std::string> words;
  auto on_word = [&](absl::string_view w, std::int64_t) {
    words.emplace_back(w);
    return true;
  };
  DENSEFB_RETURN_IF_ERROR(impl_->SplitWords(text, *impl_->table, s, on_word).status());
  return words;
}

std::int64_t WordPieceTokenizer::TokenToId(absl::string_view token) const {
  return impl_->Lookup(token);
}

absl::StatusOr<std::string> WordPieceTokenizer::IdToToken(std::int64_t id) const {
  if (id < 0 || id >= static_cast<std::int64_t>(impl_->id_to_token.size()) ||
      !impl_->has_token[id]) {
    return absl::OutOfRangeError(absl::StrCat("token id ", id, " is not in the vocabulary (",
                                              impl_->id_to_token.size(), " ids)"));
  }
  return impl_->id_to_token[id];
}

std::int64_t WordPieceTokenizer::vocab_size() const { return impl_->model_vocab_size; }
std::int64_t WordPieceTokenizer::num_ids() const {
  return static_cast<std::int64_t>(impl_->id_to_token.size());
}
std::int64_t WordPieceTokenizer::model_max_length() const {
  return impl_->options.model_max_length;
}
std::int64_t WordPieceTokenizer::cls_id() const { return impl_->cls; }
std::int64_t WordPieceTokenizer::sep_id() const { return impl_->sep; }
std::int64_t WordPieceTokenizer::pad_id() const { return impl_->pad; }
std::int64_t WordPieceTokenizer::mask_id() const { return impl_->mask; }
std::int64_t WordPieceTokenizer::unk_id() const { return impl_->unk; }
std::int64_t WordPieceTokenizer::num_special_tokens(bool is_pair) const {
  return is_pair ? impl_->special_pair : impl_->special_single;
}
std::int64_t WordPieceTokenizer::num_type_ids() const {
  std::int64_t top = 0;
  for (const auto* items : {&impl_->single, &impl_->pair}) {
    for (const TemplateItem& item : *items) top = std::max(top, item.type_id);
  }
  return top + 1;
}
const WordPieceOptions& WordPieceTokenizer::options() const { return impl_->options; }
const std::vector<AddedToken>& WordPieceTokenizer::added_tokens() const { return impl_->added; }

}  // namespace densefb
