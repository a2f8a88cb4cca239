// Internal: UTF-8 encoding and decoding of one code point for the tokenizer.
#ifndef DENSEFB_SRC_TEXT_UTF8_H_
#define DENSEFB_SRC_TEXT_UTF8_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace densefb::text_internal {

inline void AppendUtf8(char32_t c, std::string* out) {
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

inline absl::Status InvalidUtf8(std::size_t offset) {
  return absl::InvalidArgumentError(
      absl::StrCat("text is not valid UTF-8 (bad byte at offset ", offset, ")"));
}

}  // namespace densefb::text_internal

#endif  // DENSEFB_SRC_TEXT_UTF8_H_
