// Dense vector PRF on hand-computed 2-d cases (expected values worked out in comments).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "densefb/feedback.h"
#include "densefb/flat_index.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;

// Documents (ids 10, 11, 12, 13):
//   10: (1, 0)   11: (0, 1)   12: (1, 1)   13: (-1, 2)
std::unique_ptr<FlatIndex> MakeIndex(Metric metric = Metric::kInnerProduct) {
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
  AveragePrf model(2);
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
  const auto out = AveragePrf(3).Refine(*index, View(q), first);
  REQUIRE(out.ok());
  CheckRow(*out, 0, 1.f, 2.f / 3);      // ((2,0)+(1,1)+(0,1))/3 = (3,2)/3
  CheckRow(*out, 1, -0.5f, 3.f);        // ((0,4)+(-1,2))/2
  CheckRow(*out, 2, 3.f, 3.f);          // unchanged
}

TEST_CASE("AveragePrf with normalize divides by the L2 norm") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{2, 0}});
  const auto out = AveragePrf(1, true).Refine(*index, View(q), Ids({{11}}));
  REQUIRE(out.ok());
  // ((2,0)+(0,1))/2 = (1, .5), norm sqrt(1.25)
  CheckRow(*out, 0, 1.f / std::sqrt(1.25f), 0.5f / std::sqrt(1.25f));
}

TEST_CASE("RocchioPrf: alpha q + beta mean(top) - gamma mean(bottom)") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 1}});
  const IdMatrix first = Ids({{12, 10, 11, 13}});
  SECTION("defaults: 0.9 q + 0.1 mean(top 3), no negatives") {
    RocchioPrf model;
    CHECK(model.ToString() ==
          "rocchio(alpha=0.9,beta=0.1,gamma=0.1,topk=3,bottomk=0,depth=0,normalize=false)");
    CHECK(model.RequiredDepth() == 3);
    const auto out = model.Refine(*index, View(q), first);
    REQUIRE(out.ok());
    // mean((1,1),(1,0),(0,1)) = (2/3, 2/3); 0.9 + 0.1*2/3
    CheckRow(*out, 0, 0.9f + 0.2f / 3, 0.9f + 0.2f / 3);
  }
  SECTION("negatives are the tail of the list of depth `depth`") {
    RocchioPrf model(0.5, 1.0, 2.0, 1, 1, 3);  // topk 1, bottomk 1, depth 3
    CHECK(model.RequiredDepth() == 3);
    const auto out = model.Refine(*index, View(q), first);
    REQUIRE(out.ok());
    // L = (12, 10, 11): pos 12 = (1,1), neg 11 = (0,1): (0.5,0.5) + (1,1) - 2*(0,1) = (1.5, -0.5)
    CheckRow(*out, 0, 1.5f, -0.5f);
  }
  SECTION("depth 0: negatives are the tail of the whole list given") {
    RocchioPrf model(0.5, 1.0, 2.0, 1, 2, 0);
    const auto out = model.Refine(*index, View(q), first);
    REQUIRE(out.ok());
    // neg = mean(11, 13) = (-0.5, 1.5): (0.5,0.5) + (1,1) - 2*(-0.5,1.5) = (2.5, -1.5)
    CheckRow(*out, 0, 2.5f, -1.5f);
  }
  SECTION("short list: positives and negatives overlap, as in Pyserini") {
    RocchioPrf model(1.0, 1.0, 1.0, 3, 3, 0);
    const auto out = model.Refine(*index, View(q), Ids({{10, 11, -1, -1}}));
    REQUIRE(out.ok());
    // pos = neg = mean((1,0),(0,1)): q unchanged by the two terms
    CheckRow(*out, 0, 1.f, 1.f);
  }
  SECTION("empty list keeps the query (not alpha q)") {
    const auto out = RocchioPrf().Refine(*index, View(q), Ids({{-1, -1}}));
    REQUIRE(out.ok());
    CheckRow(*out, 0, 1.f, 1.f);
  }
}

TEST_CASE("RocchioPrf::Select") {
  RocchioPrf model(0.4, 0.6, 0.6, 5, 5, 1000);
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
  const auto out = AveragePrf(2).Refine(*index, View(q), first);
  REQUIRE(out.ok());
  CheckRow(*out, 0, 4.f / 3, 1.f / 3);
  CheckRow(*out, 1, 0.f, 4.f);
}

TEST_CASE("Validation messages") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 1}});
  CHECK_THAT(std::string(AveragePrf(0).Validate().message()), Contains("k = 0 must be >= 1"));
  CHECK_THAT(std::string(RocchioPrf(0.9, 0.1, 0.1, 0).Validate().message()), Contains("topk = 0"));
  CHECK_THAT(std::string(RocchioPrf(0.9, 0.1, 0.1, 3, 5, 4).Validate().message()),
             Contains("bottomk = 5 exceeds depth = 4"));
  CHECK_THAT(std::string(RocchioPrf(0.9, 0.1, 0.1, 3, -1).Validate().message()),
             Contains("bottomk = -1"));
  CHECK_THAT(std::string(RocchioPrf(std::nan(""), 0.1, 0.1, 3).Validate().message()),
             Contains("alpha"));
  CHECK(RocchioPrf().Validate().ok());

  auto bad = AveragePrf(0).Refine(*index, View(q), Ids({{10}}));
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);

  const RowMatrix q3 = Rows({{1, 1, 1}});
  bad = AveragePrf().Refine(*index, View(q3), Ids({{10}}));
  CHECK_THAT(std::string(bad.status().message()), Contains("dimension 3"));

  bad = AveragePrf().Refine(*index, View(q), Ids({{10}, {11}}));
  CHECK_THAT(std::string(bad.status().message()), Contains("2 lists for 1 queries"));

  RowMatrix nan_q = q;
  nan_q(0, 1) = std::numeric_limits<float>::quiet_NaN();
  bad = AveragePrf().Refine(*index, View(nan_q), Ids({{10}}));
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);

  bad = AveragePrf().Refine(*index, View(q), Ids({{10, 99}}));
  CHECK(bad.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(bad.status().message()), Contains("99"));

  auto search = PrfSearch(*index, View(q), RocchioPrf(0.4, 0.6, 0.6, 2, 2, 4), 3, 10);
  CHECK_THAT(std::string(search.status().message()), Contains("first_k = 3 is below the depth 4"));
  search = PrfSearch(*index, View(q), AveragePrf(), 0, 0);
  CHECK_THAT(std::string(search.status().message()), Contains("final_k = 0"));
}

TEST_CASE("PrfSearch: first pass, feedback, fresh second search") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 0}});
  // first pass (k 1): scores 10:1, 12:1, 11:0, 13:-1 -> 10 (tie with 12, smaller id)
  // with k 2: first pass top 2 = (10, 12): q' = ((1,0)+(1,0)+(1,1))/3 = (1, 1/3)
  // second pass: 12: 4/3, 10: 1, 11: 1/3, 13: -1/3 -> 12, 10, 11, 13
  const auto result = PrfSearch(*index, View(q), AveragePrf(2), 0, 4);
  REQUIRE(result.ok());
  REQUIRE(result->ids.cols() == 4);
  CHECK(result->ids(0, 0) == 12);
  CHECK(result->ids(0, 1) == 10);
  CHECK(result->ids(0, 2) == 11);
  CHECK(result->ids(0, 3) == 13);
  CHECK(result->scores(0, 0) == Approx(4.f / 3));
  CHECK(result->scores(0, 1) == Approx(1.f));
  CHECK(result->scores(0, 2) == Approx(1.f / 3));
  CHECK(result->scores(0, 3) == Approx(-1.f / 3));
}

TEST_CASE("PrfSearch with a first pass deeper than the index (capped at its size)") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 0}});
  // first pass k 10 on 4 docs: the 4 ids; q' = ((1,0)+(1,0)+(0,1)+(1,1)+(-1,2))/5
  //   = (2/5, 4/5); second pass: 13: 6/5, 12: 6/5 (tie -> 12 first), 11: 4/5, 10: 2/5
  const auto result = PrfSearch(*index, View(q), AveragePrf(10), 0, 5);
  REQUIRE(result.ok());
  REQUIRE(result->ids.cols() == 4);  // min(k, size)
  CHECK(result->ids(0, 0) == 12);
  CHECK(result->ids(0, 1) == 13);
  CHECK(result->ids(0, 2) == 11);
  CHECK(result->ids(0, 3) == 10);
  CHECK(result->scores(0, 1) == Approx(1.2f));
  CHECK(result->scores(0, 3) == Approx(0.4f));
}

TEST_CASE("PrfRerank re-scores only the first-pass candidates") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 0}});
  // first pass top 3 = (10, 12, 11); q' from top 2 = (1, 1/3); candidates re-scored:
  // 12: 4/3, 10: 1, 11: 1/3; doc 13 is never returned.
  const auto result = PrfRerank(*index, View(q), AveragePrf(2), 3, 10);
  REQUIRE(result.ok());
  REQUIRE(result->ids.cols() == 3);  // min(first_k, final_k)
  CHECK(result->ids(0, 0) == 12);
  CHECK(result->ids(0, 1) == 10);
  CHECK(result->ids(0, 2) == 11);
  CHECK(result->scores(0, 0) == Approx(4.f / 3));
  CHECK(result->scores(0, 1) == Approx(1.f));

  SECTION("cosine index: cosine of q' with the stored vectors") {
    const auto cos_index = MakeIndex(Metric::kCosine);
    // cosine first pass of (1,0): 10: 1, 12: .707, 11: 0 -> (10, 12, 11); q' = (1, 1/3)
    // (raw stored vectors), |q'| = sqrt(10)/3: 10 -> 3/sqrt(10) = .949,
    // 12 -> (4/3) / (sqrt(10)/3 sqrt(2)) = 2/sqrt(5) = .894, 11 -> 1/sqrt(10)
    const auto r = PrfRerank(*cos_index, View(q), AveragePrf(2), 3, 2);
    REQUIRE(r.ok());
    REQUIRE(r->ids.cols() == 2);
    CHECK(r->ids(0, 0) == 10);
    CHECK(r->scores(0, 0) == Approx(3.f / std::sqrt(10.f)));
    CHECK(r->ids(0, 1) == 12);
    CHECK(r->scores(0, 1) == Approx(2.f / std::sqrt(5.f)));
  }
}

TEST_CASE("PRF sizes beyond the index are capped before anything is allocated") {
  const auto index = MakeIndex();
  const RowMatrix q = Rows({{1, 0}, {0, 1}, {1, 1}});
  constexpr int kHuge = std::numeric_limits<int>::max();
  // topk, first_k and k far beyond the 4 documents: every document is feedback, every
  // document returned, in 4 columns.
  const RocchioPrf huge(0.9, 0.1, 0.1, kHuge);
  for (const bool rerank : {false, true}) {
    const auto result = rerank ? PrfRerank(*index, View(q), huge, kHuge, kHuge)
                               : PrfSearch(*index, View(q), huge, 0, kHuge);
    REQUIRE(result.ok());
    CHECK(result->ids.rows() == 3);
    CHECK(result->ids.cols() == 4);
    CHECK((result->ids.array() != kNoId).all());
  }
  const auto avg = PrfSearch(*index, View(q), AveragePrf(kHuge), kHuge, kHuge);
  REQUIRE(avg.ok());
  CHECK(avg->ids.cols() == 4);
  const auto same = PrfSearch(*index, View(q), AveragePrf(4), 4, 4);
  REQUIRE(same.ok());
  CHECK(avg->ids == same->ids);
}

}  // namespace
}  // namespace densefb
