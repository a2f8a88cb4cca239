// Internal: Unicode character classes, canonical decomposition and lowercasing of one code
// point, as Hugging Face `tokenizers` 0.23 sees them (utf8proc plus the tables of
// differences in unicode_tables.cc).
#ifndef DENSEFB_SRC_TEXT_UNICODE_TABLES_H_
#define DENSEFB_SRC_TEXT_UNICODE_TABLES_H_

namespace densefb::text_internal {

// Rust's char::is_whitespace (the White_Space property).
bool IsWhitespace(char32_t c);

// BertNormalizer's is_control: Cc, Cf, Co (and Cs) but not \t \n \r; unassigned code points
// are not control characters.
bool IsControl(char32_t c);

// BertPreTokenizer's is_bert_punc: ASCII punctuation or a P* category.
bool IsPunctuation(char32_t c);

bool IsNonspacingMark(char32_t c);

int CombiningClass(char32_t c);

// BERT's CJK ideograph ranges (the ones `tokenizers` uses).
bool IsChineseChar(char32_t c);

constexpr int kMaxOut = 32;  // code points one input code point may normalize to

// Full canonical decomposition (NFD of one code point, Hangul included).
int Decompose(char32_t c, char32_t* out);

// Rust's char::to_lowercase: the full (unconditional) mapping; only U+0130 maps to two.
int Lowercase(char32_t c, char32_t* out);

}  // namespace densefb::text_internal

#endif  // DENSEFB_SRC_TEXT_UNICODE_TABLES_H_
