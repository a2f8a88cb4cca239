// Hand-computed checks of every measure (values worked out on paper from trec_eval's
// definitions; the randomized comparison with pytrec_eval/ir_measures is in
// tests/python/test_eval.py).
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "densefb/eval.h"

namespace densefb {
namespace {

using Ranking = std::vector<std::pair<std::string, double>>;
using Judgments = std::vector<std::pair<std::string, int>>;

Run MakeRun(const std::vector<std::pair<std::string, Ranking>>& queries) {
  Run run;
  for (const auto& [qid, ranking] : queries) {
    const std::size_t q = *run.AddQuery(qid);
    for (const auto& [doc, score] : ranking) run.list(q).push_back({doc, score});
  }
  return run;
}

Qrels MakeQrels(const std::vector<std::pair<std::string, Judgments>>& queries) {
  Qrels qrels;
  for (const auto& [qid, judgments] : queries) {
    for (const auto& [doc, grade] : judgments) REQUIRE(qrels.Set(qid, doc, grade).ok());
  }
  return qrels;
}

// Evaluates and returns {query id -> values in the order of `names`}; fails the test on error.
EvalResult Eval(const Run& run, const Qrels& qrels, const std::vector<std::string>& names,
                EvalOptions options = {}) {
  absl::StatusOr<EvalResult> result = Evaluate(run, qrels, names, options);
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

double Value(const EvalResult& r, const std::string& query, const std::string& measure) {
  for (std::size_t q = 0; q < r.query_ids.size(); ++q) {
    if (r.query_ids[q] != query) continue;
    for (std::size_t m = 0; m < r.measures.size(); ++m) {
      if (r.measures[m] == measure) return r.per_query[q][m];
    }
  }
  FAIL("no value for " << query << " / " << measure);
  return 0.0;
}

constexpr double kTol = 1e-12;
#define CHECK_NEAR(a, b) CHECK(std::abs((a) - (b)) < kTol)

// q1 ranks to: d5 (unjudged), d1 (1), d3 (0), d2 (2), d6 (unjudged). The stored order is
// deliberately not the score order.
Run Q1Run() {
  return MakeRun({{"q1", {{"d2", 0.6}, {"d5", 0.9}, {"d6", 0.5}, {"d1", 0.8}, {"d3", 0.7}}}});
}
Qrels Q1Qrels() { return MakeQrels({{"q1", {{"d1", 1}, {"d2", 2}, {"d3", 0}, {"d4", 1}}}}); }

TEST_CASE("binary-threshold measures at the default rel_level", "[eval]") {
  const EvalResult r = Eval(Q1Run(), Q1Qrels(),
                            {"AP", "AP@2", "RR", "RR@1", "RR@2", "R@100", "R@2", "R", "P@5",
                             "P@10", "P@1", "P@2"});
  // Relevant (grade >= 1): d1, d2, d4 (d4 not retrieved), at ranks 2 and 4.
  CHECK_NEAR(Value(r, "q1", "AP"), (1.0 / 2 + 2.0 / 4) / 3);
  CHECK_NEAR(Value(r, "q1", "AP@2"), (1.0 / 2) / 3);
  CHECK_NEAR(Value(r, "q1", "RR"), 0.5);
  CHECK_NEAR(Value(r, "q1", "RR@1"), 0.0);
  CHECK_NEAR(Value(r, "q1", "RR@2"), 0.5);
  CHECK_NEAR(Value(r, "q1", "R@100"), 2.0 / 3);
  CHECK_NEAR(Value(r, "q1", "R@2"), 1.0 / 3);
  CHECK_NEAR(Value(r, "q1", "R"), 2.0 / 3);
  CHECK_NEAR(Value(r, "q1", "P@5"), 2.0 / 5);
  CHECK_NEAR(Value(r, "q1", "P@10"), 2.0 / 10);  // divides by k beyond the list's length
  CHECK_NEAR(Value(r, "q1", "P@1"), 0.0);
  CHECK_NEAR(Value(r, "q1", "P@2"), 1.0 / 2);
}

TEST_CASE("rel_level 2, globally and per measure", "[eval]") {
  EvalOptions options;
  options.rel_level = 2;
  const EvalResult r = Eval(Q1Run(), Q1Qrels(), {"AP", "RR", "R@3", "R@4", "P@5"}, options);
  // Only d2 (grade 2) is relevant, at rank 4.
  CHECK_NEAR(Value(r, "q1", "AP"), 0.25);
  CHECK_NEAR(Value(r, "q1", "RR"), 0.25);
  CHECK_NEAR(Value(r, "q1", "R@3"), 0.0);
  CHECK_NEAR(Value(r, "q1", "R@4"), 1.0);
  CHECK_NEAR(Value(r, "q1", "P@5"), 0.2);

  // A per-measure threshold overrides the option; the plain measure keeps the option's.
  const EvalResult mixed = Eval(Q1Run(), Q1Qrels(), {"AP(rel=2)", "AP", "RR(rel=2)@3"});
  CHECK_NEAR(Value(mixed, "q1", "AP(rel=2)"), 0.25);
  CHECK_NEAR(Value(mixed, "q1", "AP"), 1.0 / 3);
  CHECK_NEAR(Value(mixed, "q1", "RR(rel=2)@3"), 0.0);

  // A threshold above every grade: nothing is relevant, so everything is 0 (no division by 0).
  const EvalResult none = Eval(Q1Run(), Q1Qrels(), {"AP(rel=5)", "R(rel=5)@10", "RR(rel=5)"});
  for (const std::string& m : none.measures) CHECK(Value(none, "q1", m) == 0.0);
}

TEST_CASE("nDCG uses raw grades as gains and ignores rel_level", "[eval]") {
  // Gains by rank: 0, 1, 0, 2, 0; ideal gains 2, 1, 1.
  const double dcg = 1 / std::log2(3.0) + 2 / std::log2(5.0);
  const double idcg = 2 / std::log2(2.0) + 1 / std::log2(3.0) + 1 / std::log2(4.0);
  for (int rel_level : {1, 2, 3}) {
    EvalOptions options;
    options.rel_level = rel_level;
    const EvalResult r =
        Eval(Q1Run(), Q1Qrels(), {"nDCG", "nDCG@2", "nDCG@1", "nDCG@100"}, options);
    CHECK_NEAR(Value(r, "q1", "nDCG"), dcg / idcg);
    CHECK_NEAR(Value(r, "q1", "nDCG@2"), (1 / std::log2(3.0)) / (2 + 1 / std::log2(3.0)));
    CHECK_NEAR(Value(r, "q1", "nDCG@1"), 0.0);
    CHECK_NEAR(Value(r, "q1", "nDCG@100"), dcg / idcg);
  }

  // Grades 3 and 2, a negative grade (no gain), and an ideal list longer than the run.
  const Run run = MakeRun({{"q", {{"b", 3.0}, {"c", 2.0}, {"a", 1.0}}}});
  const Qrels qrels = MakeQrels({{"q", {{"a", 3}, {"b", -1}, {"c", 2}, {"d", 1}}}});
  const EvalResult r = Eval(run, qrels, {"nDCG", "nDCG@2", "nDCG@1"});
  const double ideal3 = 3 + 2 / std::log2(3.0) + 1 / std::log2(4.0);
  CHECK_NEAR(Value(r, "q", "nDCG"), (2 / std::log2(3.0) + 3 / std::log2(4.0)) / ideal3);
  CHECK_NEAR(Value(r, "q", "nDCG@2"), (2 / std::log2(3.0)) / (3 + 2 / std::log2(3.0)));
  CHECK_NEAR(Value(r, "q", "nDCG@1"), 0.0);

  // No positive grade at all: ideal DCG is 0 and nDCG is 0, not NaN.
  const EvalResult zero = Eval(run, MakeQrels({{"q", {{"a", 0}}}}), {"nDCG", "nDCG@10"});
  CHECK(Value(zero, "q", "nDCG") == 0.0);
  CHECK(Value(zero, "q", "nDCG@10") == 0.0);
}

TEST_CASE("ties: score descending, then doc id descending; stored order ignored", "[eval]") {
  // trec_eval order: z (2.0), then c, b, a (tied at 1.0, doc id descending).
  const Run run = MakeRun({{"q", {{"a", 1.0}, {"b", 1.0}, {"c", 1.0}, {"z", 2.0}}}});
  const Qrels qrels = MakeQrels({{"q", {{"a", 1}}}});
  const EvalResult r = Eval(run, qrels, {"RR", "RR@3", "AP", "P@3", "nDCG"});
  CHECK_NEAR(Value(r, "q", "RR"), 0.25);
  CHECK_NEAR(Value(r, "q", "RR@3"), 0.0);
  CHECK_NEAR(Value(r, "q", "AP"), 0.25);
  CHECK_NEAR(Value(r, "q", "P@3"), 0.0);
  CHECK_NEAR(Value(r, "q", "nDCG"), 1 / std::log2(5.0));

  // strcmp order, not numeric: "b9" > "b10", so b9 ranks first.
  const Run digits = MakeRun({{"q", {{"b10", 0.5}, {"b9", 0.5}}}});
  const EvalResult d = Eval(digits, MakeQrels({{"q", {{"b10", 1}}}}), {"RR"});
  CHECK_NEAR(Value(d, "q", "RR"), 0.5);

  // Negative and zero scores order like any others; -0.0 ties with 0.0.
  const Run signs = MakeRun({{"q", {{"x", -1.0}, {"y", 0.0}, {"w", -0.0}, {"v", -2.5}}}});
  const EvalResult s = Eval(signs, MakeQrels({{"q", {{"w", 1}}}}), {"RR"});
  CHECK_NEAR(Value(s, "q", "RR"), 0.5);  // y, w (tie broken by id), x, v
}

TEST_CASE("Judged@k follows ir_measures: min(k, retrieved), ties by doc id ascending", "[eval]") {
  {
    const EvalResult r = Eval(Q1Run(), Q1Qrels(), {"Judged@2", "Judged@5", "Judged@10", "Judged"});
    // d5 (unjudged), d1, d3 (judged 0), d2, d6 (unjudged).
    CHECK_NEAR(Value(r, "q1", "Judged@2"), 1.0 / 2);
    CHECK_NEAR(Value(r, "q1", "Judged@5"), 3.0 / 5);
    CHECK_NEAR(Value(r, "q1", "Judged@10"), 3.0 / 5);  // divides by min(k, retrieved)
    CHECK_NEAR(Value(r, "q1", "Judged"), 3.0 / 5);
  }
  {
    // ir_measures' order here is z, a, b, c (trec_eval's would be z, c, b, a).
    const Run run = MakeRun({{"q", {{"a", 1.0}, {"b", 1.0}, {"c", 1.0}, {"z", 2.0}}}});
    const Qrels qrels = MakeQrels({{"q", {{"a", 0}}}});
    const EvalResult r = Eval(run, qrels, {"Judged@1", "Judged@2", "Judged@3"});
    CHECK_NEAR(Value(r, "q", "Judged@1"), 0.0);
    CHECK_NEAR(Value(r, "q", "Judged@2"), 0.5);
    CHECK_NEAR(Value(r, "q", "Judged@3"), 1.0 / 3);
  }
}

TEST_CASE("which queries are evaluated and averaged", "[eval]") {
  const Run run = MakeRun({
      {"q1", {{"d1", 1.0}, {"d2", 0.5}}},  // RR 1
      {"q2", {{"d1", 1.0}, {"d2", 0.5}}},  // RR 1/2
      {"q3", {}},                          // empty list: evaluated, 0
      {"only_in_run", {{"d1", 1.0}}},      // ignored
  });
  const Qrels qrels = MakeQrels({
      {"q2", {{"d2", 1}}},
      {"missing", {{"d1", 1}}},  // not in the run
      {"q1", {{"d1", 1}}},
      {"q3", {{"d1", 1}}},
  });
  const std::vector<std::string> names = {"RR", "P@1", "nDCG@10", "Judged@10"};

  const EvalResult r = Eval(run, qrels, names);
  CHECK(r.query_ids == std::vector<std::string>{"q2", "q1", "q3"});  // qrels order
  CHECK(r.measures == names);
  CHECK_NEAR(r.mean[0], (0.5 + 1.0 + 0.0) / 3);
  CHECK_NEAR(r.mean[1], (0.0 + 1.0 + 0.0) / 3);
  for (double v : r.per_query[2]) CHECK(v == 0.0);

  EvalOptions all;
  all.average_over_qrels = true;
  const EvalResult c = Eval(run, qrels, names, all);
  CHECK(c.query_ids == std::vector<std::string>{"q2", "missing", "q1", "q3"});
  for (double v : c.per_query[1]) CHECK(v == 0.0);
  CHECK_NEAR(c.mean[0], (0.5 + 0.0 + 1.0 + 0.0) / 4);
  CHECK_NEAR(c.mean[1], (0.0 + 0.0 + 1.0 + 0.0) / 4);

  // No overlap: no query, means 0.
  const EvalResult none = Eval(MakeRun({{"x", {{"d", 1.0}}}}), qrels, names);
  CHECK(none.query_ids.empty());
  CHECK(none.mean == std::vector<double>(names.size(), 0.0));
  // An empty run.
  const EvalResult empty = Eval(Run(), qrels, names, all);
  CHECK(empty.query_ids.size() == 4);
  CHECK(empty.mean == std::vector<double>(names.size(), 0.0));
}

TEST_CASE("Measure::Parse round trips ir_measures notation", "[eval][parse]") {
  for (const char* name : {"nDCG@10", "nDCG", "AP", "AP@100", "RR", "RR@10", "R@100", "R",
                           "P@5", "Judged@10", "Judged", "AP(rel=2)", "R(rel=2)@1000",
                           "RR(rel=3)@10", "P(rel=2)@5", "AP(rel=12)@7"}) {
    INFO(name);
    const absl::StatusOr<Measure> m = Measure::Parse(name);
    REQUIRE(m.ok());
    CHECK(m->ToString() == name);
    CHECK(*Measure::Parse(m->ToString()) == *m);
  }
  const absl::StatusOr<Measure> m = Measure::Parse("R(rel=2)@1000");
  REQUIRE(m.ok());
  CHECK(m->kind == Measure::Kind::kRecall);
  CHECK(m->cutoff == 1000);
  CHECK(m->rel_level == 2);
}

TEST_CASE("Measure::Parse accepts aliases and trec_eval names", "[eval][parse]") {
  const std::vector<std::pair<std::string, std::string>> aliases = {
      {"ndcg_cut_10", "nDCG@10"}, {"ndcg", "nDCG"},     {"map", "AP"},
      {"map_cut_100", "AP@100"},  {"recip_rank", "RR"}, {"recall_100", "R@100"},
      {"P_10", "P@10"},           {"NDCG@10", "nDCG@10"}, {"MAP", "AP"},
      {"MRR@10", "RR@10"},        {"Recall@5", "R@5"},  {"Precision@3", "P@3"},
      {" AP@10 ", "AP@10"},       {"AP( rel = 2 )", "AP(rel=2)"},
  };
  for (const auto& [alias, canonical] : aliases) {
    INFO(alias);
    const absl::StatusOr<Measure> m = Measure::Parse(alias);
    REQUIRE(m.ok());
    CHECK(m->ToString() == canonical);
  }
}

TEST_CASE("Measure::Parse rejects unknown or malformed names, naming them", "[eval][parse]") {
  for (const char* name : {"nDGC@10", "", "ndcg_cut_", "ndcg_cut_x", "P_0", "ndcg@10", "nDCG@0",
                           "nDCG@-1", "nDCG@x", "nDCG@10@10", "nDCG@ 10", "nDCG@+10",
                           "nDCG@99999999999", "P", "nDCG(rel=2)", "Judged(rel=1)@5",
                           "AP(rel=0)", "AP(rel=-1)", "AP(foo=1)", "AP(rel=2", "AP(rel=2=3)",
                           "AP(rel=2)x", "AP@10(rel=2)", "ERR@10", "map_cut_10x"}) {
    INFO(name);
    const absl::StatusOr<Measure> m = Measure::Parse(name);
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(m.status().message().find(std::string("\"") + name) !=
          absl::string_view::npos);
  }
  const absl::StatusOr<Measure> typo = Measure::Parse("nDGC@10");
  CHECK(typo.status().message() == "unknown measure \"nDGC@10\"");
}

TEST_CASE("Evaluate rejects invalid runs, options and measures", "[eval]") {
  const Qrels qrels = MakeQrels({{"q", {{"a", 1}}}});
  const std::vector<std::string> ap = {"AP"};
  {
    const Run run = MakeRun({{"q", {{"a", 1.0}, {"b", 0.5}, {"a", 0.2}}}});
    const auto r = Evaluate(run, qrels, ap);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(r.status().message() == "run: query \"q\" lists document \"a\" more than once");
  }
  {
    // Invalid even in a query the qrels do not judge.
    const Run run = MakeRun({{"q", {{"a", 1.0}}},
                             {"other", {{"x", std::numeric_limits<double>::quiet_NaN()}}}});
    const auto r = Evaluate(run, qrels, ap);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(r.status().message() == "run: query \"other\" document \"x\" has a NaN score");
  }
  const Run run = MakeRun({{"q", {{"a", 1.0}}}});
  {
    EvalOptions options;
    options.rel_level = 0;
    CHECK(Evaluate(run, qrels, ap, options).status().code() == absl::StatusCode::kInvalidArgument);
  }
  {
    const std::vector<std::string> names = {"AP", "nDGC@10"};
    const auto r = Evaluate(run, qrels, names);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "unknown measure \"nDGC@10\"");
  }
  {
    Measure p;
    p.kind = Measure::Kind::kPrecision;  // no cutoff
    const std::vector<Measure> measures = {p};
    const auto r = Evaluate(run, qrels, measures);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("P needs a cutoff") != absl::string_view::npos);
  }
  // Infinite scores are legal and rank first or last.
  const Run inf = MakeRun({{"q", {{"b", std::numeric_limits<double>::infinity()},
                                  {"a", -std::numeric_limits<double>::infinity()}}}});
  CHECK_NEAR(Eval(inf, qrels, {"RR"}).mean[0], 0.5);
}

// Not a pass/fail test: run with `eval_test "[.perf]"` to print the time of a large evaluation.
TEST_CASE("timing of a 300 x 1000 evaluation", "[.perf]") {
  std::mt19937 rng(7);
  Run run;
  Qrels qrels;
  for (int q = 0; q < 300; ++q) {
    const std::string qid = "q" + std::to_string(q);
    const std::size_t qi = *run.AddQuery(qid);
    for (int d = 0; d < 1000; ++d) {
      run.list(qi).push_back({"doc" + std::to_string(rng() % 1000000) + "_" + std::to_string(d),
                              static_cast<double>(rng() % 500) / 100.0});
    }
    for (int j = 0; j < 50; ++j) {
      REQUIRE(qrels.Set(qid, run.list(qi)[rng() % 1000].doc_id, static_cast<int>(rng() % 4)).ok());
    }
  }
  const std::vector<std::string> names = {"nDCG@10", "AP", "R@100", "RR@10", "P@10", "Judged@10"};
  const auto start = std::chrono::steady_clock::now();
  const auto r = Evaluate(run, qrels, names);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(r.ok());
  WARN("300 queries x 1000 docs x 6 measures: " << ms << " ms");
}

}  // namespace
}  // namespace densefb
