// Fusion and normalisation on hand-computed cases (expected values worked out in comments).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "densefb/fusion.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;

// L1 = {1: 3, 2: 2, 3: 1}, L2 = {2: 10, 4: 6, 1: 2}; union {1, 2, 3, 4}, C = 4.
// min-max: L1 -> {1: 1, 2: .5, 3: 0}, L2 -> {2: 1, 4: .5, 1: 0}.
BatchRanking One(Ranking list) { return BatchRanking{{std::move(list)}}; }
const BatchRanking kL1 = One({{1, 3.f}, {2, 2.f}, {3, 1.f}});
const BatchRanking kL2 = One({{2, 10.f}, {4, 6.f}, {1, 2.f}});

std::vector<std::pair<std::int64_t, double>> Pairs(const BatchRanking& r, std::size_t q = 0) {
  std::vector<std::pair<std::int64_t, double>> out;
  for (const ScoredDoc& d : r.lists.at(q)) out.emplace_back(d.id, d.score);
  return out;
}

void CheckList(const BatchRanking& got, const std::vector<std::pair<std::int64_t, double>>& want) {
  const auto pairs = Pairs(got);
  REQUIRE(pairs.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("position " << i);
    CHECK(pairs[i].first == want[i].first);
    CHECK(pairs[i].second == Approx(want[i].second).margin(1e-6));
  }
}

template <typename Options>
BatchRanking FuseOk(std::vector<const BatchRanking*> inputs, const Options& options) {
  auto fused = Fuse(inputs, options);
  INFO(fused.status().ToString());
  REQUIRE(fused.ok());
  return *std::move(fused);
}

TEST_CASE("normalisations of one list") {
  std::vector<double> v = {1, 2, 3};
  NormalizeScores(absl::MakeSpan(v), Normalization::kMinMax);
  CHECK(v == std::vector<double>{0, 0.5, 1});

  v = {1, 2, 3};
  NormalizeScores(absl::MakeSpan(v), Normalization::kZScore);  // mean 2, std sqrt(2/3)
  CHECK(v[0] == Approx(-1.224744871391589));
  CHECK(v[1] == Approx(0).margin(1e-15));
  CHECK(v[2] == Approx(1.224744871391589));

  v = {1, 2, 3, 4};  // ranx's sum_norm: (s - 1) / (0 + 1 + 2 + 3)
  NormalizeScores(absl::MakeSpan(v), Normalization::kSum);
  CHECK(v[0] == 0);
  CHECK(v[1] == Approx(1.0 / 6));
  CHECK(v[2] == Approx(2.0 / 6));
  CHECK(v[3] == Approx(3.0 / 6));

  v = {1, 2, 3};
  NormalizeScores(absl::MakeSpan(v), Normalization::kCenteredMinMax);  // (s - 2) / 2
  CHECK(v == std::vector<double>{-0.5, 0, 0.5});

  v = {3, 1, 2};  // order is kept
  NormalizeScores(absl::MakeSpan(v), Normalization::kNone);
  CHECK(v == std::vector<double>{3, 1, 2});
  NormalizeScores(absl::MakeSpan(v), Normalization::kMinMax);
  CHECK(v == std::vector<double>{1, 0, 0.5});
}

TEST_CASE("normalisations of degenerate lists") {
  const std::vector<double> constant = {0.1, 0.1, 0.1};
  auto norm = [&](std::vector<double> v, Normalization n) {
    NormalizeScores(absl::MakeSpan(v), n);
    return v;
  };
  CHECK(norm(constant, Normalization::kMinMax) == std::vector<double>{1, 1, 1});  // Pyserini
  CHECK(norm(constant, Normalization::kZScore) == std::vector<double>{0, 0, 0});
  CHECK(norm(constant, Normalization::kCenteredMinMax) == std::vector<double>{0, 0, 0});
  CHECK(norm({2, 2}, Normalization::kSum) == std::vector<double>{0, 0});  // all equal: 0, as ranx
  CHECK(norm({1, -1}, Normalization::kSum) == std::vector<double>{1, 0});  // shifted by the min
  // ranx floors the denominator at 1e-9: a spread below it is not blown up.
  const auto tiny = norm({1e-12, 0}, Normalization::kSum);
  CHECK(tiny[0] == Approx(1e-3));
  CHECK(tiny[1] == 0);
  CHECK(norm({0.7}, Normalization::kMinMax) == std::vector<double>{1});
  CHECK(norm({}, Normalization::kZScore).empty());

  Ranking list = {{4, 5.f}, {2, 1.f}};
  NormalizeScores(list, Normalization::kMinMax);
  CHECK(list[0].id == 4);
  CHECK(list[0].score == 1.f);
  CHECK(list[1].score == 0.f);
}

TEST_CASE("normalisation names") {
  CHECK(ParseNormalization("MinMax").value() == Normalization::kMinMax);
  CHECK(ParseNormalization("min-max").value() == Normalization::kMinMax);
  CHECK(ParseNormalization("zmuv").value() == Normalization::kZScore);
  CHECK(ParseNormalization("centered-minmax").value() == Normalization::kCenteredMinMax);
  for (Normalization n : {Normalization::kNone, Normalization::kMinMax, Normalization::kZScore,
                          Normalization::kSum, Normalization::kCenteredMinMax}) {
    CHECK(ParseNormalization(NormalizationName(n)).value() == n);
  }
  const auto bad = ParseNormalization("l2");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()), Contains("unknown normalization \"l2\""));
  CHECK(ParseMissingScore("min").value() == MissingScore::kMin);
  CHECK_FALSE(ParseMissingScore("max").ok());
}

TEST_CASE("interpolation: min-max, weights, missing rules") {
  // min-max, zero: 1: 1 + 0, 2: .5 + 1, 3: 0 + 0, 4: 0 + .5
  CheckList(FuseOk({&kL1, &kL2}, InterpolationOptions{}), {{2, 1.5}, {1, 1}, {4, 0.5}, {3, 0}});

  InterpolationOptions raw;
  raw.normalization = Normalization::kNone;
  // zero: 1: 3 + 2, 2: 2 + 10, 3: 1 + 0, 4: 0 + 6
  CheckList(FuseOk({&kL1, &kL2}, raw), {{2, 12}, {4, 6}, {1, 5}, {3, 1}});
  // min: a list's minimum fills its gaps: 3: 1 + 2 (min of L2), 4: 1 (min of L1) + 6
  raw.missing = MissingScore::kMin;
  CheckList(FuseOk({&kL1, &kL2}, raw), {{2, 12}, {4, 7}, {1, 5}, {3, 3}});

  // weights (0.25, 0.75), raw, zero: 1: .75 + 1.5, 2: .5 + 7.5, 3: .25, 4: 4.5
  raw.missing = MissingScore::kZero;
  raw.weights = {0.25, 0.75};
  CheckList(FuseOk({&kL1, &kL2}, raw), {{2, 8}, {4, 4.5}, {1, 2.25}, {3, 0.25}});

  // min is taken after normalisation: z-scores of L1 are {1.2247, 0, -1.2247}, of L2
  // (mean 6, std sqrt(32/3)) {1.2247, 0, -1.2247}; 3: -1.2247 + fill(L2) = -2.4495,
  // 4: fill(L1) + 0 = -1.2247, 1: 1.2247 - 1.2247 = 0, 2: 0 + 1.2247.
  InterpolationOptions z;
  z.normalization = Normalization::kZScore;
  z.missing = MissingScore::kMin;
  CheckList(FuseOk({&kL1, &kL2}, z), {{2, 1.2247449}, {1, 0}, {4, -1.2247449}, {3, -2.4494897}});

  // Pyserini's hybrid: centred min-max, missing -> min, alpha * sparse + dense with L1 as
  // "sparse" and alpha 0.1: L1 -> {.5, 0, -.5}, L2 -> {.5, 0, -.5};
  // 1: .05 - .5, 2: 0 + .5, 3: -.05 - .5, 4: -.05 + 0
  InterpolationOptions hybrid;
  hybrid.normalization = Normalization::kCenteredMinMax;
  hybrid.missing = MissingScore::kMin;
  hybrid.weights = {0.1, 1.0};
  CheckList(FuseOk({&kL1, &kL2}, hybrid), {{2, 0.5}, {4, -0.05}, {1, -0.45}, {3, -0.55}});
}

TEST_CASE("rrf: 1-based ranks, weights, k") {
  RrfOptions rrf;
  rrf.k = 1;
  // ranks L1: 1->1, 2->2, 3->3; L2: 2->1, 4->2, 1->3
  // 1: 1/2 + 1/4, 2: 1/3 + 1/2, 3: 1/4, 4: 1/3
  CheckList(FuseOk({&kL1, &kL2}, rrf), {{2, 5.0 / 6}, {1, 0.75}, {4, 1.0 / 3}, {3, 0.25}});
  CheckList(FuseOk({&kL1, &kL2}, RrfOptions{}),
            {{2, 1.0 / 62 + 1.0 / 61}, {1, 1.0 / 61 + 1.0 / 63}, {4, 1.0 / 62}, {3, 1.0 / 63}});
  rrf.weights = {2, 0};  // only L1 counts, twice
  CheckList(FuseOk({&kL1, &kL2}, rrf), {{1, 1}, {2, 2.0 / 3}, {3, 0.5}, {4, 0}});
}

TEST_CASE("combsum, combmnz, combmax") {
  CombOptions comb;  // min-max
  CheckList(FuseOk({&kL1, &kL2}, comb), {{2, 1.5}, {1, 1}, {4, 0.5}, {3, 0}});
  comb.rule = CombRule::kMnz;  // 1: (1 + 0) * 2, 2: 1.5 * 2, 3: 0 * 1, 4: .5 * 1
  CheckList(FuseOk({&kL1, &kL2}, comb), {{2, 3}, {1, 2}, {4, 0.5}, {3, 0}});
  comb.rule = CombRule::kMax;  // 1: max(1, 0), 2: max(.5, 1): tie at 1 -> smaller id first
  CheckList(FuseOk({&kL1, &kL2}, comb), {{1, 1}, {2, 1}, {4, 0.5}, {3, 0}});
  comb.normalization = Normalization::kNone;  // 1: max(3, 2), 2: max(2, 10), 3: 1, 4: 6
  CheckList(FuseOk({&kL1, &kL2}, comb), {{2, 10}, {4, 6}, {1, 3}, {3, 1}});
  comb.rule = CombRule::kMnz;  // 1: 5 * 2, 2: 12 * 2, 3: 1, 4: 6
  CheckList(FuseOk({&kL1, &kL2}, comb), {{2, 24}, {1, 10}, {4, 6}, {3, 1}});
}

TEST_CASE("borda: ranx's points, missing documents share the points left") {
  // C = 4. L1 (3 docs): 1->4, 2->3, 3->2, absent 4 -> (4 - 3 + 1) / 2 = 1.
  //        L2 (3 docs): 2->4, 4->3, 1->2, absent 3 -> 1.
  CheckList(FuseOk({&kL1, &kL2}, BordaOptions{}), {{2, 7}, {1, 6}, {4, 4}, {3, 3}});
  // A short list: L3 = {9: 1}; with L1, C = 4. L1: 1->4, 2->3, 3->2, absent 9 -> (4 - 3 + 1) / 2
  // = 1; L3: 9->4, absent -> (4 - 1 + 1) / 2 = 2 each. 1: 6, 2: 5, 3: 4, 9: 5; 2 and 9 tie.
  const BatchRanking l3 = One({{9, 1.f}});
  CheckList(FuseOk({&kL1, &l3}, BordaOptions{}), {{1, 6}, {2, 5}, {9, 5}, {3, 4}});
  // weights scale the points: 2 * L1 + 0.5 * L3 -> 1: 8 + 1, 2: 6 + 1, 3: 4 + 1, 9: 2 + 2
  BordaOptions weighted;
  weighted.weights = {2, 0.5};
  CheckList(FuseOk({&kL1, &l3}, weighted), {{1, 9}, {2, 7}, {3, 5}, {9, 4}});
}

TEST_CASE("ties are broken by the smaller id, inputs need not be sorted") {
  const BatchRanking unsorted = One({{9, 1.f}, {5, 1.f}, {3, 1.f}, {7, 2.f}});
  // ranked: 7 (2), then the tie 3, 5, 9 by id
  RrfOptions rrf;
  rrf.k = 1;
  CheckList(FuseOk({&unsorted}, rrf), {{7, 0.5}, {3, 1.0 / 3}, {5, 0.25}, {9, 0.2}});
  // min-max of a list with equal fused scores: all 1 -> ids ascending
  const BatchRanking flat = One({{8, 0.3f}, {2, 0.3f}, {6, 0.3f}});
  CheckList(FuseOk({&flat}, CombOptions{}), {{2, 1}, {6, 1}, {8, 1}});
}

TEST_CASE("depth cuts the inputs, top cuts the output, queries stay aligned") {
  RrfOptions rrf;
  rrf.k = 1;
  rrf.depth = 1;  // L1 -> {1}, L2 -> {2}
  CheckList(FuseOk({&kL1, &kL2}, rrf), {{1, 0.5}, {2, 0.5}});
  rrf.depth = 0;
  rrf.top = 2;
  CheckList(FuseOk({&kL1, &kL2}, rrf), {{2, 5.0 / 6}, {1, 0.75}});

  // Score methods normalise over the whole list, then cut (Pyserini's order): with depth 2,
  // L1 -> min-max of {3, 2, 1} = {1: 1, 2: .5, 3: 0} -> {1: 1, 2: .5}, L2 -> {2: 1, 4: .5};
  // combsum = {2: 1.5, 1: 1, 4: .5}. Cutting first would give {2: 1, 1: 1, 4: 0}.
  CombOptions comb;
  comb.depth = 2;
  CheckList(FuseOk({&kL1, &kL2}, comb), {{2, 1.5}, {1, 1}, {4, 0.5}});
  InterpolationOptions interp;
  interp.depth = 2;
  interp.missing = MissingScore::kMin;  // the minimum of the cut, normalised list: .5 each
  CheckList(FuseOk({&kL1, &kL2}, interp), {{1, 1.5}, {2, 1.5}, {4, 1.0}});  // tie: smaller id
  // Rank methods do not depend on the order: ranks in the cut list are the ranks in the list.
  rrf.top = 0;
  rrf.depth = 2;  // L1 -> {1: 1, 2: 2}, L2 -> {2: 1, 4: 2}
  CheckList(FuseOk({&kL1, &kL2}, rrf), {{2, 1.0 / 3 + 0.5}, {1, 0.5}, {4, 1.0 / 3}});

  // two queries, the second empty in one input
  BatchRanking a{{{{1, 1.f}}, {{5, 2.f}, {6, 1.f}}}};
  BatchRanking b{{{{2, 1.f}}, {}}};
  const BatchRanking fused = FuseOk({&a, &b}, InterpolationOptions{});
  REQUIRE(fused.size() == 2);
  CHECK(Pairs(fused, 0) == std::vector<std::pair<std::int64_t, double>>{{1, 1}, {2, 1}});
  CHECK(Pairs(fused, 1) == std::vector<std::pair<std::int64_t, double>>{{5, 1}, {6, 0}});
}

TEST_CASE("fusing a ranking with itself under RRF keeps its order") {
  Ranking list;
  for (int i = 0; i < 50; ++i) list.push_back({(i * 37) % 101, static_cast<float>(100 - i)});
  const BatchRanking r = One(list);
  const BatchRanking fused = FuseOk({&r, &r}, RrfOptions{});
  REQUIRE(fused.lists[0].size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(fused.lists[0][i].id == list[i].id);
}

TEST_CASE("validation errors name the problem") {
  auto message = [](const absl::Status& s) { return std::string(s.message()); };
  InterpolationOptions interp;
  interp.weights = {1, 2, 3};
  CHECK_THAT(message(interp.Validate(2)), Contains("got 3 weights for 2 inputs"));
  interp.weights = {1, std::numeric_limits<double>::quiet_NaN()};
  CHECK_THAT(message(interp.Validate(2)), Contains("weight 1 is nan"));
  interp.weights = {};
  interp.top = -1;
  CHECK_THAT(message(interp.Validate(2)), Contains("top must be >= 0"));
  interp.top = 0;
  interp.depth = -5;
  CHECK_THAT(message(interp.Validate(2)), Contains("depth must be >= 0"));
  interp.depth = 0;
  interp.normalization = static_cast<Normalization>(9);
  CHECK_THAT(message(interp.Validate(2)), Contains("unknown normalization 9"));
  interp.normalization = Normalization::kMinMax;
  interp.missing = static_cast<MissingScore>(4);
  CHECK_THAT(message(interp.Validate(2)), Contains("unknown missing-document rule 4"));
  CHECK_THAT(message(InterpolationOptions{}.Validate(0)), Contains("at least one input"));
  CHECK(InterpolationOptions{}.Validate(3).ok());

  RrfOptions rrf;
  rrf.k = 0;
  CHECK_THAT(message(rrf.Validate(2)), Contains("k must be a finite number > 0, got 0"));
  rrf.k = -3;
  CHECK_FALSE(rrf.Validate(2).ok());
  rrf.k = std::numeric_limits<double>::infinity();
  CHECK_FALSE(rrf.Validate(2).ok());
  CombOptions comb;
  comb.rule = static_cast<CombRule>(7);
  CHECK_THAT(message(comb.Validate(2)), Contains("unknown rule 7"));
  BordaOptions borda;
  borda.weights = {1};
  CHECK_THAT(message(borda.Validate(2)), Contains("borda: got 1 weights for 2 inputs"));

  // errors reach Fuse
  CHECK_FALSE(Fuse({&kL1, &kL2}, borda).ok());
  const BatchRanking two{{{}, {}}};
  const auto sizes = Fuse({&kL1, &two}, RrfOptions{});
  REQUIRE_FALSE(sizes.ok());
  CHECK_THAT(message(sizes.status()), Contains("input 0 has 1 query lists, input 1 has 2"));
  const BatchRanking dup = One({{4, 1.f}, {5, 2.f}, {4, 0.5f}});
  const auto dup_error = Fuse({&kL1, &dup}, CombOptions{});
  REQUIRE_FALSE(dup_error.ok());
  CHECK_THAT(message(dup_error.status()), Contains("fusion input 1, query row 0: document id 4 is listed twice"));
  const BatchRanking nan = One({{4, std::numeric_limits<float>::quiet_NaN()}});
  const auto nan_error = Fuse({&nan}, RrfOptions{});
  REQUIRE_FALSE(nan_error.ok());
  CHECK_THAT(message(nan_error.status()), Contains("document id 4 has a non-finite score"));
  CHECK_FALSE(Fuse({}, RrfOptions{}).ok());
  CHECK_FALSE(Fuse({&kL1, nullptr}, RrfOptions{}).ok());
}

TEST_CASE("ToString gives every parameter without whitespace") {
  CHECK(RrfOptions{}.ToString() == "rrf(k=60,weights=ones,depth=0,top=0)");
  InterpolationOptions interp;
  interp.weights = {0.3, 0.7};
  interp.top = 1000;
  CHECK(interp.ToString() ==
        "interpolation(weights=[0.3,0.7],norm=minmax,missing=zero,depth=0,top=1000)");
  CombOptions comb;
  comb.rule = CombRule::kMnz;
  comb.normalization = Normalization::kZScore;
  comb.depth = 100;
  CHECK(comb.ToString() == "combmnz(weights=ones,norm=zscore,depth=100,top=0)");
  BordaOptions borda;
  borda.weights = {1, 0.5};
  CHECK(borda.ToString() == "borda(weights=[1,0.5],depth=0,top=0)");
}

TEST_CASE("FuseRuns: string ids, trec_eval's tie order, union of queries") {
  Run a;
  a.name = "a";
  auto qa = a.AddQuery("q1").value();
  a.list(qa) = {{"d1", 0.5}, {"d3", 0.5}, {"d2", 0.9}};  // ranked d2, then the tie d3, d1
  Run b;
  b.name = "b";
  auto qb = b.AddQuery("q2").value();
  b.list(qb) = {{"x", 1.0}};
  qb = b.AddQuery("q1").value();
  b.list(qb) = {{"d1", 3.0}, {"d9", 2.0}};

  RrfOptions rrf;
  rrf.k = 1;
  const auto fused = FuseRuns({&a, &b}, rrf);
  INFO(fused.status().ToString());
  REQUIRE(fused.ok());
  CHECK(fused->name == "rrf(k=1,weights=ones,depth=0,top=0)");
  CHECK(fused->query_ids() == std::vector<std::string>{"q1", "q2"});
  // q1: d2: 1/2; d3: 1/3; d1: 1/4 + 1/2; d9: 1/3 -> d1, d2, then the tie d9, d3 (id descending)
  const auto& l1 = fused->list(0);
  REQUIRE(l1.size() == 4);
  CHECK(l1[0].doc_id == "d1");
  CHECK(l1[0].score == Approx(0.75));
  CHECK(l1[1].doc_id == "d2");
  CHECK(l1[2].doc_id == "d9");
  CHECK(l1[3].doc_id == "d3");
  CHECK(l1[3].score == Approx(1.0 / 3));
  REQUIRE(fused->list(1).size() == 1);
  CHECK(fused->list(1)[0].doc_id == "x");
  CHECK(fused->list(1)[0].score == Approx(0.5));

  rrf.top = 2;
  const auto cut = FuseRuns({&a, &b}, rrf);
  REQUIRE(cut.ok());
  CHECK(cut->list(0).size() == 2);

  Run dup;
  auto qd = dup.AddQuery("q1").value();
  dup.list(qd) = {{"d1", 1.0}, {"d1", 2.0}};
  const auto err = FuseRuns({&a, &dup}, BordaOptions{});
  REQUIRE_FALSE(err.ok());
  CHECK_THAT(std::string(err.status().message()), Contains("query \"q1\": document \"d1\" is listed twice"));

  // scores stay double: differences below float precision survive
  Run fine;
  auto qf = fine.AddQuery("q").value();
  fine.list(qf) = {{"a", 1.0}, {"b", 1.0 + 1e-12}};
  InterpolationOptions none;
  none.normalization = Normalization::kNone;
  const auto kept = FuseRuns({&fine}, none);
  REQUIRE(kept.ok());
  CHECK(kept->list(0)[0].doc_id == "b");
  CHECK(kept->list(0)[0].score == 1.0 + 1e-12);
}

TEST_CASE("NormalizeRun keeps the stored order") {
  Run run;
  auto q = run.AddQuery("q").value();
  run.list(q) = {{"a", 2.0}, {"b", 4.0}, {"c", 3.0}};
  const Run norm = NormalizeRun(run, Normalization::kMinMax);
  REQUIRE(norm.list(0).size() == 3);
  CHECK(norm.list(0)[0].doc_id == "a");
  CHECK(norm.list(0)[0].score == 0.0);
  CHECK(norm.list(0)[1].score == 1.0);
  CHECK(norm.list(0)[2].score == 0.5);
  CHECK(run.list(0)[1].score == 4.0);  // the input is untouched
}

}  // namespace
}  // namespace densefb
