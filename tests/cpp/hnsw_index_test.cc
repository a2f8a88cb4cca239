#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "densefb/file_format.h"
#include "densefb/flat_index.h"
#include "densefb/hnsw_index.h"
#include "test_util.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;
using testing::TempDir;

// Gaussian mixture: `clusters` centres ~ N(0, 1) drawn from `centre_seed`, points = centre
// + N(0, spread^2) drawn from `seed` (same centre_seed = same mixture).
RowMatrix Clustered(std::int64_t n, int dim, int clusters, float spread, std::uint32_t seed,
                    std::uint32_t centre_seed = 12345) {
  std::mt19937 centre_gen(centre_seed);
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  RowMatrix centres(clusters, dim);
  for (std::int64_t i = 0; i < centres.size(); ++i) centres.data()[i] = normal(centre_gen);
  std::uniform_int_distribution<int> pick(0, clusters - 1);
  RowMatrix m(n, dim);
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = pick(gen);
    for (int j = 0; j < dim; ++j) m(i, j) = centres(c, j) + spread * normal(gen);
  }
  return m;
}

// Exact top-k ids (score desc, id asc) in double precision.
std::vector<std::vector<std::int64_t>> ExactTopK(const RowMatrix& docs, const RowMatrix& queries,
                                                 int k, bool cosine) {
  std::vector<std::vector<std::int64_t>> out;
  for (std::int64_t q = 0; q < queries.rows(); ++q) {
    std::vector<std::pair<double, std::int64_t>> all;
    const double qn = queries.row(q).cast<double>().norm();
    for (std::int64_t d = 0; d < docs.rows(); ++d) {
      double s = queries.row(q).cast<double>().dot(docs.row(d).cast<double>());
      if (cosine) s /= qn * docs.row(d).cast<double>().norm();
      all.emplace_back(s, d);
    }
    std::partial_sort(all.begin(), all.begin() + k, all.end(), [](auto& a, auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    std::vector<std::int64_t> ids;
    for (int j = 0; j < k; ++j) ids.push_back(all[j].second);
    out.push_back(ids);
  }
  return out;
}

double Recall(const IdMatrix& got, const std::vector<std::vector<std::int64_t>>& exact) {
  double hits = 0;
  double total = 0;
  for (std::size_t q = 0; q < exact.size(); ++q) {
    const std::set<std::int64_t> truth(exact[q].begin(), exact[q].end());
    for (Eigen::Index j = 0; j < got.cols(); ++j) hits += truth.count(got(q, j));
    total += static_cast<double>(exact[q].size());
  }
  return hits / total;
}

std::unique_ptr<HnswIndex> MustCreate(int dim, Metric metric, HnswConfig config = {}) {
  auto index = HnswIndex::Create(dim, metric, config);
  REQUIRE(index.ok());
  return std::move(index).value();
}

SearchResult MustSearch(const VectorIndex& index, const RowMatrix& queries, int k, int ef = 0,
                        int threads = 1) {
  SearchOptions options;
  options.k = k;
  options.ef_search = ef;
  options.num_threads = threads;
  auto result = index.Search(View(queries), options);
  REQUIRE(result.ok());
  return std::move(result).value();
}

// Rows sorted by score desc, ties by id asc; padding only at the end.
void CheckRowsSorted(const SearchResult& r) {
  for (Eigen::Index q = 0; q < r.ids.rows(); ++q) {
    for (Eigen::Index j = 1; j < r.ids.cols(); ++j) {
      if (r.ids(q, j) == kNoId) continue;
      REQUIRE(r.ids(q, j - 1) != kNoId);
      const bool ordered = r.scores(q, j - 1) > r.scores(q, j) ||
                           (r.scores(q, j - 1) == r.scores(q, j) && r.ids(q, j - 1) < r.ids(q, j));
      REQUIRE(ordered);
    }
  }
}

TEST_CASE("HNSW recall@10 >= 0.95 against exact search, ip and cosine") {
  const RowMatrix docs = Clustered(5000, 64, 100, 1.0f, 1);
  const RowMatrix queries = Clustered(200, 64, 100, 1.0f, 7);
  for (const Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
    INFO("metric " << MetricName(metric));
    HnswConfig config;
    config.num_threads = 2;
    auto index = MustCreate(64, metric, config);
    REQUIRE(index->Add(View(docs)).ok());
    REQUIRE(index->size() == 5000);
    const auto exact = ExactTopK(docs, queries, 10, metric == Metric::kCosine);

    const SearchResult low = MustSearch(*index, queries, 10, 10);
    const SearchResult high = MustSearch(*index, queries, 10, 128);
    const double recall_low = Recall(low.ids, exact);
    const double recall_high = Recall(high.ids, exact);
    INFO("recall@10 ef=10: " << recall_low << ", ef=128: " << recall_high);
    CHECK(recall_high >= 0.95);
    CHECK(recall_high >= recall_low);
    CheckRowsSorted(high);

    // Scores are the similarity itself (ip or cosine), higher is better.
    for (Eigen::Index q = 0; q < 5; ++q) {
      const std::int64_t id = high.ids(q, 0);
      double s = queries.row(q).cast<double>().dot(docs.row(id).cast<double>());
      if (metric == Metric::kCosine) {
        s /= queries.row(q).cast<double>().norm() * docs.row(id).cast<double>().norm();
      }
      CHECK(std::abs(high.scores(q, 0) - s) <= 1e-4 * std::max(1.0, std::abs(s)));
    }
  }
}

TEST_CASE("HNSW per-call ef changes results but never the index") {
  const RowMatrix docs = Clustered(3000, 32, 30, 0.6f, 2);
  const RowMatrix queries = Clustered(100, 32, 30, 0.6f, 3);
  HnswConfig config;
  config.M = 8;
  config.ef_construction = 40;
  config.ef_search = 10;
  config.num_threads = 2;
  auto index = MustCreate(32, Metric::kInnerProduct, config);
  REQUIRE(index->Add(View(docs)).ok());
  const auto exact = ExactTopK(docs, queries, 10, false);

  const SearchResult first = MustSearch(*index, queries, 10, 10);
  const SearchResult wide = MustSearch(*index, queries, 10, 400);
  const SearchResult again = MustSearch(*index, queries, 10, 10);
  const SearchResult by_default = MustSearch(*index, queries, 10, 0);  // config ef_search = 10
  CHECK(first.ids != wide.ids);  // a wider candidate list finds other neighbours
  CHECK(Recall(wide.ids, exact) > Recall(first.ids, exact));
  CHECK(first.ids == again.ids);  // the wide search changed nothing
  CHECK(first.scores == again.scores);
  CHECK(first.ids == by_default.ids);
  CHECK(index->config().ef_search == 10);
  // ef below k: the candidate list still holds k entries, so k results come back.
  const SearchResult k50 = MustSearch(*index, queries, 50, 1);
  CHECK((k50.ids.array() != kNoId).all());
}

TEST_CASE("HNSW single-threaded builds are bit-identical; save/load round trips exactly") {
  const RowMatrix docs = Clustered(2000, 24, 20, 0.5f, 4);
  const RowMatrix more = Clustered(500, 24, 20, 0.5f, 5);
  const RowMatrix queries = Clustered(50, 24, 20, 0.5f, 6);
  const std::string dir = TempDir("hnsw_roundtrip");
  for (const Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
    INFO("metric " << MetricName(metric));
    HnswConfig config;
    config.M = 12;
    config.ef_construction = 64;
    config.ef_search = 32;
    config.seed = 7;
    config.num_threads = 1;
    std::vector<std::int64_t> ids(docs.rows());
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = 1000 + 3 * static_cast<std::int64_t>(i);
    auto a = MustCreate(24, metric, config);
    auto b = MustCreate(24, metric, config);
    REQUIRE(a->Add(View(docs), ids).ok());
    REQUIRE(b->Add(View(docs), ids).ok());
    const std::string path_a = dir + "/a.hnsw";
    const std::string path_b = dir + "/b.hnsw";
    REQUIRE(a->Save(path_a).ok());
    REQUIRE(b->Save(path_b).ok());
    CHECK(testing::ReadFile(path_a) == testing::ReadFile(path_b));

    auto loaded_or = HnswIndex::Load(path_a);
    REQUIRE(loaded_or.ok());
    auto loaded = std::move(loaded_or).value();
    CHECK(loaded->dim() == 24);
    CHECK(loaded->metric() == metric);
    CHECK(loaded->size() == docs.rows());
    CHECK(loaded->config().M == 12);
    CHECK(loaded->config().ef_construction == 64);
    CHECK(loaded->config().ef_search == 32);
    CHECK(loaded->config().seed == 7);
    for (const int ef : {0, 5, 100}) {
      const SearchResult x = MustSearch(*a, queries, 10, ef);
      const SearchResult y = MustSearch(*loaded, queries, 10, ef);
      CHECK(x.ids == y.ids);
      CHECK(x.scores == y.scores);
    }
    // Reconstruct returns exactly the vectors added (cosine included).
    RowMatrix out(docs.rows(), 24);
    REQUIRE(loaded->Reconstruct(ids, MutableView(out)).ok());
    CHECK(out == docs);
    // The graph and its level generator were restored: continuing the build after a load
    // gives the same index as continuing without one.
    std::vector<std::int64_t> more_ids(more.rows());
    for (std::size_t i = 0; i < more_ids.size(); ++i) more_ids[i] = static_cast<std::int64_t>(i);
    REQUIRE(a->Add(View(more), more_ids).ok());
    REQUIRE(loaded->Add(View(more), more_ids).ok());
    REQUIRE(a->Save(path_a).ok());
    REQUIRE(loaded->Save(path_b).ok());
    CHECK(testing::ReadFile(path_a) == testing::ReadFile(path_b));
    CHECK(MustSearch(*a, queries, 10).ids == MustSearch(*loaded, queries, 10).ids);
  }
}

TEST_CASE("HNSW empty index saves and loads; k > size: min(k, size) columns, raw buffers pad") {
  const std::string dir = TempDir("hnsw_small");
  auto index = MustCreate(4, Metric::kCosine);
  const RowMatrix queries = testing::RandomMatrix(3, 4, 9);
  SearchResult r = MustSearch(*index, queries, 5);
  CHECK(r.ids.rows() == 3);
  CHECK(r.ids.cols() == 0);  // nothing exists: no columns
  REQUIRE(index->Save(dir + "/empty.hnsw").ok());
  auto empty = HnswIndex::Load(dir + "/empty.hnsw");
  REQUIRE(empty.ok());
  CHECK((*empty)->size() == 0);
  CHECK((*empty)->metric() == Metric::kCosine);
  CHECK(MustSearch(**empty, queries, 2).ids.cols() == 0);
  {  // caller-owned buffers keep k slots, all padding
    std::vector<float> scores(3 * 5);
    std::vector<std::int64_t> ids(3 * 5);
    REQUIRE((*empty)->Search(View(queries), {5, 1, 0}, scores.data(), ids.data()).ok());
    CHECK(std::all_of(ids.begin(), ids.end(), [](std::int64_t id) { return id == kNoId; }));
  }

  const RowMatrix docs = testing::RandomMatrix(5, 4, 10);
  REQUIRE(index->Add(View(docs)).ok());
  r = MustSearch(*index, queries, 8);
  REQUIRE(r.ids.cols() == 5);  // capped at the index size
  for (Eigen::Index q = 0; q < 3; ++q) {
    std::set<std::int64_t> found;
    for (int j = 0; j < 5; ++j) found.insert(r.ids(q, j));
    CHECK(found == std::set<std::int64_t>{0, 1, 2, 3, 4});  // all 5 found
  }
  CheckRowsSorted(r);
  std::vector<float> scores(3 * 8);
  std::vector<std::int64_t> ids(3 * 8);
  REQUIRE(index->Search(View(queries), {8, 1, 0}, scores.data(), ids.data()).ok());
  for (int q = 0; q < 3; ++q) {
    for (int j = 0; j < 5; ++j) CHECK(ids[q * 8 + j] == r.ids(q, j));
    for (int j = 5; j < 8; ++j) {
      CHECK(ids[q * 8 + j] == kNoId);
      CHECK(scores[q * 8 + j] == -std::numeric_limits<float>::infinity());
    }
  }
  CHECK(MustSearch(*index, queries, 0).ids.cols() == 0);
  CHECK(MustSearch(*index, queries, 0).ids.rows() == 3);
  CHECK(MustSearch(*index, RowMatrix(0, 4), 3).ids.rows() == 0);
}

TEST_CASE("HNSW huge k and ef are capped by the index size before allocating") {
  HnswConfig config;
  config.ef_search = std::numeric_limits<int>::max();  // accepted: capped at the size when searching
  config.num_threads = 1;
  auto index = MustCreate(8, Metric::kInnerProduct, config);
  const RowMatrix docs = testing::RandomMatrix(50, 8, 11);
  REQUIRE(index->Add(View(docs)).ok());
  const RowMatrix queries = testing::RandomMatrix(4, 8, 12);
  for (int ef : {0, 1, std::numeric_limits<int>::max()}) {
    const SearchResult r = MustSearch(*index, queries, std::numeric_limits<int>::max(), ef, 2);
    CHECK(r.ids.rows() == 4);
    CHECK(r.ids.cols() == 50);
    CheckRowsSorted(r);
    // ef and k at least the size: the whole (connected) graph is searched, every vector found
    for (Eigen::Index q = 0; q < 4; ++q) {
      std::set<std::int64_t> found(r.ids.row(q).data(), r.ids.row(q).data() + 50);
      CHECK(found.size() == 50);
      CHECK(found.count(kNoId) == 0);
    }
  }
  const SearchResult few = MustSearch(*index, queries, 3, std::numeric_limits<int>::max());
  CHECK(few.ids.cols() == 3);
}

TEST_CASE("HNSW ties are broken by smaller id; cosine keeps raw vectors; zero vectors") {
  RowMatrix docs(6, 3);
  docs << 1, 2, 3,  //
      1, 2, 3,      //
      1, 2, 3,      //
      1, 2, 3,      //
      0, 0, 0,      //
      -1, 0, 0;
  const std::vector<std::int64_t> ids = {50, 10, 40, 20, 30, 60};
  auto index = MustCreate(3, Metric::kCosine);
  REQUIRE(index->Add(View(docs), ids).ok());
  RowMatrix q(1, 3);
  q << 2, 4, 6;  // a scaled copy: cosine 1 with the four equal vectors
  const SearchResult r = MustSearch(*index, q, 6, 50);
  CHECK(r.ids(0, 0) == 10);
  CHECK(r.ids(0, 1) == 20);
  CHECK(r.ids(0, 2) == 40);
  CHECK(r.ids(0, 3) == 50);
  CHECK(r.scores(0, 0) == Approx(1.0f).epsilon(1e-6));
  CHECK(r.ids(0, 4) == 30);  // zero vector: score 0, not NaN
  CHECK(r.scores(0, 4) == 0.0f);
  CHECK(r.ids(0, 5) == 60);
  RowMatrix out(2, 3);
  REQUIRE(index->Reconstruct(std::vector<std::int64_t>{40, 30}, MutableView(out)).ok());
  CHECK(out.row(0) == docs.row(2));
  CHECK(out.row(1) == docs.row(4));
}

TEST_CASE("HNSW grows over many adds and keeps recall") {
  const RowMatrix docs = Clustered(3000, 16, 20, 0.5f, 11);
  const RowMatrix queries = Clustered(100, 16, 20, 0.5f, 12);
  HnswConfig config;
  config.num_threads = 2;
  auto index = MustCreate(16, Metric::kInnerProduct, config);
  for (std::int64_t start = 0; start < docs.rows();) {
    const std::int64_t n = std::min<std::int64_t>(start < 100 ? 7 : 450, docs.rows() - start);
    ConstMatrixView block{docs.row(start).data(), n, 16};
    REQUIRE(index->Add(block).ok());
    start += n;
  }
  CHECK(index->size() == 3000);
  const auto exact = ExactTopK(docs, queries, 10, false);
  CHECK(Recall(MustSearch(*index, queries, 10, 100).ids, exact) >= 0.95);
  RowMatrix out(1, 16);
  REQUIRE(index->Reconstruct(std::vector<std::int64_t>{2999}, MutableView(out)).ok());
  CHECK(out.row(0) == docs.row(2999));
}

TEST_CASE("HNSW concurrent searches equal sequential ones") {
  const RowMatrix docs = Clustered(3000, 32, 30, 0.5f, 13);
  const RowMatrix queries = Clustered(200, 32, 30, 0.5f, 14);
  HnswConfig config;
  config.num_threads = 2;
  auto index = MustCreate(32, Metric::kCosine, config);
  REQUIRE(index->Add(View(docs)).ok());
  const SearchResult expected = MustSearch(*index, queries, 10, 40, 1);
  std::vector<SearchResult> results(4);
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      SearchOptions options;
      options.k = 10;
      options.ef_search = 40;
      options.num_threads = 1 + t % 2;
      bool all = true;
      for (int rep = 0; rep < 5; ++rep) {
        auto r = index->Search(View(queries), options);
        all = all && r.ok();
        if (r.ok()) results[t] = std::move(r).value();
      }
      ok[t] = all;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    INFO("thread " << t);
    CHECK(ok[t] == 1);
    CHECK(results[t].ids == expected.ids);
    CHECK(results[t].scores == expected.scores);
  }
}

TEST_CASE("HNSW rejects bad parameters and bad input with clear errors") {
  auto bad_config = [](auto mutate) {
    HnswConfig c;
    mutate(c);
    return HnswIndex::Create(8, Metric::kInnerProduct, c).status();
  };
  absl::Status st = bad_config([](HnswConfig& c) { c.M = 1; });
  CHECK(absl::IsInvalidArgument(st));
  CHECK_THAT(std::string(st.message()), Contains("M = 1"));
  st = bad_config([](HnswConfig& c) { c.M = 20000; });
  CHECK_THAT(std::string(st.message()), Contains("M = 20000"));
  st = bad_config([](HnswConfig& c) { c.ef_construction = 0; });
  CHECK(absl::IsInvalidArgument(st));
  CHECK_THAT(std::string(st.message()), Contains("ef_construction = 0"));
  st = bad_config([](HnswConfig& c) { c.ef_search = -3; });
  CHECK_THAT(std::string(st.message()), Contains("ef_search = -3"));
  st = bad_config([](HnswConfig& c) { c.num_threads = -1; });
  CHECK_THAT(std::string(st.message()), Contains("num_threads = -1"));
  st = HnswIndex::Create(0, Metric::kInnerProduct).status();
  CHECK(absl::IsInvalidArgument(st));
  CHECK_THAT(std::string(st.message()), Contains("dim = 0"));

  auto index = MustCreate(8, Metric::kInnerProduct);
  RowMatrix docs = testing::RandomMatrix(10, 8, 15);
  REQUIRE(index->Add(View(docs)).ok());

  // Wrong dimension.
  const RowMatrix wide = testing::RandomMatrix(2, 9, 16);
  st = index->Add(View(wide));
  CHECK(absl::IsInvalidArgument(st));
  CHECK_THAT(std::string(st.message()), Contains("9"));
  SearchOptions options;
  options.k = 3;
  RowMatrix scores(2, 3);
  IdMatrix ids(2, 3);
  st = index->Search(View(wide), options, scores.data(), ids.data());
  CHECK(absl::IsInvalidArgument(st));
  CHECK_THAT(std::string(st.message()), Contains("9"));

  // NaN / Inf in vectors and queries.
  RowMatrix nan_docs = testing::RandomMatrix(3, 8, 17);
  nan_docs(1, 4) = std::numeric_limits<float>::quiet_NaN();
  st = index->Add(View(nan_docs));
  CHECK(absl::IsInvalidArgument(st));
  CHECK_THAT(std::string(st.message()), Contains("NaN"));
  RowMatrix inf_queries = testing::RandomMatrix(2, 8, 18);
  inf_queries(0, 0) = std::numeric_limits<float>::infinity();
  st = index->Search(View(inf_queries), options, scores.data(), ids.data());
  CHECK(absl::IsInvalidArgument(st));
  CHECK_THAT(std::string(st.message()), Contains("infinite"));

  // k < 0, ef < 0.
  const RowMatrix queries = testing::RandomMatrix(2, 8, 19);
  options.k = -1;
  st = index->Search(View(queries), options, scores.data(), ids.data());
  CHECK(absl::IsInvalidArgument(st));
  CHECK_THAT(std::string(st.message()), Contains("k = -1"));
  options.k = 3;
  options.ef_search = -5;
  st = index->Search(View(queries), options, scores.data(), ids.data());
  CHECK(absl::IsInvalidArgument(st));
  CHECK_THAT(std::string(st.message()), Contains("ef_search = -5"));

  // Ids: duplicates within a batch, already present, negative, wrong count.
  const RowMatrix two = testing::RandomMatrix(2, 8, 20);
  st = index->Add(View(two), std::vector<std::int64_t>{100, 100});
  CHECK(absl::IsInvalidArgument(st));
  CHECK_THAT(std::string(st.message()), Contains("100"));
  st = index->Add(View(two), std::vector<std::int64_t>{3, 200});
  CHECK(absl::IsAlreadyExists(st));
  CHECK_THAT(std::string(st.message()), Contains("3"));
  st = index->Add(View(two), std::vector<std::int64_t>{-2, 200});
  CHECK(absl::IsInvalidArgument(st));
  st = index->Add(View(two), std::vector<std::int64_t>{200});
  CHECK(absl::IsInvalidArgument(st));
  CHECK(index->size() == 10);  // failed adds changed nothing

  // Reconstruct: unknown id, wrong output shape.
  RowMatrix out(2, 8);
  st = index->Reconstruct(std::vector<std::int64_t>{1, 77}, MutableView(out));
  CHECK(absl::IsNotFound(st));
  CHECK_THAT(std::string(st.message()), Contains("77"));
  RowMatrix wrong(1, 8);
  CHECK(absl::IsInvalidArgument(index->Reconstruct(std::vector<std::int64_t>{1, 2}, MutableView(wrong))));
}

TEST_CASE("HNSW load fails cleanly on bad files, naming the path; failed saves keep the old file") {
  const std::string dir = TempDir("hnsw_bad_files");
  const RowMatrix docs = Clustered(300, 8, 5, 0.5f, 21);
  auto index = MustCreate(8, Metric::kInnerProduct);
  REQUIRE(index->Add(View(docs)).ok());
  const std::string good = dir + "/good.hnsw";
  REQUIRE(index->Save(good).ok());
  const std::string bytes = testing::ReadFile(good);

  auto expect_failure = [](const std::string& path, absl::StatusCode code, const char* text) {
    auto loaded = HnswIndex::Load(path);
    REQUIRE(!loaded.ok());
    INFO(loaded.status().message());
    CHECK(loaded.status().code() == code);
    CHECK_THAT(std::string(loaded.status().message()), Contains(path));
    CHECK_THAT(std::string(loaded.status().message()), Contains(text));
  };

  SECTION("missing file") { expect_failure(dir + "/missing.hnsw", absl::StatusCode::kNotFound, "no such file"); }
  SECTION("directory") { expect_failure(dir, absl::StatusCode::kInvalidArgument, "directory"); }
  SECTION("truncated") {
    for (const std::size_t keep : {std::size_t{0}, std::size_t{20}, std::size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
      const std::string path = dir + "/truncated.hnsw";
      testing::WriteFile(path, bytes.substr(0, keep));
      auto loaded = HnswIndex::Load(path);
      REQUIRE(!loaded.ok());
      CHECK_THAT(std::string(loaded.status().message()), Contains(path));
    }
  }
  SECTION("flipped bytes anywhere") {
    for (const std::size_t at : {std::size_t{3}, std::size_t{13}, std::size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
      std::string flipped = bytes;
      flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
      const std::string path = dir + "/flipped.hnsw";
      testing::WriteFile(path, flipped);
      auto loaded = HnswIndex::Load(path);
      REQUIRE(!loaded.ok());
      CHECK_THAT(std::string(loaded.status().message()), Contains(path));
    }
  }
  SECTION("wrong kind: a FlatIndex file and a hand-made FLAT container") {
    auto flat = FlatIndex::Create(8, Metric::kInnerProduct);
    REQUIRE(flat.ok());
    REQUIRE((*flat)->Add(View(docs)).ok());
    const std::string flat_path = dir + "/flat.index";
    REQUIRE((*flat)->Save(flat_path).ok());
    expect_failure(flat_path, absl::StatusCode::kInvalidArgument, "FLAT");
    const std::string hand = dir + "/hand.index";
    auto writer = AtomicFileWriter::Open(hand, "FLAT", 1);
    REQUIRE(writer.ok());
    REQUIRE((*writer)->WritePod<std::uint32_t>(8).ok());
    REQUIRE((*writer)->Commit().ok());
    expect_failure(hand, absl::StatusCode::kInvalidArgument, "FLAT");
  }
  SECTION("future format version") {
    const std::string path = dir + "/future.hnsw";
    auto writer = AtomicFileWriter::Open(path, "HNSW", HnswIndex::kFormatVersion + 1);
    REQUIRE(writer.ok());
    REQUIRE((*writer)->Write(bytes.data() + kFileHeaderSize, bytes.size() - kFileHeaderSize).ok());
    REQUIRE((*writer)->Commit().ok());
    expect_failure(path, absl::StatusCode::kUnimplemented, "version");
  }
  SECTION("checksummed but inconsistent payloads") {
    // Valid containers whose payload lies: caught by the parser, never a crash.
    auto rewrite = [&](const std::string& payload) {
      const std::string path = dir + "/lying.hnsw";
      auto writer = AtomicFileWriter::Open(path, "HNSW", 1);
      REQUIRE(writer.ok());
      REQUIRE((*writer)->Write(payload.data(), payload.size()).ok());
      REQUIRE((*writer)->Commit().ok());
      return path;
    };
    const std::string payload = bytes.substr(kFileHeaderSize);
    // Payload layout: 32 bytes of dim/metric/config, u64 n, n ids, u64 n, u64 bytes per
    // element, i32 max level, u32 entry point, then the level-0 block.
    const std::size_t n = 300;
    const std::size_t level0 = 32 + 8 + 8 * n + 8 + 8 + 4 + 4;
    std::string p = payload;
    const std::uint32_t bad = 0xFFFFFFF0u;
    std::memcpy(&p[level0 + 4], &bad, 4);  // first layer-0 neighbour of element 0
    expect_failure(rewrite(p), absl::StatusCode::kDataLoss, "neighbour");
    p = payload;
    const std::uint32_t dim = 9;
    std::memcpy(&p[0], &dim, 4);
    expect_failure(rewrite(p), absl::StatusCode::kDataLoss, "bytes per element");
    p = payload;
    const std::int32_t m = 1;
    std::memcpy(&p[8], &m, 4);
    expect_failure(rewrite(p), absl::StatusCode::kDataLoss, "M = 1");
    p = payload;
    const std::uint64_t huge = 1ull << 40;
    std::memcpy(&p[32], &huge, 8);
    expect_failure(rewrite(p), absl::StatusCode::kDataLoss, "id count");
    expect_failure(rewrite(payload.substr(0, payload.size() - 3)), absl::StatusCode::kDataLoss,
                   "bytes left");
    expect_failure(rewrite(payload + "xyz"), absl::StatusCode::kDataLoss, "trailing");
  }
  SECTION("a failed or interrupted save leaves the previous file loadable") {
    // A save into a missing directory fails and creates nothing.
    const absl::Status st = index->Save(dir + "/no/such/dir/x.hnsw");
    CHECK(!st.ok());
    CHECK_THAT(std::string(st.message()), Contains("no/such/dir/x.hnsw"));
    // A save over a directory fails.
    std::filesystem::create_directories(dir + "/taken");
    CHECK(!index->Save(dir + "/taken").ok());
    // The temporary file of an interrupted save, left beside the target, changes nothing.
    testing::WriteFile(good + ".tmp-1-2", bytes.substr(0, bytes.size() / 3));
    auto loaded = HnswIndex::Load(good);
    REQUIRE(loaded.ok());
    CHECK((*loaded)->size() == 300);
    // Saving over an existing file replaces it whole.
    auto bigger = MustCreate(8, Metric::kInnerProduct);
    REQUIRE(bigger->Add(View(Clustered(500, 8, 5, 0.5f, 22))).ok());
    REQUIRE(bigger->Save(good).ok());
    auto replaced = HnswIndex::Load(good);
    REQUIRE(replaced.ok());
    CHECK((*replaced)->size() == 500);
    std::size_t leftovers = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      leftovers += entry.path().filename().string().find(".tmp-") != std::string::npos &&
                   entry.path().filename().string() != "good.hnsw.tmp-1-2";
    }
    CHECK(leftovers == 0);
  }
}

}  // namespace
}  // namespace densefb
