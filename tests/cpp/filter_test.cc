// Filter, and filtered search of the flat, HNSW and BM25 indexes and of pipelines, from C++.
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "densefb/bm25.h"
#include "densefb/feedback.h"
#include "densefb/filter.h"
#include "densefb/flat_index.h"
#include "densefb/hnsw_index.h"
#include "densefb/pipeline.h"
#include "densefb/pq_index.h"
#include "densefb/quantized_index.h"
#include "densefb/retrievers.h"
#include "test_util.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;
using testing::RandomMatrix;

// Allowed ids per query: each id with probability p (seeded).
std::vector<std::vector<std::int64_t>> RandomLists(std::int64_t rows, std::int64_t n, double p, unsigned seed) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution keep(p);
  std::vector<std::vector<std::int64_t>> out(static_cast<std::size_t>(rows));
  for (auto& row : out) {
    for (std::int64_t i = 0; i < n; ++i) {
      if (keep(rng)) row.push_back(i);
    }
  }
  return out;
}

// The top k of `scores` among `allowed`: score descending, ties by smaller id.
std::vector<std::int64_t> TopAllowed(const std::vector<float>& scores, const std::vector<std::int64_t>& allowed,
                                     std::size_t k) {
  std::vector<std::int64_t> ids = allowed;
  std::sort(ids.begin(), ids.end(), [&](std::int64_t a, std::int64_t b) {
    return scores[a] != scores[b] ? scores[a] > scores[b] : a < b;
  });
  ids.resize(std::min(k, ids.size()));
  return ids;
}

TEST_CASE("Filter rows: id lists, bitmaps, masks, slices and errors") {
  const Filter lists = Filter::FromIdLists({{9, 3, 3, 1}, {}, {1ll << 40}}).value();
  CHECK(lists.rows() == 3);
  CHECK(lists.Count(0) == 3);
  CHECK(lists.Ids(0) == std::vector<std::int64_t>{1, 3, 9});
  CHECK(lists.Allows(0, 3));
  CHECK_FALSE(lists.Allows(0, 2));
  CHECK_FALSE(lists.Allows(0, 1 << 20));
  CHECK(lists.Count(1) == 0);
  CHECK(lists.Allows(2, 1ll << 40));  // a sparse huge id: kept as a sorted list
  CHECK_FALSE(lists.Allows(2, 0));
  const Filter slice = lists.Slice(1, 3);
  CHECK(slice.rows() == 2);
  CHECK(slice.Count(0) == 0);

  const std::uint8_t mask[] = {1, 0, 1, 0, 0, 1};
  const Filter masks = Filter::FromMask(mask, 2, 3).value();
  CHECK(masks.Ids(0) == std::vector<std::int64_t>{0, 2});
  CHECK(masks.Ids(1) == std::vector<std::int64_t>{2});
  CHECK_FALSE(masks.Allows(1, 3));  // past the mask

  const Filter shared = Filter::FromIds({4, 5}).value();
  CHECK(shared.CheckQueries(17).ok());
  CHECK(shared.Slice(3, 9).rows() == 1);
  CHECK_THAT(std::string(masks.CheckQueries(3).message()), Contains("2 rows for 3 queries"));
  CHECK_THAT(std::string(Filter::FromIdLists({{1}, {2, -7}}).status().message()),
             Contains("filter row 1: id -7 at position 1 is negative"));
  CHECK_FALSE(Filter::FromMask(mask, 0, 3).ok());
}

TEST_CASE("Filtered flat and HNSW search: the top k among the allowed ids, never a filler") {
  const std::int64_t n = 3000, nq = 40, dim = 24;
  const RowMatrix docs = RandomMatrix(n, dim, 1);
  const RowMatrix queries = RandomMatrix(nq, dim, 2);
  auto flat = FlatIndex::Create(dim, Metric::kInnerProduct).value();
  REQUIRE(flat->Add(View(docs)).ok());
  HnswConfig config;
  config.num_threads = 1;
  auto hnsw = HnswIndex::Create(dim, Metric::kInnerProduct, config).value();
  REQUIRE(hnsw->Add(View(docs)).ok());
  for (double p : {0.5, 0.1, 0.01, 0.002}) {
    const auto lists = RandomLists(nq, n, p, static_cast<unsigned>(p * 1000) + 3);
    const Filter filter = Filter::FromIdLists(lists).value();
    const int k = 10;
    SearchOptions options;
    options.k = k;
    options.filter = &filter;
    const SearchResult exact = flat->Search(View(queries), options).value();
    options.ef_search = 64;
    const SearchResult approx = hnsw->Search(View(queries), options).value();
    double recall = 0;
    for (std::int64_t q = 0; q < nq; ++q) {
      std::vector<float> scores(static_cast<std::size_t>(n));
      for (std::int64_t d = 0; d < n; ++d) scores[d] = queries.row(q).dot(docs.row(d));
      const std::vector<std::int64_t> want = TopAllowed(scores, lists[q], k);
      std::size_t found = 0;
      for (int j = 0; j < k; ++j) {
        if (static_cast<std::size_t>(j) < want.size()) {
          CHECK(exact.ids(q, j) == want[j]);
          CHECK(exact.scores(q, j) == Approx(scores[want[j]]).margin(1e-4));
        } else {
          CHECK(exact.ids(q, j) == kNoId);
          CHECK(exact.scores(q, j) == -std::numeric_limits<float>::infinity());
        }
        const std::int64_t id = approx.ids(q, j);
        if (id == kNoId) continue;
        CHECK(filter.Allows(q, id));
        found += std::count(want.begin(), want.end(), id);
      }
      recall += want.empty() ? 1.0 : static_cast<double>(found) / want.size();
    }
    CHECK(recall / nq >= 0.95);
  }
}

TEST_CASE("Exact indexes score a query's few allowed ids as their scan does, to the bit") {
  // A query allowing under 1/16 of the collection is scored over its allowed rows alone, the
  // others through the scan with disallowed rows masked. Both must give every row the score the
  // unfiltered scan gives it, bit for bit, or a sharded index (which picks the path per shard)
  // would rank near-ties differently from a single one.
  const std::int64_t n = 3000, nq = 20, dim = 40;
  RowMatrix docs = RandomMatrix(n, dim, 11);
  // Duplicated rows: exact ties, broken by the smaller id on both paths.
  for (std::int64_t i = 0; i < 60; ++i) docs.row(2000 + i) = docs.row(i * 7);
  const RowMatrix queries = RandomMatrix(nq, dim, 12);
  std::vector<std::pair<std::string, std::unique_ptr<VectorIndex>>> indexes;
  for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
    const std::string m = metric == Metric::kCosine ? " cosine" : " ip";
    indexes.emplace_back("flat" + m, FlatIndex::Create(dim, metric).value());
    indexes.emplace_back("int8" + m, ScalarQuantizedIndex::Create(dim, metric, ScalarEncoding::kInt8).value());
    indexes.emplace_back("fp16" + m, ScalarQuantizedIndex::Create(dim, metric, ScalarEncoding::kFp16).value());
    indexes.emplace_back("pq" + m, ProductQuantizedIndex::Create(dim, metric, 8).value());
  }
  for (auto& [name, index] : indexes) {
    INFO(name);
    REQUIRE(index->Add(View(docs)).ok());
    SearchOptions all;
    all.k = static_cast<int>(n);
    all.num_threads = 2;
    const SearchResult full = index->Search(View(queries), all).value();
    for (double p : {0.02, 0.3}) {  // few allowed (scored over them alone), many (the scan)
      const auto lists = RandomLists(nq, n, p, static_cast<unsigned>(p * 100) + 5);
      const Filter filter = Filter::FromIdLists(lists).value();
      SearchOptions options;
      options.k = 25;
      options.num_threads = 2;
      options.filter = &filter;
      const SearchResult got = index->Search(View(queries), options).value();
      for (std::int64_t q = 0; q < nq; ++q) {
        REQUIRE((filter.Count(q) * Filter::kFewAllowedRatio < n) == (p < 0.05));
        std::vector<float> scores(static_cast<std::size_t>(n));
        for (std::int64_t j = 0; j < n; ++j) scores[full.ids(q, j)] = full.scores(q, j);
        const std::vector<std::int64_t> want = TopAllowed(scores, lists[q], 25);
        for (std::size_t j = 0; j < want.size(); ++j) {
          CHECK(got.ids(q, j) == want[j]);
          CHECK(got.scores(q, j) == scores[want[j]]);  // bit-identical
        }
      }
    }
  }
}

TEST_CASE("Filtered BM25: scores of the unfiltered search, allowed documents only") {
  std::vector<std::string> texts;
  std::mt19937 rng(4);
  const char* words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"};
  for (int d = 0; d < 2000; ++d) {
    std::string t;
    for (int w = 0; w < 6; ++w) t += std::string(words[rng() % 8]) + " ";
    texts.push_back(t);
  }
  const auto index = Bm25Index::Build({}, texts).value();
  const std::vector<std::string> queries = {"alpha beta", "theta", "gamma delta zeta"};
  const BatchRanking all = index->Search(queries, 2000).value();
  for (double p : {0.3, 0.01}) {  // the posting walk and the one-by-one path
    const auto lists = RandomLists(3, 2000, p, 9);
    const Filter filter = Filter::FromIdLists(lists).value();
    const BatchRanking got = index->Search(queries, 50, 0, &filter).value();
    for (std::size_t q = 0; q < queries.size(); ++q) {
      Ranking want;
      for (const ScoredDoc& d : all.lists[q]) {
        if (filter.Allows(static_cast<std::int64_t>(q), d.id)) want.push_back(d);
      }
      if (want.size() > 50) want.resize(50);
      REQUIRE(got.lists[q].size() == want.size());
      for (std::size_t j = 0; j < want.size(); ++j) {
        CHECK(got.lists[q][j].id == want[j].id);
        CHECK(got.lists[q][j].score == want[j].score);  // bit-identical
      }
    }
  }
}

TEST_CASE("A pipeline's filter reaches every retriever and must match the batch") {
  const std::int64_t n = 500, dim = 16;
  const RowMatrix docs = RandomMatrix(n, dim, 5);
  std::shared_ptr<VectorIndex> flat(FlatIndex::Create(dim, Metric::kInnerProduct).value().release());
  REQUIRE(flat->Add(View(docs)).ok());
  auto dense = std::make_shared<DenseRetriever>(flat, nullptr, DenseRetriever::Config{100, 0});
  const Pipeline p = dense >> std::make_shared<AveragePrf>(flat, AveragePrf::Config{3}) >> dense;
  Queries queries;
  REQUIRE(queries.Add({"q0", "a"}).ok());
  REQUIRE(queries.Add({"q1", "b"}).ok());
  const RowMatrix qv = RandomMatrix(2, dim, 6);
  PipelineOptions options;
  options.filter = std::make_shared<Filter>(Filter::FromIdLists({{1, 2, 3, 4, 5, 6, 7}, {400, 401}}).value());
  const BatchRanking r = p.Run(queries, options, &qv).value();
  REQUIRE(r.lists.size() == 2);
  CHECK(r.lists[0].size() == 7);
  CHECK(r.lists[1].size() == 2);
  for (const ScoredDoc& d : r.lists[0]) CHECK((d.id >= 1 && d.id <= 7));
  options.filter = std::make_shared<Filter>(Filter::FromIdLists({{1}, {2}, {3}}).value());
  CHECK_THAT(std::string(p.Run(queries, options, &qv).status().message()), Contains("3 rows for 2 queries"));
}

}  // namespace
}  // namespace densefb
