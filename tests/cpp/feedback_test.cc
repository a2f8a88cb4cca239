// Dense vector PRF on hand-computed 2-d cases (expected values worked out in comments): the
// rules' arithmetic (src/feedback/vector_prf.h), then AveragePrf and RocchioPrf in pipelines.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "densefb/feedback.h"
#include "densefb/flat_index.h"
#include "densefb/pipeline.h"
#include "densefb/rerankers.h"
#include "densefb/retrievers.h"
#include "feedback/vector_prf.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;
using feedback_internal::AverageRule;
using feedback_internal::RocchioRule;

// Documents (ids 10, 11, 12, 13):
//   10: (1, 0)   11: (0, 1)   12: (1, 1)   13: (-1, 2)
std::shared_ptr<FlatIndex> MakeIndex(Metric metric = Metric::kInnerProduct) {
  auto index = FlatIndex::Create(2, metric);
  REQUIRE(index.ok());
  RowMatrix docs(4, 2);
  docs << 1, 0, 0, 1, 1, 1, -1, 2;
  const std::vector<std::int64_t> ids = {10, 11, 12, 13};
  REQUIRE((*index)->Add(View(docs), ids).ok());
  return std::move(*index);
}

RowMatrix Rows(std::initializer_list<std::initializer_list<float>> rows) {
  RowMatrix m(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(rows.begin()->size()));
  Eigen::Index i = 0;
  for (const auto& r : rows) {
    Eigen::Index j = 0;
    for (float v : r) m(i, j++) = v;
    ++i;
  }
  return m;
}

IdMatrix Ids(std::initializer_list<std::initializer_list<std::int64_t>> rows) {
  IdMatrix m(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(rows.begin()->size()));
  Eigen::Index i = 0;
  for (const auto& r : rows) {
    Eigen::Index j = 0;
    for (std::int64_t v : r) m(i, j++) = v;
    ++i;
  }
  return m;
}

void CheckRow(const RowMatrix& m, Eigen::Index i, float x, float y) {
  INFO("row " << i);
  CHECK(m(i, 0) == Approx(x).margin(1e-6));
  CHECK(m(i, 1) == Approx(y).margin(1e-6));
}

TEST_CASE("AveragePrf averages the query with the top-k documents") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{2, 0}, {0, 4}});
  const IdMatrix first = Ids({{12, 10, 11}, {11, 13, 12}});
  AverageRule model(2);
  const auto out = model.Refine(*index, View(q), first);
  REQUIRE(out.ok());
  // q0: ((2,0) + (1,1) + (1,0)) / 3 = (4/3, 1/3)
  CheckRow(*out, 0, 4.f / 3, 1.f / 3);
  // q1: ((0,4) + (0,1) + (-1,2)) / 3 = (-1/3, 7/3)
  CheckRow(*out, 1, -1.f / 3, 7.f / 3);
  CHECK(model.RequiredDepth() == 2);
  CHECK(model.ToString() == "avg(k=2,normalize=false)");
}

TEST_CASE("AveragePrf: padding is skipped, short lists use what they have") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{2, 0}, {0, 4}, {3, 3}});
  // row 0: -1 inside -> list (12, 11); row 1: one doc; row 2: nothing -> q unchanged
  const IdMatrix first = Ids({{12, -1, 11}, {13, -1, -1}, {-1, -1, -1}});
  const auto out = AverageRule(3).Refine(*index, View(q), first);
  REQUIRE(out.ok());
  CheckRow(*out, 0, 1.f, 2.f / 3);      // ((2,0)+(1,1)+(0,1))/3 = (3,2)/3
  CheckRow(*out, 1, -0.5f, 3.f);        // ((0,4)+(-1,2))/2
  CheckRow(*out, 2, 3.f, 3.f);          // unchanged
}

TEST_CASE("AveragePrf with normalize divides by the L2 norm") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{2, 0}});
  const auto out = AverageRule(1, true).Refine(*index, View(q), Ids({{11}}));
  REQUIRE(out.ok());
  // ((2,0)+(0,1))/2 = (1, .5), norm sqrt(1.25)
  CheckRow(*out, 0, 1.f / std::sqrt(1.25f), 0.5f / std::sqrt(1.25f));
}

TEST_CASE("RocchioPrf: alpha q + beta mean(top) - gamma mean(bottom)") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 1}});
  const IdMatrix first = Ids({{12, 10, 11, 13}});
  SECTION("defaults: 0.9 q + 0.1 mean(top 3), no negatives") {
    RocchioRule model;
    CHECK(model.ToString() ==
          "rocchio(alpha=0.9,beta=0.1,gamma=0.1,topk=3,bottomk=0,depth=0,normalize=false)");
    CHECK(model.RequiredDepth() == 3);
    const auto out = model.Refine(*index, View(q), first);
    REQUIRE(out.ok());
    // mean((1,1),(1,0),(0,1)) = (2/3, 2/3); 0.9 + 0.1*2/3
    CheckRow(*out, 0, 0.9f + 0.2f / 3, 0.9f + 0.2f / 3);
  }
  SECTION("negatives are the tail of the list of depth `depth`") {
    RocchioRule model(0.5, 1.0, 2.0, 1, 1, 3);  // topk 1, bottomk 1, depth 3
    CHECK(model.RequiredDepth() == 3);
    const auto out = model.Refine(*index, View(q), first);
    REQUIRE(out.ok());
    // L = (12, 10, 11): pos 12 = (1,1), neg 11 = (0,1): (0.5,0.5) + (1,1) - 2*(0,1) = (1.5, -0.5)
    CheckRow(*out, 0, 1.5f, -0.5f);
  }
  SECTION("depth 0: negatives are the tail of the whole list given") {
    RocchioRule model(0.5, 1.0, 2.0, 1, 2, 0);
    const auto out = model.Refine(*index, View(q), first);
    REQUIRE(out.ok());
    // neg = mean(11, 13) = (-0.5, 1.5): (0.5,0.5) + (1,1) - 2*(-0.5,1.5) = (2.5, -1.5)
    CheckRow(*out, 0, 2.5f, -1.5f);
  }
  SECTION("short list: positives and negatives overlap, as in Pyserini") {
    RocchioRule model(1.0, 1.0, 1.0, 3, 3, 0);
    const auto out = model.Refine(*index, View(q), Ids({{10, 11, -1, -1}}));
    REQUIRE(out.ok());
    // pos = neg = mean((1,0),(0,1)): q unchanged by the two terms
    CheckRow(*out, 0, 1.f, 1.f);
  }
  SECTION("empty list keeps the query (not alpha q)") {
    const auto out = RocchioRule().Refine(*index, View(q), Ids({{-1, -1}}));
    REQUIRE(out.ok());
    CheckRow(*out, 0, 1.f, 1.f);
  }
}

TEST_CASE("RocchioPrf::Select") {
  RocchioRule model(0.4, 0.6, 0.6, 5, 5, 1000);
  auto s = model.Select(2000);  // cut to 1000: negatives 995..999
  CHECK(s.num_positive == 5);
  CHECK(s.negative_begin == 995);
  CHECK(s.num_negative == 5);
  s = model.Select(7);
  CHECK(s.num_positive == 5);
  CHECK(s.negative_begin == 2);
  CHECK(s.num_negative == 5);
}

TEST_CASE("Refine from a BatchRanking") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{2, 0}, {0, 4}});
  BatchRanking first{{Ranking{{12, 0.9f}, {10, 0.5f}}, Ranking{}}};
  const auto out = AverageRule(2).Refine(*index, View(q), first);
  REQUIRE(out.ok());
  CheckRow(*out, 0, 4.f / 3, 1.f / 3);
  CheckRow(*out, 1, 0.f, 4.f);
}

TEST_CASE("Validation messages") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 1}});
  CHECK_THAT(std::string(AverageRule(0).Validate().message()), Contains("k = 0 must be >= 1"));
  CHECK_THAT(std::string(RocchioRule(0.9, 0.1, 0.1, 0).Validate().message()), Contains("topk = 0"));
  CHECK_THAT(std::string(RocchioRule(0.9, 0.1, 0.1, 3, 5, 4).Validate().message()),
             Contains("bottomk = 5 exceeds depth = 4"));
  CHECK_THAT(std::string(RocchioRule(0.9, 0.1, 0.1, 3, -1).Validate().message()),
             Contains("bottomk = -1"));
  CHECK_THAT(std::string(RocchioRule(std::nan(""), 0.1, 0.1, 3).Validate().message()),
             Contains("alpha"));
  CHECK(RocchioRule().Validate().ok());

  auto bad = AverageRule(0).Refine(*index, View(q), Ids({{10}}));
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);

  const RowMatrix q3 = Rows({{1, 1, 1}});
  bad = AverageRule().Refine(*index, View(q3), Ids({{10}}));
  CHECK_THAT(std::string(bad.status().message()), Contains("dimension 3"));

  bad = AverageRule().Refine(*index, View(q), Ids({{10}, {11}}));
  CHECK_THAT(std::string(bad.status().message()), Contains("2 lists for 1 queries"));

  RowMatrix nan_q = q;
  nan_q(0, 1) = std::numeric_limits<float>::quiet_NaN();
  bad = AverageRule().Refine(*index, View(nan_q), Ids({{10}}));
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);

  bad = AverageRule().Refine(*index, View(q), Ids({{10, 99}}));
  CHECK(bad.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(bad.status().message()), Contains("99"));

}

// ---- AveragePrf and RocchioPrf in pipelines, over the same 4 documents ----------------------

Queries MakeQueries(std::size_t n) {
  Queries queries;
  for (std::size_t i = 0; i < n; ++i) REQUIRE(queries.Add({"q" + std::to_string(i), "text"}).ok());
  return queries;
}

std::shared_ptr<DenseRetriever> Dense(const std::shared_ptr<FlatIndex>& index, std::int64_t k) {
  return std::make_shared<DenseRetriever>(index, nullptr, DenseRetriever::Config{k, 0});
}

BatchRanking RunOk(const Pipeline& p, const RowMatrix& q, std::int64_t k) {
  PipelineOptions options;
  options.k = k;
  absl::StatusOr<BatchRanking> out = p.Run(MakeQueries(static_cast<std::size_t>(q.rows())), options, &q);
  INFO(p.ToString() << " -> " << out.status().ToString());
  REQUIRE(out.ok());
  return *std::move(out);
}

std::string RunError(const Pipeline& p, const RowMatrix& q) {
  absl::StatusOr<BatchRanking> out = p.Run(MakeQueries(static_cast<std::size_t>(q.rows())), {}, &q);
  INFO(p.ToString());
  REQUIRE_FALSE(out.ok());
  return out.status().ToString();
}

TEST_CASE("dense >> avg >> dense: first pass, feedback, fresh second search") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 0}});
  // first pass (k 2): scores 10:1, 12:1, 11:0, 13:-1 -> (10, 12)
  // q' = ((1,0)+(1,0)+(1,1))/3 = (1, 1/3)
  // second pass: 12: 4/3, 10: 1, 11: 1/3, 13: -1/3 -> 12, 10, 11, 13
  const Pipeline p = Dense(index, 1000) >> std::make_shared<AveragePrf>(index, AveragePrf::Config{2, false}) >>
                     Dense(index, 4);
  CHECK(p.ToString() == "dense(k=1000,ef_search=0) >> avg(k=2,normalize=false) >> dense(k=4,ef_search=0)");
  // The first pass is planned 2 deep: what avg reads.
  CHECK(p.Explain() == "dense(k=2,ef_search=0) >> avg(k=2,normalize=false) >> dense(k=4,ef_search=0)");
  const BatchRanking result = RunOk(p, q, 0);
  REQUIRE(result.lists[0].size() == 4);
  CHECK(result.lists[0][0].id == 12);
  CHECK(result.lists[0][1].id == 10);
  CHECK(result.lists[0][2].id == 11);
  CHECK(result.lists[0][3].id == 13);
  CHECK(result.lists[0][0].score == Approx(4.f / 3));
  CHECK(result.lists[0][1].score == Approx(1.f));
  CHECK(result.lists[0][2].score == Approx(1.f / 3));
  CHECK(result.lists[0][3].score == Approx(-1.f / 3));
  // The same from a spec with the index as a resource.
  Resources r;
  r.Set<VectorIndex>(resource::kDenseIndex, std::shared_ptr<const VectorIndex>(index));
  absl::StatusOr<Pipeline> spec = Pipeline::Parse(p.ToString(), r);
  REQUIRE(spec.ok());
  const BatchRanking again = RunOk(*spec, q, 0);
  REQUIRE(again.lists[0].size() == 4);
  for (std::size_t j = 0; j < 4; ++j) {
    CHECK(again.lists[0][j].id == result.lists[0][j].id);
    CHECK(again.lists[0][j].score == result.lists[0][j].score);
  }
}

TEST_CASE("avg with a first pass deeper than the index (capped at its size)") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 0}});
  // first pass k 10 on 4 docs: the 4 ids; q' = ((1,0)+(1,0)+(0,1)+(1,1)+(-1,2))/5
  //   = (2/5, 4/5); second pass: 13: 6/5, 12: 6/5 (tie -> 12 first), 11: 4/5, 10: 2/5
  const Pipeline p = Dense(index, 10) >> std::make_shared<AveragePrf>(index, AveragePrf::Config{10, false}) >>
                     Dense(index, 5);
  const BatchRanking result = RunOk(p, q, 0);
  REQUIRE(result.lists[0].size() == 4);  // min(k, size)
  CHECK(result.lists[0][0].id == 12);
  CHECK(result.lists[0][1].id == 13);
  CHECK(result.lists[0][2].id == 11);
  CHECK(result.lists[0][3].id == 10);
  CHECK(result.lists[0][1].score == Approx(1.2f));
  CHECK(result.lists[0][3].score == Approx(0.4f));
}

TEST_CASE("dense >> avg >> rescore re-scores only the first-pass candidates") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 0}});
  // first pass top 3 = (10, 12, 11); q' from top 2 = (1, 1/3); candidates re-scored:
  // 12: 4/3, 10: 1, 11: 1/3; doc 13 is never returned.
  const Pipeline p = Dense(index, 3) >> std::make_shared<AveragePrf>(index, AveragePrf::Config{2, false}) >>
                     std::make_shared<Rescore>(index, nullptr);
  // rescore reads the whole first pass: no depth planning.
  CHECK(p.Explain() == p.ToString());
  const BatchRanking result = RunOk(p, q, 10);
  REQUIRE(result.lists[0].size() == 3);
  CHECK(result.lists[0][0].id == 12);
  CHECK(result.lists[0][1].id == 10);
  CHECK(result.lists[0][2].id == 11);
  CHECK(result.lists[0][0].score == Approx(4.f / 3));
  CHECK(result.lists[0][1].score == Approx(1.f));

  SECTION("cosine index: cosine of q' with the stored vectors") {
    const auto cos_index = MakeIndex(Metric::kCosine);
    // cosine first pass of (1,0): 10: 1, 12: .707, 11: 0 -> (10, 12, 11); q' = (1, 1/3)
    // (raw stored vectors), |q'| = sqrt(10)/3: 10 -> 3/sqrt(10) = .949,
    // 12 -> (4/3) / (sqrt(10)/3 sqrt(2)) = 2/sqrt(5) = .894, 11 -> 1/sqrt(10)
    const Pipeline c = Dense(cos_index, 3) >>
                       std::make_shared<AveragePrf>(cos_index, AveragePrf::Config{2, false}) >>
                       std::make_shared<Rescore>(cos_index, nullptr);
    const BatchRanking r = RunOk(c, q, 2);
    REQUIRE(r.lists[0].size() == 2);
    CHECK(r.lists[0][0].id == 10);
    CHECK(r.lists[0][0].score == Approx(3.f / std::sqrt(10.f)));
    CHECK(r.lists[0][1].id == 12);
    CHECK(r.lists[0][1].score == Approx(2.f / std::sqrt(5.f)));
  }
}

TEST_CASE("RocchioPrf in a pipeline: negatives from the tail of the depth-`depth` first pass") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 1}});
  // first pass of (1,1): 12: 2, 10: 1, 11: 1, 13: 1 -> (12, 10, 11, 13) (ties by id).
  // depth 3: L = (12, 10, 11); pos 12 = (1,1), neg 11 = (0,1):
  //   q' = 0.5 (1,1) + (1,1) - 2 (0,1) = (1.5, -0.5)
  // second pass: 10: 1.5, 12: 1, 11: -0.5, 13: -2.5
  const RocchioPrf::Config config{0.5, 1.0, 2.0, 1, 1, 3, false};
  const Pipeline p = Dense(index, 1000) >> std::make_shared<RocchioPrf>(index, config) >> Dense(index, 4);
  CHECK(p.Explain().rfind("dense(k=3,", 0) == 0);
  const BatchRanking result = RunOk(p, q, 0);
  REQUIRE(result.lists[0].size() == 4);
  CHECK(result.lists[0][0].id == 10);
  CHECK(result.lists[0][0].score == Approx(1.5f));
  CHECK(result.lists[0][1].id == 12);
  CHECK(result.lists[0][1].score == Approx(1.f));
  CHECK(result.lists[0][2].id == 11);
  CHECK(result.lists[0][3].id == 13);
  CHECK(result.lists[0][3].score == Approx(-2.5f));
}

TEST_CASE("feedback models in a pipeline: configuration errors name the stage, argument and value") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 1}});
  // A Config built in code is checked like a spec's arguments.
  CHECK_THAT(RunError(Dense(index, 4) >> std::make_shared<AveragePrf>(index, AveragePrf::Config{0, false}) >>
                          Dense(index, 4),
                      q),
             Contains("avg") && Contains("k = 0") && Contains("out of range"));
  CHECK_THAT(RunError(Dense(index, 4) >>
                          std::make_shared<RocchioPrf>(index, RocchioPrf::Config{0.9, 0.1, 0.1, 3, 5, 4, false}) >>
                          Dense(index, 4),
                      q),
             Contains("rocchio") && Contains("bottomk = 5 exceeds depth = 4"));
  CHECK_THAT(RunError(Dense(index, 4) >>
                          std::make_shared<RocchioPrf>(index, RocchioPrf::Config{std::nan(""), 0.1, 0.1, 3}) >>
                          Dense(index, 4),
                      q),
             Contains("rocchio") && Contains("alpha"));
  CHECK_THAT(std::string(AveragePrf::Params().Validate(AveragePrf::Config{0, false}).message()),
             Contains("stage 'avg': k = 0 is out of range"));
  // Without its index the model is a FailedPrecondition naming the resource.
  const std::string missing =
      RunError(Dense(index, 4) >> std::make_shared<AveragePrf>(nullptr) >> Dense(index, 4), q);
  CHECK_THAT(missing, Contains("FAILED_PRECONDITION") && Contains("resource 'dense_index'"));
  // Query vectors of another dimension.
  const RowMatrix q3 = Rows({{1, 1, 1}});
  CHECK_THAT(RunError(Dense(index, 4) >> std::make_shared<AveragePrf>(index) >> Dense(index, 4), q3),
             Contains("dimension 3"));
}

TEST_CASE("PRF sizes beyond the index are capped before anything is allocated") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 0}, {0, 1}, {1, 1}});
  constexpr int kHugeTopk = 1 << 20;            // the largest topk a config accepts
  constexpr std::int64_t kHugeK = 1 << 30;      // the largest k of a retriever
  // topk and k far beyond the 4 documents: every document is feedback, every document
  // returned.
  const auto huge = std::make_shared<RocchioPrf>(index, RocchioPrf::Config{0.9, 0.1, 0.1, kHugeTopk});
  const Pipeline search = Dense(index, kHugeK) >> huge >> Dense(index, kHugeK);
  const Pipeline rerank = Dense(index, kHugeK) >> huge >> std::make_shared<Rescore>(index, nullptr);
  for (const Pipeline* p : {&search, &rerank}) {
    const BatchRanking result = RunOk(*p, q, 0);
    REQUIRE(result.size() == 3);
    for (const Ranking& list : result.lists) {
      CHECK(list.size() == 4);
      for (const ScoredDoc& doc : list) CHECK(doc.id != kNoId);
    }
  }
  const BatchRanking avg = RunOk(
      Dense(index, kHugeK) >> std::make_shared<AveragePrf>(index, AveragePrf::Config{kHugeTopk, false}) >>
          Dense(index, kHugeK),
      q, 0);
  const BatchRanking same = RunOk(
      Dense(index, 4) >> std::make_shared<AveragePrf>(index, AveragePrf::Config{4, false}) >> Dense(index, 4), q, 0);
  REQUIRE(avg.size() == same.size());
  for (std::size_t i = 0; i < avg.size(); ++i) {
    REQUIRE(avg.lists[i].size() == same.lists[i].size());
    for (std::size_t j = 0; j < avg.lists[i].size(); ++j) CHECK(avg.lists[i][j].id == same.lists[i][j].id);
  }
}

}  // namespace
}  // namespace densefb
