// Fuzzes WordPiece encoding of arbitrary bytes (invalid UTF-8, control characters, CJK, accents,
// special tokens typed in the text) under every normalizer setting, single texts and pairs, with
// and without truncation; checks the invariants of every encoding that succeeds.
//
// Input: byte 0 = flags (bit 0 lowercase, bit 1 strip accents, bit 2 keep accents explicitly,
// bit 3 no special tokens, bit 4 encode as a pair), byte 1 = max_length (0 = none), byte 2 =
// where the pair is split (as a fraction of the text), then the text.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "densefb/tokenizer.h"
#include "fuzz_util.h"

namespace {

const std::vector<std::string>& Vocab() {
  static const std::vector<std::string> v = {
      "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "want", "##ed",
      "runn", "##ing", ",", "!", "'", ".", "hello", "world", "中", "国", "cafe", "café",
      "resume", "a", "##a", "b", "##b", "c", "##c", "e", "##e", "é", "##é", "1", "##1", "2",
      "##2", "ß", "strasse", "straße", "[", "]", "#", "##", "###", "ﬁ", "İ", "i̇", "ا", "##ا"};
  return v;
}

const densefb::WordPieceTokenizer& Tokenizer(int variant) {
  static std::vector<densefb::WordPieceTokenizer>* all = [] {
    auto* t = new std::vector<densefb::WordPieceTokenizer>();
    for (int i = 0; i < 4; ++i) {
      densefb::WordPieceOptions o;
      o.lowercase = i & 1;
      if (i & 2) o.strip_accents = !(i & 1);
      o.max_input_chars_per_word = 12;
      auto tok = densefb::WordPieceTokenizer::FromVocab(Vocab(), o);
      FUZZ_CHECK(tok.ok());
      t->push_back(*std::move(tok));
    }
    return t;
  }();
  return (*all)[variant];
}

void CheckEncoding(const densefb::WordPieceTokenizer& tok, const densefb::Encoding& e,
                   std::int64_t max_length, bool special) {
  FUZZ_CHECK(e.ids.size() == e.type_ids.size());
  if (max_length > 0) FUZZ_CHECK(static_cast<std::int64_t>(e.size()) <= max_length);
  for (std::int64_t id : e.ids) FUZZ_CHECK(id >= 0 && id < tok.num_ids());
  for (std::int64_t t : e.type_ids) FUZZ_CHECK(t == 0 || t == 1);
  if (special) {
    FUZZ_CHECK(e.size() >= 2);
    FUZZ_CHECK(e.ids.front() == tok.cls_id() && e.ids.back() == tok.sep_id());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const int flags = data[0];
  const densefb::WordPieceTokenizer& tok = Tokenizer(flags & 3);
  const bool special = !(flags & 8);
  const std::int64_t max_length = data[1] % 40;
  const absl::string_view text(reinterpret_cast<const char*>(data + 3), size - 3);

  if (flags & 16) {
    const std::size_t cut = text.size() * data[2] / 256;
    const absl::string_view a = text.substr(0, cut), b = text.substr(cut);
    auto e = tok.EncodePair(a, b, max_length, special);
    if (e.ok()) {
      CheckEncoding(tok, *e, max_length, special);
      densefb::BatchEncoding batch;
      const std::vector<absl::string_view> first = {a, b}, second = {b, a};
      densefb::BatchOptions options;
      options.max_length = max_length;
      options.add_special_tokens = special;
      if (tok.EncodeBatchPairs(first, second, options, &batch).ok()) {
        FUZZ_CHECK(batch.rows == 2 && batch.lengths[0] == static_cast<std::int64_t>(e->size()));
        for (std::size_t i = 0; i < e->size(); ++i) FUZZ_CHECK(batch.input_ids[i] == e->ids[i]);
      }
    }
    return 0;
  }
  auto e = tok.Encode(text, max_length, special);
  auto tokens = tok.Tokenize(text);
  // Truncation stops reading at the cut, so with max_length > 0 invalid UTF-8 past the cut is
  // not seen; otherwise encoding and tokenizing accept and reject the same texts.
  if (tokens.ok()) FUZZ_CHECK(e.ok() || (max_length > 0 && max_length < 2 && special));
  if (e.ok() && max_length == 0) FUZZ_CHECK(tokens.ok());
  if (!e.ok()) return 0;
  CheckEncoding(tok, *e, max_length, special);
  if (max_length == 0) {
    FUZZ_CHECK(e->size() == tokens->size() + (special ? 2 : 0));
    for (std::size_t i = 0; i < tokens->size(); ++i) {
      FUZZ_CHECK(tok.TokenToId((*tokens)[i]) == e->ids[i + (special ? 1 : 0)]);
    }
  }
  densefb::BatchEncoding batch;
  const std::vector<absl::string_view> texts = {text, "hello world", text};
  densefb::BatchOptions options;
  options.max_length = max_length;
  options.add_special_tokens = special;
  options.pad_to_multiple_of = 8;
  FUZZ_CHECK(tok.EncodeBatch(texts, options, &batch).ok());
  FUZZ_CHECK(batch.rows == 3 && batch.cols % 8 == 0);
  FUZZ_CHECK(batch.lengths[0] == static_cast<std::int64_t>(e->size()));
  for (std::size_t i = 0; i < e->size(); ++i) {
    FUZZ_CHECK(batch.input_ids[i] == e->ids[i]);
    FUZZ_CHECK(batch.input_ids[2 * batch.cols + i] == e->ids[i]);
    FUZZ_CHECK(batch.attention_mask[i] == 1);
  }
  for (std::int64_t j = static_cast<std::int64_t>(e->size()); j < batch.cols; ++j) {
    FUZZ_CHECK(batch.attention_mask[j] == 0);
  }
  return 0;
}
