// Internal: added (special) tokens of a tokenizer found in text, leftmost-longest.
#ifndef DENSEFB_SRC_TEXT_ADDED_TOKENS_H_
#define DENSEFB_SRC_TEXT_ADDED_TOKENS_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "text/unicode_tables.h"
#include "text/utf8.h"

namespace densefb::text_internal {

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

}  // namespace densefb::text_internal

#endif  // DENSEFB_SRC_TEXT_ADDED_TOKENS_H_
