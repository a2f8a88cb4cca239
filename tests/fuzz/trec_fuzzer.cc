// Fuzzes the TREC run and qrels readers and the BEIR qrels reader on the same bytes. Whatever
// loads holds only valid ids (ValidateId) and must survive a write / read round trip unchanged
// (runs bit for bit, tag included; BEIR qrels through the TREC qrels writer), also behind a
// BOM; evaluating a run against qrels that load must give finite measures (in [0, 1] but for
// nDCG with negative grades) or a clean error.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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

bool SameQrels(const densefb::Qrels& a, const densefb::Qrels& b) {
  if (a.query_ids() != b.query_ids()) return false;
  for (std::size_t q = 0; q < a.num_queries(); ++q) {
    if (a.judgments(q).size() != b.judgments(q).size()) return false;
    for (std::size_t j = 0; j < a.judgments(q).size(); ++j) {
      if (a.judgments(q)[j].doc_id != b.judgments(q)[j].doc_id) return false;
      if (a.judgments(q)[j].grade != b.judgments(q)[j].grade) return false;
    }
  }
  return true;
}

void CheckQrelsRoundTrip(const densefb::Qrels& qrels) {
  for (std::size_t q = 0; q < qrels.num_queries(); ++q) {
    FUZZ_CHECK(densefb::ValidateId(qrels.query_ids()[q], "query id").ok());
    for (const auto& j : qrels.judgments(q)) FUZZ_CHECK(densefb::ValidateId(j.doc_id, "document id").ok());
  }
  const std::string out = densefb_fuzz::ScratchDir() + "/out.qrels";
  FUZZ_CHECK(densefb::WriteTrecQrels(out, qrels).ok());
  auto again = densefb::ReadTrecQrels(out);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(SameQrels(qrels, *again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using densefb_fuzz::CheckNamesFile;
  const bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  const std::string path = densefb_fuzz::WriteInput(gz ? "in.txt.gz" : "in.txt", data, size);

  auto run = densefb::ReadTrecRun(path);
  CheckNamesFile(run.status(), path);
  if (run.ok()) {
    FUZZ_CHECK(densefb::ValidateId(run->name, "run tag").ok());
    for (std::size_t q = 0; q < run->num_queries(); ++q) {
      FUZZ_CHECK(densefb::ValidateId(run->query_ids()[q], "query id").ok());
      for (const auto& e : run->list(q)) FUZZ_CHECK(densefb::ValidateId(e.doc_id, "document id").ok());
    }
    const std::string out = densefb_fuzz::ScratchDir() + "/out.run";
    FUZZ_CHECK(densefb::WriteTrecRun(out, *run).ok());
    auto again = densefb::ReadTrecRun(out);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->query_ids() == run->query_ids());
    FUZZ_CHECK(again->name == run->name);
    for (std::size_t q = 0; q < run->num_queries(); ++q) {
      const auto a = Sorted(run->list(q));
      const auto b = Sorted(again->list(q));
      FUZZ_CHECK(a.size() == b.size());
      for (std::size_t i = 0; i < a.size(); ++i) {
        FUZZ_CHECK(a[i].doc_id == b[i].doc_id);
        FUZZ_CHECK(std::memcmp(&a[i].score, &b[i].score, sizeof(double)) == 0);  // bits: -0, inf
      }
    }
  }
  auto qrels = densefb::ReadTrecQrels(path);
  CheckNamesFile(qrels.status(), path);
  if (qrels.ok()) CheckQrelsRoundTrip(*qrels);
  auto beir_qrels = densefb::ReadBeirQrels(path);
  CheckNamesFile(beir_qrels.status(), path);
  if (beir_qrels.ok()) CheckQrelsRoundTrip(*beir_qrels);
  // The same bytes behind a BOM read the same (a BOM was kept in the first id).
  const bool has_bom = size >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF;
  if (!gz && !has_bom) {
    const std::string bom = "\xEF\xBB\xBF" + std::string(reinterpret_cast<const char*>(data), size);
    const std::string with_bom = densefb_fuzz::WriteInput(
        "bom.txt", reinterpret_cast<const std::uint8_t*>(bom.data()), bom.size());
    auto run_bom = densefb::ReadTrecRun(with_bom);
    FUZZ_CHECK(run_bom.ok() == run.ok());
    if (run.ok()) FUZZ_CHECK(run_bom->query_ids() == run->query_ids());
    auto qrels_bom = densefb::ReadTrecQrels(with_bom);
    FUZZ_CHECK(qrels_bom.ok() == qrels.ok());
    if (qrels.ok()) FUZZ_CHECK(SameQrels(*qrels, *qrels_bom));
  }
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
