// Internal: the BERT normalizer (BertNormalizer: clean_text, handle_chinese_chars,
// strip_accents, lowercase) and pre-tokenizer classes of each code point, tabulated per
// configuration for the Basic Multilingual Plane; canonical reordering of combining marks.
#ifndef DENSEFB_SRC_TEXT_BERT_NORMALIZER_H_
#define DENSEFB_SRC_TEXT_BERT_NORMALIZER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "text/unicode_tables.h"

namespace densefb::text_internal {

// Stable-sorts each run of code points with a nonzero combining class (canonical ordering),
// runs being cut at `barriers` (positions where a stripped mark of class 0 stood).
void CanonicalReorder(std::vector<char32_t>* cps, const std::vector<std::size_t>& barriers);

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
int NormalizeCodePoint(char32_t c, const Flags& f, char32_t* out, bool* barrier);

// What normalization + pre-tokenization do with `c`; for kComplex, its outputs in `outs`.
Entry ComputeEntry(char32_t c, const Flags& f, char32_t* outs);

class CharTable {
 public:
  explicit CharTable(const Flags& flags);

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
  static std::shared_ptr<const CharTable> For(const Flags& flags);

 private:
  Flags flags_;
  std::vector<Entry> bmp_;
  std::vector<char32_t> pool_;
};

}  // namespace densefb::text_internal

#endif  // DENSEFB_SRC_TEXT_BERT_NORMALIZER_H_
