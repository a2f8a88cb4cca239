// Fuzzes the tokenizer file loaders. Byte 0 picks the file the rest of the input becomes:
//   0: tokenizer.json (alone in a folder, loaded with FromDirectory)
//   1: vocab.txt (FromVocabFile with the default options)
//   2: tokenizer_config.json beside a fixed vocab.txt (FromDirectory)
//   3: special_tokens_map.json beside a fixed vocab.txt and tokenizer_config.json
// A tokenizer that loads must encode a few fixed texts into ids it owns.
#include <cstdint>
#include <filesystem>
#include <string>

#include "densefb/tokenizer.h"
#include "fuzz_util.h"

namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& text) {
  densefb_fuzz::WriteInput(fs::path(path).filename().string(),
                           reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

void Exercise(const densefb::WordPieceTokenizer& tok) {
  for (const char* text : {"Hello, world! [MASK] unaffable running", "中国 café ß ﬁ", ""}) {
    auto e = tok.Encode(text, 0, true);
    FUZZ_CHECK(e.ok());
    for (std::int64_t id : e->ids) FUZZ_CHECK(id >= 0 && id < tok.num_ids());
    // Truncation fails only when the special tokens alone exceed max_length.
    auto truncated = tok.Encode(text, 5, true);
    FUZZ_CHECK(truncated.ok() ? truncated->size() <= 5 : tok.num_special_tokens(false) > 5);
    auto pair = tok.EncodePair(text, "world", 6, true);
    FUZZ_CHECK(pair.ok() ? pair->size() <= 6 : tok.num_special_tokens(true) > 6);
  }
  FUZZ_CHECK(tok.cls_id() >= 0 && tok.cls_id() < tok.num_ids());
  FUZZ_CHECK(tok.sep_id() >= 0 && tok.sep_id() < tok.num_ids());
  FUZZ_CHECK(tok.unk_id() >= 0 && tok.unk_id() < tok.num_ids());
  for (std::int64_t id = 0; id < tok.num_ids() && id < 64; ++id) (void)tok.IdToToken(id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const int mode = data[0] % 4;
  const std::string dir = densefb_fuzz::ScratchDir();
  std::error_code ec;
  for (const char* f : {"tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"}) {
    fs::remove(fs::path(dir) / f, ec);
  }
  static const char kVocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n,\n!\nun\n##aff\n##able\n";
  static const char kConfig[] = R"({"do_lower_case": true, "model_max_length": 512})";
  static const char* kNames[] = {"tokenizer.json", "vocab.txt", "tokenizer_config.json",
                                 "special_tokens_map.json"};
  if (mode >= 2) Write(dir + "/vocab.txt", kVocab);
  if (mode == 3) Write(dir + "/tokenizer_config.json", kConfig);
  const std::string path = densefb_fuzz::WriteInput(kNames[mode], data + 1, size - 1);

  absl::StatusOr<densefb::WordPieceTokenizer> tok =
      mode == 1 ? densefb::WordPieceTokenizer::FromVocabFile(path, {})
                : densefb::WordPieceTokenizer::FromDirectory(dir);
  if (!tok.ok()) {
    // The message names a file of the folder (the fuzzed one, or a fixed one it contradicts).
    densefb_fuzz::CheckNamesFile(tok.status(), mode == 1 ? path : dir);
    return 0;
  }
  Exercise(*tok);
  return 0;
}
