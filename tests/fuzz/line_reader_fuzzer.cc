// Fuzzes the one line reader behind every text format against a reference written here: a BOM
// at the start of the file is skipped, lines end at "\n" (one "\r" before it dropped, as at the
// end of the file), and the first line that is not well-formed UTF-8 is an error naming the
// file and that line. Gzip inputs (by their magic) are checked for clean errors and UTF-8 only.
#include <cstdint>
#include <string>
#include <vector>

#include "data/line_reader.h"
#include "densefb/data.h"
#include "fuzz_util.h"

namespace {

// The lines of `text` as the reader must return them.
std::vector<std::string> ReferenceLines(std::string text) {
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    const std::size_t stop = nl == std::string::npos ? text.size() : nl;
    std::string line = text.substr(pos, stop - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  const std::string path = densefb_fuzz::WriteInput(gz ? "in.txt.gz" : "in.txt", data, size);
  auto reader = densefb::LineReader::Open(path);
  FUZZ_CHECK(reader.ok());
  std::vector<std::string> lines;
  absl::Status error;
  std::string line;
  while (true) {
    auto more = (*reader)->Next(&line);
    if (!more.ok()) {
      error = more.status();
      break;
    }
    if (!*more) break;
    FUZZ_CHECK(line.find('\n') == std::string::npos);
    FUZZ_CHECK(densefb::FindInvalidUtf8(line) == absl::string_view::npos);
    FUZZ_CHECK((*reader)->line_number() == static_cast<std::int64_t>(lines.size()) + 1);
    lines.push_back(line);
  }
  densefb_fuzz::CheckNamesFile(error, path);
  if (gz) return 0;

  const std::vector<std::string> want =
      ReferenceLines(std::string(reinterpret_cast<const char*>(data), size));
  std::size_t bad = want.size();
  for (std::size_t i = 0; i < want.size() && bad == want.size(); ++i) {
    if (densefb::FindInvalidUtf8(want[i]) != absl::string_view::npos) bad = i;
  }
  if (bad == want.size()) {
    FUZZ_CHECK(error.ok());
    FUZZ_CHECK(lines == want);
  } else {
    FUZZ_CHECK(!error.ok());
    FUZZ_CHECK(lines.size() == bad);
    for (std::size_t i = 0; i < bad; ++i) FUZZ_CHECK(lines[i] == want[i]);
    const std::string where = path + " line " + std::to_string(bad + 1) + ": not UTF-8";
    FUZZ_CHECK(std::string(error.message()).find(where) != std::string::npos);
  }
  return 0;
}
