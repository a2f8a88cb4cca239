// Fuzzes the pipeline spec grammar (include/densefb/pipeline.h). A spec that parses prints back
// canonically, and the canonical form parses to the same canonical form; a spec that does not
// parse is an InvalidArgument whose message names a column and is valid UTF-8 (Python decodes
// it). Parsing is linear and its recursion bounded by kMaxSpecNesting: libFuzzer's -timeout and
// ASan's stack checks catch an exponential case or a stack overflow.
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "densefb/pipeline.h"
#include "fuzz_util.h"

namespace {

bool IsUtf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

void Check(const std::string& spec, bool fragment) {
  auto parse = [fragment](const std::string& s) {
    return fragment ? densefb::Pipeline::ParseFragment(s) : densefb::Pipeline::Parse(s);
  };
  const absl::StatusOr<densefb::Pipeline> p = parse(spec);
  if (!p.ok()) {
    FUZZ_CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string message(p.status().message());
    FUZZ_CHECK(absl::StartsWith(message, "pipeline spec column "));
    FUZZ_CHECK(IsUtf8(message));
    return;
  }
  const std::string canonical = p->ToString();
  FUZZ_CHECK(IsUtf8(canonical));
  const absl::StatusOr<densefb::Pipeline> again = parse(canonical);
  if (!again.ok()) {
    std::fprintf(stderr, "canonical spec does not parse: %s\n  %s\n", canonical.c_str(),
                 std::string(again.status().message()).c_str());
  }
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->ToString() == canonical);
  FUZZ_CHECK(again->Requires() == p->Requires());
  // Planning and printing walk the whole tree: bounded, like the parse.
  FUZZ_CHECK(IsUtf8(p->Explain()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 1 << 16) return 0;
  const std::string spec(reinterpret_cast<const char*>(data), size);
  Check(spec, /*fragment=*/true);
  Check(spec, /*fragment=*/false);
  return 0;
}
