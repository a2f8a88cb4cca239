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
//
// Files: unicode_tables.* (character classes as `tokenizers` sees them), utf8.h,
// bert_normalizer.* (step 2's per-configuration table), added_tokens.h (step 1's matcher),
// wordpiece_impl.h (the tokenizer's state), tokenizer_files.cc (reading the files of a model),
// and this file (steps 2-5 and the encoding API).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "densefb/tokenizer.h"
#include "text/bert_normalizer.h"
#include "text/unicode_tables.h"
#include "text/utf8.h"
#include "text/wordpiece_impl.h"

namespace densefb {

using namespace text_internal;  // NOLINT(build/namespaces): the tokenizer's own internals

namespace {

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

// ---- setup ----

void WordPieceTokenizer::Impl::SetVocab(absl::flat_hash_map<std::string, std::int64_t> v) {
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

void WordPieceTokenizer::Impl::SetTables() {
  const Flags flags{options.clean_text, options.handle_chinese_chars,
                    options.effective_strip_accents(), options.lowercase};
  table = CharTable::For(flags);
  identity_table = CharTable::For(Flags{false, false, false, false});
}

// After vocab, options and added tokens are set: the matchers and id table.
absl::Status WordPieceTokenizer::Impl::SetAddedTokens(std::vector<AddedToken> tokens) {
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

std::int64_t WordPieceTokenizer::Impl::Lookup(absl::string_view token) const {
  auto a = added_ids.find(token);
  if (a != added_ids.end()) return a->second;
  auto v = vocab.find(token);
  return v == vocab.end() ? -1 : v->second;
}

// ---- normalization (materialised; used for Normalize() and normalized added tokens) ----

absl::Status WordPieceTokenizer::Impl::NormalizeInto(absl::string_view text,
                                                     std::string* out) const {
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
void WordPieceTokenizer::Impl::ReorderWord(Scratch& s) const {
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
absl::StatusOr<bool> WordPieceTokenizer::Impl::SplitWords(absl::string_view seg,
                                                          const CharTable& tab, Scratch& s,
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

void WordPieceTokenizer::Impl::WordPiece(absl::string_view word, std::int64_t n_chars,
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
absl::Status WordPieceTokenizer::Impl::TokenizeNormalizedPiece(absl::string_view piece, Scratch& s,
                                                               std::vector<std::int64_t>* out,
                                                               std::size_t limit) const {
  auto on_word = [&](absl::string_view w, std::int64_t nc) {
    WordPiece(w, nc, out);
    return out->size() < limit;
  };
  return SplitWords(piece, *identity_table, s, on_word).status();
}

absl::Status WordPieceTokenizer::Impl::TokenizeRawPiece(absl::string_view piece, Scratch& s,
                                                        std::vector<std::int64_t>* out,
                                                        std::size_t limit) const {
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
absl::Status WordPieceTokenizer::Impl::TokenizeText(absl::string_view text, Scratch& s,
                                                    std::vector<std::int64_t>* out,
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

absl::Status WordPieceTokenizer::Impl::CheckMaxLength(std::int64_t max_length, bool is_pair,
                                                      bool add_special) const {
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
absl::Status WordPieceTokenizer::Impl::EncodeRow(absl::string_view a, const absl::string_view* b,
                                                 std::int64_t max_length, bool add_special,
                                                 Scratch& s, std::vector<std::int64_t>* ids,
                                                 std::vector<std::int64_t>* types) const {
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

absl::Status WordPieceTokenizer::Impl::EncodeBatch(std::size_t rows, const absl::string_view* first,
                                                   const absl::string_view* second,
                                                   const BatchOptions& options_,
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

WordPieceTokenizer::WordPieceTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WordPieceTokenizer::WordPieceTokenizer(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer& WordPieceTokenizer::operator=(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer::~WordPieceTokenizer() = default;

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
