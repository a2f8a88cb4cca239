// The four role interfaces implemented by the user: a Retriever, a FeedbackModel, a Reranker
// and a Fusion written here (not in the library), composed with the built-ins as objects and,
// once registered, through specs; every ranking is checked against plain loops over the matrix.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/feedback.h"
#include "densefb/flat_index.h"
#include "densefb/pipeline.h"
#include "densefb/retrievers.h"
#include "test_util.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;

constexpr char kMatrix[] = "test_matrix";  // the resource name of the user's document matrix

void SortBest(Ranking& list) {
  std::sort(list.begin(), list.end(), [](const ScoredDoc& a, const ScoredDoc& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
}

// ---- the user's roles ------------------------------------------------------------------------

// Brute-force dot product over a document matrix (row i = document i), for the current query
// vectors. "test_brute(k=K)".
class BruteRetriever final : public Retriever {
 public:
  BruteRetriever(std::shared_ptr<const RowMatrix> docs, std::int64_t k) : docs_(std::move(docs)), k_(k) {}

  absl::StatusOr<BatchRanking> Retrieve(QueryState& queries) const override {
    if (!queries.has_query_vectors()) return absl::FailedPreconditionError("test_brute needs query vectors");
    if (queries.query_vectors.cols() != docs_->cols()) {
      return absl::InvalidArgumentError(absl::StrCat("query dimension ", queries.query_vectors.cols(),
                                                     " is not the matrix's ", docs_->cols()));
    }
    BatchRanking out;
    out.lists.resize(queries.size());
    for (std::size_t q = 0; q < queries.size(); ++q) {
      Ranking& list = out.lists[q];
      for (Eigen::Index i = 0; i < docs_->rows(); ++i) {
        list.push_back({i, docs_->row(i).dot(queries.query_vectors.row(static_cast<Eigen::Index>(q)))});
      }
      SortBest(list);
      if (static_cast<std::int64_t>(list.size()) > k_) list.resize(static_cast<std::size_t>(k_));
    }
    return out;
  }
  std::string ToString() const override { return absl::StrCat("test_brute(k=", k_, ")"); }
  // An exact search: the top `depth` of a shallower one is the same.
  std::shared_ptr<const Retriever> WithDepth(std::int64_t depth) const override {
    if (depth >= k_) return nullptr;
    return std::make_shared<BruteRetriever>(docs_, depth);
  }

 private:
  std::shared_ptr<const RowMatrix> docs_;
  std::int64_t k_;
};

// The query vector becomes the mean of the vectors of the top 2 documents. "test_mean_top2".
class MeanTop2 final : public FeedbackModel {
 public:
  explicit MeanTop2(std::shared_ptr<const RowMatrix> docs) : docs_(std::move(docs)) {}

  absl::Status Refine(QueryState& queries, const BatchRanking& ranking) const override {
    if (!queries.has_query_vectors()) return absl::FailedPreconditionError("test_mean_top2 needs query vectors");
    for (std::size_t q = 0; q < queries.size(); ++q) {
      const Ranking& list = ranking.lists[q];
      if (list.empty()) continue;
      const std::size_t n = std::min<std::size_t>(2, list.size());
      Eigen::RowVectorXf mean = Eigen::RowVectorXf::Zero(docs_->cols());
      for (std::size_t j = 0; j < n; ++j) mean += docs_->row(list[j].id);
      queries.query_vectors.row(static_cast<Eigen::Index>(q)) = mean / static_cast<float>(n);
    }
    return absl::OkStatus();
  }
  std::string ToString() const override { return "test_mean_top2"; }
  std::int64_t DepthRead() const override { return 2; }

 private:
  std::shared_ptr<const RowMatrix> docs_;
};

// Re-scores the candidates by the negative L2 distance to the current query vector.
// "test_neg_l2".
class NegL2Reranker final : public Reranker {
 public:
  explicit NegL2Reranker(std::shared_ptr<const RowMatrix> docs) : docs_(std::move(docs)) {}

  absl::StatusOr<BatchRanking> Rerank(QueryState& queries, BatchRanking ranking) const override {
    if (!queries.has_query_vectors()) return absl::FailedPreconditionError("test_neg_l2 needs query vectors");
    for (std::size_t q = 0; q < queries.size(); ++q) {
      for (ScoredDoc& doc : ranking.lists[q]) {
        doc.score = -(docs_->row(doc.id) - queries.query_vectors.row(static_cast<Eigen::Index>(q))).norm();
      }
      SortBest(ranking.lists[q]);
    }
    return ranking;
  }
  std::string ToString() const override { return "test_neg_l2"; }

 private:
  std::shared_ptr<const RowMatrix> docs_;
};

// The union of the inputs, each document scored by its best score in any input. "test_max".
class MaxFusion final : public Fusion {
 public:
  absl::StatusOr<BatchRanking> Fuse(absl::Span<const BatchRanking* const> inputs) const override {
    BatchRanking out;
    out.lists.resize(inputs[0]->size());
    for (std::size_t q = 0; q < out.size(); ++q) {
      std::map<std::int64_t, float> best;
      for (const BatchRanking* in : inputs) {
        for (const ScoredDoc& doc : in->lists[q]) {
          auto [it, inserted] = best.emplace(doc.id, doc.score);
          if (!inserted) it->second = std::max(it->second, doc.score);
        }
      }
      for (const auto& [id, score] : best) out.lists[q].push_back({id, score});
      SortBest(out.lists[q]);
    }
    return out;
  }
  std::string ToString(std::size_t) const override { return "test_max"; }
};

// ---- the reference: plain loops over the matrix -----------------------------------------------

struct Hit {
  std::int64_t id;
  double score;
};

std::vector<Hit> SortedTop(std::vector<Hit> hits, std::size_t k) {
  std::sort(hits.begin(), hits.end(),
            [](const Hit& a, const Hit& b) { return a.score != b.score ? a.score > b.score : a.id < b.id; });
  if (hits.size() > k) hits.resize(k);
  return hits;
}

double Dot(const RowMatrix& docs, std::int64_t i, const std::vector<double>& q) {
  double s = 0;
  for (std::size_t j = 0; j < q.size(); ++j) s += docs(i, static_cast<Eigen::Index>(j)) * q[j];
  return s;
}

double Norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

std::vector<double> Row(const RowMatrix& m, std::int64_t i) {
  std::vector<double> v(static_cast<std::size_t>(m.cols()));
  for (std::size_t j = 0; j < v.size(); ++j) v[j] = m(i, static_cast<Eigen::Index>(j));
  return v;
}

std::vector<Hit> RefDot(const RowMatrix& docs, const std::vector<double>& q, std::size_t k) {
  std::vector<Hit> hits;
  for (std::int64_t i = 0; i < docs.rows(); ++i) hits.push_back({i, Dot(docs, i, q)});
  return SortedTop(hits, k);
}

std::vector<Hit> RefCosine(const RowMatrix& docs, const std::vector<double>& q, std::size_t k) {
  std::vector<Hit> hits;
  for (std::int64_t i = 0; i < docs.rows(); ++i) {
    hits.push_back({i, Dot(docs, i, q) / (Norm(q) * Norm(Row(docs, i)))});
  }
  return SortedTop(hits, k);
}

void CheckList(const Ranking& got, const std::vector<Hit>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t j = 0; j < got.size(); ++j) {
    INFO("rank " << j);
    CHECK(got[j].id == want[j].id);
    CHECK(got[j].score == Approx(want[j].score).epsilon(1e-4).margin(1e-5));
  }
}

void CheckSame(const BatchRanking& a, const BatchRanking& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t q = 0; q < a.size(); ++q) {
    REQUIRE(a.lists[q].size() == b.lists[q].size());
    for (std::size_t j = 0; j < a.lists[q].size(); ++j) {
      CHECK(a.lists[q][j].id == b.lists[q][j].id);
      CHECK(a.lists[q][j].score == b.lists[q][j].score);
    }
  }
}

// 80 random documents of dimension 8, 6 queries; a cosine FlatIndex over the same documents
// for the built-in `dense`.
struct Collection {
  std::shared_ptr<const RowMatrix> docs;
  std::shared_ptr<FlatIndex> index;
  RowMatrix query_vectors;
  Queries queries;
  Collection() {
    docs = std::make_shared<const RowMatrix>(testing::RandomMatrix(80, 8, 7));
    query_vectors = testing::RandomMatrix(6, 8, 8);
    index = FlatIndex::Create(8, Metric::kCosine).value();
    REQUIRE(index->Add(View(*docs)).ok());
    for (int i = 0; i < 6; ++i) REQUIRE(queries.Add({"q" + std::to_string(i), "text"}).ok());
  }
  Resources resources() const {
    Resources r;
    r.Set<VectorIndex>(resource::kDenseIndex, std::shared_ptr<const VectorIndex>(index));
    r.Set<RowMatrix>(kMatrix, docs);
    return r;
  }
  BatchRanking Run(const Pipeline& p, std::int64_t k = 0) const {
    PipelineOptions options;
    options.k = k;
    absl::StatusOr<BatchRanking> out = p.Run(queries, options, &query_vectors);
    INFO(p.ToString() << " -> " << out.status().ToString());
    REQUIRE(out.ok());
    return *std::move(out);
  }
};

// References of the two pipelines the tests build.
// mine(k=20) >> rocchio(alpha=0.5,beta=0.5,topk=3) >> dense(k=10)
std::vector<Hit> RefMineRocchioDense(const Collection& c, std::int64_t q) {
  const std::vector<double> query = Row(c.query_vectors, q);
  const std::vector<Hit> first = RefDot(*c.docs, query, 20);
  std::vector<double> refined(query.size());
  for (std::size_t j = 0; j < query.size(); ++j) {
    double mean = 0;
    for (int i = 0; i < 3; ++i) mean += (*c.docs)(first[static_cast<std::size_t>(i)].id, static_cast<Eigen::Index>(j));
    refined[j] = 0.5 * query[j] + 0.5 * mean / 3;
  }
  return RefCosine(*c.docs, refined, 10);
}

// fuse(max, dense(k=10), mine(k=10)) >> neg_l2
std::vector<Hit> RefFuseRerank(const Collection& c, std::int64_t q) {
  const std::vector<double> query = Row(c.query_vectors, q);
  std::map<std::int64_t, bool> candidates;
  for (const Hit& h : RefCosine(*c.docs, query, 10)) candidates[h.id] = true;
  for (const Hit& h : RefDot(*c.docs, query, 10)) candidates[h.id] = true;
  std::vector<Hit> hits;
  for (const auto& [id, unused] : candidates) {
    double s = 0;
    for (std::size_t j = 0; j < query.size(); ++j) {
      const double d = (*c.docs)(id, static_cast<Eigen::Index>(j)) - query[j];
      s += d * d;
    }
    hits.push_back({id, -std::sqrt(s)});
  }
  return SortedTop(hits, hits.size());
}

std::shared_ptr<DenseRetriever> Dense(const Collection& c, std::int64_t k) {
  return std::make_shared<DenseRetriever>(c.index, nullptr, DenseRetriever::Config{k, 0});
}

std::shared_ptr<RocchioPrf> Rocchio(const Collection& c) {
  RocchioPrf::Config config;
  config.alpha = 0.5;
  config.beta = 0.5;
  config.topk = 3;
  return std::make_shared<RocchioPrf>(c.index, config);
}

TEST_CASE("user roles compose with the built-ins as objects", "[pipeline][user]") {
  const Collection c;
  auto mine = std::make_shared<BruteRetriever>(c.docs, 20);

  // The user's retriever alone is the reference's dot-product top k.
  const BatchRanking alone = c.Run(mine);
  for (std::int64_t q = 0; q < 6; ++q) CheckList(alone.lists[q], RefDot(*c.docs, Row(c.query_vectors, q), 20));

  // mine >> rocchio >> dense.
  const Pipeline prf = mine >> Rocchio(c) >> Dense(c, 10);
  const BatchRanking got = c.Run(prf);
  for (std::int64_t q = 0; q < 6; ++q) {
    INFO("query " << q);
    CheckList(got.lists[q], RefMineRocchioDense(c, q));
  }

  // fuse(max, dense, mine) >> neg_l2.
  auto mine10 = std::make_shared<BruteRetriever>(c.docs, 10);
  absl::StatusOr<Pipeline> fused = Pipeline::Fuse(std::make_shared<MaxFusion>(), {Dense(c, 10), mine10});
  REQUIRE(fused.ok());
  const Pipeline reranked = *fused >> std::make_shared<NegL2Reranker>(c.docs);
  const BatchRanking got_fused = c.Run(reranked);
  for (std::int64_t q = 0; q < 6; ++q) {
    INFO("query " << q);
    CheckList(got_fused.lists[q], RefFuseRerank(c, q));
  }
  // The fusion alone: each document's best score of the two (cosine or dot product).
  const BatchRanking max_only = c.Run(*fused);
  for (std::int64_t q = 0; q < 6; ++q) {
    const std::vector<double> query = Row(c.query_vectors, q);
    std::map<std::int64_t, double> best;
    for (const std::vector<Hit>& list : {RefCosine(*c.docs, query, 10), RefDot(*c.docs, query, 10)}) {
      for (const Hit& h : list) {
        auto [it, inserted] = best.emplace(h.id, h.score);
        if (!inserted) it->second = std::max(it->second, h.score);
      }
    }
    std::vector<Hit> want;
    for (const auto& [id, score] : best) want.push_back({id, score});
    CheckList(max_only.lists[q], SortedTop(want, want.size()));
  }

  // The user's feedback model between two user retrievers; the final cut k = 5.
  const BatchRanking mean = c.Run(mine >> std::make_shared<MeanTop2>(c.docs) >> mine, 5);
  for (std::int64_t q = 0; q < 6; ++q) {
    const std::vector<double> query = Row(c.query_vectors, q);
    const std::vector<Hit> first = RefDot(*c.docs, query, 2);
    std::vector<double> refined(query.size());
    for (std::size_t j = 0; j < query.size(); ++j) {
      refined[j] = ((*c.docs)(first[0].id, static_cast<Eigen::Index>(j)) +
                    (*c.docs)(first[1].id, static_cast<Eigen::Index>(j))) / 2;
    }
    CheckList(mean.lists[q], RefDot(*c.docs, refined, 5));
  }
}

TEST_CASE("depth planning asks a user retriever for a shallower copy", "[pipeline][user]") {
  const Collection c;
  auto first = std::make_shared<BruteRetriever>(c.docs, 50);
  auto second = std::make_shared<BruteRetriever>(c.docs, 10);
  const Pipeline p = first >> std::make_shared<MeanTop2>(c.docs) >> second;
  CHECK(p.ToString() == "test_brute(k=50) >> test_mean_top2 >> test_brute(k=10)");
  CHECK(p.Explain() == "test_brute(k=2) >> test_mean_top2 >> test_brute(k=10)");
  // Before a built-in feedback model too: rocchio(topk=3) reads 3.
  CHECK((first >> Rocchio(c) >> Dense(c, 10)).Explain().rfind("test_brute(k=3) >> ", 0) == 0);
  // The planned run equals the unplanned one: a fusion node in between stops the planning.
  absl::StatusOr<Pipeline> unplanned = Pipeline::Fuse(std::make_shared<MaxFusion>(), {first, first});
  REQUIRE(unplanned.ok());
  const Pipeline full = *unplanned >> std::make_shared<MeanTop2>(c.docs) >> second;
  CHECK(full.Explain() == full.ToString());
  CheckSame(c.Run(p), c.Run(full));
}

TEST_CASE("an error of a user stage reaches the caller prefixed by the stage", "[pipeline][user]") {
  const Collection c;
  auto mine = std::make_shared<BruteRetriever>(c.docs, 20);
  // Without query vectors (and no encoder to make them) the user's retriever refuses.
  const absl::StatusOr<BatchRanking> no_vectors = (mine >> Rocchio(c) >> Dense(c, 10)).Run(c.queries);
  REQUIRE_FALSE(no_vectors.ok());
  CHECK(no_vectors.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(no_vectors.status().message()),
             Contains("test_brute(k=") && Contains("test_brute needs query vectors"));
  // Query vectors of another dimension, in a fusion branch: the branch and the stage are named.
  RowMatrix wide = testing::RandomMatrix(6, 9, 1);
  absl::StatusOr<Pipeline> fused = Pipeline::Fuse(std::make_shared<MaxFusion>(), {mine, mine});
  REQUIRE(fused.ok());
  const absl::StatusOr<BatchRanking> wrong = fused->Run(c.queries, {}, &wide);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(wrong.status().message()), Contains("fusion branch 1") && Contains("test_brute(k=20)") &&
                                                        Contains("query dimension 9 is not the matrix's 8"));
  // A user's reranker returning a ranking of the wrong shape is caught by the pipeline.
  class Broken final : public Reranker {
   public:
    absl::StatusOr<BatchRanking> Rerank(QueryState&, BatchRanking) const override { return BatchRanking{}; }
    std::string ToString() const override { return "test_broken"; }
  };
  const absl::StatusOr<BatchRanking> broken = (mine >> std::make_shared<Broken>()).Run(c.queries, {}, &c.query_vectors);
  REQUIRE_FALSE(broken.ok());
  CHECK_THAT(std::string(broken.status().message()), Contains("test_broken"));
}

// Factories: arguments from StageArgs, the matrix from Resources (unbound without it).
absl::StatusOr<std::shared_ptr<const RowMatrix>> Matrix(const Resources& r, absl::string_view stage) {
  return r.Require<RowMatrix>(kMatrix, stage, "a document matrix");
}

void RegisterUserRoles() {
  REQUIRE(RegisterRetriever(
              StageInfo{"test_brute", StageRole::kRetriever, "brute-force dot product over test_matrix",
                        {{"k", "10", "documents per query"}}, {kMatrix}},
              [](StageArgs& args, const Resources& r) -> absl::StatusOr<std::shared_ptr<const Retriever>> {
                DENSEFB_ASSIGN_OR_RETURN(std::int64_t k, args.GetInt("k", 10));
                if (k < 1) return absl::InvalidArgumentError(absl::StrCat("stage 'test_brute': k = ", k, " must be >= 1"));
                DENSEFB_ASSIGN_OR_RETURN(std::shared_ptr<const RowMatrix> docs, Matrix(r, "test_brute"));
                return std::make_shared<BruteRetriever>(docs, k);
              })
              .ok());
  REQUIRE(RegisterFeedbackModel(
              StageInfo{"test_mean_top2", StageRole::kFeedbackModel, "mean of the top 2 documents", {}, {kMatrix}},
              [](StageArgs&, const Resources& r) -> absl::StatusOr<std::shared_ptr<const FeedbackModel>> {
                DENSEFB_ASSIGN_OR_RETURN(std::shared_ptr<const RowMatrix> docs, Matrix(r, "test_mean_top2"));
                return std::make_shared<MeanTop2>(docs);
              })
              .ok());
  REQUIRE(RegisterReranker(
              StageInfo{"test_neg_l2", StageRole::kReranker, "negative L2 distance", {}, {kMatrix}},
              [](StageArgs&, const Resources& r) -> absl::StatusOr<std::shared_ptr<const Reranker>> {
                DENSEFB_ASSIGN_OR_RETURN(std::shared_ptr<const RowMatrix> docs, Matrix(r, "test_neg_l2"));
                return std::make_shared<NegL2Reranker>(docs);
              })
              .ok());
  REQUIRE(RegisterFusion(StageInfo{"test_max", StageRole::kFusion, "best score of any input", {}, {}},
                         [](StageArgs&, std::size_t) -> absl::StatusOr<std::shared_ptr<const Fusion>> {
                           return std::make_shared<MaxFusion>();
                         })
              .ok());
}

TEST_CASE("registered user roles are built from specs", "[pipeline][user][registry]") {
  RegisterUserRoles();
  const Collection c;
  const Resources r = c.resources();
  auto parse = [&r](const std::string& spec) {
    absl::StatusOr<Pipeline> p = Pipeline::Parse(spec, r);
    INFO(spec << " -> " << p.status().ToString());
    REQUIRE(p.ok());
    return *std::move(p);
  };

  // The object pipelines print specs that parse back to the same spec and the same rankings.
  const Pipeline prf_objects = std::make_shared<BruteRetriever>(c.docs, 20) >> Rocchio(c) >> Dense(c, 10);
  const Pipeline prf_spec = parse(prf_objects.ToString());
  CHECK(prf_spec.ToString() == prf_objects.ToString());
  CHECK(prf_spec.ToString() ==
        "test_brute(k=20) >> rocchio(alpha=0.5,beta=0.5,gamma=0.1,topk=3,bottomk=0,depth=0,normalize=false) >> "
        "dense(k=10,ef_search=0)");
  const BatchRanking prf = c.Run(prf_spec);
  CheckSame(prf, c.Run(prf_objects));
  for (std::int64_t q = 0; q < 6; ++q) CheckList(prf.lists[q], RefMineRocchioDense(c, q));

  absl::StatusOr<Pipeline> fused = Pipeline::Fuse(std::make_shared<MaxFusion>(),
                                                  {Dense(c, 10), std::make_shared<BruteRetriever>(c.docs, 10)});
  REQUIRE(fused.ok());
  const Pipeline fuse_objects = *fused >> std::make_shared<NegL2Reranker>(c.docs);
  CHECK(fuse_objects.ToString() == "fuse(test_max,dense(k=10,ef_search=0),test_brute(k=10)) >> test_neg_l2");
  const Pipeline fuse_spec = parse("fuse(test_max, dense(k=10), test_brute(k=10)) >> test_neg_l2");
  CHECK(fuse_spec.ToString() == fuse_objects.ToString());
  const BatchRanking fuse_ranking = c.Run(fuse_spec);
  CheckSame(fuse_ranking, c.Run(fuse_objects));
  for (std::int64_t q = 0; q < 6; ++q) CheckList(fuse_ranking.lists[q], RefFuseRerank(c, q));

  // Depth planning from a spec; Requires lists the user's resource.
  const Pipeline planned = parse("test_brute(k=50) >> test_mean_top2 >> test_brute");
  CHECK(planned.Explain() == "test_brute(k=2) >> test_mean_top2 >> test_brute(k=10)");
  CHECK(planned.Requires() == std::vector<std::string>{kMatrix});
  // The registry describes the user's names with their roles.
  std::map<std::string, StageRole> roles;
  for (const StageInfo& info : RegisteredStages()) roles[info.name] = info.role;
  CHECK(roles.at("test_brute") == StageRole::kRetriever);
  CHECK(roles.at("test_mean_top2") == StageRole::kFeedbackModel);
  CHECK(roles.at("test_neg_l2") == StageRole::kReranker);
  CHECK(roles.at("test_max") == StageRole::kFusion);

  // Argument errors name the stage, the argument and the value.
  absl::StatusOr<Pipeline> bad = Pipeline::Parse("test_brute(k=0)", r);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()), Contains("test_brute") && Contains("k = 0"));
  bad = Pipeline::Parse("test_brute(depth=3)", r);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()), Contains("no argument 'depth'") && Contains("it accepts k"));
  // A role used in the wrong place.
  CHECK_FALSE(Pipeline::Parse("test_mean_top2", r).ok());
  CHECK_FALSE(Pipeline::Parse("fuse(test_brute, dense, dense)", r).ok());

  // Unregister: the names are gone (and can be registered again).
  CHECK(Unregister(StageRole::kRetriever, "test_brute").ok());
  CHECK(Unregister(StageRole::kFeedbackModel, "test_mean_top2").ok());
  CHECK(Unregister(StageRole::kReranker, "test_neg_l2").ok());
  CHECK(Unregister(StageRole::kFusion, "test_max").ok());
  CHECK(Unregister(StageRole::kRetriever, "test_brute").code() == absl::StatusCode::kNotFound);
  CHECK(Unregister(StageRole::kFusion, "test_brute").code() == absl::StatusCode::kNotFound);
  absl::StatusOr<Pipeline> gone = Pipeline::Parse("test_brute(k=5)", r);
  REQUIRE_FALSE(gone.ok());
  CHECK_THAT(std::string(gone.status().message()), Contains("unknown stage 'test_brute'"));
  for (const StageInfo& info : RegisteredStages()) CHECK(info.name.rfind("test_", 0) != 0);
  // Pipelines built before keep working: they hold their objects.
  CheckSame(c.Run(prf_spec), prf);
  RegisterUserRoles();
  CHECK(parse("test_brute(k=5)").ToString() == "test_brute(k=5)");
  CHECK(Unregister(StageRole::kRetriever, "test_brute").ok());
  CHECK(Unregister(StageRole::kFeedbackModel, "test_mean_top2").ok());
  CHECK(Unregister(StageRole::kReranker, "test_neg_l2").ok());
  CHECK(Unregister(StageRole::kFusion, "test_max").ok());
}

TEST_CASE("a user fusion fuses string-id runs; ParseFusion builds the registered methods",
          "[fusion][user]") {
  Run a;
  a.name = "a";
  std::size_t q = a.AddQuery("q1").value();
  a.list(q) = {{"d1", 0.5}, {"d3", 0.5}, {"d2", 0.9}};
  Run b;
  b.name = "b";
  q = b.AddQuery("q2").value();
  b.list(q) = {{"x", 1.0}, {"c", 1.0}, {"y", 1.0}};
  q = b.AddQuery("q1").value();
  b.list(q) = {{"d1", 3.0}, {"d9", 2.0}};

  // The default Fusion::FuseRuns: per-query ids, the user's Fuse, names back.
  const MaxFusion max;
  absl::StatusOr<Run> fused = max.FuseRuns({&a, &b});
  INFO(fused.status().ToString());
  REQUIRE(fused.ok());
  CHECK(fused->name == "test_max");
  CHECK(fused->query_ids() == std::vector<std::string>{"q1", "q2"});
  auto docs = [](const std::vector<Run::Entry>& list) {
    std::vector<std::string> out;
    for (const Run::Entry& e : list) out.push_back(e.doc_id);
    return out;
  };
  CHECK(docs(fused->list(0)) == std::vector<std::string>{"d1", "d9", "d2", "d3"});
  CHECK(fused->list(0)[0].score == 3.0);
  CHECK(fused->list(0)[2].score == Approx(0.9));
  // Equal scores: trec_eval's order, document id descending.
  CHECK(docs(fused->list(1)) == std::vector<std::string>{"y", "x", "c"});

  Run dup;
  dup.name = "dup";
  q = dup.AddQuery("q1").value();
  dup.list(q) = {{"d1", 1.0}, {"d1", 2.0}};
  absl::StatusOr<Run> bad = max.FuseRuns({&a, &dup});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()),
             Contains("run 1 (\"dup\"), query \"q1\": document \"d1\" is listed twice"));

  // ParseFusion: the spec grammar's fusion methods, from the registry.
  absl::StatusOr<std::shared_ptr<const Fusion>> rrf = ParseFusion("rrf(k=1)", 2);
  REQUIRE(rrf.ok());
  CHECK((*rrf)->ToString(2) == "rrf(k=1,weights=[1,1],depth=0,top=0)");
  absl::StatusOr<Run> by_rrf = (*rrf)->FuseRuns({&a, &b});
  REQUIRE(by_rrf.ok());
  CHECK(by_rrf->name == "rrf(k=1,weights=[1,1],depth=0,top=0)");
  CHECK(docs(by_rrf->list(0)) == std::vector<std::string>{"d1", "d2", "d9", "d3"});
  CHECK(by_rrf->list(0)[0].score == Approx(0.25 + 0.5));
  absl::StatusOr<std::shared_ptr<const Fusion>> wrong = ParseFusion("rrf(k=0)", 2);
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(std::string(wrong.status().message()), Contains("rrf") && Contains("k"));
  wrong = ParseFusion("nope(k=1)", 2);
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(std::string(wrong.status().message()), Contains("unknown fusion method 'nope'"));
  wrong = ParseFusion("interpolate(weights=[1,2,3])", 2);
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(std::string(wrong.status().message()), Contains("3 weights for 2"));
  CHECK_FALSE(ParseFusion("rrf >> dense", 2).ok());
  CHECK_FALSE(ParseFusion("", 2).ok());
}

}  // namespace
}  // namespace densefb
