// LLM rerankers (densefb/llm_rerankers.h) against oracle stand-in generators: the windows, the
// permutation parser's repairs, FIRST's logprob order, the setwise tournament and the counts.
#include "densefb/llm_rerankers.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "catch2/catch.hpp"
#include "densefb/pipeline.h"

namespace densefb {
namespace {

// Documents "doc<i>" whose text names a hidden relevance: relevance(i) = (i * 37) % 101.
int Relevance(int i) { return (i * 37) % 101; }

std::shared_ptr<const Corpus> MakeCorpus(int n) {
  auto corpus = std::make_shared<Corpus>();
  for (int i = 0; i < n; ++i) {
    REQUIRE(corpus->Add({absl::StrCat("doc", i), "", absl::StrCat("passage number ", i, " about things")}).ok());
  }
  return corpus;
}

// The document numbers of a prompt's passages, in the order shown.
std::vector<int> Shown(const std::string& prompt) {
  std::vector<int> out;
  static const std::regex re("passage number ([0-9]+) ");
  for (auto it = std::sregex_iterator(prompt.begin(), prompt.end(), re); it != std::sregex_iterator(); ++it) {
    out.push_back(std::stoi((*it)[1]));
  }
  return out;
}

// The oracle's order of the shown passages (1-based labels, best first).
std::vector<int> OracleOrder(const std::string& prompt) {
  const std::vector<int> docs = Shown(prompt);
  std::vector<int> order(docs.size());
  for (std::size_t j = 0; j < docs.size(); ++j) order[j] = static_cast<int>(j);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return Relevance(docs[a]) > Relevance(docs[b]); });
  return order;
}

std::shared_ptr<FunctionGenerator> Oracle(bool think = false) {
  return std::make_shared<FunctionGenerator>(
      "oracle",
      [think](const std::string& prompt, const GenerateOptions&) -> absl::StatusOr<std::string> {
        const std::vector<int> order = OracleOrder(prompt);
        std::string answer;
        if (prompt.find("Passage A:") != std::string::npos) {
          answer = std::string(1, static_cast<char>('A' + order[0]));  // setwise
        } else {
          std::vector<std::string> parts;
          for (int j : order) parts.push_back(absl::StrCat("[", j + 1, "]"));
          answer = absl::StrJoin(parts, " > ");
        }
        return think ? absl::StrCat("<think>passage [3] looks best, then 1 2</think>\n", answer) : answer;
      },
      [](const std::string& prompt, absl::Span<const std::string> labels) -> absl::StatusOr<std::vector<double>> {
        const std::vector<int> docs = Shown(prompt);
        std::vector<double> lp(labels.size(), kNoLogprob);
        for (std::size_t j = 0; j < labels.size() && j < docs.size(); ++j) lp[j] = -1.0 / (1 + Relevance(docs[j]));
        return lp;
      });
}

QueryState OneQuery(std::size_t queries = 1) {
  QueryState q;
  for (std::size_t i = 0; i < queries; ++i) {
    q.query_ids.push_back(absl::StrCat("q", i));
    q.query_texts.push_back("what about things");
    q.original_texts.push_back("what about things");
  }
  return q;
}

// Documents 0..n-1 in id order as the first-stage ranking of every query.
BatchRanking Candidates(int n, std::size_t queries = 1) {
  BatchRanking r;
  r.lists.resize(queries);
  for (Ranking& list : r.lists) {
    for (int i = 0; i < n; ++i) list.push_back({i, static_cast<float>(n - i)});
  }
  return r;
}

std::vector<int> Ids(const Ranking& list) {
  std::vector<int> out;
  for (const ScoredDoc& d : list) out.push_back(static_cast<int>(d.id));
  return out;
}

std::vector<int> ByRelevance(std::vector<int> ids) {
  std::stable_sort(ids.begin(), ids.end(), [](int a, int b) { return Relevance(a) > Relevance(b); });
  return ids;
}

TEST_CASE("sliding windows run from the bottom up and reach the top") {
  using W = std::vector<std::pair<std::int64_t, std::int64_t>>;
  CHECK(SlidingWindows(100, 20, 10) ==
        W{{80, 100}, {70, 90}, {60, 80}, {50, 70}, {40, 60}, {30, 50}, {20, 40}, {10, 30}, {0, 20}});
  CHECK(SlidingWindows(25, 20, 10) == W{{5, 25}, {0, 15}});
  CHECK(SlidingWindows(10, 20, 10) == W{{0, 10}});
  CHECK(SlidingWindows(1, 20, 10).empty());
  CHECK(SlidingWindows(0, 20, 10).empty());
}

TEST_CASE("the permutation parser repairs what models write and counts each repair") {
  PermutationRepairs r;
  CHECK(ParsePermutation("[2] > [1] > [3]", 3, &r) == std::vector<int>{1, 0, 2});
  CHECK((!r.unparseable && r.duplicates == 0 && r.missing == 0 && r.out_of_range == 0));
  CHECK(ParsePermutation("[2] > [2] > [1] > [3]", 3, &r) == std::vector<int>{1, 0, 2});
  CHECK(r.duplicates == 1);
  CHECK(ParsePermutation("[3] > [1]", 4, &r) == std::vector<int>{2, 0, 1, 3});
  CHECK(r.missing == 2);
  CHECK(ParsePermutation("[9] > [1] > [0]", 2, &r) == std::vector<int>{0, 1});
  CHECK((r.out_of_range == 2 && r.missing == 1));
  CHECK(ParsePermutation("I cannot rank these.", 3, &r) == std::vector<int>{0, 1, 2});
  CHECK(r.unparseable);
  // Without brackets, every number; with them, only bracketed ones.
  CHECK(ParsePermutation("2 > 3 > 1", 3, &r) == std::vector<int>{1, 2, 0});
  CHECK(ParsePermutation("Ranking of 3 passages: [3] > [2] > [1]", 3, &r) == std::vector<int>{2, 1, 0});
  // Reasoning first: only the answer after </think> counts.
  CHECK(ParsePermutation("<think>[1] is best? no, [2]</think>[2] > [3] > [1]", 3, &r) == std::vector<int>{1, 2, 0});
  CHECK(ParsePermutation("<think>[1] > [2] > [3] and then", 3, &r) == std::vector<int>{0, 1, 2});
  CHECK(r.unparseable);
  CHECK(ParsePermutation("[99999999999999999999] > [1]", 2, &r) == std::vector<int>{0, 1});
  CHECK(r.out_of_range == 1);
  CHECK(ParsePermutation("", 0, &r).empty());
}

TEST_CASE("labels and grades are read after the reasoning block") {
  const std::vector<std::string> labels = {"A", "B", "C"};
  CHECK(ParseLabel("C", labels) == 2);
  CHECK(ParseLabel("Passage B", labels) == 1);
  CHECK(ParseLabel("[A].", labels) == 0);
  CHECK(ParseLabel("<think>A or C?</think> B", labels) == 1);
  CHECK(ParseLabel("none of them", labels) == -1);  // lower-case words are not labels
  CHECK(ParseGrade("2") == 2);
  CHECK(ParseGrade("Grade: 3.") == 3);
  CHECK(ParseGrade("<think>maybe 3</think>1") == 1);
  CHECK(ParseGrade("10 then 7") == -1);
}

TEST_CASE("listwise with an oracle puts the true top `step` first, one call per window") {
  const int n = 100;
  auto gen = Oracle();
  ListwiseRerank rr(MakeCorpus(n), gen);
  QueryState q = OneQuery(3);
  auto out = rr.Rerank(q, Candidates(n, 3));
  REQUIRE(out.ok());
  std::vector<int> all(n);
  for (int i = 0; i < n; ++i) all[i] = i;
  const std::vector<int> best = ByRelevance(all);
  for (const Ranking& list : out->lists) {
    REQUIRE(list.size() == static_cast<std::size_t>(n));
    const std::vector<int> got = Ids(list);
    CHECK(std::vector<int>(got.begin(), got.begin() + 10) == std::vector<int>(best.begin(), best.begin() + 10));
    for (std::size_t p = 1; p < list.size(); ++p) CHECK(list[p - 1].score > list[p].score);
  }
  CHECK(gen->Stats().requests == 27);  // 9 windows x 3 queries
  const auto counters = rr.Counters();
  CHECK(counters.at("windows") == 27);
  CHECK(counters.at("unparseable") == 0);
  CHECK(counters.at("repaired_missing") == 0);
}

TEST_CASE("listwise reads reasoning answers and counts them") {
  auto gen = Oracle(/*think=*/true);
  ListwiseRerank rr(MakeCorpus(30), gen, {.k = 30, .window = 20, .step = 10});
  QueryState q = OneQuery();
  auto out = rr.Rerank(q, Candidates(30));
  REQUIRE(out.ok());
  std::vector<int> all(30);
  for (int i = 0; i < 30; ++i) all[i] = i;
  const std::vector<int> got = Ids(out->lists[0]), best = ByRelevance(all);
  CHECK(std::vector<int>(got.begin(), got.begin() + 10) == std::vector<int>(best.begin(), best.begin() + 10));
  CHECK(rr.Counters().at("reasoning") == 2);
}

TEST_CASE("listwise repairs broken answers and keeps every candidate once") {
  int call = 0;
  auto gen = std::make_shared<FunctionGenerator>("broken", [&call](const std::string&, const GenerateOptions&)
                                                                -> absl::StatusOr<std::string> {
    const char* answers[] = {"[2] > [2] > [1]", "no idea", "[1] > [40]"};
    return std::string(answers[call++ % 3]);
  });
  ListwiseRerank rr(MakeCorpus(25), gen, {.k = 25, .window = 10, .step = 5});
  QueryState q = OneQuery();
  auto out = rr.Rerank(q, Candidates(25));
  REQUIRE(out.ok());
  std::vector<int> got = Ids(out->lists[0]);
  std::sort(got.begin(), got.end());
  std::vector<int> all(25);
  for (int i = 0; i < 25; ++i) all[i] = i;
  CHECK(got == all);
  const auto c = rr.Counters();
  CHECK(c.at("windows") == 4);  // (15,25) (10,20) (5,15) (0,10)
  CHECK(c.at("repaired_duplicates") == 2);  // answers 1 and 4
  CHECK(c.at("unparseable") == 1);
  CHECK(c.at("repaired_out_of_range") == 1);
  CHECK(c.at("repaired_missing") == 3);
}

TEST_CASE("FIRST orders each window by the label log-probabilities, one step per window") {
  const int n = 100;
  auto gen = Oracle();
  FirstRerank rr(MakeCorpus(n), gen);
  QueryState q = OneQuery(2);
  auto out = rr.Rerank(q, Candidates(n, 2));
  REQUIRE(out.ok());
  ListwiseRerank lw(MakeCorpus(n), Oracle());
  QueryState q2 = OneQuery(2);
  auto ref = lw.Rerank(q2, Candidates(n, 2));
  REQUIRE(ref.ok());
  CHECK(Ids(out->lists[0]) == Ids(ref->lists[0]));  // the same oracle, read from logits or text
  CHECK(gen->Stats().requests == 18);
  CHECK(rr.Counters().at("windows") == 18);
  CHECK(rr.Counters().at("missing_logprobs") == 0);
}

TEST_CASE("setwise tournament finds the true top places; the rest keep their order") {
  const int n = 50;
  auto gen = Oracle();
  SetwiseRerank rr(MakeCorpus(n), gen, {.k = n, .set_size = 4, .topn = 5});
  QueryState q = OneQuery();
  auto out = rr.Rerank(q, Candidates(n));
  REQUIRE(out.ok());
  std::vector<int> all(n);
  for (int i = 0; i < n; ++i) all[i] = i;
  const std::vector<int> best = ByRelevance(all), got = Ids(out->lists[0]);
  CHECK(std::vector<int>(got.begin(), got.begin() + 5) == std::vector<int>(best.begin(), best.begin() + 5));
  std::vector<int> rest(got.begin() + 5, got.end());
  CHECK(std::is_sorted(rest.begin(), rest.end()));
  // First tournament: 13 + 3 + 1 calls (50 -> 13 -> 4 -> 1; a node of one member needs none);
  // each of the next 4 places replays the champion's path: one call per level that still has
  // two or more members, at least one.
  const auto c = rr.Counters();
  CHECK(c.at("comparisons") == gen->Stats().requests);
  CHECK(c.at("comparisons") >= 17 + 4);
  CHECK(c.at("comparisons") <= 17 + 4 * 3);
  CHECK(c.at("unparseable") == 0);
}

TEST_CASE("pointwise grades and yes/no probabilities") {
  auto gen = std::make_shared<FunctionGenerator>(
      "grader",
      [](const std::string& prompt, const GenerateOptions&) -> absl::StatusOr<std::string> {
        const int d = Shown(prompt)[0];
        return d == 3 ? std::string("unsure") : absl::StrCat("Grade: ", Relevance(d) % 4);
      },
      [](const std::string& prompt, absl::Span<const std::string>) -> absl::StatusOr<std::vector<double>> {
        const int d = Shown(prompt)[0];
        return std::vector<double>{std::log(Relevance(d) / 101.0 + 1e-9), std::log(1 - Relevance(d) / 101.0)};
      });
  PointwiseRerank grade(MakeCorpus(8), gen, {.k = 8, .mode = "grade"});
  QueryState q = OneQuery();
  auto out = grade.Rerank(q, Candidates(8));
  REQUIRE(out.ok());
  std::vector<int> want = {0, 1, 2, 3, 4, 5, 6, 7};
  std::stable_sort(want.begin(), want.end(), [](int a, int b) {
    auto g = [](int d) { return d == 3 ? 0 : Relevance(d) % 4; };
    return g(a) > g(b);
  });
  CHECK(Ids(out->lists[0]) == want);
  CHECK(grade.Counters().at("unparseable") == 1);
  CHECK(grade.Counters().at("calls") == 8);

  PointwiseRerank yes(MakeCorpus(8), gen, {.k = 8});
  auto out2 = yes.Rerank(q, Candidates(8));
  REQUIRE(out2.ok());
  std::vector<int> all = {0, 1, 2, 3, 4, 5, 6, 7};
  CHECK(Ids(out2->lists[0]) == ByRelevance(all));
  CHECK(out2->lists[0][0].score == Approx(Relevance(ByRelevance(all)[0]) / 101.0).epsilon(1e-5));
}

TEST_CASE("LLM rerankers from specs; errors name the stage and what is missing") {
  Resources r;
  r.Set<Corpus>(resource::kCorpus, MakeCorpus(10));
  auto p = Pipeline::ParseFragment("rerank_listwise(k=30,window=10,step=5)", r);
  REQUIRE(p.ok());
  CHECK(p->ToString().find("rerank_listwise(k=30,window=10,step=5,max_words=300,max_tokens=300,prompt=\"\")") !=
        std::string::npos);
  ListwiseRerank unbound(MakeCorpus(10), nullptr);
  QueryState q = OneQuery();
  auto s = unbound.Rerank(q, Candidates(10));
  REQUIRE(!s.ok());
  CHECK(std::string(s.status().message()).find("generator") != std::string::npos);
  auto bad = Pipeline::ParseFragment("rerank_listwise(window=10,step=20)", r);
  REQUIRE(!bad.ok());
  CHECK(std::string(bad.status().message()).find("step = 20 exceeds window = 10") != std::string::npos);
  auto tmpl = Pipeline::ParseFragment("rerank_setwise(prompt='{query} {docs}')", r);
  REQUIRE(!tmpl.ok());
  CHECK(std::string(tmpl.status().message()).find("{docs}") != std::string::npos);
  auto first = Pipeline::ParseFragment("rerank_first(window=27)", r);
  REQUIRE(!first.ok());
  // A generator that fails: the error says which stage.
  auto down = std::make_shared<FunctionGenerator>("down", [](const std::string&, const GenerateOptions&)
                                                              -> absl::StatusOr<std::string> {
    return absl::UnavailableError("connection refused");
  });
  ListwiseRerank rr(MakeCorpus(10), down);
  auto e = rr.Rerank(q, Candidates(10));
  REQUIRE(!e.ok());
  CHECK(std::string(e.status().message()).find("rerank_listwise") != std::string::npos);
  CHECK(std::string(e.status().message()).find("connection refused") != std::string::npos);
}

}  // namespace
}  // namespace densefb
