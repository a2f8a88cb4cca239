// Pipelines: the spec parser (valid and invalid specs, canonical round trip, error positions),
// the stage registry, and runs checked against the components they wrap.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "densefb/bm25.h"
#include "densefb/feedback.h"
#include "densefb/flat_index.h"
#include "densefb/fusion.h"
#include "densefb/hnsw_index.h"
#include "densefb/pipeline.h"
#include "densefb/rerankers.h"
#include "densefb/retrievers.h"
#include "feedback/vector_prf.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;

Pipeline ParseOk(const std::string& spec, const Resources& resources = {}) {
  absl::StatusOr<Pipeline> p = Pipeline::Parse(spec, resources);
  INFO(spec << " -> " << p.status().ToString());
  REQUIRE(p.ok());
  return *std::move(p);
}

std::string ParseError(const std::string& spec) {
  absl::StatusOr<Pipeline> p = Pipeline::Parse(spec);
  INFO(spec);
  REQUIRE_FALSE(p.ok());
  CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(p.status().message());
}

TEST_CASE("canonical specs list every parameter and round-trip", "[pipeline][spec]") {
  CHECK(ParseOk("dense").ToString() == "dense(k=1000,ef_search=0)");
  CHECK(ParseOk("dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense").ToString() ==
        "dense(k=1000,ef_search=0) >> "
        "rocchio(alpha=0.4,beta=0.6,gamma=0.1,topk=5,bottomk=0,depth=0,normalize=false) >> "
        "dense(k=1000,ef_search=0)");
  CHECK(ParseOk("bm25>>rm3>>bm25").ToString() ==
        "bm25(k=1000,k1=index,b=index) >> rm3(fb_docs=10,fb_terms=10,original_query_weight=0.5,filter_terms=true,"
        "scores=ranking) >> bm25(k=1000,k1=index,b=index)");
  CHECK(ParseOk("fuse(rrf, dense, bm25)").ToString() ==
        "fuse(rrf(k=60,weights=[1,1],depth=0,top=0),dense(k=1000,ef_search=0),bm25(k=1000,k1=index,b=index))");
  CHECK(ParseOk("fuse(interpolate(weights=[0.3,0.7]), dense, bm25) >> avg(k=3) >> dense")
            .ToString() ==
        "fuse(interpolate(weights=[0.3,0.7],norm=minmax,missing=zero,depth=0,top=0),"
        "dense(k=1000,ef_search=0),bm25(k=1000,k1=index,b=index)) >> avg(k=3,normalize=false) >> "
        "dense(k=1000,ef_search=0)");
  CHECK(ParseOk("bm25(k1=1.2, b=0.75)").ToString() == "bm25(k=1000,k1=1.2,b=0.75)");
  CHECK(ParseOk("bm25(k1=index, b=0.75)").ToString() == "bm25(k=1000,k1=index,b=0.75)");
  CHECK(ParseOk("dense >> text_prf").ToString() ==
        "dense(k=1000,ef_search=0) >> text_prf(k=3,sep=\"[SEP]\")");

  const std::vector<std::string> specs = {
      "dense(k=100, ef_search=64)",
      "dense >> avg(k=5, normalize=true) >> dense(k=10)",
      "dense >> rocchio(alpha=0.4,beta=0.6,gamma=0.6,topk=5,bottomk=5,depth=1000) >> dense",
      "dense >> avg >> rescore(k=100)",
      "bm25 >> rm3(fb_docs=5, fb_terms=20, original_query_weight=0.3, scores=bm25) >> bm25(k=100)",
      "fuse(combmnz(norm=zscore,depth=100,top=50), dense, bm25, bm25 >> rm3 >> bm25)",
      "fuse(combsum, dense, bm25) >> cut(k=10)",
      "fuse(combmax(weights=[2,1]), dense, bm25)",
      "fuse(borda, dense, bm25)",
      "fuse(interpolation(norm=centered-minmax,missing=min), (dense >> avg >> dense), bm25)",
      "fuse(interpolate, dense, bm25) >> avg(k=3) >> fuse(interpolate, dense, bm25)",
      "bm25 >> fuse(rrf(k=10), rescore, cut(k=5)) >> rerank_cross(k=20, batch_size=8)",
      "(dense >> avg) >> (dense >> text_prf(k=2, sep='|') >> dense)",
      "dense >> rocchio(alpha=1e-1, beta=9E-1) >> dense",
  };
  for (const std::string& spec : specs) {
    const Pipeline p = ParseOk(spec);
    const std::string canonical = p.ToString();
    INFO(spec << " -> " << canonical);
    CHECK(ParseOk(canonical).ToString() == canonical);
  }
}

TEST_CASE("requires lists the resources of every stage", "[pipeline][spec]") {
  CHECK(ParseOk("bm25 >> rm3 >> bm25").Requires() == std::vector<std::string>{"bm25"});
  CHECK(ParseOk("fuse(rrf, dense, bm25) >> rerank_cross").Requires() ==
        std::vector<std::string>{"bm25", "corpus", "cross_encoder", "dense_index", "encoder"});
  CHECK(ParseOk("bm25 >> text_prf >> dense").Requires() ==
        std::vector<std::string>{"bm25", "corpus", "dense_index", "encoder"});
}

TEST_CASE("spec errors name the column and what was expected", "[pipeline][spec]") {
  CHECK_THAT(ParseError(""), Contains("empty"));
  CHECK_THAT(ParseError("dense >>"), Contains("column 9") && Contains("expected a stage name"));
  CHECK_THAT(ParseError("dense > avg"), Contains("column 7") && Contains("'>>'"));
  CHECK_THAT(ParseError("dense(k=10"), Contains("column 11") && Contains("',' or ')'"));
  CHECK_THAT(ParseError("dense(k 10)"), Contains("column 9") && Contains("'='"));
  CHECK_THAT(ParseError("dense(k=)"), Contains("column 9") && Contains("expected a value"));
  CHECK_THAT(ParseError("dense(k=1,k=2)"), Contains("column 11") && Contains("given twice"));
  CHECK_THAT(ParseError("dense bm25"), Contains("column 7") && Contains("'>>' or the end"));
  CHECK_THAT(ParseError("dense >> $"), Contains("column 10") && Contains("unexpected character"));
  CHECK_THAT(ParseError("dense(k='a"), Contains("unterminated"));
  CHECK_THAT(ParseError("(dense >> avg"), Contains("')' or '>>'"));
  // Unknown stages and arguments list what is accepted.
  CHECK_THAT(ParseError("dense >> foo"),
             Contains("column 10") && Contains("unknown stage 'foo'") && Contains("rocchio") &&
                 Contains("rm3"));
  CHECK_THAT(ParseError("dense >> rocchio(alpah=0.5) >> dense"),
             Contains("column 10") && Contains("no argument 'alpah'") && Contains("alpha") &&
                 Contains("bottomk"));
  // Ill-typed and out-of-range values.
  CHECK_THAT(ParseError("dense(k=1.5)"), Contains("k=1.5") && Contains("an integer"));
  CHECK_THAT(ParseError("dense(k=abc)"), Contains("a name") && Contains("an integer"));
  CHECK_THAT(ParseError("dense(k=0)"), Contains("k = 0") && Contains("out of range"));
  CHECK_THAT(ParseError("dense >> avg(normalize=maybe) >> dense"), Contains("true or false"));
  CHECK_THAT(ParseError("bm25 >> rm3(original_query_weight=2) >> bm25"), Contains("[0, 1]"));
  CHECK_THAT(ParseError("bm25 >> rm3(scores=dense) >> bm25"),
             Contains("stage 'rm3'") && Contains("scores = 'dense'") && Contains("ranking, bm25"));
  CHECK_THAT(ParseError("bm25 >> cut"), Contains("needs k"));
  CHECK_THAT(ParseError("bm25(k1=lucene)"), Contains("'index'"));
  CHECK_THAT(ParseError("bm25(b=1.5)"), Contains("[0, 1]"));
  // Fusion.
  CHECK_THAT(ParseError("fuse(dense, bm25, bm25)"), Contains("unknown fusion method 'dense'"));
  CHECK_THAT(ParseError("fuse(dense)"), Contains("column 11") && Contains("at least two pipelines"));
  CHECK_THAT(ParseError("fuse(rrf, dense)"), Contains("a second pipeline"));
  CHECK_THAT(ParseError("fuse(rrf)"), Contains("at least two pipelines"));
  CHECK_THAT(ParseError("fuse rrf"), Contains("column 6") && Contains("'(' after 'fuse'"));
  CHECK_THAT(ParseError("fuse(rrf(weights=[1,2,3]), dense, bm25)"), Contains("3 weights for 2"));
  CHECK_THAT(ParseError("fuse(rrf(weights=[1,a]), dense, bm25)"), Contains("list of numbers"));
  CHECK_THAT(ParseError("fuse(interpolate(norm=l2), dense, bm25)"), Contains("l2"));
  CHECK_THAT(ParseError("fuse(interpolate(missing=max), dense, bm25)"), Contains("max"));
  CHECK_THAT(ParseError("fuse(borda(k=3), dense, bm25)"), Contains("no argument 'k'"));
  CHECK_THAT(ParseError("fuse(rrf, dense, bm25"), Contains("',' or ')' closing 'fuse('"));
  // Stages that read a ranking need one before them.
  CHECK_THAT(ParseError("rocchio >> dense"), Contains("needs a ranking from an earlier stage"));
  CHECK_THAT(ParseError("avg"), Contains("needs a ranking"));
  CHECK_THAT(ParseError("fuse(rrf, rescore, dense)"), Contains("needs a ranking"));
  // Fragments (pieces composed later) skip that check; running one alone fails then.
  absl::StatusOr<Pipeline> fragment = Pipeline::ParseFragment("avg(k=2) >> dense");
  REQUIRE(fragment.ok());
  CHECK(fragment->ToString() == "avg(k=2,normalize=false) >> dense(k=1000,ef_search=0)");
  Queries queries;
  REQUIRE(queries.Add({"q", "text"}).ok());
  RowMatrix v = RowMatrix::Ones(1, 4);
  auto index = FlatIndex::Create(4, Metric::kInnerProduct);
  REQUIRE(index.ok());
  REQUIRE((*index)->Add(View(v)).ok());
  Resources r;
  r.Set<VectorIndex>(resource::kDenseIndex, std::shared_ptr<const VectorIndex>(std::move(*index)));
  absl::StatusOr<Pipeline> bound = fragment->Bind(r);
  REQUIRE(bound.ok());
  auto run = bound->Run(queries, {}, &v);
  REQUIRE_FALSE(run.ok());
  CHECK(run.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(run.status().message()), Contains("needs a ranking from an earlier stage"));
  CHECK_FALSE(Pipeline::ParseFragment("dense >> (").ok());
}

TEST_CASE("registered stages are parsed like the built-in ones", "[pipeline][registry]") {
  class Reverse final : public Reranker {
   public:
    explicit Reverse(std::int64_t keep) : keep_(keep) {}
    absl::StatusOr<BatchRanking> Rerank(QueryState&, BatchRanking ranking) const override {
      for (Ranking& list : ranking.lists) {
        std::reverse(list.begin(), list.end());
        if (static_cast<std::int64_t>(list.size()) > keep_) list.resize(keep_);
      }
      return ranking;
    }
    std::string ToString() const override { return "test_reverse(keep=" + std::to_string(keep_) + ")"; }

   private:
    std::int64_t keep_;
  };
  auto unused = [](StageArgs&, const Resources&) -> absl::StatusOr<std::shared_ptr<const Reranker>> {
    return absl::InternalError("unused");
  };
  static const absl::Status registered = RegisterReranker(
      StageInfo{"test_reverse", StageRole::kReranker, "test stage", {{"keep", "2", "documents kept"}}, {}},
      [](StageArgs& args, const Resources&) -> absl::StatusOr<std::shared_ptr<const Reranker>> {
        DENSEFB_ASSIGN_OR_RETURN(std::int64_t keep, args.GetInt("keep", 2));
        return std::make_shared<Reverse>(keep);
      });
  REQUIRE(registered.ok());
  CHECK(RegisterReranker(StageInfo{"test_reverse", StageRole::kReranker, "", {}, {}}, unused).code() ==
        absl::StatusCode::kAlreadyExists);
  // Stage names are one name space over the three sequential roles.
  CHECK(RegisterReranker(StageInfo{"dense", StageRole::kReranker, "", {}, {}}, unused).code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(RegisterReranker(StageInfo{"fuse", StageRole::kReranker, "", {}, {}}, unused).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(RegisterReranker(StageInfo{"9lives", StageRole::kReranker, "", {}, {}}, unused).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ParseOk("bm25 >> test_reverse").ToString() == "bm25(k=1000,k1=index,b=index) >> test_reverse(keep=2)");
  CHECK_THAT(ParseError("bm25 >> test_reverse(drop=1)"), Contains("it accepts keep"));
  // A reranker reads a ranking: alone it is refused like the built-in ones.
  CHECK_THAT(ParseError("test_reverse"), Contains("needs a ranking"));
  bool listed = false;
  for (const StageInfo& info : RegisteredStages()) {
    if (info.name == "test_reverse") {
      listed = true;
      CHECK(info.role == StageRole::kReranker);
    }
  }
  CHECK(listed);

  // Runs on a toy BM25 index.
  const std::vector<std::string> texts = {"apple banana", "apple", "banana cherry", "apple apple"};
  auto bm25 = Bm25Index::Build({}, texts);
  REQUIRE(bm25.ok());
  Queries queries;
  REQUIRE(queries.Add({"q1", "apple"}).ok());
  Resources r;
  r.Set<Bm25Index>(resource::kBm25, std::shared_ptr<const Bm25Index>(std::move(*bm25)));
  auto direct = r.Get<Bm25Index>(resource::kBm25)->Search(std::vector<std::string>{"apple"}, 1000);
  REQUIRE(direct.ok());
  auto run = ParseOk("bm25 >> test_reverse(keep=2)", r).Run(queries);
  REQUIRE(run.ok());
  REQUIRE(run->lists[0].size() == 2);
  CHECK(run->lists[0][0].id == direct->lists[0].back().id);
}

// A small random collection for runs against the components.
struct Toy {
  std::shared_ptr<FlatIndex> index;
  RowMatrix queries;
  Queries query_set;
  Toy(Metric metric, int n = 300, int d = 16, int nq = 7) {
    std::mt19937 rng(42);
    std::normal_distribution<float> g;
    RowMatrix docs(n, d);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < d; ++j) docs(i, j) = g(rng);
    queries.resize(nq, d);
    for (int i = 0; i < nq; ++i)
      for (int j = 0; j < d; ++j) queries(i, j) = g(rng);
    index = *FlatIndex::Create(d, metric);
    REQUIRE(index->Add(View(docs)).ok());
    for (int i = 0; i < nq; ++i) REQUIRE(query_set.Add({"q" + std::to_string(i), "text"}).ok());
  }
  Resources resources() const {
    Resources r;
    r.Set<VectorIndex>(resource::kDenseIndex, std::shared_ptr<const VectorIndex>(index));
    return r;
  }
};

// The reference computation of vector PRF with a fresh second search (what PrfSearch did): a
// first exact search `first_k` deep, the rule's new vectors from those lists, a second search.
SearchResult ReferencePrfSearch(const FlatIndex& index, const RowMatrix& queries,
                                const feedback_internal::VectorRule& rule, std::int64_t first_k,
                                std::int64_t final_k) {
  SearchOptions so;
  so.k = first_k;
  so.num_threads = 1;
  absl::StatusOr<SearchResult> first = index.Search(View(queries), so);
  REQUIRE(first.ok());
  absl::StatusOr<RowMatrix> refined = rule.Refine(index, View(queries), first->ids);
  REQUIRE(refined.ok());
  so.k = final_k;
  absl::StatusOr<SearchResult> second = index.Search(View(*refined), so);
  REQUIRE(second.ok());
  return *std::move(second);
}

// The same with the first-pass candidates re-scored by the new vector (what PrfRerank did):
// the stored vectors' dot product (cosine: over both norms), sorted best first, ties by id.
BatchRanking ReferencePrfRerank(const FlatIndex& index, const RowMatrix& queries,
                                const feedback_internal::VectorRule& rule, std::int64_t first_k) {
  SearchOptions so;
  so.k = first_k;
  so.num_threads = 1;
  absl::StatusOr<SearchResult> first = index.Search(View(queries), so);
  REQUIRE(first.ok());
  absl::StatusOr<RowMatrix> refined = rule.Refine(index, View(queries), first->ids);
  REQUIRE(refined.ok());
  const std::int64_t d = index.dim();
  BatchRanking out;
  out.lists.resize(static_cast<std::size_t>(queries.rows()));
  for (std::int64_t i = 0; i < queries.rows(); ++i) {
    const Eigen::Map<const Eigen::VectorXf> q(refined->row(i).data(), d);
    for (std::int64_t j = 0; j < first->ids.cols(); ++j) {
      const std::int64_t id = first->ids(i, j);
      if (id == kNoId) continue;
      std::vector<float> stored(static_cast<std::size_t>(d));
      const std::vector<std::int64_t> one = {id};
      REQUIRE(index.Reconstruct(one, MutableMatrixView{stored.data(), 1, d}).ok());
      const Eigen::Map<const Eigen::VectorXf> v(stored.data(), d);
      float score = q.dot(v);
      if (index.metric() == Metric::kCosine) {
        const float denom = q.norm() * v.norm();
        score = denom > 0 ? score / denom : 0.f;
      }
      out.lists[i].push_back({id, score});
    }
    std::sort(out.lists[i].begin(), out.lists[i].end(), [](const ScoredDoc& a, const ScoredDoc& b) {
      return a.score != b.score ? a.score > b.score : a.id < b.id;
    });
  }
  return out;
}

void CheckSame(const BatchRanking& got, const SearchResult& want, std::int64_t k) {
  REQUIRE(got.size() == static_cast<std::size_t>(want.ids.rows()));
  for (std::size_t i = 0; i < got.size(); ++i) {
    REQUIRE(static_cast<std::int64_t>(got.lists[i].size()) == k);
    for (std::int64_t j = 0; j < k; ++j) {
      CHECK(got.lists[i][j].id == want.ids(i, j));
      CHECK(got.lists[i][j].score == want.scores(i, j));
    }
  }
}

void CheckSame(const BatchRanking& got, const BatchRanking& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t q = 0; q < got.size(); ++q) {
    REQUIRE(got.lists[q].size() == want.lists[q].size());
    for (std::size_t j = 0; j < got.lists[q].size(); ++j) {
      CHECK(got.lists[q][j].id == want.lists[q][j].id);
      CHECK(got.lists[q][j].score == want.lists[q][j].score);
    }
  }
}

TEST_CASE("vector PRF stages equal the reference PRF search and re-scoring", "[pipeline][run]") {
  for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
    Toy toy(metric);
    const Resources r = toy.resources();
    PipelineOptions options;
    options.k = 20;
    const feedback_internal::RocchioRule rocchio(0.4, 0.6, 0.2, 5, 3, 50);
    const SearchResult want = ReferencePrfSearch(*toy.index, toy.queries, rocchio, 50, 20);
    // From a spec with resources, and from objects.
    const Pipeline from_spec =
        ParseOk("dense(k=50) >> rocchio(alpha=0.4,beta=0.6,gamma=0.2,topk=5,bottomk=3,depth=50) >> dense(k=20)", r);
    auto first = std::make_shared<DenseRetriever>(toy.index, nullptr, DenseRetriever::Config{50, 0});
    auto second = std::make_shared<DenseRetriever>(toy.index, nullptr, DenseRetriever::Config{20, 0});
    const Pipeline from_objects =
        first >> std::make_shared<RocchioPrf>(toy.index, RocchioPrf::Config{0.4, 0.6, 0.2, 5, 3, 50, false}) >>
        second;
    CHECK(from_objects.ToString() == from_spec.ToString());
    for (const Pipeline* p : {&from_spec, &from_objects}) {
      auto got = p->Run(toy.query_set, options, &toy.queries);
      REQUIRE(got.ok());
      CheckSame(*got, want, 20);
    }

    const feedback_internal::AverageRule avg(3);
    const BatchRanking want_rerank = ReferencePrfRerank(*toy.index, toy.queries, avg, 100);
    options.k = 100;
    auto got_rerank = ParseOk("dense(k=100) >> avg(k=3) >> rescore", r).Run(toy.query_set, options, &toy.queries);
    REQUIRE(got_rerank.ok());
    CheckSame(*got_rerank, want_rerank);
    auto dense100 = std::make_shared<DenseRetriever>(toy.index, nullptr, DenseRetriever::Config{100, 0});
    const Pipeline rerank_objects = dense100 >> std::make_shared<AveragePrf>(toy.index, AveragePrf::Config{3, false}) >>
                                    std::make_shared<Rescore>(toy.index, nullptr);
    auto got_objects = rerank_objects.Run(toy.query_set, options, &toy.queries);
    REQUIRE(got_objects.ok());
    CheckSame(*got_objects, want_rerank);
  }
}

TEST_CASE("fusion nodes equal Fuse over the branches' rankings", "[pipeline][run]") {
  Toy toy(Metric::kInnerProduct);
  const Resources r = toy.resources();
  PipelineOptions options;
  options.k = 0;
  auto a = ParseOk("dense(k=30)", r).Run(toy.query_set, options, &toy.queries);
  auto b = ParseOk("dense(k=40) >> avg(k=2) >> dense(k=40)", r).Run(toy.query_set, options, &toy.queries);
  REQUIRE((a.ok() && b.ok()));
  InterpolationOptions io;
  io.weights = {0.3, 0.7};
  io.normalization = Normalization::kZScore;
  io.missing = MissingScore::kMin;
  auto want = Fuse(std::vector<const BatchRanking*>{&*a, &*b}, io);
  REQUIRE(want.ok());
  auto got = ParseOk("fuse(interpolate(weights=[0.3,0.7],norm=zscore,missing=min), dense(k=30), "
                     "dense(k=40) >> avg(k=2) >> dense(k=40))", r)
                 .Run(toy.query_set, options, &toy.queries);
  REQUIRE(got.ok());
  REQUIRE(got->size() == want->size());
  for (std::size_t q = 0; q < got->size(); ++q) {
    REQUIRE(got->lists[q].size() == want->lists[q].size());
    for (std::size_t j = 0; j < got->lists[q].size(); ++j) {
      CHECK(got->lists[q][j].id == want->lists[q][j].id);
      CHECK(got->lists[q][j].score == want->lists[q][j].score);
    }
  }
  // After a fusion node, feedback refines the incoming (original) vector from the fused list.
  auto fused_then_prf = ParseOk("fuse(rrf, dense(k=30), dense(k=40) >> avg(k=2) >> dense(k=40)) >> avg(k=3) >> dense(k=10)", r)
                            .Run(toy.query_set, options, &toy.queries);
  REQUIRE(fused_then_prf.ok());
  RrfOptions rrf;
  auto fused = Fuse(std::vector<const BatchRanking*>{&*a, &*b}, rrf);
  REQUIRE(fused.ok());
  auto refined = feedback_internal::AverageRule(3).Refine(*toy.index, View(toy.queries), *fused);
  REQUIRE(refined.ok());
  SearchOptions so;
  so.k = 10;
  auto second = toy.index->Search(View(*refined), so);
  REQUIRE(second.ok());
  CheckSame(*fused_then_prf, *second, 10);
}

TEST_CASE("a retriever feeding PRF retrieves only as deep as the feedback reads", "[pipeline][run]") {
  Toy toy(Metric::kInnerProduct);
  const Resources r = toy.resources();
  PipelineOptions options;
  options.k = 30;
  const Pipeline avg = ParseOk("dense >> avg(k=3) >> dense", r);
  CHECK(avg.Explain() == "dense(k=3,ef_search=0) >> avg(k=3,normalize=false) >> dense(k=1000,ef_search=0)");
  // The same rankings as a 1000-deep first pass (the spec is unchanged, only the plan).
  auto got = avg.Run(toy.query_set, options, &toy.queries);
  REQUIRE(got.ok());
  CheckSame(*got, ReferencePrfSearch(*toy.index, toy.queries, feedback_internal::AverageRule(3), 1000, 30), 30);
  // The same plan for the pipeline built from objects.
  auto dense = std::make_shared<DenseRetriever>(toy.index, nullptr);
  const Pipeline objects = dense >> std::make_shared<AveragePrf>(toy.index) >> dense;
  CHECK(objects.Explain() == avg.Explain());
  // Rocchio reads topk, or depth when set; negatives from the tail of the whole list: no cut.
  CHECK(ParseOk("dense >> rocchio(topk=5) >> dense", r).Explain().rfind("dense(k=5,", 0) == 0);
  CHECK(ParseOk("dense >> rocchio(topk=5,bottomk=2,depth=50) >> dense", r).Explain().rfind("dense(k=50,", 0) == 0);
  CHECK(ParseOk("dense >> rocchio(topk=5,bottomk=2) >> dense", r).Explain().rfind("dense(k=1000,", 0) == 0);
  // Nothing is cut where the ranking survives (rescore reads it all; a pipeline ending in PRF
  // returns the first pass), nor over an approximate index.
  CHECK(ParseOk("dense >> avg(k=3) >> rescore", r).Explain().rfind("dense(k=1000,", 0) == 0);
  CHECK(ParseOk("dense >> avg(k=3)", r).Explain().rfind("dense(k=1000,", 0) == 0);
  auto hnsw = HnswIndex::Create(16, Metric::kInnerProduct);
  REQUIRE(hnsw.ok());
  Resources approximate;
  approximate.Set<VectorIndex>(resource::kDenseIndex, std::shared_ptr<const VectorIndex>(std::move(*hnsw)));
  CHECK(ParseOk("dense >> avg(k=3) >> dense", approximate).Explain() == avg.ToString());
  // BM25 before RM3 retrieves fb_docs deep.
  auto bm25 = Bm25Index::Build({}, {"apple banana", "apple", "banana cherry"});
  REQUIRE(bm25.ok());
  Resources sparse;
  sparse.Set<Bm25Index>(resource::kBm25, std::shared_ptr<const Bm25Index>(std::move(*bm25)));
  CHECK(ParseOk("bm25 >> rm3(fb_docs=10) >> bm25", sparse).Explain().rfind("bm25(k=10,", 0) == 0);
}

TEST_CASE("bm25 >> rm3 >> bm25 equals BM25, RM3 expansion, BM25 again", "[pipeline][run]") {
  const std::vector<std::string> texts = {
      "the cat sat on the mat with another cat", "dogs and cats living together",
      "a bird in the hand is worth two in the bush", "cats chase mice and birds",
      "the mat was red and the cat was black", "mice eat cheese", "a dog chased the cat up a tree",
      "birds sing in the morning", "cheese and wine pairing", "the tree was tall"};
  auto bm25 = Bm25Index::Build({}, texts);
  REQUIRE(bm25.ok());
  const std::vector<std::string> qtexts = {"cat mat", "birds", "cheese mice", "unknownword"};
  Queries queries;
  for (std::size_t i = 0; i < qtexts.size(); ++i) REQUIRE(queries.Add({std::to_string(i), qtexts[i]}).ok());
  Rm3Options o;
  o.fb_docs = 3;
  o.fb_terms = 5;
  o.original_query_weight = 0.6f;
  o.filter_terms = true;
  // filter_terms drops terms with df / N > 0.1; with 10 documents keep all for a real expansion.
  o.filter_terms = false;
  // The reference: the first pass fb_docs deep, the expansion of each query, the second pass.
  const std::shared_ptr<const Bm25Index> index = std::move(*bm25);
  auto first = index->Search(qtexts, o.fb_docs, 1);
  REQUIRE(first.ok());
  std::vector<WeightedQuery> expanded;
  for (std::size_t q = 0; q < qtexts.size(); ++q) {
    auto e = Rm3ExpandQuery(*index, index->AnalyzeQuery(qtexts[q]), first->lists[q], o);
    REQUIRE(e.ok());
    expanded.push_back(*std::move(e));
  }
  auto want = index->SearchWeighted(expanded, 7, 1);
  REQUIRE(want.ok());
  Resources r;
  r.Set<Bm25Index>(resource::kBm25, index);
  const Pipeline from_spec =
      ParseOk("bm25 >> rm3(fb_docs=3,fb_terms=5,original_query_weight=0.6,filter_terms=false) >> bm25(k=7)", r);
  Rm3::Config rm3;
  static_cast<Rm3Options&>(rm3) = o;
  auto bm25_retriever = std::make_shared<Bm25Retriever>(index);
  const Pipeline from_objects = bm25_retriever >> std::make_shared<Rm3>(index, rm3) >>
                                std::make_shared<Bm25Retriever>(index, Bm25Retriever::Config{7, -1, -1});
  CHECK(from_objects.ToString() == from_spec.ToString());
  PipelineOptions options;
  options.k = 7;
  for (int threads : {1, 3}) {
    options.num_threads = threads;
    auto got = from_spec.Run(queries, options);
    REQUIRE(got.ok());
    auto got_objects = from_objects.Run(queries, options);
    REQUIRE(got_objects.ok());
    CheckSame(*got_objects, *got);
    REQUIRE(got->size() == want->size());
    for (std::size_t q = 0; q < got->size(); ++q) {
      REQUIRE(got->lists[q].size() == want->lists[q].size());
      for (std::size_t j = 0; j < got->lists[q].size(); ++j) {
        CHECK(got->lists[q][j].id == want->lists[q][j].id);
        CHECK(got->lists[q][j].score == want->lists[q][j].score);
      }
    }
  }
}

TEST_CASE("missing resources and rankings are FailedPrecondition naming them", "[pipeline][run]") {
  Queries queries;
  REQUIRE(queries.Add({"q", "text"}).ok());
  auto s = ParseOk("bm25").Run(queries);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(s.status().message()), Contains("needs a BM25 index (resource 'bm25')"));
  Toy toy(Metric::kInnerProduct);
  const Resources r = toy.resources();
  auto e = ParseOk("dense", r).Run(queries);
  REQUIRE_FALSE(e.ok());
  CHECK_THAT(std::string(e.status().message()), Contains("resource 'encoder'"));
  // A spec parsed without resources runs once bound.
  const Pipeline unbound = ParseOk("dense(k=5)");
  auto missing = unbound.Run(toy.query_set, {}, &toy.queries);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(missing.status().message()), Contains("resource 'dense_index'"));
  auto rebound = unbound.Bind(r);
  REQUIRE(rebound.ok());
  CHECK(rebound->ToString() == unbound.ToString());
  CHECK(rebound->Run(toy.query_set, {}, &toy.queries).ok());
  auto search = ParseOk("dense", r).Search(toy.query_set, {}, {}, &toy.queries);
  REQUIRE_FALSE(search.ok());
  CHECK_THAT(std::string(search.status().message()), Contains("outside the 0 document ids"));
  PipelineOptions stop;
  int polls = 0;
  stop.interrupted = [&polls] { return ++polls > 1; };  // lets the first stage run
  auto cancelled = ParseOk("dense >> avg >> dense", r).Run(toy.query_set, stop, &toy.queries);
  REQUIRE_FALSE(cancelled.ok());
  CHECK(cancelled.status().code() == absl::StatusCode::kCancelled);
  CHECK(polls == 2);
  RowMatrix wrong(7, 3);
  wrong.setOnes();
  auto dim = ParseOk("dense", r).Run(toy.query_set, {}, &wrong);
  REQUIRE_FALSE(dim.ok());
  CHECK_THAT(std::string(dim.status().message()), Contains("dimension 3") && Contains("dimension 16"));
}

TEST_CASE("a pipeline runs from several threads at once with identical results", "[pipeline][run]") {
  Toy toy(Metric::kCosine, 500, 16, 20);
  const Resources r = toy.resources();
  const Pipeline p = ParseOk("fuse(rrf, dense(k=50), dense(k=50) >> avg(k=3) >> dense(k=50)) >> rocchio >> rescore", r);
  PipelineOptions options;
  options.k = 50;
  options.num_threads = 1;
  auto want = p.Run(toy.query_set, options, &toy.queries);
  REQUIRE(want.ok());
  std::vector<absl::StatusOr<BatchRanking>> results(4, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      PipelineOptions o = options;
      o.num_threads = t + 1;
      results[t] = p.Run(toy.query_set, o, &toy.queries);
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& got : results) {
    REQUIRE(got.ok());
    REQUIRE(got->size() == want->size());
    for (std::size_t q = 0; q < got->size(); ++q) {
      REQUIRE(got->lists[q].size() == want->lists[q].size());
      for (std::size_t j = 0; j < got->lists[q].size(); ++j) {
        CHECK(got->lists[q][j].id == want->lists[q][j].id);
        CHECK(got->lists[q][j].score == want->lists[q][j].score);
      }
    }
  }
}

}  // namespace
}  // namespace densefb

// ---- reliability of the spec grammar (issue 12) ----------------------------------------------

namespace densefb {
namespace {

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// fuse(rrf, fuse(rrf, ... leaf ..., bm25), bm25), `depth` nodes deep.
std::string NestedFuse(const std::string& leaf, int depth) {
  std::string s = leaf;
  for (int i = 0; i < depth; ++i) s = "fuse(rrf, " + s + ", bm25)";
  return s;
}

TEST_CASE("nested fusion is parsed with work linear in its depth", "[pipeline][spec][reliability]") {
  // A leaf stage that counts how often the parser asks it: every fusion level used to ask its
  // branches twice, 2^depth calls in all (depth 28 took seconds, 40 never finished).
  // A leaf retriever that counts how often the parser builds it: every fusion level used to
  // process its branches twice, 2^depth calls in all (depth 28 took seconds, 40 never finished).
  static int calls = 0;
  class Counted final : public Retriever {
   public:
    absl::StatusOr<BatchRanking> Retrieve(QueryState& queries) const override {
      BatchRanking out;
      out.lists.resize(queries.size());
      return out;
    }
    std::string ToString() const override { return "test_counted"; }
  };
  static const absl::Status registered = RegisterRetriever(
      StageInfo{"test_counted", StageRole::kRetriever, "test stage counting its constructions", {}, {"bm25"}},
      [](StageArgs&, const Resources&) -> absl::StatusOr<std::shared_ptr<const Retriever>> {
        ++calls;
        return std::make_shared<Counted>();
      });
  REQUIRE(registered.ok());
  for (int depth : {1, 20, kMaxSpecNesting}) {
    calls = 0;
    const Pipeline p = ParseOk(NestedFuse("test_counted", depth));
    INFO("depth " << depth);
    CHECK(calls <= 2);
    CHECK(p.Requires() == std::vector<std::string>{"bm25"});
  }
}

TEST_CASE("nesting beyond kMaxSpecNesting is a column error, never a stack overflow",
          "[pipeline][spec][reliability]") {
  const int n = kMaxSpecNesting;
  // '(' groups: n levels parse (and flatten), n + 1 fail at the column of the extra '('.
  CHECK(ParseOk(Repeat("(", n) + "dense" + Repeat(")", n)).ToString() == "dense(k=1000,ef_search=0)");
  CHECK_THAT(ParseError(Repeat("(", n + 1) + "dense" + Repeat(")", n + 1)),
             Contains("column 65") && Contains("more than 64 nested levels"));
  // The red-team inputs: 10,000 parentheses, 10,000 nested brackets.
  CHECK_THAT(ParseError(Repeat("(", 10000) + "dense" + Repeat(")", 10000)), Contains("column 65"));
  CHECK_FALSE(Pipeline::ParseFragment(Repeat("(", 10000)).ok());
  const std::string lists = "fuse(rrf(weights=" + Repeat("[", 10000) + "1" + Repeat("]", 10000) + "), dense, bm25)";
  CHECK_THAT(ParseError(lists), Contains("column 82") && Contains("lists nested more than 64"));
  CHECK_THAT(ParseError("fuse(rrf(weights=" + Repeat("[", n) + "1" + Repeat("]", n) + "), dense, bm25)"),
             Contains("weights") && Contains("list of numbers"));
  // fuse( counts like a group, and so do groups around it.
  CHECK_THAT(ParseError(NestedFuse("dense", n + 1)), Contains("column 645") && Contains("'fuse('"));
  CHECK_THAT(ParseError("(" + NestedFuse("dense", n) + ")"), Contains("column 636") && Contains("more than 64"));

  // The deepest accepted spec prints, re-parses, plans and runs without overflowing.
  const Pipeline deepest = ParseOk(NestedFuse("bm25", n));
  const std::string canonical = deepest.ToString();
  CHECK(ParseOk(canonical).ToString() == canonical);
  const std::vector<std::string> texts = {"apple banana", "apple", "banana cherry", "apple apple"};
  auto bm25 = Bm25Index::Build({}, texts);
  REQUIRE(bm25.ok());
  Resources r;
  r.Set<Bm25Index>(resource::kBm25, std::shared_ptr<const Bm25Index>(std::move(*bm25)));
  absl::StatusOr<Pipeline> bound = deepest.Bind(r);
  REQUIRE(bound.ok());
  CHECK(bound->Explain() == canonical);
  Queries queries;
  REQUIRE(queries.Add({"q1", "apple"}).ok());
  absl::StatusOr<BatchRanking> ranking = bound->Run(queries);
  REQUIRE(ranking.ok());
  absl::StatusOr<BatchRanking> plain = ParseOk("bm25", r).Run(queries);
  REQUIRE(plain.ok());
  REQUIRE(ranking->lists[0].size() == plain->lists[0].size());
  for (std::size_t i = 0; i < plain->lists[0].size(); ++i) CHECK(ranking->lists[0][i].id == plain->lists[0][i].id);
}

TEST_CASE("non-ASCII characters are column errors counted in characters", "[pipeline][spec][reliability]") {
  // A pasted no-break space: the message used to hold the lone byte 0xC2 (Python could not
  // decode it and raised UnicodeDecodeError).
  const std::string nbsp = ParseError("dense\xC2\xA0>> avg");
  CHECK_THAT(nbsp, Contains("column 6") && Contains("U+00A0") && Contains("no-break space"));
  CHECK(nbsp.find('\xC2') == std::string::npos);
  CHECK_THAT(ParseError("dense \xC2\xBB avg"), Contains("column 7") && Contains("U+00BB") && Contains("'>>'"));
  CHECK_THAT(ParseError("dense(k=\xE2\x80\x9C" "3\xE2\x80\x9D)"), Contains("column 9") && Contains("U+201C"));
  // Columns count characters: the two 2-byte characters in the quoted string count one each.
  CHECK_THAT(ParseError("dense >> text_prf(sep='\xC3\xA9\xC3\xA9') >> $"),
             Contains("column 32") && Contains("'$'"));
  CHECK(ParseOk("dense >> text_prf(sep='\xC3\xA9') >> dense").ToString() ==
        "dense(k=1000,ef_search=0) >> text_prf(k=3,sep=\"\xC3\xA9\") >> dense(k=1000,ef_search=0)");
  // Bytes that are not UTF-8, and control characters, are named, not copied into the message.
  CHECK_THAT(ParseError("dense >> \xFF"), Contains("column 10") && Contains("0xFF") && Contains("UTF-8"));
  CHECK_THAT(ParseError("dense(sep='\xC3')"), Contains("column 12") && Contains("0xC3"));
  CHECK_THAT(ParseError(std::string("dense >> \x01", 10)), Contains("U+0001"));
  CHECK_THAT(ParseError(std::string("dense\0", 6)), Contains("column 6") && Contains("U+0000"));
  // Numbers are plain decimals.
  CHECK_THAT(ParseError("dense(k=0x10)"), Contains("column 9") && Contains("'0x10'"));
  CHECK_THAT(ParseError("dense(k=1e999)"), Contains("'1e999' is not a finite"));
}

TEST_CASE("spec arguments are range-checked, naming the argument", "[pipeline][spec][reliability]") {
  // An empty list used to mean the default ([1,1]).
  CHECK_THAT(ParseError("fuse(rrf(weights=[]), dense, bm25)"), Contains("weights=[]") && Contains("empty"));
  CHECK_THAT(ParseError("fuse(interpolate(weights=[]), dense, bm25)"), Contains("weights=[]"));
  CHECK_THAT(ParseError("fuse(rrf(weights=[1]), dense, bm25)"),
             Contains("weights=[1]") && Contains("1 weights for 2"));
  CHECK_THAT(ParseError("fuse(combsum(weights=[1,-0.5]), dense, bm25)"),
             Contains("weights=[1,-0.5]") && Contains(">= 0"));
  CHECK_THAT(ParseError("fuse(borda(weights=[0,0]), dense, bm25)"), Contains("all 0"));
  CHECK_THAT(ParseError("fuse(rrf(weights=[nan,1]), dense, bm25)"), Contains("list of numbers"));
  CHECK_THAT(ParseError("fuse(rrf(weights=[inf,1]), dense, bm25)"), Contains("list of numbers"));
  CHECK_THAT(ParseError("fuse(rrf(weights=[1e400,1]), dense, bm25)"), Contains("not a finite"));
  CHECK(ParseOk("fuse(rrf(weights=[0,1]), dense, bm25)").ToString() ==
        "fuse(rrf(k=60,weights=[0,1],depth=0,top=0),dense(k=1000,ef_search=0),bm25(k=1000,k1=index,b=index))");
  // Integers beyond 2^53 are errors naming the argument, never wrapped around.
  CHECK_THAT(ParseError("dense(k=1e30)"), Contains("k=1e30") && Contains("too large for an integer"));
  CHECK_THAT(ParseError("dense(k=99999999999999999999)"),
             Contains("k=99999999999999999999") && Contains("too large"));
  CHECK_THAT(ParseError("bm25 >> cut(k=-1e300)"), Contains("k=-1e300") && Contains("too large"));
  CHECK_THAT(ParseError("dense(k=9007199254740992)"), Contains("k = 9007199254740992") && Contains("out of range"));
  CHECK_THAT(ParseError("bm25 >> rm3(fb_docs=4294967297) >> bm25"), Contains("fb_docs") && Contains("out of range"));
  CHECK_THAT(ParseError("dense(k=0)"), Contains("k = 0"));
  CHECK_THAT(ParseError("dense(ef_search=-1)"), Contains("ef_search"));
  // k1 = -1 used to be taken as 'index'.
  CHECK_THAT(ParseError("bm25(k1=-1)"), Contains("stage 'bm25'") && Contains("k1 = -1") && Contains("[0, "));
  CHECK_THAT(ParseError("fuse(rrf(k=0), dense, bm25)"),
             Contains("stage 'rrf'") && Contains("k = 0") && Contains("out of range"));
  CHECK_THAT(ParseError("fuse(rrf(depth=-1), dense, bm25)"), Contains("depth"));
}

TEST_CASE("retrievers cap k by the index size before allocating", "[pipeline][run][reliability]") {
  // dense(k=1073741824) passed validation, then allocated queries x 2^30 results.
  RowMatrix v = RowMatrix::Random(5, 4);
  auto index = FlatIndex::Create(4, Metric::kInnerProduct);
  REQUIRE(index.ok());
  REQUIRE((*index)->Add(View(v)).ok());
  auto bm25 = Bm25Index::Build({}, {"apple banana", "apple", "banana cherry"});
  REQUIRE(bm25.ok());
  Resources r;
  r.Set<VectorIndex>(resource::kDenseIndex, std::shared_ptr<const VectorIndex>(std::move(*index)));
  r.Set<Bm25Index>(resource::kBm25, std::shared_ptr<const Bm25Index>(std::move(*bm25)));
  Queries queries;
  REQUIRE(queries.Add({"q1", "apple"}).ok());
  REQUIRE(queries.Add({"q2", "banana"}).ok());
  RowMatrix q = v.topRows(2);
  const Pipeline dense = ParseOk("dense(k=1073741824,ef_search=1073741824)", r);
  CHECK(dense.ToString() == "dense(k=1073741824,ef_search=1073741824)");
  absl::StatusOr<BatchRanking> d = dense.Run(queries, {}, &q);
  REQUIRE(d.ok());
  CHECK(d->lists[0].size() == 5);
  absl::StatusOr<BatchRanking> b = ParseOk("bm25(k=2147483648)", r).Run(queries);
  REQUIRE(b.ok());
  CHECK(b->lists[0].size() == 2);
  absl::StatusOr<BatchRanking> fused =
      ParseOk("fuse(rrf(depth=2147483648,top=1000000000), dense(k=1073741824), bm25(k=1073741824))", r)
          .Run(queries, {}, &q);
  REQUIRE(fused.ok());
  CHECK(fused->lists[0].size() <= 5);
}

}  // namespace
}  // namespace densefb
