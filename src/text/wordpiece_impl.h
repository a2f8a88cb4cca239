// Internal: the state of a WordPieceTokenizer (vocabulary, normalizer tables, added tokens,
// post-processor templates), shared by wordpiece.cc (encoding) and tokenizer_files.cc
// (building it from the files of a model).
#ifndef DENSEFB_SRC_TEXT_WORDPIECE_IMPL_H_
#define DENSEFB_SRC_TEXT_WORDPIECE_IMPL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "densefb/tokenizer.h"
#include "text/added_tokens.h"
#include "text/bert_normalizer.h"

namespace densefb {
namespace text_internal {

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

}  // namespace text_internal

struct WordPieceTokenizer::Impl {
  using CharTable = text_internal::CharTable;
  using Scratch = text_internal::Scratch;
  using TemplateItem = text_internal::TemplateItem;
  using TokenMatcher = text_internal::TokenMatcher;

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

  void SetVocab(absl::flat_hash_map<std::string, std::int64_t> v);

  void SetTables();

  // After vocab, options and added tokens are set: the matchers and id table.
  absl::Status SetAddedTokens(std::vector<AddedToken> tokens);

  std::int64_t Lookup(absl::string_view token) const;

  // ---- normalization (materialised; used for Normalize() and normalized added tokens) ----

  absl::Status NormalizeInto(absl::string_view text, std::string* out) const;

  // ---- fused normalization + pre-tokenization ----

  // Reorders the current word's combining marks (rare: only words with a surviving mark).
  void ReorderWord(Scratch& s) const;

  // Splits `seg` into the words WordPiece sees, calling on_word(word, n_chars) for each;
  // on_word returns false to stop. Returns false if stopped early.
  template <typename OnWord>
  absl::StatusOr<bool> SplitWords(absl::string_view seg, const CharTable& tab, Scratch& s,
                                  OnWord&& on_word) const;

  // ---- WordPiece ----

  void WordPiece(absl::string_view word, std::int64_t n_chars,
                 std::vector<std::int64_t>* out) const;

  // ---- one sequence: added tokens, normalization, pre-tokenization, WordPiece ----

  // Pieces of already-normalized text left between normalized added tokens.
  absl::Status TokenizeNormalizedPiece(absl::string_view piece, Scratch& s,
                                       std::vector<std::int64_t>* out, std::size_t limit) const;

  absl::Status TokenizeRawPiece(absl::string_view piece, Scratch& s,
                                std::vector<std::int64_t>* out, std::size_t limit) const;

  // Token ids of `text` (no special tokens), at most `limit` of them (the first ones).
  absl::Status TokenizeText(absl::string_view text, Scratch& s, std::vector<std::int64_t>* out,
                            std::size_t limit) const;

  // ---- templates and truncation ----

  absl::Status CheckMaxLength(std::int64_t max_length, bool is_pair, bool add_special) const;

  // Encodes one row (b == nullptr: single sequence) into ids / type_ids (cleared first).
  absl::Status EncodeRow(absl::string_view a, const absl::string_view* b,
                         std::int64_t max_length, bool add_special, Scratch& s,
                         std::vector<std::int64_t>* ids, std::vector<std::int64_t>* types) const;

  absl::Status EncodeBatch(std::size_t rows, const absl::string_view* first,
                           const absl::string_view* second, const BatchOptions& options_,
                           BatchEncoding* out) const;
};

}  // namespace densefb

#endif  // DENSEFB_SRC_TEXT_WORDPIECE_IMPL_H_
