// Unicode character classes as `tokenizers` 0.23 sees them (see unicode_tables.h).
#include "text/unicode_tables.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstddef>
#include <iterator>

namespace densefb::text_internal {

// ---------------------------------------------------------------------------------------------
// Unicode character classes as `tokenizers` 0.23 sees them.
//
// `tokenizers` takes general categories from the unicode_categories crate and NFD from
// unicode-normalization-alignments (both older than utf8proc 2.8's Unicode 15), and lowercasing
// and White_Space from Rust's std (newer). The tables below are the differences from utf8proc,
// found by running every code point through both (tests/python/test_tokenizer.py repeats the
// comparison over all 1.1M code points, so a change of `tokenizers` is caught).
// ---------------------------------------------------------------------------------------------

namespace {

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

int Category(char32_t c) {
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->category;
}

}  // namespace

// Rust's char::is_whitespace (the White_Space property).
bool IsWhitespace(char32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || c == 0x20;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
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

}  // namespace densefb::text_internal
