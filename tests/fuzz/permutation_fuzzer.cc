// Fuzzes the LLM answer parsers (densefb/llm_rerankers.h). The first byte is the window size
// n (0-40), the rest a model's answer. ParsePermutation must return a permutation of 0..n-1
// whatever the answer; its repair counts must add up (every id it kept, plus the missing ones
// appended, is n); a clean answer written back as "[a] > [b] > ..." parses to itself with no
// repair. ParseLabel and ParseGrade stay in range.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/llm_rerankers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int n = data[0] % 41;
  const std::string answer(reinterpret_cast<const char*>(data + 1), size - 1);

  densefb::PermutationRepairs repairs;
  const std::vector<int> perm = densefb::ParsePermutation(answer, n, &repairs);
  FUZZ_CHECK(static_cast<int>(perm.size()) == n);
  std::vector<int> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < n; ++i) FUZZ_CHECK(sorted[i] == i);
  FUZZ_CHECK(repairs.duplicates >= 0 && repairs.missing >= 0 && repairs.out_of_range >= 0);
  FUZZ_CHECK(repairs.missing <= n);
  if (repairs.unparseable) {
    for (int i = 0; i < n; ++i) FUZZ_CHECK(perm[i] == i);
    FUZZ_CHECK(repairs.duplicates == 0 && repairs.missing == 0 && repairs.out_of_range == 0);
  }

  // The permutation written back is a clean answer that reads back as itself.
  std::string clean;
  for (int i = 0; i < n; ++i) absl::StrAppend(&clean, i ? " > " : "", "[", perm[i] + 1, "]");
  densefb::PermutationRepairs again;
  FUZZ_CHECK(densefb::ParsePermutation(clean, n, &again) == perm);
  FUZZ_CHECK(n == 0 || (!again.unparseable && again.duplicates == 0 && again.missing == 0 && again.out_of_range == 0));

  const std::vector<std::string> labels = {"A", "B", "C", "D"};
  const int label = densefb::ParseLabel(answer, labels);
  FUZZ_CHECK(label >= -1 && label < 4);
  const int grade = densefb::ParseGrade(answer);
  FUZZ_CHECK(grade >= -1 && grade <= 3);
  return 0;
}
