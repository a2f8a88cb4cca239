// Fuzzes the topics TSV reader ("qid<TAB>text" a line): errors name the file; topics that load
// have valid, distinct ids and one-line UTF-8 texts; the same file behind a BOM, or written
// back line by line, loads to the same topics.
#include <cstdint>
#include <string>

#include "densefb/data.h"
#include "fuzz_util.h"

namespace {

bool SameTopics(const densefb::Queries& a, const densefb::Queries& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].text != b[i].text) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using densefb_fuzz::CheckNamesFile;
  const bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  const std::string path = densefb_fuzz::WriteInput(gz ? "in.tsv.gz" : "in.tsv", data, size);
  auto topics = densefb::ReadTopicsTsv(path);
  CheckNamesFile(topics.status(), path);
  if (!topics.ok()) return 0;
  FUZZ_CHECK(topics->size() > 0);
  std::string written;
  for (std::size_t i = 0; i < topics->size(); ++i) {
    const densefb::Query& q = (*topics)[i];
    FUZZ_CHECK(densefb::ValidateId(q.id, "query id").ok());
    FUZZ_CHECK(topics->ids().Find(q.id) == static_cast<std::int32_t>(i));
    FUZZ_CHECK(q.text.find('\n') == std::string::npos);
    FUZZ_CHECK(densefb::FindInvalidUtf8(q.text) == absl::string_view::npos);
    // A text ending in "\r" would lose it to the line reader: what we write must read back.
    if (q.text.empty() || q.text.back() != '\r') written += q.id + "\t" + q.text + "\n";
    else written += q.id + "\t" + q.text + "\r\n";
  }
  const std::string out = densefb_fuzz::ScratchDir() + "/out.tsv";
  densefb_fuzz::WriteInput("out.tsv", reinterpret_cast<const std::uint8_t*>(written.data()), written.size());
  auto again = densefb::ReadTopicsTsv(out);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(SameTopics(*topics, *again));
  if (!gz && !(size >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF)) {
    const std::string bom = "\xEF\xBB\xBF" + std::string(reinterpret_cast<const char*>(data), size);
    const std::string with_bom = densefb_fuzz::WriteInput(
        "bom.tsv", reinterpret_cast<const std::uint8_t*>(bom.data()), bom.size());
    auto behind_bom = densefb::ReadTopicsTsv(with_bom);
    FUZZ_CHECK(behind_bom.ok());
    FUZZ_CHECK(SameTopics(*topics, *behind_bom));
  }
  return 0;
}
