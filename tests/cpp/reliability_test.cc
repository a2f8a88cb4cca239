// Reliability (docs/reliability.md): many threads at once on shared objects give the results of
// sequential runs; hostile numbers and sizes are errors, never crashes or huge allocations;
// regressions of inputs found by the fuzz targets of tests/fuzz; files: atomic saves under
// concurrent loads from another process, signals, a full disk, links, devices and bad paths.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "densefb/bm25.h"
#include "densefb/data.h"
#include "densefb/feedback.h"
#include "densefb/file_format.h"
#include "densefb/flat_index.h"
#include "densefb/hnsw_index.h"
#include "densefb/multivector.h"
#include "densefb/pipeline.h"
#include "densefb/rerankers.h"
#include "densefb/retrievers.h"
#include "densefb/safetensors.h"
#include "densefb/tokenizer.h"
#include "test_util.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;
using testing::RandomMatrix;

bool Same(const SearchResult& a, const SearchResult& b) {
  return a.ids.rows() == b.ids.rows() && a.ids.cols() == b.ids.cols() &&
         a.scores.rows() == b.scores.rows() && a.scores.cols() == b.scores.cols() && a.ids == b.ids &&
         a.scores.cwiseEqual(b.scores).all();
}

bool Same(const BatchRanking& a, const BatchRanking& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t q = 0; q < a.size(); ++q) {
    if (a.lists[q].size() != b.lists[q].size()) return false;
    for (std::size_t j = 0; j < a.lists[q].size(); ++j) {
      if (a.lists[q][j].id != b.lists[q][j].id || a.lists[q][j].score != b.lists[q][j].score) return false;
    }
  }
  return true;
}

bool Same(const BatchEncoding& a, const BatchEncoding& b) {
  return a.rows == b.rows && a.cols == b.cols && a.input_ids == b.input_ids &&
         a.attention_mask == b.attention_mask && a.token_type_ids == b.token_type_ids;
}

// SciFact's corpus and test queries when present, else generated text.
struct Texts {
  std::vector<std::string> docs;
  std::vector<std::string> queries;
  bool real = false;
};

Texts LoadTexts() {
  Texts t;
  const std::string dir = testing::DataDir() + "/scifact";
  if (std::filesystem::exists(dir + "/corpus.jsonl.gz") || std::filesystem::exists(dir + "/corpus.jsonl")) {
    auto data = LoadBeirDataset(dir, "test");
    REQUIRE(data.ok());
    for (std::size_t i = 0; i < data->corpus.size(); ++i) t.docs.push_back(data->corpus.FullText(i));
    for (const Query& q : data->queries.queries()) t.queries.push_back(q.text);
    t.real = true;
    return t;
  }
  const std::vector<std::string> words = {"cell", "protein", "cancer", "the", "gene", "risk", "of",
                                          "patients", "expression", "mouse", "increased", "dna"};
  std::mt19937 gen(7);
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    for (int w = 0; w < 30; ++w) text += words[gen() % words.size()] + " ";
    (i < 300 ? t.queries : t.docs).push_back(text.substr(0, i < 300 ? 40 : std::string::npos));
  }
  return t;
}

TEST_CASE("8 threads at once on shared objects: flat, HNSW, BM25, RM3, vector PRF and tokenization "
          "equal sequential runs") {
  const Texts texts = LoadTexts();
  const RowMatrix docs = RandomMatrix(4000, 48, 21);
  const RowMatrix queries = RandomMatrix(static_cast<std::int64_t>(texts.queries.size()), 48, 22);

  std::shared_ptr<FlatIndex> flat = FlatIndex::Create(48, Metric::kCosine).value();
  REQUIRE(flat->Add(View(docs)).ok());
  HnswConfig config;
  config.M = 8;
  config.ef_construction = 64;
  config.num_threads = 2;
  std::shared_ptr<HnswIndex> hnsw = HnswIndex::Create(48, Metric::kInnerProduct, config).value();
  REQUIRE(hnsw->Add(View(docs)).ok());
  Bm25BuildOptions build;
  build.num_threads = 2;
  std::shared_ptr<Bm25Index> bm25 = Bm25Index::Build(std::vector<std::string>{}, texts.docs, build).value();
  WordPieceOptions tok_options;
  auto tok = WordPieceTokenizer::FromVocab({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "of",
                                            "cell", "##s", "protein", "cancer", "gene", "a", "##e"},
                                           tok_options).value();
  const std::vector<absl::string_view> views(texts.queries.begin(), texts.queries.end());
  // Vector PRF and RM3 as pipelines: a first pass, the feedback model, a second search.
  auto dense = [](std::shared_ptr<const VectorIndex> index, std::int64_t k) {
    return std::make_shared<DenseRetriever>(std::move(index), nullptr, DenseRetriever::Config{k, 64});
  };
  const Pipeline prf_flat = dense(flat, 10) >> std::make_shared<RocchioPrf>(flat, RocchioPrf::Config{0.4, 0.6, 0.1, 5}) >>
                            dense(flat, 20);
  const Pipeline prf_hnsw = dense(hnsw, 3) >> std::make_shared<AveragePrf>(hnsw, AveragePrf::Config{3, false}) >>
                            dense(hnsw, 20);
  const Pipeline rm3 = std::make_shared<Bm25Retriever>(bm25) >> std::make_shared<Rm3>(bm25) >>
                       std::make_shared<Bm25Retriever>(bm25, Bm25Retriever::Config{20, -1, -1});
  Queries query_set;
  for (std::size_t i = 0; i < texts.queries.size(); ++i) {
    REQUIRE(query_set.Add({"q" + std::to_string(i), texts.queries[i]}).ok());
  }
  auto run_pipeline = [&](const Pipeline& p, int threads, const RowMatrix* vectors) {
    PipelineOptions o;
    o.k = 20;
    o.num_threads = threads;
    return p.Run(query_set, o, vectors);
  };

  // Each operation, as the sequential reference computes it with one thread.
  struct Outputs {
    SearchResult flat, hnsw;
    BatchRanking prf_flat, prf_hnsw, bm25, rm3;
    BatchEncoding tokens;
  };
  auto run = [&](int op, int threads, Outputs* out) -> absl::Status {
    SearchOptions options;
    options.k = 20;
    options.num_threads = threads;
    options.ef_search = 64;
    switch (op) {
      case 0: { DENSEFB_ASSIGN_OR_RETURN(out->flat, flat->Search(View(queries), options)); break; }
      case 1: { DENSEFB_ASSIGN_OR_RETURN(out->hnsw, hnsw->Search(View(queries), options)); break; }
      case 2: { DENSEFB_ASSIGN_OR_RETURN(out->prf_flat, run_pipeline(prf_flat, threads, &queries)); break; }
      case 3: { DENSEFB_ASSIGN_OR_RETURN(out->prf_hnsw, run_pipeline(prf_hnsw, threads, &queries)); break; }
      case 4: { DENSEFB_ASSIGN_OR_RETURN(out->bm25, bm25->Search(texts.queries, 20, threads)); break; }
      case 5: { DENSEFB_ASSIGN_OR_RETURN(out->rm3, run_pipeline(rm3, threads, nullptr)); break; }
      default: {
        BatchOptions b;
        b.max_length = 64;
        b.num_threads = threads;
        return tok.EncodeBatch(views, b, &out->tokens);
      }
    }
    return absl::OkStatus();
  };
  constexpr int kOps = 7;
  Outputs expected;
  for (int op = 0; op < kOps; ++op) REQUIRE(run(op, 1, &expected).ok());

  constexpr int kThreads = 8, kRounds = 2;
  std::atomic<int> failures{0}, mismatches{0}, calls{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        for (int i = 0; i < kOps; ++i) {
          const int op = (i + t) % kOps;  // threads start on different operations
          Outputs got;
          if (!run(op, 1 + (t % 2), &got).ok()) {
            ++failures;
            continue;
          }
          ++calls;
          const bool same = op == 0   ? Same(got.flat, expected.flat)
                            : op == 1 ? Same(got.hnsw, expected.hnsw)
                            : op == 2 ? Same(got.prf_flat, expected.prf_flat)
                            : op == 3 ? Same(got.prf_hnsw, expected.prf_hnsw)
                            : op == 4 ? Same(got.bm25, expected.bm25)
                            : op == 5 ? Same(got.rm3, expected.rm3)
                                      : Same(got.tokens, expected.tokens);
          if (!same) ++mismatches;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  INFO("real text: " << texts.real << ", queries per call: " << texts.queries.size());
  CHECK(failures == 0);
  CHECK(mismatches == 0);
  CHECK(calls == kThreads * kRounds * kOps);
  // The reference itself is not degenerate.
  CHECK(expected.flat.ids(0, 19) >= 0);
  bool prf_changed = false;
  for (std::int64_t i = 0; i < expected.flat.ids.rows(); ++i) {
    REQUIRE(expected.prf_flat.lists[i].size() == static_cast<std::size_t>(expected.flat.ids.cols()));
    for (std::int64_t j = 0; j < expected.flat.ids.cols(); ++j) {
      prf_changed = prf_changed || expected.prf_flat.lists[i][j].id != expected.flat.ids(i, j);
    }
  }
  CHECK(prf_changed);
  CHECK_FALSE(Same(expected.rm3, expected.bm25));
  std::size_t matched = 0;
  for (const auto& list : expected.bm25.lists) matched += !list.empty();
  CHECK(matched == texts.queries.size());
}

// Adds `batches` to `index` one at a time from a writer thread while 3 reader threads search:
// every result a reader sees must be the sequential result after some number of the adds
// (`after[m]` = the search after m adds).
template <typename Index>
void CheckAddDuringSearch(Index* index, const std::vector<RowMatrix>& batches, const RowMatrix& queries,
                          const std::vector<SearchResult>& after) {
  std::atomic<bool> writing{true};
  std::atomic<int> unexplained{0}, searches{0}, failures{0};
  std::vector<std::thread> readers;
  SearchOptions options;
  options.k = 10;
  options.num_threads = 1;
  options.ef_search = 32;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      do {
        auto r = index->Search(View(queries), options);
        if (!r.ok()) {
          ++failures;
          continue;
        }
        ++searches;
        bool explained = false;
        for (const SearchResult& a : after) explained = explained || Same(*r, a);
        if (!explained) ++unexplained;
      } while (writing);
    });
  }
  for (const RowMatrix& b : batches) {
    if (!index->Add(View(b)).ok()) ++failures;
  }
  writing = false;
  for (auto& th : readers) th.join();
  CHECK(failures == 0);
  CHECK(unexplained == 0);
  CHECK(searches >= 3);
  CHECK(Same(index->Search(View(queries), options).value(), after.back()));
}

TEST_CASE("Add from one thread while others search: every result is that of a whole number of adds") {
  std::vector<RowMatrix> batches;
  for (int b = 0; b < 12; ++b) batches.push_back(RandomMatrix(150, 16, 100 + b));
  const RowMatrix queries = RandomMatrix(20, 16, 99);
  SearchOptions options;
  options.k = 10;
  options.num_threads = 1;
  options.ef_search = 32;
  SECTION("flat") {
    auto reference = FlatIndex::Create(16, Metric::kCosine).value();
    std::vector<SearchResult> after = {reference->Search(View(queries), options).value()};
    for (const RowMatrix& b : batches) {
      REQUIRE(reference->Add(View(b)).ok());
      after.push_back(reference->Search(View(queries), options).value());
    }
    auto index = FlatIndex::Create(16, Metric::kCosine).value();
    CheckAddDuringSearch(index.get(), batches, queries, after);
  }
  SECTION("hnsw") {
    HnswConfig config;
    config.M = 8;
    config.ef_construction = 40;
    config.num_threads = 1;  // single-threaded adds build the same graph every time
    auto reference = HnswIndex::Create(16, Metric::kInnerProduct, config).value();
    std::vector<SearchResult> after = {reference->Search(View(queries), options).value()};
    for (const RowMatrix& b : batches) {
      REQUIRE(reference->Add(View(b)).ok());
      after.push_back(reference->Search(View(queries), options).value());
    }
    auto index = HnswIndex::Create(16, Metric::kInnerProduct, config).value();
    CheckAddDuringSearch(index.get(), batches, queries, after);
  }
}

TEST_CASE("Regression (fuzzing): a safetensors shape whose byte count wraps around 2^64 is rejected") {
  // 2^62 F64 elements need 2^65 bytes, which is 0 modulo 2^64: the empty data range matched.
  const std::string header =
      R"({"t": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})";
  std::string image(8, '\0');
  const std::uint64_t len = header.size();
  std::memcpy(image.data(), &len, 8);
  image += header;
  auto file = SafetensorsFile::FromBuffer(image.data(), image.size(), "wrap.safetensors");
  REQUIRE_FALSE(file.ok());
  CHECK_THAT(std::string(file.status().message()),
             Contains("wrap.safetensors") && Contains("tensor \"t\"") && Contains("more than the 0-byte data section"));
}

TEST_CASE("Regression (fuzzing): an empty float32 tensor converts without touching its null data") {
  const std::string header = R"({"e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]}})";
  std::string image(8, '\0');
  const std::uint64_t len = header.size();
  std::memcpy(image.data(), &len, 8);
  image += header;
  auto file = SafetensorsFile::FromBuffer(image.data(), image.size(), "empty.safetensors");
  REQUIRE(file.ok());
  const TensorView t = (*file)->Get("e").value();
  CHECK(t.numel() == 0);
  std::vector<float> out;  // data() is null
  CHECK(CopyAsFloat32(t, out.data()).ok());
}

TEST_CASE("Regression (fuzzing): a non-finite vector in a flat index file is an error naming the file") {
  const std::string dir = testing::TempDir("reliability_nan_file");
  const std::string path = dir + "/nan.flat";
  {
    auto w = AtomicFileWriter::Open(path, "FLAT", 1).value();
    const float v[2] = {1.0f, std::numeric_limits<float>::quiet_NaN()};
    const std::int64_t id = 5;
    REQUIRE(w->WritePod<std::uint32_t>(2).ok());   // dim
    REQUIRE(w->WritePod<std::uint32_t>(0).ok());   // inner product
    REQUIRE(w->WritePod<std::uint64_t>(1).ok());   // one vector
    REQUIRE(w->WritePod(id).ok());
    REQUIRE(w->Write(v, sizeof(v)).ok());
    REQUIRE(w->Commit().ok());
  }
  auto index = FlatIndex::Load(path);
  REQUIRE_FALSE(index.ok());
  CHECK(index.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(index.status().message()), Contains(path) && Contains("row 0 column 1 is NaN"));
}

TEST_CASE("Regression (fuzzing): a bad added-token id in tokenizer.json is an error naming the file") {
  const std::string dir = testing::TempDir("reliability_added_id");
  testing::WriteFile(dir + "/tokenizer.json",
                     R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2}},
                         "normalizer": null, "pre_tokenizer": {"type": "BertPreTokenizer"},
                         "added_tokens": [{"id": -6, "content": "[pSEP]", "special": true}]})");
  auto tok = WordPieceTokenizer::FromDirectory(dir);
  REQUIRE_FALSE(tok.ok());
  CHECK_THAT(std::string(tok.status().message()),
             Contains(dir + "/tokenizer.json") && Contains("has id -6 outside the vocabulary"));
}

TEST_CASE("Regression (fuzzing): vectors whose inner products could overflow float32 are rejected") {
  // A cosine index of finite vectors near 1e38 gave infinite and NaN scores, and NaN-scored
  // documents silently fell out of the ranking.
  RowMatrix big(2, 4);
  big << 1e38f, 1e38f, 0, 0, 1, 2, 3, 4;
  for (Metric metric : {Metric::kCosine, Metric::kInnerProduct}) {
    auto flat = FlatIndex::Create(4, metric).value();
    const absl::Status st = flat->Add(View(big));
    CHECK_THAT(std::string(st.message()), Contains("vector row 0 has L2 norm") && Contains("overflow float32"));
    CHECK(flat->size() == 0);
    auto hnsw = HnswIndex::Create(4, metric).value();
    CHECK_FALSE(hnsw->Add(View(big)).ok());
    REQUIRE(flat->Add(View(RowMatrix(big.bottomRows(1)))).ok());
    CHECK_THAT(std::string(flat->Search(View(big), {1, 1, 0}).status().message()),
               Contains("query row 0 has L2 norm"));
  }
  // Norms up to 1.8e19 stay finite: |q.d| <= |q| |d| <= FLT_MAX.
  RowMatrix ok(1, 4);
  ok << 1e19f, 1e19f, 0, 0;
  auto flat = FlatIndex::Create(4, Metric::kInnerProduct).value();
  REQUIRE(flat->Add(View(ok)).ok());
  auto r = flat->Search(View(ok), {1, 1, 0});
  REQUIRE(r.ok());
  CHECK(std::isfinite(r->scores(0, 0)));
  CHECK(r->ids(0, 0) == 0);
}

TEST_CASE("Regression (fuzzing): denormal-sized vectors under cosine score 0, never NaN") {
  // 1/|v| of a vector of norm ~1e-40 overflowed float32 to infinity, so its cosine scores became
  // NaN (0 * inf) or infinite and it silently fell out of the ranking.
  RowMatrix docs(4, 4);
  docs << -1.0f, -0.36f, 2e-40f, 0,  //
      1e-40f, 0, 0, -3e-41f,         //
      0, 0, 0, 0,                    //
      0.5f, 0.5f, 0.5f, 0.5f;
  RowMatrix queries(2, 4);
  queries << -1.0f, 0.5f, 0.5f, 0.5f,  //
      1e-41f, 1e-41f, 0, 0;
  for (int which = 0; which < 2; ++which) {
    std::unique_ptr<VectorIndex> index;
    if (which == 0) {
      index = FlatIndex::Create(4, Metric::kCosine).value();
    } else {
      index = HnswIndex::Create(4, Metric::kCosine).value();
    }
    REQUIRE(index->Add(View(docs)).ok());
    auto r = index->Search(View(queries), {6, 1, 16});
    REQUIRE(r.ok());
    for (int q = 0; q < 2; ++q) {
      for (int j = 0; j < 4; ++j) {
        CHECK(r->ids(q, j) >= 0);
        CHECK(std::isfinite(r->scores(q, j)));
      }
    }
    CHECK(r->ids.cols() == 4);  // k = 6 is capped by the 4 vectors that exist
    // Numerically zero vectors (and a numerically zero query) score exactly 0.
    for (int j = 0; j < 4; ++j) {
      if (r->ids(0, j) == 1 || r->ids(0, j) == 2) CHECK(r->scores(0, j) == 0.0f);
      CHECK(r->scores(1, j) == 0.0f);
    }
  }
}

TEST_CASE("Regression (fuzzing): a JSON number out of range in a BEIR file is an error, not an exception") {
  const std::string dir = testing::TempDir("reliability_beir_number");
  testing::WriteFile(dir + "/corpus.jsonl", "{\"_id\": \"1\", \"text\": \"a\"}\n{\"_id\": \"2\", \"x\": 4e444, \"text\": \"b\"}\n");
  auto corpus = ReadBeirCorpus(dir + "/corpus.jsonl");
  REQUIRE_FALSE(corpus.ok());
  CHECK_THAT(std::string(corpus.status().message()), Contains("corpus.jsonl line 2: bad JSON"));
}

TEST_CASE("Regression: a huge thread count (from a file or a caller) sizes no allocation") {
  const RowMatrix docs = RandomMatrix(50, 8, 3);
  const RowMatrix queries = RandomMatrix(4, 8, 4);
  HnswConfig config;
  config.num_threads = 1 << 30;  // saved in the file and used by Add after a Load
  auto hnsw = HnswIndex::Create(8, Metric::kInnerProduct, config).value();
  REQUIRE(hnsw->Add(View(docs)).ok());
  CHECK(hnsw->size() == 50);
  auto flat = FlatIndex::Create(8, Metric::kInnerProduct).value();
  REQUIRE(flat->Add(View(docs)).ok());
  SearchOptions many;
  many.k = 5;
  many.num_threads = 1 << 30;
  SearchOptions one = many;
  one.num_threads = 1;
  auto a = flat->Search(View(queries), many);
  REQUIRE(a.ok());
  CHECK(Same(*a, flat->Search(View(queries), one).value()));
  auto b = hnsw->Search(View(queries), many);
  REQUIRE(b.ok());
  CHECK(Same(*b, hnsw->Search(View(queries), one).value()));
}

TEST_CASE("Vector PRF whose weights overflow float32 is an error, not an infinite query") {
  std::shared_ptr<FlatIndex> index = FlatIndex::Create(2, Metric::kInnerProduct).value();
  RowMatrix docs(2, 2);
  docs << 1, 0, 0, 1;
  REQUIRE(index->Add(View(docs)).ok());
  RowMatrix q(1, 2);
  q << 1, 1;
  Queries queries;
  REQUIRE(queries.Add({"q", "text"}).ok());
  auto dense = std::make_shared<DenseRetriever>(index, nullptr, DenseRetriever::Config{2, 0});
  auto prf = [&](double alpha, double beta) {
    return dense >> std::make_shared<RocchioPrf>(index, RocchioPrf::Config{alpha, beta, 0, 1}) >> dense;
  };
  // alpha q = 1e300 is finite in double but not in float32.
  auto bad = prf(1e300, 0.5).Run(queries, {}, &q);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(bad.status().message()),
             Contains("rocchio") && Contains("not finite in float32") && Contains("query 0"));
  auto fine = prf(1e18, 1e18).Run(queries, {}, &q);
  REQUIRE(fine.ok());  // q' = (2e18, 1e18) is a legal query
  REQUIRE_FALSE(fine->lists[0].empty());
  CHECK(std::isfinite(fine->lists[0][0].score));
}

TEST_CASE("BM25 edge cases: duplicate names, empty and stop-word-only queries, k = 0, k > matches") {
  const std::vector<std::string> texts = {"the cat sat", "a dog ran", "cats and dogs", "of the"};
  auto dup = Bm25Index::Build(std::vector<std::string>{"a", "b", "a", "c"}, texts);
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK_THAT(std::string(dup.status().message()), Contains("\"a\" is given twice (documents 0 and 2)"));

  std::shared_ptr<Bm25Index> index = Bm25Index::Build(std::vector<std::string>{"a", "b", "c", "d"}, texts).value();
  CHECK(index->DocLength(3) == 0);  // only stop words: no indexed term
  const auto r = index->Search({"", "the of and", "cat", "cat dog"}, 10, 1).value();
  REQUIRE(r.size() == 4);
  CHECK(r.lists[0].empty());
  CHECK(r.lists[1].empty());
  REQUIRE(r.lists[2].size() == 2);  // "cat" -> cat, cats (Porter): documents 0 and 2 only
  CHECK(r.lists[3].size() == 3);    // k = 10 > 3 matching documents: the 3, not padded
  const auto zero = index->Search({"cat"}, 0, 1).value();
  REQUIRE(zero.size() == 1);
  CHECK(zero.lists[0].empty());
  CHECK_FALSE(index->Search({"cat"}, -1, 1).ok());
  // BM25 + RM3 of queries without indexed terms: empty lists, no error.
  QueryState state;
  state.query_ids = {"empty", "stop"};
  state.query_texts = {"", "the"};
  state.options.num_threads = 1;
  const Pipeline rm3 = std::make_shared<Bm25Retriever>(index) >> std::make_shared<Rm3>(index) >>
                       std::make_shared<Bm25Retriever>(index, Bm25Retriever::Config{5, -1, -1});
  const auto expanded = rm3.Run(state).value();
  REQUIRE(expanded.size() == 2);
  CHECK(expanded.lists[0].empty());
  CHECK(expanded.lists[1].empty());
}

// ---- files ------------------------------------------------------------------------------------

std::unique_ptr<FlatIndex> SmallFlat(std::int64_t n, std::uint32_t seed) {
  auto index = FlatIndex::Create(8, Metric::kInnerProduct).value();
  const RowMatrix m = RandomMatrix(n, 8, seed);
  REQUIRE(index->Add(View(m)).ok());
  return index;
}

// The first stored vector, to tell two indexes apart.
RowMatrix FirstRow(const VectorIndex& index) {
  RowMatrix row(1, index.dim());
  const std::int64_t id = 0;
  REQUIRE(index.Reconstruct({&id, 1}, MutableView(row)).ok());
  return row;
}

// Names of the temporary files (".<name>.densefb-tmp-...", or an older ".tmp-") in `dir`.
std::vector<std::string> TempFiles(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".densefb-tmp-") != std::string::npos || name.find(".tmp-") != std::string::npos) {
      found.push_back(name);
    }
  }
  return found;
}

mode_t FileType(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & S_IFMT;
}

std::string ReadAll(int fd) {
  std::string out;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) out.append(buffer, static_cast<std::size_t>(n));
  return out;
}

// Runs `body` in a forked child (its return value is the exit status) and returns the raw
// wait status. The child starts with SIGTERM at its default action, as in a plain program
// (Catch2 installs its own handlers in the test process).
template <typename Body>
int InChild(Body body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::_exit(body());
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

TEST_CASE("Two processes: loads while the other atomically replaces the file never fail") {
  const std::string dir = testing::TempDir("files_concurrent");
  const std::string path = dir + "/index.flat";
  const auto a = SmallFlat(40, 1), b = SmallFlat(90, 2);
  const RowMatrix a0 = FirstRow(*a), b0 = FirstRow(*b);
  REQUIRE(a->Save(path).ok());
  const pid_t saver = ::fork();
  REQUIRE(saver >= 0);
  if (saver == 0) {  // replaces the file, alternately with b and a, until SIGTERM
    ::signal(SIGTERM, SIG_DFL);
    for (int i = 0;; ++i) {
      if (!(i % 2 == 0 ? *b : *a).Save(path).ok()) ::_exit(1);
    }
  }
  int loads = 0, seen_a = 0, seen_b = 0, failures = 0, wrong = 0;
  std::string first_error;
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::steady_clock::now() - start; };
  while ((loads < 8000 || seen_a < 20 || seen_b < 20) && elapsed() < std::chrono::seconds(4)) {
    ++loads;
    auto loaded = FlatIndex::Load(path);
    if (!loaded.ok()) {
      if (failures++ == 0) first_error = std::string(loaded.status().message());
      continue;
    }
    const RowMatrix row = FirstRow(**loaded);
    if ((*loaded)->size() == 40 && row == a0) {
      ++seen_a;
    } else if ((*loaded)->size() == 90 && row == b0) {
      ++seen_b;
    } else {
      ++wrong;
    }
  }
  ::kill(saver, SIGTERM);
  int status = 0;
  REQUIRE(::waitpid(saver, &status, 0) == saver);
  INFO("loads " << loads << ", a " << seen_a << ", b " << seen_b << ", first error: " << first_error);
  CHECK(failures == 0);
  CHECK(wrong == 0);
  CHECK(seen_a > 0);
  CHECK(seen_b > 0);
  CHECK(WIFSIGNALED(status));  // the saver never failed (it would have exited with 1)
  CHECK(TempFiles(dir).empty());  // a save cut by SIGTERM removed its temporary file
  auto last = FlatIndex::Load(path);
  REQUIRE(last.ok());
  CHECK(((*last)->size() == 40 || (*last)->size() == 90));
}

TEST_CASE("SIGTERM during a save removes the recognisably named temporary file and kills as before") {
  const std::string dir = testing::TempDir("files_sigterm");
  const std::string path = dir + "/index.flat";
  const auto old = SmallFlat(40, 1);
  REQUIRE(old->Save(path).ok());
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::signal(SIGTERM, SIG_DFL);
    auto writer = AtomicFileWriter::Open(path, "FLAT", 1);
    if (!writer.ok() || !(*writer)->Write("partial", 7).ok()) ::_exit(1);
    const std::string temp = (*writer)->temp_path() + "\n";
    if (::write(pipe_fds[1], temp.data(), temp.size()) < 0) ::_exit(1);
    while (true) ::pause();
  }
  ::close(pipe_fds[1]);
  std::string temp;
  char c;
  while (::read(pipe_fds[0], &c, 1) == 1 && c != '\n') temp += c;
  ::close(pipe_fds[0]);
  const std::string name = std::filesystem::path(temp).filename().string();
  INFO(temp);
  CHECK(std::filesystem::path(temp).parent_path() == std::filesystem::path(dir));
  CHECK(std::regex_match(name, std::regex(R"(\.index\.flat\.densefb-tmp-)" + std::to_string(child) + "-[0-9a-f]{8}")));
  CHECK(std::filesystem::exists(temp));
  ::kill(child, SIGTERM);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK_FALSE(std::filesystem::exists(temp));
  CHECK(TempFiles(dir).empty());
  CHECK(FlatIndex::Load(path).value()->size() == 40);
}

TEST_CASE("A temporary file left by a killed process is removed by the next save to that target") {
  const std::string dir = testing::TempDir("files_stale");
  const std::string path = dir + "/index.flat";
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const int status = InChild([&] {  // dies mid-save without cleaning up, as on SIGKILL
    auto writer = AtomicFileWriter::Open(path, "FLAT", 1);
    if (!writer.ok() || !(*writer)->Write("partial", 7).ok()) return 1;
    const std::string& temp = (*writer)->temp_path();
    if (::write(pipe_fds[1], temp.data(), temp.size()) < 0) return 1;
    ::_exit(0);
  });
  ::close(pipe_fds[1]);
  const std::string stale = ReadAll(pipe_fds[0]);
  ::close(pipe_fds[0]);
  REQUIRE(WIFEXITED(status));
  REQUIRE(std::filesystem::exists(stale));
  // Kept: a temporary file of a live process (this one), and one of another target.
  const std::string live = dir + "/.index.flat.densefb-tmp-" + std::to_string(::getpid()) + "-0badcafe";
  std::string other_name = std::filesystem::path(stale).filename().string();  // same dead pid
  other_name.replace(0, std::string(".index.flat").size(), ".other.flat");
  const std::string other = dir + "/" + other_name;
  testing::WriteFile(live, "x");
  testing::WriteFile(other, "x");
  REQUIRE(SmallFlat(10, 3)->Save(path).ok());
  CHECK_FALSE(std::filesystem::exists(stale));
  CHECK(std::filesystem::exists(live));
  CHECK(std::filesystem::exists(other));
  CHECK(FlatIndex::Load(path).value()->size() == 10);
}

TEST_CASE("A save that runs out of space (file size limit) leaves the old file and no temporary file") {
  const std::string dir = testing::TempDir("files_full");
  const std::string path = dir + "/index.flat";
  const std::string run_path = dir + "/run.trec";
  REQUIRE(SmallFlat(40, 1)->Save(path).ok());
  REQUIRE(WriteFileAtomically(run_path, "q 0 d 1 1 old\n").ok());
  const auto big = SmallFlat(20000, 2);  // 800 KB
  const int status = InChild([&] {
    ::signal(SIGXFSZ, SIG_IGN);  // writes past the limit then fail with EFBIG
    const rlimit limit{64 << 10, 64 << 10};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 2;
    const absl::Status saved = big->Save(path);
    const absl::Status written = WriteFileAtomically(run_path, std::string(200000, 'x'));
    const auto expected = [&](const absl::Status& s, const std::string& p) {
      return !s.ok() && absl::StrContains(s.message(), p) && absl::StrContains(s.message(), "File too large");
    };
    return expected(saved, path) && expected(written, run_path) ? 0 : 1;
  });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(FlatIndex::Load(path).value()->size() == 40);
  CHECK(testing::ReadFile(run_path) == "q 0 d 1 1 old\n");
  CHECK(TempFiles(dir).empty());
}

TEST_CASE("Saving through symbolic links replaces the final target and keeps the links") {
  namespace fs = std::filesystem;
  const std::string dir = testing::TempDir("files_links");
  const std::string real = dir + "/real.flat";
  REQUIRE(SmallFlat(90, 2)->Save(real).ok());
  ::chmod(real.c_str(), 0640);
  fs::create_symlink("real.flat", dir + "/link1");  // relative
  fs::create_symlink(dir + "/link1", dir + "/link2");  // absolute, to a link
  REQUIRE(SmallFlat(40, 1)->Save(dir + "/link2").ok());
  CHECK(FileType(dir + "/link1") == S_IFLNK);
  CHECK(FileType(dir + "/link2") == S_IFLNK);
  CHECK(FileType(real) == S_IFREG);
  CHECK(FlatIndex::Load(real).value()->size() == 40);
  CHECK((fs::status(real).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
  // A dangling link creates its target; a text file goes the same way.
  fs::create_symlink("new.trec", dir + "/dangling");
  REQUIRE(WriteFileAtomically(dir + "/dangling", "text\n").ok());
  CHECK(FileType(dir + "/dangling") == S_IFLNK);
  CHECK(testing::ReadFile(dir + "/new.trec") == "text\n");
  fs::create_symlink("loop2", dir + "/loop1");
  fs::create_symlink("loop1", dir + "/loop2");
  const absl::Status loop = SmallFlat(4, 1)->Save(dir + "/loop1");
  CHECK_THAT(std::string(loop.message()), Contains("too many levels of symbolic links"));
  CHECK(FileType(dir + "/loop1") == S_IFLNK);
  CHECK(TempFiles(dir).empty());
}

TEST_CASE("Saving to a FIFO, /dev/null, /dev/full, - or /dev/stdout streams and never replaces it") {
  const std::string dir = testing::TempDir("files_devices");
  const auto index = SmallFlat(40, 1);
  REQUIRE(index->Save(dir + "/regular.flat").ok());
  const std::string expected = testing::ReadFile(dir + "/regular.flat");

  const std::string fifo = dir + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string received;
  std::thread reader([&] { received = testing::ReadFile(fifo); });
  const absl::Status to_fifo = index->Save(fifo);
  reader.join();
  CHECK(to_fifo.ok());
  CHECK(received == expected);
  CHECK(FileType(fifo) == S_IFIFO);
  CHECK(TempFiles(dir).empty());

  CHECK(index->Save("/dev/null").ok());
  CHECK(FileType("/dev/null") == S_IFCHR);
  const absl::Status full = index->Save("/dev/full");
  CHECK_THAT(std::string(full.message()), Contains("/dev/full") && Contains("No space left on device"));
  CHECK(FileType("/dev/full") == S_IFCHR);
  CHECK_FALSE(WriteFileAtomically("/dev/full", "q 0 d 1 1 t\n").ok());
  CHECK(FileType("/dev/full") == S_IFCHR);

  // A multi-vector index streams alone; with its token index (a second file) it needs a path.
  auto mv = MultiVectorIndex::Create(8).value();
  const RowMatrix tokens = RandomMatrix(5, 8, 4);
  const std::vector<std::int32_t> token_ids = {1, 2, 3, 4, 5};
  const ConstMatrixView doc = View(tokens);
  const absl::Span<const std::int32_t> doc_ids(token_ids);
  REQUIRE(mv->Add({&doc, 1}, {&doc_ids, 1}).ok());
  CHECK(mv->Save("/dev/null").ok());
  REQUIRE(mv->BuildTokenIndex().ok());
  CHECK_THAT(std::string(mv->Save("/dev/null").message()), Contains("needs a file path"));
  CHECK_FALSE(std::filesystem::exists("/dev/null.tokens"));
  CHECK(FileType("/dev/null") == S_IFCHR);

  // "-" and /dev/stdout write to standard output, here a pipe.
  for (const std::string target : {"-", "/dev/stdout"}) {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    const int status = InChild([&] {
      ::dup2(pipe_fds[1], STDOUT_FILENO);
      ::close(pipe_fds[1]);
      return WriteFileAtomically(target, "q 0 d 1 1 t\n").ok() ? 0 : 1;
    });
    ::close(pipe_fds[1]);
    CHECK(ReadAll(pipe_fds[0]) == "q 0 d 1 1 t\n");
    ::close(pipe_fds[0]);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  // /dev/stdout redirected to a regular file writes into that file (the shell's), not a new one.
  const std::string out = dir + "/stdout.txt";
  testing::WriteFile(out, "");
  struct stat before {};
  REQUIRE(::stat(out.c_str(), &before) == 0);
  const int status = InChild([&] {
    const int fd = ::open(out.c_str(), O_WRONLY);
    ::dup2(fd, STDOUT_FILENO);
    return WriteFileAtomically("/dev/stdout", "streamed\n").ok() ? 0 : 1;
  });
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  struct stat after {};
  REQUIRE(::stat(out.c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);
  CHECK(testing::ReadFile(out) == "streamed\n");
}

TEST_CASE("Loading /dev/null, an empty file, a FIFO or a directory gives a clear error") {
  const std::string dir = testing::TempDir("files_load_kinds");
  const auto message = [](const absl::StatusOr<std::unique_ptr<FlatIndex>>& r) {
    REQUIRE_FALSE(r.ok());
    return std::string(r.status().message());
  };
  const std::string null_error = message(FlatIndex::Load("/dev/null"));
  CHECK(null_error == "/dev/null: is not a regular file (a character device), not an index file");
  testing::WriteFile(dir + "/empty", "");
  CHECK(message(FlatIndex::Load(dir + "/empty")) == dir + "/empty: is empty (0 bytes), not an index file");
  REQUIRE(::mkfifo((dir + "/fifo").c_str(), 0600) == 0);  // no writer: must not block
  CHECK_THAT(message(FlatIndex::Load(dir + "/fifo")), Contains("is not a regular file (a FIFO)"));
  CHECK_THAT(message(FlatIndex::Load(dir)), Contains("is a directory"));
  CHECK_THAT(message(FlatIndex::Load(dir + "/missing")), Contains("no such file"));
  CHECK(FlatIndex::Load(dir + "/missing").status().code() == absl::StatusCode::kNotFound);
  CHECK(message(FlatIndex::Load("")) == "empty path");
  // And on save: an empty path, a directory, a path ending in "/".
  const auto index = SmallFlat(4, 1);
  CHECK(index->Save("").message() == "empty path");
  CHECK_THAT(std::string(index->Save(dir).message()), Contains("is a directory"));
  CHECK_THAT(std::string(index->Save(dir + "/newdir/").message()), Contains("expected a file path"));
  CHECK_THAT(std::string(index->Save(dir + "/no/such/folder.flat").message()),
             Contains("cannot create a temporary file") && Contains("No such file or directory"));
  CHECK(WriteFileAtomically("", "x").message() == "empty path");
  CHECK_THAT(std::string(WriteFileAtomically(dir, "x").message()), Contains("is a directory"));
}

TEST_CASE("A path holding a NUL byte is refused by every reader and writer, never cut at the NUL") {
  const std::string dir = testing::TempDir("files_nul");
  const std::string bad = dir + "/a" + std::string(1, '\0') + "b";
  const auto refused = [&](const absl::Status& s) {
    INFO(s.ToString());
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(s.message()), Contains("contains a NUL byte") && Contains("/a\\x00b"));
  };
  const auto flat = SmallFlat(4, 1);
  refused(flat->Save(bad));
  refused(FlatIndex::Load(bad).status());
  auto hnsw = HnswIndex::Create(8, Metric::kInnerProduct).value();
  REQUIRE(hnsw->Add(View(RandomMatrix(4, 8, 1))).ok());
  refused(hnsw->Save(bad));
  refused(HnswIndex::Load(bad).status());
  const std::vector<std::string> texts = {"a cat", "a dog"};
  auto bm25 = Bm25Index::Build({}, texts).value();
  refused(bm25->Save(bad));
  refused(Bm25Index::Load(bad).status());
  auto mv = MultiVectorIndex::Create(8).value();
  refused(mv->Save(bad));
  refused(MultiVectorIndex::Load(bad).status());
  Run run;
  run.AddQuery("q").value();
  run.list(0).push_back({"d", 1.0});
  refused(WriteTrecRun(bad, run));
  refused(WriteTrecQrels(bad, Qrels()));
  refused(WriteFileAtomically(bad, "x"));
  refused(ReadTrecRun(bad).status());
  refused(ReadTrecQrels(bad).status());
  refused(ReadBeirCorpus(bad).status());
  refused(ReadBeirQueries(bad).status());
  refused(ReadBeirQrels(bad).status());
  refused(LoadBeirDataset(bad, "test").status());
  refused(SafetensorsFile::Open(bad).status());
  refused(WordPieceTokenizer::FromDirectory(bad).status());
  refused(WordPieceTokenizer::FromVocabFile(bad, {}).status());
  refused(WordPieceTokenizer::FromTokenizerJson(bad).status());
  // Nothing was created at the part before the NUL, and a file there is not read instead.
  CHECK_FALSE(std::filesystem::exists(dir + "/a"));
  REQUIRE(flat->Save(dir + "/a").ok());
  refused(FlatIndex::Load(bad).status());
  CHECK(TempFiles(dir).empty());
}

}  // namespace
}  // namespace densefb
