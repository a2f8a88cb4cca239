// The BERT normalizer's per-code-point table (see bert_normalizer.h).
#include "text/bert_normalizer.h"

#include <algorithm>
#include <array>
#include <mutex>

namespace densefb::text_internal {

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

CharTable::CharTable(const Flags& flags) : flags_(flags), bmp_(0x10000) {
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

std::shared_ptr<const CharTable> CharTable::For(const Flags& flags) {
  static std::mutex mu;
  static std::array<std::shared_ptr<const CharTable>, 16> tables;
  std::lock_guard<std::mutex> lock(mu);
  auto& t = tables[flags.Bits()];
  if (!t) t = std::make_shared<const CharTable>(flags);
  return t;
}

}  // namespace densefb::text_internal
