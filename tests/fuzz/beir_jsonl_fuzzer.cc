// Fuzzes the BEIR readers: the same bytes as corpus.jsonl and as queries.jsonl (as .jsonl.gz when
// they start with the gzip magic, so the decompressor path is fuzzed too). Every id that loads
// passes ValidateId.
#include <cstdint>
#include <string>

#include "densefb/data.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using densefb_fuzz::CheckNamesFile;
  const bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  const std::string path = densefb_fuzz::WriteInput(gz ? "in.jsonl.gz" : "in.jsonl", data, size);

  auto corpus = densefb::ReadBeirCorpus(path);
  CheckNamesFile(corpus.status(), path);
  if (corpus.ok()) {
    FUZZ_CHECK(corpus->size() > 0);
    FUZZ_CHECK(corpus->ids().size() == corpus->size());
    for (std::size_t i = 0; i < corpus->size(); ++i) {
      FUZZ_CHECK(corpus->ids().Find((*corpus)[i].id) == static_cast<std::int32_t>(i));
      FUZZ_CHECK(densefb::ValidateId((*corpus)[i].id, "document id").ok());
      const std::string full = corpus->FullText(i);
      FUZZ_CHECK(full.size() >= (*corpus)[i].text.size());
    }
  }
  auto queries = densefb::ReadBeirQueries(path);
  CheckNamesFile(queries.status(), path);
  if (queries.ok()) {
    FUZZ_CHECK(queries->ids().size() == queries->size());
    for (std::size_t i = 0; i < queries->size(); ++i) {
      FUZZ_CHECK(queries->ids().Find((*queries)[i].id) == static_cast<std::int32_t>(i));
      FUZZ_CHECK(densefb::ValidateId((*queries)[i].id, "query id").ok());
    }
  }
  return 0;
}
