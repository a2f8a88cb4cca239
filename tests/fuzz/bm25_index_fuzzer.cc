// Fuzzes Bm25Index::Load (see WriteIndexInput for the input layout). An index that loads must
// answer BM25 and RM3 searches over its own terms with valid document ids and finite scores,
// expose consistent forward and inverted lists, and save / load again; then take live updates
// (delete, add, update, compact), never return a deleted document, and save its live documents
// so that the reloaded file scores them identically.
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/bm25.h"
#include "densefb/feedback.h"
#include "densefb/pipeline.h"
#include "densefb/retrievers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = densefb_fuzz::WriteIndexInput("in.bm25", "BM25", data, size);
  auto index = densefb::Bm25Index::Load(path);
  if (!index.ok()) {
    densefb_fuzz::CheckNamesFile(index.status(), path);
    return 0;
  }
  const densefb::Bm25Index& x = **index;
  FUZZ_CHECK(static_cast<std::int64_t>(x.doc_names().size()) == x.num_docs());
  std::int64_t postings = 0;
  for (std::int32_t t = 0; t < x.num_terms(); ++t) {
    FUZZ_CHECK(x.TermId(x.Term(t)) == t);
    FUZZ_CHECK(std::isfinite(x.Idf(t)));
    const auto docs = x.PostingDocs(t);
    FUZZ_CHECK(static_cast<std::int64_t>(docs.size()) == x.DocFreq(t));
    for (std::int32_t d : docs) FUZZ_CHECK(d >= 0 && d < x.num_docs());
    postings += static_cast<std::int64_t>(docs.size());
  }
  FUZZ_CHECK(postings == x.num_postings());
  std::int64_t forward = 0;
  for (std::int64_t d = 0; d < x.num_docs(); ++d) forward += static_cast<std::int64_t>(x.DocTerms(d).size());
  FUZZ_CHECK(forward == x.num_postings());

  // Queries made of the index's own terms (analysed again, so some may not match).
  std::vector<std::string> queries = {"", "the of and"};
  std::string q;
  for (std::int32_t t = 0; t < x.num_terms() && t < 6; ++t) absl::StrAppend(&q, x.Term(t), " ");
  queries.push_back(q);
  densefb::WeightedQuery weighted;
  for (std::int32_t t = 0; t < x.num_terms() && t < 6; ++t) weighted.emplace_back(x.Term(t), 1.0f + t);
  // BM25 + RM3: the pipeline bm25 >> rm3 >> bm25 over the loaded index.
  const std::shared_ptr<const densefb::Bm25Index> shared(&x, [](const densefb::Bm25Index*) {});
  const densefb::Pipeline rm3 = std::make_shared<densefb::Bm25Retriever>(shared) >>
                                std::make_shared<densefb::Rm3>(shared) >>
                                std::make_shared<densefb::Bm25Retriever>(shared, densefb::Bm25Retriever::Config{5, -1, -1});
  densefb::QueryState state;
  for (std::size_t i = 0; i < queries.size(); ++i) state.query_ids.push_back(absl::StrCat("q", i));
  state.query_texts = queries;
  state.options.num_threads = 1;
  for (const auto& ranking : {x.Search(queries, 5, 1), rm3.Run(state),
                              x.SearchWeighted({weighted}, 5, 1)}) {
    FUZZ_CHECK(ranking.ok());
    for (const auto& list : ranking->lists) {
      FUZZ_CHECK(list.size() <= 5);
      for (const auto& e : list) {
        FUZZ_CHECK(e.id >= 0 && e.id < x.num_docs());
        FUZZ_CHECK(std::isfinite(e.score));
      }
    }
  }
  const std::string again = densefb_fuzz::ScratchDir() + "/again.bm25";
  FUZZ_CHECK(x.Save(again).ok());
  auto reloaded = densefb::Bm25Index::Load(again);
  FUZZ_CHECK(reloaded.ok() && (*reloaded)->num_postings() == x.num_postings());

  // Live updates on the loaded index. Names may repeat in a file: changes by name then fail
  // (FailedPrecondition) and change nothing; by id they work.
  densefb::Bm25Index& live = **index;
  const std::int64_t n = live.num_docs();
  if (n > 0) FUZZ_CHECK(live.DeleteIds(std::vector<std::int64_t>{n / 2}).ok());
  if (n > 0) FUZZ_CHECK(live.IsDeleted(n / 2) && live.num_deleted() == 1);
  const absl::Status added = live.Add({"fuzz-new-1", "fuzz-new-2"}, {q, queries[1] + " " + q});
  const bool by_name = added.ok();
  if (by_name) {
    FUZZ_CHECK(live.Update({"fuzz-new-1"}, {"fuzz " + q}).ok());
    FUZZ_CHECK(live.Delete({"fuzz-new-2"}).ok());
  } else {
    FUZZ_CHECK(added.code() == absl::StatusCode::kFailedPrecondition || added.code() == absl::StatusCode::kAlreadyExists);
  }
  FUZZ_CHECK(live.num_docs() + live.num_deleted() == live.num_ids());
  const auto live_ranking = live.Search(queries, 1000, 1);
  FUZZ_CHECK(live_ranking.ok());
  for (const auto& list : live_ranking->lists) {
    for (const auto& e : list) FUZZ_CHECK(e.id >= 0 && e.id < live.num_ids() && !live.IsDeleted(e.id));
  }
  const std::string after = densefb_fuzz::ScratchDir() + "/after.bm25";
  FUZZ_CHECK(live.Save(after).ok());
  auto compacted = densefb::Bm25Index::Load(after);
  FUZZ_CHECK(compacted.ok() && (*compacted)->num_docs() == live.num_docs());
  FUZZ_CHECK(live.Compact().ok());
  const auto c1 = live.Search(queries, 1000, 1);
  const auto c2 = (*compacted)->Search(queries, 1000, 1);
  FUZZ_CHECK(c1.ok() && c2.ok());
  for (std::size_t i = 0; i < queries.size(); ++i) {
    FUZZ_CHECK(c1->lists[i].size() == c2->lists[i].size());
    FUZZ_CHECK(c1->lists[i].size() == live_ranking->lists[i].size());
    for (std::size_t j = 0; j < c1->lists[i].size(); ++j) {
      FUZZ_CHECK(c1->lists[i][j].id == c2->lists[i][j].id);
      FUZZ_CHECK(c1->lists[i][j].score == c2->lists[i][j].score);
      FUZZ_CHECK(c1->lists[i][j].score == live_ranking->lists[i][j].score);
    }
  }
  return 0;
}
