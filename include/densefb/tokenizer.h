// BERT WordPiece tokenizer giving exactly the input ids, attention masks and token type ids of
// Hugging Face `tokenizers` (BertTokenizerFast) for the BERT family of models: BertNormalizer,
// BertPreTokenizer, the WordPiece model, added/special tokens, TemplateProcessing or
// BertProcessing, and `longest_first` truncation. No torch here: the encoders consume the padded
// int64 matrices of EncodeBatch / EncodeBatchPairs.
//
// Unicode character classes follow the tables that `tokenizers` 0.23 uses (which are older or
// newer than utf8proc's in a few hundred code points); the Python tests compare every code point.
//
//   DENSEFB_ASSIGN_OR_RETURN(auto tok, WordPieceTokenizer::FromDirectory(model_dir));
//   BatchEncoding batch;
//   DENSEFB_RETURN_IF_ERROR(tok.EncodeBatch(texts, {/*max_length=*/256}, &batch));
//   // batch.input_ids / attention_mask / token_type_ids: rows x cols, row-major
#ifndef DENSEFB_TOKENIZER_H_
#define DENSEFB_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "densefb/status.h"

namespace densefb {

// Settings of a BERT WordPiece tokenizer; the loaders fill them from tokenizer.json or from
// vocab.txt + tokenizer_config.json.
struct WordPieceOptions {
  // BertNormalizer.
  bool clean_text = true;            // drop NUL, U+FFFD and control chars; whitespace -> ' '
  bool handle_chinese_chars = true;  // CJK ideographs become words of their own
  std::optional<bool> strip_accents;  // NFD then drop nonspacing marks; unset: = lowercase
  bool lowercase = true;
  // WordPiece model.
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  std::int64_t max_input_chars_per_word = 100;  // longer words become unk_token
  // Roles of special tokens (looked up in the vocabulary).
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string mask_token = "[MASK]";
  // Maximum sequence length of the model (tokenizer_config.json's model_max_length);
  // 0 if unknown.
  std::int64_t model_max_length = 0;

  bool effective_strip_accents() const { return strip_accents.value_or(lowercase); }
};

// A token matched in the raw (or normalized) text before WordPiece, as `tokenizers`'
// AddedVocabulary does: special tokens such as "[MASK]" typed literally in a text.
struct AddedToken {
  std::string content;
  std::int64_t id = -1;
  bool special = true;
  bool normalized = false;  // matched in the normalized text instead of the raw text
  bool lstrip = false;      // the match swallows whitespace on its left
  bool rstrip = false;      // ... and on its right
};

// One sequence encoded: ids, token type ids (attention mask is all ones).
struct Encoding {
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> type_ids;
  std::size_t size() const { return ids.size(); }
};

// Row-major (rows x cols) int64 matrices padded on the right to the longest row.
struct BatchEncoding {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<std::int64_t> input_ids;       // pad_id() beyond each row's length
  std::vector<std::int64_t> attention_mask;  // 1 for tokens, 0 for padding
  std::vector<std::int64_t> token_type_ids;  // 0 for padding
  std::vector<std::int64_t> lengths;         // tokens of each row (before padding)
};

struct BatchOptions {
  // Total length including special tokens; 0: no truncation. Must be at least the number of
  // special tokens the template adds (2 for one BERT sequence, 3 for a pair).
  std::int64_t max_length = 0;
  bool add_special_tokens = true;
  // Pad the column count up to a multiple of this (0 or 1: no rounding).
  std::int64_t pad_to_multiple_of = 0;
  // Worker threads for a batch (0: all cores). Rows are independent; results do not depend
  // on the count.
  int num_threads = 1;
};

class WordPieceTokenizer {
 public:
  // A Hugging Face tokenizer folder: tokenizer.json when present (its normalizer,
  // pre-tokenizer, model, added tokens and post-processor; tokenizer_config.json beside it
  // supplies model_max_length and the names of the special tokens, and must not contradict
  // the normalizer), else vocab.txt + tokenizer_config.json (do_lower_case, strip_accents,
  // tokenize_chinese_chars, special tokens, model_max_length) as transformers' BertTokenizer
  // builds it. special_tokens_map.json, when present, renames special tokens. tokenizer.json's
  // own truncation and padding sections are ignored (as transformers does). Errors: NotFound for
  // a missing folder or a folder without either file; InvalidArgument for malformed JSON, an
  // empty vocabulary or missing [UNK]/[CLS]/[SEP]; Unimplemented for a tokenizer this class
  // cannot reproduce exactly (BPE/Unigram model, other normalizers or pre-tokenizers, ...).
  static absl::StatusOr<WordPieceTokenizer> FromDirectory(const std::string& dir);
  // tokenizer.json alone (with an optional tokenizer_config.json path; "" for none).
  static absl::StatusOr<WordPieceTokenizer> FromTokenizerJson(
      const std::string& path, const std::string& tokenizer_config_path = "");
  // A vocab.txt (one token a line, id = line number) with explicit options; the special
  // tokens of `options` become added tokens and the post-processor is BERT's
  // [CLS] A [SEP] (B [SEP]).
  static absl::StatusOr<WordPieceTokenizer> FromVocabFile(const std::string& vocab_path,
                                                          const WordPieceOptions& options);
  // The same from an in-memory vocabulary (token i has id i).
  static absl::StatusOr<WordPieceTokenizer> FromVocab(std::vector<std::string> vocab,
                                                      const WordPieceOptions& options);

  WordPieceTokenizer(WordPieceTokenizer&&) noexcept;
  WordPieceTokenizer& operator=(WordPieceTokenizer&&) noexcept;
  ~WordPieceTokenizer();

  // [CLS] text [SEP] (with add_special_tokens), truncated to max_length tokens in all
  // (0: no truncation). InvalidArgument for invalid UTF-8 or a max_length below the number
  // of special tokens.
  absl::StatusOr<Encoding> Encode(absl::string_view text, std::int64_t max_length = 0,
                                  bool add_special_tokens = true) const;
  // [CLS] a [SEP] b [SEP] with token type ids 0 for a's part and 1 for b's, truncated with
  // `tokenizers`' longest_first strategy.
  absl::StatusOr<Encoding> EncodePair(absl::string_view a, absl::string_view b,
                                      std::int64_t max_length = 0,
                                      bool add_special_tokens = true) const;
  // Encodes each text into row i of `out` (its buffers are reused across calls).
  absl::Status EncodeBatch(absl::Span<const absl::string_view> texts,
                           const BatchOptions& options, BatchEncoding* out) const;
  // Row i encodes the pair (first[i], second[i]); the spans must have equal sizes.
  absl::Status EncodeBatchPairs(absl::Span<const absl::string_view> first,
                                absl::Span<const absl::string_view> second,
                                const BatchOptions& options, BatchEncoding* out) const;

  // The token strings of `text` without special tokens (transformers' tokenize()).
  absl::StatusOr<std::vector<std::string>> Tokenize(absl::string_view text) const;
  // BertNormalizer's output for `text` (no added-token matching).
  absl::StatusOr<std::string> Normalize(absl::string_view text) const;
  // Normalization then BertPreTokenizer: the words WordPiece sees (no added-token matching).
  absl::StatusOr<std::vector<std::string>> PreTokenize(absl::string_view text) const;

  // Id of a token (added tokens first, then the vocabulary), or -1.
  std::int64_t TokenToId(absl::string_view token) const;
  // The token of an id; OutOfRange if no token has it.
  absl::StatusOr<std::string> IdToToken(std::int64_t id) const;

  // Size of the WordPiece vocabulary (transformers' vocab_size).
  std::int64_t vocab_size() const;
  // One more than the largest id, added tokens included (transformers' len(tokenizer)).
  std::int64_t num_ids() const;
  std::int64_t model_max_length() const;  // 0 if unknown
  std::int64_t cls_id() const;
  std::int64_t sep_id() const;
  std::int64_t pad_id() const;   // -1 if the vocabulary has no pad token (padding then uses 0)
  std::int64_t mask_id() const;  // -1 if absent
  std::int64_t unk_id() const;
  // Special tokens added around one sequence (is_pair = false) or a pair.
  std::int64_t num_special_tokens(bool is_pair) const;
  // One more than the largest token type id the post-processor assigns (single or pair).
  std::int64_t num_type_ids() const;
  const WordPieceOptions& options() const;
  const std::vector<AddedToken>& added_tokens() const;

  struct Impl;  // private: src/text/wordpiece_impl.h

 private:
  explicit WordPieceTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace densefb

#endif  // DENSEFB_TOKENIZER_H_
