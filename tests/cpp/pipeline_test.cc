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

namespace densefb {
namespace {

using Catch::Matchers::Contains;

Pipeline ParseOk(const std::string& spec) {
  absl::StatusOr<Pipeline> p = Pipeline::Parse(spec);
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
  CHECK_THAT(ParseError("bm25 >> rm3(scores=dense) >> bm25"), Contains("'ranking'"));
  CHECK_THAT(ParseError("bm25 >> cut"), Contains("needs k"));
  CHECK_THAT(ParseError("bm25(k1=lucene)"), Contains("'index'"));
  CHECK_THAT(ParseError("bm25(b=1.5)"), Contains("[0, 1]"));
  // Fusion.
  CHECK_THAT(ParseError("fuse(dense)"), Contains("unknown fusion method 'dense'"));
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
  r.dense_index = index->get();
  auto run = fragment->Run(r, queries, {}, &v);
  REQUIRE_FALSE(run.ok());
  CHECK(run.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(run.status().message()), Contains("needs a ranking from an earlier stage"));
  CHECK_FALSE(Pipeline::ParseFragment("dense >> (").ok());
}

TEST_CASE("registered stages are parsed like the built-in ones", "[pipeline][registry]") {
  class Reverse final : public Stage {
   public:
    explicit Reverse(std::int64_t keep) : keep_(keep) {}
    absl::Status Run(const Resources&, QueryState& state) const override {
      DENSEFB_RETURN_IF_ERROR(state.RequireRanking("test_reverse"));
      for (Ranking& list : state.ranking.lists) {
        std::reverse(list.begin(), list.end());
        if (static_cast<std::int64_t>(list.size()) > keep_) list.resize(keep_);
      }
      return absl::OkStatus();
    }
    std::string ToString() const override { return "test_reverse(keep=" + std::to_string(keep_) + ")"; }
    std::vector<std::string> Requires() const override { return {}; }
    bool NeedsRanking() const override { return true; }

   private:
    std::int64_t keep_;
  };
  static const absl::Status registered = RegisterStage(
      "test_reverse",
      [](StageArgs& args) -> absl::StatusOr<std::unique_ptr<Stage>> {
        DENSEFB_ASSIGN_OR_RETURN(std::int64_t keep, args.GetInt("keep", 2));
        return std::unique_ptr<Stage>(new Reverse(keep));
      },
      "test stage");
  REQUIRE(registered.ok());
  CHECK(RegisterStage("test_reverse", [](StageArgs&) -> absl::StatusOr<std::unique_ptr<Stage>> {
          return absl::InternalError("unused");
        }).code() == absl::StatusCode::kAlreadyExists);
  CHECK(RegisterStage("fuse", [](StageArgs&) -> absl::StatusOr<std::unique_ptr<Stage>> {
          return absl::InternalError("unused");
        }).code() == absl::StatusCode::kInvalidArgument);
  CHECK(ParseOk("bm25 >> test_reverse").ToString() == "bm25(k=1000,k1=index,b=index) >> test_reverse(keep=2)");
  CHECK_THAT(ParseError("bm25 >> test_reverse(drop=1)"), Contains("it accepts keep"));
  bool listed = false;
  for (const StageInfo& info : RegisteredStages()) listed = listed || info.name == "test_reverse";
  CHECK(listed);

  // Runs on a toy BM25 index.
  const std::vector<std::string> texts = {"apple banana", "apple", "banana cherry", "apple apple"};
  auto bm25 = Bm25Index::Build({}, texts);
  REQUIRE(bm25.ok());
  Queries queries;
  REQUIRE(queries.Add({"q1", "apple"}).ok());
  Resources r;
  r.bm25 = bm25->get();
  auto direct = (*bm25)->Search(std::vector<std::string>{"apple"}, 1000);
  REQUIRE(direct.ok());
  auto run = ParseOk("bm25 >> test_reverse(keep=2)").Run(r, queries);
  REQUIRE(run.ok());
  REQUIRE(run->lists[0].size() == 2);
  CHECK(run->lists[0][0].id == direct->lists[0].back().id);
}

// A small random collection for runs against the components.
struct Toy {
  std::unique_ptr<FlatIndex> index;
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
};

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

TEST_CASE("vector PRF stages equal PrfSearch and PrfRerank", "[pipeline][run]") {
  for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
    Toy toy(metric);
    Resources r;
    r.dense_index = toy.index.get();
    PipelineOptions options;
    options.k = 20;
    RocchioPrf rocchio(0.4, 0.6, 0.2, 5, 3, 50);
    SearchOptions so;
    so.num_threads = 1;
    auto want = PrfSearch(*toy.index, View(toy.queries), rocchio, 50, 20, so);
    REQUIRE(want.ok());
    auto got = ParseOk("dense(k=50) >> rocchio(alpha=0.4,beta=0.6,gamma=0.2,topk=5,bottomk=3,depth=50) >> dense(k=20)")
                   .Run(r, toy.query_set, options, &toy.queries);
    REQUIRE(got.ok());
    CheckSame(*got, *want, 20);

    AveragePrf avg(3);
    auto want_rerank = PrfRerank(*toy.index, View(toy.queries), avg, 100, 100, so);
    REQUIRE(want_rerank.ok());
    options.k = 100;
    auto got_rerank = ParseOk("dense(k=100) >> avg(k=3) >> rescore").Run(r, toy.query_set, options, &toy.queries);
    REQUIRE(got_rerank.ok());
    CheckSame(*got_rerank, *want_rerank, 100);
  }
}

TEST_CASE("fusion nodes equal Fuse over the branches' rankings", "[pipeline][run]") {
  Toy toy(Metric::kInnerProduct);
  Resources r;
  r.dense_index = toy.index.get();
  PipelineOptions options;
  options.k = 0;
  auto a = ParseOk("dense(k=30)").Run(r, toy.query_set, options, &toy.queries);
  auto b = ParseOk("dense(k=40) >> avg(k=2) >> dense(k=40)").Run(r, toy.query_set, options, &toy.queries);
  REQUIRE((a.ok() && b.ok()));
  InterpolationOptions io;
  io.weights = {0.3, 0.7};
  io.normalization = Normalization::kZScore;
  io.missing = MissingScore::kMin;
  auto want = Fuse(std::vector<const BatchRanking*>{&*a, &*b}, io);
  REQUIRE(want.ok());
  auto got = ParseOk("fuse(interpolate(weights=[0.3,0.7],norm=zscore,missing=min), dense(k=30), "
                     "dense(k=40) >> avg(k=2) >> dense(k=40))")
                 .Run(r, toy.query_set, options, &toy.queries);
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
  auto fused_then_prf = ParseOk("fuse(rrf, dense(k=30), dense(k=40) >> avg(k=2) >> dense(k=40)) >> avg(k=3) >> dense(k=10)")
                            .Run(r, toy.query_set, options, &toy.queries);
  REQUIRE(fused_then_prf.ok());
  RrfOptions rrf;
  auto fused = Fuse(std::vector<const BatchRanking*>{&*a, &*b}, rrf);
  REQUIRE(fused.ok());
  auto refined = AveragePrf(3).Refine(*toy.index, View(toy.queries), *fused);
  REQUIRE(refined.ok());
  SearchOptions so;
  so.k = 10;
  auto second = toy.index->Search(View(*refined), so);
  REQUIRE(second.ok());
  CheckSame(*fused_then_prf, *second, 10);
}

TEST_CASE("a retriever feeding PRF retrieves only as deep as the feedback reads", "[pipeline][run]") {
  Toy toy(Metric::kInnerProduct);
  Resources r;
  r.dense_index = toy.index.get();
  PipelineOptions options;
  options.k = 30;
  const Pipeline avg = ParseOk("dense >> avg(k=3) >> dense");
  CHECK(avg.Explain(r) == "dense(k=3,ef_search=0) >> avg(k=3,normalize=false) >> dense(k=1000,ef_search=0)");
  // The same rankings as a 1000-deep first pass (the spec is unchanged, only the plan).
  auto got = avg.Run(r, toy.query_set, options, &toy.queries);
  auto want = PrfSearch(*toy.index, View(toy.queries), AveragePrf(3), 1000, 30, SearchOptions{});
  REQUIRE(got.ok());
  REQUIRE(want.ok());
  CheckSame(*got, *want, 30);
  // Rocchio reads topk, or depth when set; negatives from the tail of the whole list: no cut.
  CHECK(ParseOk("dense >> rocchio(topk=5) >> dense").Explain(r).rfind("dense(k=5,", 0) == 0);
  CHECK(ParseOk("dense >> rocchio(topk=5,bottomk=2,depth=50) >> dense").Explain(r).rfind("dense(k=50,", 0) == 0);
  CHECK(ParseOk("dense >> rocchio(topk=5,bottomk=2) >> dense").Explain(r).rfind("dense(k=1000,", 0) == 0);
  // Nothing is cut where the ranking survives (rescore reads it all; a pipeline ending in PRF
  // returns the first pass), nor over an approximate index.
  CHECK(ParseOk("dense >> avg(k=3) >> rescore").Explain(r).rfind("dense(k=1000,", 0) == 0);
  CHECK(ParseOk("dense >> avg(k=3)").Explain(r).rfind("dense(k=1000,", 0) == 0);
  auto hnsw = HnswIndex::Create(16, Metric::kInnerProduct);
  REQUIRE(hnsw.ok());
  Resources approximate;
  approximate.dense_index = hnsw->get();
  CHECK(avg.Explain(approximate) == avg.ToString());
  // BM25 before RM3 retrieves fb_docs deep.
  Resources sparse;
  CHECK(ParseOk("bm25 >> rm3(fb_docs=10) >> bm25").Explain(sparse).rfind("bm25(k=10,", 0) == 0);
}

TEST_CASE("bm25 >> rm3 >> bm25 equals SearchRm3", "[pipeline][run]") {
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
  auto want = (*bm25)->SearchRm3(qtexts, 7, o);
  REQUIRE(want.ok());
  Resources r;
  r.bm25 = bm25->get();
  PipelineOptions options;
  options.k = 7;
  for (int threads : {1, 3}) {
    options.num_threads = threads;
    auto got = ParseOk("bm25 >> rm3(fb_docs=3,fb_terms=5,original_query_weight=0.6,filter_terms=false) >> bm25(k=7)")
                   .Run(r, queries, options);
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

TEST_CASE("missing resources and rankings are FailedPrecondition naming them", "[pipeline][run]") {
  Queries queries;
  REQUIRE(queries.Add({"q", "text"}).ok());
  Resources r;
  auto s = ParseOk("bm25").Run(r, queries);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(s.status().message()), Contains("needs a BM25 index (resource 'bm25')"));
  Toy toy(Metric::kInnerProduct);
  r.dense_index = toy.index.get();
  auto e = ParseOk("dense").Run(r, queries);
  REQUIRE_FALSE(e.ok());
  CHECK_THAT(std::string(e.status().message()), Contains("resource 'encoder'"));
  auto search = ParseOk("dense").Search(r, toy.query_set, {}, &toy.queries);
  REQUIRE_FALSE(search.ok());
  CHECK_THAT(std::string(search.status().message()), Contains("document names"));
  PipelineOptions stop;
  int polls = 0;
  stop.interrupted = [&polls] { return ++polls > 1; };  // lets the first stage run
  auto cancelled = ParseOk("dense >> avg >> dense").Run(r, toy.query_set, stop, &toy.queries);
  REQUIRE_FALSE(cancelled.ok());
  CHECK(cancelled.status().code() == absl::StatusCode::kCancelled);
  CHECK(polls == 2);
  RowMatrix wrong(7, 3);
  wrong.setOnes();
  auto dim = ParseOk("dense").Run(r, toy.query_set, {}, &wrong);
  REQUIRE_FALSE(dim.ok());
  CHECK_THAT(std::string(dim.status().message()), Contains("dimension 3") && Contains("dimension 16"));
}

TEST_CASE("a pipeline runs from several threads at once with identical results", "[pipeline][run]") {
  Toy toy(Metric::kCosine, 500, 16, 20);
  Resources r;
  r.dense_index = toy.index.get();
  const Pipeline p = ParseOk("fuse(rrf, dense(k=50), dense(k=50) >> avg(k=3) >> dense(k=50)) >> rocchio >> rescore");
  PipelineOptions options;
  options.k = 50;
  options.num_threads = 1;
  auto want = p.Run(r, toy.query_set, options, &toy.queries);
  REQUIRE(want.ok());
  std::vector<absl::StatusOr<BatchRanking>> results(4, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      PipelineOptions o = options;
      o.num_threads = t + 1;
      results[t] = p.Run(r, toy.query_set, o, &toy.queries);
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
  static int calls = 0;
  class Counted final : public Stage {
   public:
    absl::Status Run(const Resources&, QueryState&) const override { return absl::OkStatus(); }
    std::string ToString() const override { return "test_counted"; }
    std::vector<std::string> Requires() const override { return {"bm25"}; }
    bool NeedsRanking() const override {
      ++calls;
      return false;
    }
  };
  static const absl::Status registered = RegisterStage(
      "test_counted",
      [](StageArgs&) -> absl::StatusOr<std::unique_ptr<Stage>> { return std::unique_ptr<Stage>(new Counted); },
      "test stage counting NeedsRanking calls");
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
  r.bm25 = bm25->get();
  CHECK(deepest.Explain(r) == canonical);
  Queries queries;
  REQUIRE(queries.Add({"q1", "apple"}).ok());
  absl::StatusOr<BatchRanking> ranking = deepest.Run(r, queries);
  REQUIRE(ranking.ok());
  absl::StatusOr<BatchRanking> plain = ParseOk("bm25").Run(r, queries);
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
  CHECK_THAT(ParseError("bm25(k1=-1)"), Contains("k1 = -1") && Contains(">= 0"));
  CHECK_THAT(ParseError("fuse(rrf(k=0), dense, bm25)"), Contains("k must be"));
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
  r.dense_index = index->get();
  r.bm25 = bm25->get();
  Queries queries;
  REQUIRE(queries.Add({"q1", "apple"}).ok());
  REQUIRE(queries.Add({"q2", "banana"}).ok());
  RowMatrix q = v.topRows(2);
  const Pipeline dense = ParseOk("dense(k=1073741824,ef_search=1073741824)");
  CHECK(dense.ToString() == "dense(k=1073741824,ef_search=1073741824)");
  absl::StatusOr<BatchRanking> d = dense.Run(r, queries, {}, &q);
  REQUIRE(d.ok());
  CHECK(d->lists[0].size() == 5);
  absl::StatusOr<BatchRanking> b = ParseOk("bm25(k=2147483648)").Run(r, queries);
  REQUIRE(b.ok());
  CHECK(b->lists[0].size() == 2);
  absl::StatusOr<BatchRanking> fused =
      ParseOk("fuse(rrf(depth=2147483648,top=1000000000), dense(k=1073741824), bm25(k=1073741824))")
          .Run(r, queries, {}, &q);
  REQUIRE(fused.ok());
  CHECK(fused->lists[0].size() <= 5);
}

}  // namespace
}  // namespace densefb
