// Fuzzes the TREC run and qrels readers and the BEIR qrels reader on the same bytes; a run that
// loads must survive a write / read round trip unchanged, and evaluating it against qrels that
// load must give finite measures (in [0, 1] but for nDCG with negative grades) or a clean error.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "densefb/data.h"
#include "densefb/eval.h"
#include "fuzz_util.h"

namespace {

std::vector<densefb::Run::Entry> Sorted(std::vector<densefb::Run::Entry> list) {
  std::sort(list.begin(), list.end(),
            [](const densefb::Run::Entry& a, const densefb::Run::Entry& b) { return a.doc_id < b.doc_id; });
  return list;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using densefb_fuzz::CheckNamesFile;
  const bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  const std::string path = densefb_fuzz::WriteInput(gz ? "in.txt.gz" : "in.txt", data, size);

  auto run = densefb::ReadTrecRun(path);
  CheckNamesFile(run.status(), path);
  if (run.ok()) {
    const std::string out = densefb_fuzz::ScratchDir() + "/out.run";
    FUZZ_CHECK(densefb::WriteTrecRun(out, *run).ok());
    auto again = densefb::ReadTrecRun(out);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->query_ids() == run->query_ids());
    for (std::size_t q = 0; q < run->num_queries(); ++q) {
      const auto a = Sorted(run->list(q));
      const auto b = Sorted(again->list(q));
      FUZZ_CHECK(a.size() == b.size());
      for (std::size_t i = 0; i < a.size(); ++i) {
        FUZZ_CHECK(a[i].doc_id == b[i].doc_id);
        FUZZ_CHECK(a[i].score == b[i].score);  // exact, infinities included
      }
    }
  }
  auto qrels = densefb::ReadTrecQrels(path);
  CheckNamesFile(qrels.status(), path);
  auto beir_qrels = densefb::ReadBeirQrels(path);
  CheckNamesFile(beir_qrels.status(), path);
  if (run.ok() && qrels.ok()) {
    const std::vector<std::string> measures = {"nDCG@10", "AP", "RR", "P@5", "R@100", "Judged@10"};
    auto result = densefb::Evaluate(*run, *qrels, measures);
    if (result.ok()) {
      for (const auto& row : result->per_query) {
        for (std::size_t m = 0; m < row.size(); ++m) {
          FUZZ_CHECK(std::isfinite(row[m]));
          // nDCG (m = 0) may leave [0, 1] with negative grades; the others may not.
          if (m > 0) FUZZ_CHECK(row[m] >= 0 && row[m] <= 1 + 1e-9);
        }
      }
    }
  }
  return 0;
}
