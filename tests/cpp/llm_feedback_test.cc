// Generative feedback and selective PRF from C++ (densefb/llm_feedback.h,
// densefb/selective_prf.h): the predictors' formulas, query2doc's text, and selective PRF
// restoring the queries its predictor does not trust.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "catch2/catch.hpp"
#include "densefb/feedback.h"
#include "densefb/flat_index.h"
#include "densefb/llm_feedback.h"
#include "densefb/pipeline.h"
#include "densefb/selective_prf.h"

namespace densefb {
namespace {

Ranking List(std::vector<float> scores) {
  Ranking r;
  for (std::size_t i = 0; i < scores.size(); ++i) r.push_back({static_cast<std::int64_t>(i), scores[i]});
  return r;
}

TEST_CASE("selective PRF predictors") {
  const Ranking r = List({0.9f, 0.7f, 0.5f, 0.4f});
  CHECK(PredictorValue("gap", r, 3, nullptr, 0) == Approx(0.4));
  CHECK(PredictorValue("ratio", r, 3, nullptr, 0) == Approx(0.9 / 0.5));
  const double mean = (0.9 + 0.7 + 0.5 + 0.4) / 4;
  const double sd = std::sqrt(((0.9 - mean) * (0.9 - mean) + (0.7 - mean) * (0.7 - mean) +
                               (0.5 - mean) * (0.5 - mean) + (0.4 - mean) * (0.4 - mean)) / 4);
  CHECK(PredictorValue("nqc", r, 10, nullptr, 0) == Approx(sd / mean));
  // Three 2-d vectors: cosines 1 (v0, v1), 0 (v0, v2), 0 (v1, v2): mean 1/3.
  const std::vector<float> v = {1, 0, 2, 0, 0, 3};
  CHECK(PredictorValue("coherence", r, 3, v.data(), 2) == Approx(1.0 / 3));
  CHECK(std::isnan(PredictorValue("gap", List({0.5f}), 10, nullptr, 0)));
  CHECK(std::isnan(PredictorValue("ratio", List({0.5f, -0.1f}), 10, nullptr, 0)));
}

QueryState Queries(int n) {
  QueryState q;
  for (int i = 0; i < n; ++i) {
    q.query_ids.push_back(absl::StrCat("q", i));
    q.query_texts.push_back(absl::StrCat("query ", i));
    q.original_texts.push_back(absl::StrCat("query ", i));
  }
  return q;
}

TEST_CASE("query2doc writes the query, the separator and the passage") {
  auto gen = std::make_shared<FunctionGenerator>("echo", [](const std::string& p, const GenerateOptions& o)
                                                             -> absl::StatusOr<std::string> {
    CHECK(o.max_tokens == 128);
    return std::string(p.find("query 1") != std::string::npos ? "<think>hm</think>  passage   one " : "");
  });
  Query2Doc q2d(gen, {.query_repeat = 2});
  QueryState q = Queries(2);
  REQUIRE(q2d.Refine(q, BatchRanking{}).ok());
  CHECK(q.query_texts[0] == "query 0 query 0");  // an empty answer adds nothing (counted)
  CHECK(q.query_texts[1] == "query 1 query 1 [SEP] passage one");
  CHECK(q.original_texts[1] == "query 1");
  const auto c = q2d.Counters();
  CHECK((c.at("calls") == 2 && c.at("empty") == 1 && c.at("reasoning") == 1));
}

TEST_CASE("selective PRF keeps the vectors of the queries it does not trust") {
  auto created = FlatIndex::Create(2, Metric::kInnerProduct);
  REQUIRE(created.ok());
  std::shared_ptr<FlatIndex> index = std::move(*created);
  const std::vector<float> docs = {1, 0, 0.9f, 0.1f, 0, 1, 0.1f, 0.9f};
  REQUIRE(index->Add(ConstMatrixView{docs.data(), 4, 2}).ok());
  auto avg = std::make_shared<AveragePrf>(index, AveragePrfConfig{.k = 2});
  SelectivePrf sel(avg, index, {.model = "", .predictor = "gap", .threshold = 0.3, .depth = 2});
  QueryState q = Queries(2);
  q.query_vectors = RowMatrix(2, 2);
  q.query_vectors << 1, 0, 0, 1;
  BatchRanking r;
  r.lists = {List({0.9f, 0.2f}), List({0.9f, 0.8f})};  // gaps 0.7 (trusted) and 0.1 (kept)
  const RowMatrix before = q.query_vectors;
  REQUIRE(sel.Refine(q, r).ok());
  CHECK(q.query_vectors.row(1).isApprox(before.row(1)));
  CHECK(!q.query_vectors.row(0).isApprox(before.row(0)));
  // The trusted row is the average model's: (q + d0 + d1) / 3.
  CHECK(q.query_vectors(0, 0) == Approx((1 + 1 + 0.9) / 3.0));
  CHECK(sel.Counters().at("trusted") == 1);
  CHECK(sel.Counters().at("kept") == 1);
  CHECK(sel.ToString().rfind("selective(model=\"avg(k=2", 0) == 0);
}

TEST_CASE("selective from a spec wraps exactly one feedback model") {
  Resources res;
  CHECK(Pipeline::ParseFragment("selective(model='rocchio(topk=5)',predictor=nqc,threshold=0.1)", res).ok());
  auto bad = Pipeline::ParseFragment("selective(model='dense')", res);
  REQUIRE(!bad.ok());
  CHECK(std::string(bad.status().message()).find("not one feedback model") != std::string::npos);
  auto worse = Pipeline::ParseFragment("selective(model='rocchio(topk=')", res);
  REQUIRE(!worse.ok());
  CHECK(std::string(worse.status().message()).find("stage 'selective': model = ") != std::string::npos);
}

}  // namespace
}  // namespace densefb
