#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "densefb/multivector.h"
#include "densefb/pipeline.h"
#include "densefb/retrievers.h"
#include "test_util.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;
using testing::RandomMatrix;
using testing::TempDir;

RowMatrix Normalized(RowMatrix m) {
  for (std::int64_t i = 0; i < m.rows(); ++i) {
    const float n = m.row(i).norm();
    if (n > 0) m.row(i) /= n;
  }
  return m;
}

// A toy collection: `n` documents of 3..20 unit-length token rows, token ids drawn from a
// small vocabulary so that document frequencies vary.
struct Toy {
  std::vector<TokenEmbeddings> docs;
};

Toy MakeToy(int n, int dim, std::uint32_t seed) {
  Toy t;
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> len(3, 20);
  std::uniform_int_distribution<int> tok(0, 40);
  for (int d = 0; d < n; ++d) {
    TokenEmbeddings e;
    const int rows = len(gen);
    e.vectors = Normalized(RandomMatrix(rows, dim, seed * 1000 + d));
    for (int r = 0; r < rows; ++r) e.token_ids.push_back(tok(gen));
    t.docs.push_back(std::move(e));
  }
  return t;
}

double ReferenceMaxSim(const RowMatrix& q, const std::vector<float>& w, const RowMatrix& d) {
  double total = 0;
  for (std::int64_t i = 0; i < q.rows(); ++i) {
    double best = -1e300;
    for (std::int64_t j = 0; j < d.rows(); ++j) {
      best = std::max(best, q.row(i).cast<double>().dot(d.row(j).cast<double>()));
    }
    total += (w.empty() ? 1.0 : w[i]) * (d.rows() > 0 ? best : 0.0);
  }
  return total;
}

std::unique_ptr<MultiVectorIndex> BuildToy(const Toy& toy, int dim) {
  auto index = *MultiVectorIndex::Create(dim);
  REQUIRE(index->Add(toy.docs).ok());
  return index;
}

TEST_CASE("MaxSim scores match a direct double-precision formula", "[multivector]") {
  const int dim = 24;
  Toy toy = MakeToy(60, dim, 7);
  auto index = BuildToy(toy, dim);
  REQUIRE(index->size() == 60);
  TokenQuery q;
  q.vectors = Normalized(RandomMatrix(6, dim, 99));
  q.weights = {1, 1, 1, 0.5f, 2.0f, -0.25f};
  std::vector<std::int64_t> docs(60);
  std::iota(docs.begin(), docs.end(), 0);
  std::vector<float> scores(60);
  REQUIRE(index->Score(q, docs, absl::MakeSpan(scores)).ok());
  for (int d = 0; d < 60; ++d) {
    CHECK(scores[d] == Approx(ReferenceMaxSim(q.vectors, q.weights, toy.docs[d].vectors)).margin(1e-5));
  }
  // Unknown document.
  std::vector<std::int64_t> bad = {60};
  std::vector<float> one(1);
  CHECK(index->Score(q, bad, absl::MakeSpan(one)).code() == absl::StatusCode::kOutOfRange);
  // Wrong dimension.
  TokenQuery wrong;
  wrong.vectors = RandomMatrix(2, dim + 1, 1);
  CHECK_THAT(std::string(index->Score(wrong, docs, absl::MakeSpan(scores)).message()), Contains("dimensions"));
  // Weights of the wrong length.
  TokenQuery short_w = q;
  short_w.weights.pop_back();
  CHECK_THAT(std::string(index->Score(short_w, docs, absl::MakeSpan(scores)).message()), Contains("weights"));
}

TEST_CASE("document frequency and IDF match a direct count", "[multivector]") {
  const int dim = 8;
  Toy toy = MakeToy(50, dim, 3);
  auto index = BuildToy(toy, dim);
  for (int t = 0; t <= 41; ++t) {
    std::int64_t df = 0;
    for (const auto& d : toy.docs) {
      df += std::find(d.token_ids.begin(), d.token_ids.end(), t) != d.token_ids.end();
    }
    CHECK(index->DocumentFrequency(t) == df);
    CHECK(index->Idf(t) == Approx(std::log((1.0 + 50) / (df + 1.0))));
  }
  CHECK(index->DocumentFrequency(123456) == 0);
  // Token row -> document map.
  std::int64_t row = 0;
  for (std::size_t d = 0; d < toy.docs.size(); ++d) {
    for (std::int64_t r = 0; r < toy.docs[d].vectors.rows(); ++r, ++row) {
      REQUIRE(*index->DocumentOfToken(row) == static_cast<std::int64_t>(d));
      REQUIRE(index->token_ids()[row] == toy.docs[d].token_ids[r]);
    }
  }
  CHECK(row == index->num_tokens());
}

TEST_CASE("Add rejects bad documents with clear errors", "[multivector]") {
  auto index = *MultiVectorIndex::Create(4);
  RowMatrix m = RandomMatrix(3, 4, 1);
  std::vector<std::int32_t> ids = {1, 2};
  std::vector<ConstMatrixView> views = {View(m)};
  std::vector<absl::Span<const std::int32_t>> id_spans = {ids};
  CHECK_THAT(std::string(index->Add(views, id_spans).message()), Contains("token ids"));
  ids = {1, 2, -3};
  id_spans = {ids};
  CHECK_THAT(std::string(index->Add(views, id_spans).message()), Contains("negative"));
  m(1, 2) = std::nanf("");
  ids = {1, 2, 3};
  id_spans = {ids};
  CHECK_FALSE(index->Add(views, id_spans).ok());
  CHECK(index->size() == 0);
  CHECK(MultiVectorIndex::Create(0).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("end-to-end retrieval with an exact token index matches exhaustive MaxSim", "[multivector]") {
  const int dim = 16;
  Toy toy = MakeToy(80, dim, 11);
  auto index = BuildToy(toy, dim);
  std::vector<TokenQuery> queries = MakeTokenQueries({Normalized(RandomMatrix(5, dim, 1)),
                                                      Normalized(RandomMatrix(8, dim, 2))});
  MultiVectorSearchOptions o;
  o.k = 10;
  o.token_k = 5;
  CHECK(index->Search(queries, o).status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(index->BuildTokenIndex().ok());
  // With token_k = all rows every document is a candidate: exactly the exhaustive ranking.
  o.token_k = static_cast<int>(index->num_tokens());
  auto full = index->Search(queries, o);
  REQUIRE(full.ok());
  for (std::size_t q = 0; q < queries.size(); ++q) {
    std::vector<std::pair<double, std::int64_t>> all;
    for (std::int64_t d = 0; d < 80; ++d) all.emplace_back(ReferenceMaxSim(queries[q].vectors, {}, toy.docs[d].vectors), d);
    std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first > b.first; });
    REQUIRE(full->lists[q].size() == 10);
    for (int i = 0; i < 10; ++i) {
      CHECK(full->lists[q][i].score == Approx(all[i].first).margin(1e-5));
    }
  }
  // Candidates are the documents of the token_k nearest rows of each query token.
  o.token_k = 3;
  auto cands = index->Candidates(queries, o);
  REQUIRE(cands.ok());
  for (std::size_t q = 0; q < queries.size(); ++q) {
    std::set<std::int64_t> want;
    for (std::int64_t i = 0; i < queries[q].vectors.rows(); ++i) {
      std::vector<std::pair<double, std::int64_t>> rows;
      std::int64_t row = 0;
      for (std::size_t d = 0; d < toy.docs.size(); ++d) {
        for (std::int64_t j = 0; j < toy.docs[d].vectors.rows(); ++j, ++row) {
          rows.emplace_back(queries[q].vectors.row(i).cast<double>().dot(toy.docs[d].vectors.row(j).cast<double>()), row);
        }
      }
      std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.first > b.first; });
      for (int j = 0; j < 3; ++j) want.insert(*index->DocumentOfToken(rows[j].second));
    }
    std::set<std::int64_t> got;
    for (const ScoredDoc& d : cands->lists[q]) got.insert(d.id);
    CHECK(got == want);
  }
}

TEST_CASE("results are identical for any thread count", "[multivector]") {
  const int dim = 32;
  Toy toy = MakeToy(120, dim, 5);
  auto index = BuildToy(toy, dim);
  REQUIRE(index->BuildTokenIndex().ok());
  std::vector<TokenQuery> queries;
  for (int i = 0; i < 9; ++i) queries.push_back({Normalized(RandomMatrix(4 + i, dim, 50 + i)), {}, {}});
  MultiVectorSearchOptions o;
  o.k = 20;
  o.token_k = 7;
  o.num_threads = 1;
  auto one = *index->Search(queries, o);
  auto prf = *ColbertPrf::Create({});
  DocumentTokenSource src;
  src.index = index.get();
  auto e1 = *prf.Expand(src, queries, one, 1);
  for (int threads : {2, 3, 8}) {
    o.num_threads = threads;
    auto many = *index->Search(queries, o);
    for (std::size_t q = 0; q < queries.size(); ++q) {
      REQUIRE(many.lists[q].size() == one.lists[q].size());
      for (std::size_t i = 0; i < one.lists[q].size(); ++i) {
        CHECK(many.lists[q][i].id == one.lists[q][i].id);
        CHECK(many.lists[q][i].score == one.lists[q][i].score);  // bit-identical
      }
    }
    auto en = *prf.Expand(src, queries, one, threads);
    for (std::size_t q = 0; q < queries.size(); ++q) {
      CHECK(en[q].vectors == e1[q].vectors);
      CHECK(en[q].weights == e1[q].weights);
    }
  }
}

TEST_CASE("save and load round trip, memory-mapped", "[multivector]") {
  const int dim = 12;
  Toy toy = MakeToy(30, dim, 9);
  toy.docs[4].vectors.resize(0, dim);  // a document without tokens
  toy.docs[4].token_ids.clear();
  auto index = BuildToy(toy, dim);
  REQUIRE(index->SetExcludedTokenIds({0, 3, 3, 1}).ok());
  REQUIRE(index->BuildTokenIndex().ok());
  const std::string dir = TempDir("multivector_roundtrip");
  const std::string path = dir + "/index.mvec";
  REQUIRE(index->Save(path).ok());
  CHECK(std::filesystem::exists(path + ".tokens"));
  auto loaded = MultiVectorIndex::Load(path);
  REQUIRE(loaded.ok());
  MultiVectorIndex& l = **loaded;
  CHECK(l.memory_mapped());
  CHECK(l.size() == 30);
  CHECK(l.num_tokens() == index->num_tokens());
  CHECK(std::vector<std::int32_t>(l.excluded_token_ids().begin(), l.excluded_token_ids().end()) ==
        std::vector<std::int32_t>{0, 1, 3});
  REQUIRE(l.token_index() != nullptr);
  for (int d = 0; d < 30; ++d) {
    ConstMatrixView a = *index->Document(d), b = *l.Document(d);
    REQUIRE(a.rows == b.rows);
    CHECK(std::equal(a.data, a.data + a.rows * a.cols, b.data));
    CHECK(reinterpret_cast<std::uintptr_t>(b.data) % alignof(float) == 0);
  }
  for (int t = 0; t < 42; ++t) CHECK(l.DocumentFrequency(t) == index->DocumentFrequency(t));
  std::vector<TokenQuery> queries = MakeTokenQueries({Normalized(RandomMatrix(5, dim, 4))});
  MultiVectorSearchOptions o;
  o.k = 10;
  o.token_k = 4;
  auto a = *index->Search(queries, o);
  auto b = *l.Search(queries, o);
  REQUIRE(a.lists[0].size() == b.lists[0].size());
  for (std::size_t i = 0; i < a.lists[0].size(); ++i) {
    CHECK(a.lists[0][i].id == b.lists[0][i].id);
    CHECK(a.lists[0][i].score == b.lists[0][i].score);
  }
  // Adding to a mapped index copies it first.
  REQUIRE(l.Add(std::vector<TokenEmbeddings>{toy.docs[0]}).ok());
  CHECK_FALSE(l.memory_mapped());
  CHECK(l.size() == 31);
  // The new token rows went into the token index too.
  REQUIRE(l.token_index() != nullptr);
  CHECK(l.token_index()->size() == l.num_tokens());
}

TEST_CASE("truncated, corrupt and foreign files fail cleanly", "[multivector]") {
  const int dim = 6;
  auto index = BuildToy(MakeToy(10, dim, 2), dim);
  const std::string dir = TempDir("multivector_corrupt");
  const std::string path = dir + "/index.mvec";
  REQUIRE(index->Save(path).ok());
  const std::string bytes = testing::ReadFile(path);
  CHECK(MultiVectorIndex::Load(dir + "/missing.mvec").status().code() == absl::StatusCode::kNotFound);
  testing::WriteFile(dir + "/trunc.mvec", bytes.substr(0, bytes.size() - 10));
  auto t = MultiVectorIndex::Load(dir + "/trunc.mvec");
  CHECK(t.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(t.status().message()), Contains("trunc.mvec"));
  testing::WriteFile(dir + "/short.mvec", bytes.substr(0, 20));
  CHECK(MultiVectorIndex::Load(dir + "/short.mvec").status().code() == absl::StatusCode::kDataLoss);
  std::string flipped = bytes;
  flipped[bytes.size() - 5] ^= 0x40;
  testing::WriteFile(dir + "/flip.mvec", flipped);
  auto f = MultiVectorIndex::Load(dir + "/flip.mvec");
  CHECK(f.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(f.status().message()), Contains("checksum"));
  testing::WriteFile(dir + "/text.mvec", "not an index at all, just some text that is long enough");
  CHECK_FALSE(MultiVectorIndex::Load(dir + "/text.mvec").ok());
  // A token index that does not match is rejected.
  auto other = BuildToy(MakeToy(3, dim, 8), dim);
  REQUIRE(other->BuildTokenIndex().ok());
  REQUIRE(other->Save(dir + "/other.mvec").ok());
  std::filesystem::copy_file(dir + "/other.mvec.tokens", path + ".tokens");
  auto mismatch = MultiVectorIndex::Load(path);
  CHECK(mismatch.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(mismatch.status().message()), Contains("does not match"));
}

// An independent k-means++ / Lloyd with the documented seeding, written plainly.
struct Rng {
  std::uint64_t s;
  std::uint64_t Next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double U() { return static_cast<double>(Next() >> 11) / 9007199254740992.0; }
};

TEST_CASE("k-means follows the documented seeding and Lloyd iterations", "[multivector]") {
  // Three well separated blobs: Lloyd must recover them.
  const int dim = 5;
  RowMatrix pts(90, dim);
  RowMatrix noise = RandomMatrix(90, dim, 3);
  for (int i = 0; i < 90; ++i) {
    pts.row(i) = noise.row(i) * 0.05f;
    pts(i, i % 3) += 10.0f;
  }
  auto r = KMeans(View(pts), 3, 42);
  REQUIRE(r.ok());
  for (int i = 3; i < 90; ++i) CHECK(r->labels[i] == r->labels[i % 3]);
  std::set<int> distinct(r->labels.begin(), r->labels.end());
  CHECK(distinct.size() == 3);
  // The first centre is the point floor(u * n) of the documented stream; with 3 blobs the
  // final centres are the blob means.
  for (int c = 0; c < 3; ++c) {
    Eigen::RowVectorXd mean = Eigen::RowVectorXd::Zero(dim);
    int n = 0;
    for (int i = 0; i < 90; ++i) {
      if (r->labels[i] == c) {
        mean += pts.row(i).cast<double>();
        ++n;
      }
    }
    mean /= n;
    CHECK((r->centroids.row(c).cast<double>() - mean).norm() < 1e-5);
  }
  Rng rng{42};
  const auto first = static_cast<std::int64_t>(rng.U() * 90);
  // Centre 0 of k-means++ is that point, so its cluster is that point's blob.
  CHECK(r->labels[first] == 0);
  // Same seed -> same result; K > n is reduced to n.
  auto again = *KMeans(View(pts), 3, 42);
  CHECK(again.centroids == r->centroids);
  auto many = *KMeans(View(pts.topRows(4)), 10, 1);
  CHECK(many.centroids.rows() == 4);
  CHECK_FALSE(KMeans(View(pts), 0).ok());
}

TEST_CASE("ColBERT-PRF expands with IDF-ranked centroids and reranks", "[multivector]") {
  const int dim = 16;
  Toy toy = MakeToy(40, dim, 21);
  auto index = BuildToy(toy, dim);
  REQUIRE(index->SetExcludedTokenIds({0, 1}).ok());
  REQUIRE(index->BuildTokenIndex().ok());
  ColbertPrfConfig cfg;
  cfg.fb_docs = 2;
  cfg.clusters = 8;
  cfg.fb_embs = 3;
  cfg.beta = 0.5f;
  auto prf = *ColbertPrf::Create(cfg);
  std::vector<TokenQuery> queries = MakeTokenQueries({Normalized(RandomMatrix(4, dim, 77))});
  MultiVectorSearchOptions o;
  o.k = 15;
  o.token_k = 10;
  auto first = *index->Search(queries, o);
  DocumentTokenSource src;
  src.index = index.get();
  std::vector<PrfExpansion> details;
  auto expanded = *prf.Expand(src, queries, first, 0, &details);
  const TokenQuery& e = expanded[0];
  REQUIRE(e.vectors.rows() == 4 + 3);
  REQUIRE(details[0].selected.size() == 3);
  // Reproduce every step directly.
  RowMatrix fb(toy.docs[first.lists[0][0].id].vectors.rows() + toy.docs[first.lists[0][1].id].vectors.rows(), dim);
  fb << toy.docs[first.lists[0][0].id].vectors, toy.docs[first.lists[0][1].id].vectors;
  auto km = *KMeans(View(fb), 8, 42);
  CHECK(km.centroids == details[0].centroids);
  std::vector<std::int32_t> tokens(8, -1);
  for (int c = 0; c < 8; ++c) {
    std::vector<std::pair<double, std::int64_t>> rows;
    std::int64_t row = 0;
    for (const auto& d : toy.docs) {
      for (std::int64_t j = 0; j < d.vectors.rows(); ++j, ++row) {
        rows.emplace_back(km.centroids.row(c).cast<double>().dot(d.vectors.row(j).cast<double>()), row);
      }
    }
    std::stable_sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.first > b.first; });
    std::vector<std::pair<std::int32_t, int>> counts;
    for (int j = 0; j < 10; ++j) {
      const std::int32_t t = index->token_ids()[rows[j].second];
      if (t == 0 || t == 1) continue;
      auto it = std::find_if(counts.begin(), counts.end(), [&](auto& p) { return p.first == t; });
      if (it == counts.end()) counts.emplace_back(t, 1); else ++it->second;
    }
    int best = 0;
    for (auto& [t, n] : counts) {
      if (n > best) { best = n; tokens[c] = t; }
    }
    CHECK(details[0].centroid_tokens[c] == tokens[c]);
  }
  std::vector<int> order;
  for (int c = 0; c < 8; ++c) if (tokens[c] >= 0) order.push_back(c);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return index->Idf(tokens[a]) > index->Idf(tokens[b]); });
  order.resize(3);
  CHECK(details[0].selected == order);
  for (int i = 0; i < 3; ++i) {
    CHECK(e.vectors.row(4 + i) == km.centroids.row(order[i]));
    CHECK(e.weights[4 + i] == Approx(0.5 * index->Idf(tokens[order[i]])));
    CHECK(e.expansion_token_ids[i] == tokens[order[i]]);
  }
  for (int i = 0; i < 4; ++i) CHECK(e.weights[i] == 1.0f);
  // In pipelines (the one implementation of the reranker and the ranker): the expanded query
  // re-scores the whole first-pass candidate set after maxsim(k=0) (pyterrier_colbert's
  // reranker), the given list after a cut maxsim, or retrieves again (its ranker).
  CHECK(MultiVectorSearchOptions{}.token_k == 1000);  // pyterrier_colbert's faiss_depth
  std::shared_ptr<const MultiVectorIndex> shared = std::move(index);
  auto maxsim = [&](std::int64_t k) {
    return std::make_shared<MaxSimRetriever>(shared, nullptr, MaxSimRetrieverConfig{k, o.token_k, 0});
  };
  const auto feedback = std::make_shared<ColbertPrfFeedback>(shared, nullptr, nullptr, cfg);
  const auto rescore = std::make_shared<MaxSimReranker>(shared, nullptr, nullptr);
  auto run = [&](const Pipeline& p) {
    QueryState state;
    state.query_ids = {"q0"};
    state.query_texts = state.original_texts = {""};
    state.token_queries = {queries[0].vectors};
    state.token_weights = {std::vector<float>(static_cast<std::size_t>(queries[0].vectors.rows()), 1.0f)};
    state.options.k = 0;
    absl::StatusOr<BatchRanking> r = p.Run(state);
    INFO(p.ToString() << ": " << r.status().ToString());
    REQUIRE(r.ok());
    return *std::move(r);
  };
  const BatchRanking pool = *shared->Candidates(queries, o);
  const BatchRanking reranked = run(maxsim(0) >> feedback >> rescore);
  std::set<std::int64_t> a, b, first_ids;
  for (auto& d : first.lists[0]) first_ids.insert(d.id);
  for (auto& d : pool.lists[0]) a.insert(d.id);
  for (auto& d : reranked.lists[0]) b.insert(d.id);
  CHECK(a == b);
  CHECK(a.size() > first_ids.size());  // the cut first pass alone would miss some
  for (auto& d : reranked.lists[0]) {
    CHECK(d.score == Approx(ReferenceMaxSim(e.vectors, e.weights, toy.docs[d.id].vectors)).margin(1e-4));
  }
  // After a cut first pass (maxsim(k=15)), exactly its 15 documents, scored the same.
  const BatchRanking cut = run(maxsim(15) >> feedback >> rescore);
  std::set<std::int64_t> c;
  for (auto& d : cut.lists[0]) c.insert(d.id);
  CHECK(c == first_ids);
  // The ranker retrieves again with the expanded query.
  const BatchRanking ranked = run(maxsim(15) >> feedback >> maxsim(15));
  REQUIRE(ranked.lists[0].size() == 15);
  for (auto& d : ranked.lists[0]) {
    CHECK(d.score == Approx(ReferenceMaxSim(e.vectors, e.weights, toy.docs[d.id].vectors)).margin(1e-4));
  }
  // Bad configurations.
  ColbertPrfConfig bad;
  bad.fb_embs = 24;
  CHECK_THAT(std::string(ColbertPrf::Create(bad).status().message()), Contains("fb_embs"));
  // No token index.
  auto bare = BuildToy(toy, dim);  // no token index
  DocumentTokenSource bare_src;
  bare_src.index = bare.get();
  CHECK(prf.Expand(bare_src, queries, first).status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("MaxSim reranking takes documents given directly", "[multivector]") {
  const int dim = 8;
  Toy toy = MakeToy(12, dim, 4);
  auto index = BuildToy(Toy{std::vector<TokenEmbeddings>(toy.docs.begin(), toy.docs.begin() + 6)}, dim);
  std::vector<TokenQuery> queries = MakeTokenQueries({Normalized(RandomMatrix(3, dim, 5))});
  BatchRanking cands;
  cands.lists.resize(1);
  for (int d = 0; d < 12; ++d) cands.lists[0].push_back({d, 0});
  DocumentTokenSource src;
  src.index = index.get();
  CHECK(MaxSimRerank(src, queries, cands).status().code() == absl::StatusCode::kOutOfRange);
  std::vector<std::int64_t> ids;
  std::vector<ConstMatrixView> views;
  for (int d = 6; d < 12; ++d) {
    ids.push_back(d);
    views.push_back(View(toy.docs[d].vectors));
  }
  src.extra_ids = ids;
  src.extra_docs = views;
  auto r = MaxSimRerank(src, queries, cands, 5);
  REQUIRE(r.ok());
  REQUIRE(r->lists[0].size() == 5);
  std::vector<std::pair<double, std::int64_t>> all;
  for (int d = 0; d < 12; ++d) all.emplace_back(ReferenceMaxSim(queries[0].vectors, {}, toy.docs[d].vectors), d);
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (int i = 0; i < 5; ++i) {
    CHECK(r->lists[0][i].id == all[i].second);
    CHECK(r->lists[0][i].score == Approx(all[i].first).margin(1e-5));
  }
}

}  // namespace
}  // namespace densefb

namespace densefb {
namespace {

// A user-defined TokenCollection: the toy collection split into two MultiVectorIndex halves
// (documents [0, split) and [split, n)), answering as one collection. The multi-vector stages
// read it through the interface only, so they must give the single index's rankings.
class TwoHalves final : public TokenCollection {
 public:
  TwoHalves(const Toy& toy, int dim, int split, std::vector<std::int32_t> excluded) : dim_(dim), split_(split) {
    std::vector<TokenEmbeddings> a(toy.docs.begin(), toy.docs.begin() + split);
    std::vector<TokenEmbeddings> b(toy.docs.begin() + split, toy.docs.end());
    for (auto* part : {&a, &b}) {
      auto index = *MultiVectorIndex::Create(dim);
      REQUIRE(index->Add(*part).ok());
      REQUIRE(index->SetExcludedTokenIds(excluded).ok());
      REQUIRE(index->BuildTokenIndex().ok());
      halves_.push_back(std::move(index));
    }
  }
  int dim() const override { return dim_; }
  std::int64_t size() const override { return halves_[0]->size() + halves_[1]->size(); }
  std::int64_t num_tokens() const override { return halves_[0]->num_tokens() + halves_[1]->num_tokens(); }
  bool has_token_index() const override { return true; }

  absl::StatusOr<TokenNeighbours> Neighbours(ConstMatrixView v, int k, int ef, int threads) const override {
    ++calls;
    struct Hit { float score; std::int64_t row, doc, token; };
    std::vector<std::vector<Hit>> hits(static_cast<std::size_t>(v.rows));
    std::int64_t row_base = 0;
    for (int h = 0; h < 2; ++h) {
      const int kh = static_cast<int>(std::min<std::int64_t>(k, halves_[h]->num_tokens()));
      DENSEFB_ASSIGN_OR_RETURN(TokenNeighbours r, halves_[h]->Neighbours(v, kh, ef, threads));
      for (std::int64_t i = 0; i < v.rows; ++i) {
        for (std::int64_t j = 0; j < r.rows.cols(); ++j) {
          if (r.rows(i, j) < 0) continue;
          hits[i].push_back({r.scores(i, j), r.rows(i, j) + row_base, r.docs(i, j) + (h ? split_ : 0), r.token_ids(i, j)});
        }
      }
      row_base += halves_[h]->num_tokens();
    }
    TokenNeighbours out;
    out.scores.setConstant(v.rows, k, -std::numeric_limits<float>::infinity());
    out.rows.setConstant(v.rows, k, -1);
    out.docs.setConstant(v.rows, k, -1);
    out.token_ids.setConstant(v.rows, k, -1);
    for (std::int64_t i = 0; i < v.rows; ++i) {
      std::sort(hits[i].begin(), hits[i].end(), [](const Hit& x, const Hit& y) {
        return x.score != y.score ? x.score > y.score : x.row < y.row;
      });
      for (std::size_t j = 0; j < hits[i].size() && static_cast<int>(j) < k; ++j) {
        out.scores(i, j) = hits[i][j].score;
        out.rows(i, j) = hits[i][j].row;
        out.docs(i, j) = hits[i][j].doc;
        out.token_ids(i, j) = hits[i][j].token;
      }
    }
    return out;
  }
  absl::StatusOr<BatchRanking> Rerank(absl::Span<const TokenQuery> queries, const BatchRanking& candidates, int k,
                                      int threads) const override {
    BatchRanking parts[2];
    for (auto& p : parts) p.lists.resize(candidates.size());
    for (std::size_t q = 0; q < candidates.size(); ++q) {
      for (const ScoredDoc& d : candidates.lists[q]) {
        const int h = d.id < split_ ? 0 : 1;
        parts[h].lists[q].push_back({d.id - (h ? split_ : 0), d.score});
      }
    }
    BatchRanking out;
    out.lists.resize(candidates.size());
    for (int h = 0; h < 2; ++h) {
      DENSEFB_ASSIGN_OR_RETURN(BatchRanking r, halves_[h]->Rerank(queries, parts[h], 0, threads));
      for (std::size_t q = 0; q < r.size(); ++q) {
        for (ScoredDoc d : r.lists[q]) {
          d.id += h ? split_ : 0;
          out.lists[q].push_back(d);
        }
      }
    }
    for (Ranking& l : out.lists) SortRanking(l, k);
    return out;
  }
  absl::StatusOr<std::vector<RowMatrix>> Documents(absl::Span<const std::int64_t> ids) const override {
    std::vector<RowMatrix> out;
    for (std::int64_t id : ids) {
      const int h = id < split_ ? 0 : 1;
      DENSEFB_ASSIGN_OR_RETURN(std::vector<RowMatrix> one, halves_[h]->Documents({id - (h ? split_ : 0)}));
      out.push_back(std::move(one[0]));
    }
    return out;
  }
  absl::StatusOr<std::vector<std::int64_t>> DocumentFrequencies(absl::Span<const std::int32_t> tokens) const override {
    std::vector<std::int64_t> out(tokens.size(), 0);
    for (const auto& h : halves_) {
      DENSEFB_ASSIGN_OR_RETURN(std::vector<std::int64_t> df, h->DocumentFrequencies(tokens));
      for (std::size_t i = 0; i < df.size(); ++i) out[i] += df[i];
    }
    return out;
  }
  absl::StatusOr<std::vector<std::int32_t>> ExcludedTokenIds() const override { return halves_[0]->ExcludedTokenIds(); }

  mutable int calls = 0;

 private:
  int dim_;
  std::int64_t split_;
  std::vector<std::unique_ptr<MultiVectorIndex>> halves_;
};

TEST_CASE("a user-defined TokenCollection drives maxsim and ColBERT-PRF to the single index's rankings",
          "[multivector]") {
  const int dim = 16;
  const Toy toy = MakeToy(90, dim, 21);
  const std::vector<std::int32_t> excluded = {0, 1, 2};
  auto single = BuildToy(toy, dim);
  REQUIRE(single->SetExcludedTokenIds(excluded).ok());
  REQUIRE(single->BuildTokenIndex().ok());
  std::shared_ptr<const TokenCollection> one = std::move(single);
  auto halves = std::make_shared<TwoHalves>(toy, dim, 37, excluded);
  std::vector<TokenQuery> queries = MakeTokenQueries(
      {Normalized(RandomMatrix(5, dim, 901)), Normalized(RandomMatrix(7, dim, 902)), Normalized(RandomMatrix(4, dim, 903))});
  auto run = [&](std::shared_ptr<const TokenCollection> c, const std::string& spec) {
    Resources r;
    r.Set<TokenCollection>("multivector", c);
    absl::StatusOr<Pipeline> p = Pipeline::Parse(spec, r);
    REQUIRE(p.ok());
    QueryState state;
    for (std::size_t q = 0; q < queries.size(); ++q) {
      state.query_ids.push_back("q" + std::to_string(q));
      state.query_texts.push_back("");
      state.original_texts.push_back("");
      state.token_queries.push_back(queries[q].vectors);
      state.token_weights.emplace_back(static_cast<std::size_t>(queries[q].vectors.rows()), 1.0f);
    }
    state.options.k = 30;
    absl::StatusOr<BatchRanking> out = p->Run(state);
    INFO(spec << ": " << out.status().ToString());
    REQUIRE(out.ok());
    return *std::move(out);
  };
  for (const std::string spec : {"maxsim(k=30,token_k=20)",
                                 "maxsim(k=0,token_k=20) >> colbert_prf(k=6,fb_embs=3,fb_docs=2) >> rerank_maxsim",
                                 "maxsim(k=30,token_k=20) >> colbert_prf(k=6,fb_embs=3) >> maxsim(k=30,token_k=20)"}) {
    const BatchRanking want = run(one, spec);
    const BatchRanking got = run(halves, spec);
    REQUIRE(got.size() == want.size());
    for (std::size_t q = 0; q < want.size(); ++q) {
      INFO(spec << " query " << q);
      REQUIRE(got.lists[q].size() == want.lists[q].size());
      REQUIRE(!want.lists[q].empty());
      for (std::size_t i = 0; i < want.lists[q].size(); ++i) {
        CHECK(got.lists[q][i].id == want.lists[q][i].id);
        CHECK(got.lists[q][i].score == want.lists[q][i].score);
      }
    }
  }
  CHECK(halves->calls > 0);  // the stages did ask the user's collection
}

}  // namespace
}  // namespace densefb
