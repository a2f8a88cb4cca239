// ProductQuantizedIndex: encoding against a brute-force nearest-centroid computation, decoding
// as the concatenation of centroids, ADC search equal to brute force over the decoded vectors
// (ip and cosine, filters, any thread count), exact re-scoring, bad input, save/load and
// corrupt files.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "densefb/file_format.h"
#include "densefb/filter.h"
#include "densefb/pq_index.h"
#include "test_util.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;
using testing::RandomMatrix;
using testing::TempDir;

constexpr int kK = ProductQuantizedIndex::kCentroids;

std::unique_ptr<ProductQuantizedIndex> Make(int dim, Metric metric, int m, int rescore = 0) {
  auto index = ProductQuantizedIndex::Create(dim, metric, m, 8, rescore);
  REQUIRE(index.ok());
  return *std::move(index);
}

RowMatrix Decoded(const ProductQuantizedIndex& index) {
  RowMatrix out(index.size(), index.dim());
  REQUIRE(index.Reconstruct(index.ids(), MutableView(out)).ok());
  return out;
}

double Score(const RowMatrix& queries, int q, const RowMatrix& docs, std::int64_t d, bool cosine) {
  double s = queries.row(q).cast<double>().dot(docs.row(d).cast<double>());
  if (cosine) s /= queries.row(q).cast<double>().norm() * docs.row(d).cast<double>().norm();
  return s;
}

// Top-k by brute force in double over `docs`; ids as given. ADC sums table entries in another
// order than a dot product, so scores match to a tolerance and near-ties may swap: the returned
// id must score what it claims.
void CheckBruteForce(const SearchResult& got, const RowMatrix& queries, const RowMatrix& docs,
                     const std::vector<std::int64_t>& ids, bool cosine, int k, const Filter* filter = nullptr) {
  for (int q = 0; q < queries.rows(); ++q) {
    std::vector<std::pair<double, std::int64_t>> all;
    for (int d = 0; d < docs.rows(); ++d) {
      if (filter != nullptr && !filter->Allows(q, ids[d])) continue;
      all.push_back({-Score(queries, q, docs, d, cosine), d});
    }
    std::sort(all.begin(), all.end());
    for (int r = 0; r < k; ++r) {
      INFO("query " << q << " rank " << r);
      if (r >= static_cast<int>(all.size())) {
        CHECK(got.ids(q, r) == kNoId);
        continue;
      }
      CHECK(got.scores(q, r) == Approx(-all[r].first).margin(1e-4));
      const auto it = std::find(ids.begin(), ids.end(), got.ids(q, r));
      REQUIRE(it != ids.end());
      CHECK(Score(queries, q, docs, it - ids.begin(), cosine) == Approx(got.scores(q, r)).margin(1e-4));
    }
  }
}

TEST_CASE("ProductQuantizedIndex: codes name the nearest centroid of each sub-vector; decoding concatenates them") {
  const int dim = 12, m = 4, dsub = 3;
  const RowMatrix train = RandomMatrix(2000, dim, 1);
  const RowMatrix x = RandomMatrix(200, dim, 2);
  auto index = Make(dim, Metric::kInnerProduct, m);
  CHECK_FALSE(index->trained());
  REQUIRE(index->Train(View(train)).ok());
  REQUIRE(index->trained());
  REQUIRE(index->Add(View(x)).ok());
  const std::vector<float> books = index->centroids();
  REQUIRE(books.size() == static_cast<std::size_t>(m * kK * dsub));
  auto codes = index->codes(index->ids());
  REQUIRE(codes.ok());
  const RowMatrix y = Decoded(*index);
  for (int i = 0; i < x.rows(); ++i) {
    for (int j = 0; j < m; ++j) {
      // By hand: squared L2 to every centroid of sub-space j, in double.
      double best = std::numeric_limits<double>::infinity();
      int best_c = -1;
      auto dist = [&](int c) {
        double s = 0;
        for (int t = 0; t < dsub; ++t) {
          const double diff = double{x(i, j * dsub + t)} - books[(j * kK + c) * dsub + t];
          s += diff * diff;
        }
        return s;
      };
      for (int c = 0; c < kK; ++c) {
        if (dist(c) < best) best = dist(c), best_c = c;
      }
      const int code = (*codes)[i * m + j];
      INFO("vector " << i << " sub-space " << j);
      // Equal, or a near-tie computed in float32 resolved the other way.
      if (code != best_c) CHECK(dist(code) <= best + 1e-6);
      for (int t = 0; t < dsub; ++t) CHECK(y(i, j * dsub + t) == books[(j * kK + code) * dsub + t]);
    }
  }
  // Training on exactly 256 distinct vectors: every vector is its own centroid, so they
  // decode exactly.
  const RowMatrix few = RandomMatrix(kK, dim, 3);
  auto exact = Make(dim, Metric::kInnerProduct, m);
  REQUIRE(exact->Add(View(few)).ok());
  CHECK(Decoded(*exact) == few);
}

TEST_CASE("ProductQuantizedIndex: training is deterministic and beats a random codebook") {
  const RowMatrix train = RandomMatrix(3000, 16, 4);
  auto a = Make(16, Metric::kInnerProduct, 4);
  auto b = Make(16, Metric::kInnerProduct, 4);
  REQUIRE(a->Train(View(train), 1).ok());
  REQUIRE(b->Train(View(train), 3).ok());
  CHECK(a->centroids() == b->centroids());
  REQUIRE(a->Add(View(train)).ok());
  const RowMatrix y = Decoded(*a);
  const double mse = (train - y).squaredNorm() / train.rows();
  // 256 centroids for 4-dimensional uniform sub-vectors: far below the data's variance.
  const double var = (train.rowwise() - train.colwise().mean()).squaredNorm() / train.rows();
  CHECK(mse < 0.5 * var);
}

TEST_CASE("ProductQuantizedIndex: ADC search equals brute force over the decoded vectors, any thread count") {
  const RowMatrix x = RandomMatrix(1500, 24, 5);
  const RowMatrix queries = RandomMatrix(7, 24, 6);
  std::vector<std::int64_t> ids(1500);
  for (int i = 0; i < 1500; ++i) ids[i] = 10 * i + 7;
  for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
    INFO(MetricName(metric));
    auto index = Make(24, metric, 6);
    REQUIRE(index->Add(View(x), ids).ok());
    CHECK(index->exact());
    const RowMatrix y = Decoded(*index);
    for (int k : {1, 10, 40}) {  // heap and reservoir selection
      SearchResult first;
      for (int threads : {1, 3, 8}) {
        SearchOptions options;
        options.k = k;
        options.num_threads = threads;
        auto r = index->Search(View(queries), options);
        REQUIRE(r.ok());
        CheckBruteForce(*r, queries, y, ids, metric == Metric::kCosine, k);
        if (threads == 1) {
          first = *r;
        } else {
          CHECK(r->ids == first.ids);
          CHECK(r->scores == first.scores);
        }
      }
    }
  }
}

TEST_CASE("ProductQuantizedIndex: row shards (few queries, many threads) give the single-thread results") {
  const RowMatrix x = RandomMatrix(20000, 8, 7);
  const RowMatrix queries = RandomMatrix(2, 8, 8);
  auto index = Make(8, Metric::kInnerProduct, 4);
  REQUIRE(index->Add(View(x)).ok());
  const RowMatrix y = Decoded(*index);
  std::vector<std::int64_t> ids(20000);
  std::iota(ids.begin(), ids.end(), 0);
  for (int k : {5, 50}) {
    SearchOptions one, many;
    one.k = many.k = k;
    one.num_threads = 1;
    many.num_threads = 8;
    auto a = index->Search(View(queries), one);
    auto b = index->Search(View(queries), many);
    REQUIRE((a.ok() && b.ok()));
    CHECK(a->ids == b->ids);
    CHECK(a->scores == b->scores);
    CheckBruteForce(*a, queries, y, ids, false, k);
  }
}

TEST_CASE("ProductQuantizedIndex: filters, few and many allowed ids") {
  const RowMatrix x = RandomMatrix(800, 16, 9);
  const RowMatrix queries = RandomMatrix(3, 16, 10);
  std::vector<std::int64_t> ids(800);
  std::iota(ids.begin(), ids.end(), 0);
  std::vector<std::vector<std::int64_t>> lists(3);
  for (int i = 0; i < 800; i += 2) lists[0].push_back(i);  // many
  lists[1] = {3, 17, 400, 799, 5000};                        // few (one unknown id)
  for (int i = 0; i < 800; i += 7) lists[2].push_back(i);  // many
  auto filter = Filter::FromIdLists(lists);
  REQUIRE(filter.ok());
  for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
    for (int rescore : {0, 3}) {
      INFO(MetricName(metric) << " rescore " << rescore);
      auto index = Make(16, metric, 8, rescore);
      REQUIRE(index->Add(View(x)).ok());
      SearchOptions options;
      options.k = 8;
      options.filter = &*filter;
      auto r = index->Search(View(queries), options);
      REQUIRE(r.ok());
      // Re-scoring: the few-allowed query's candidates are all its allowed ids, so its results
      // are exact; without, every query is exact over the decoded vectors.
      if (rescore == 0) CheckBruteForce(*r, queries, Decoded(*index), ids, metric == Metric::kCosine, 8, &*filter);
      for (int q = 0; q < 3; ++q) {
        for (int j = 0; j < 8; ++j) {
          if (r->ids(q, j) != kNoId) CHECK(filter->Allows(q, r->ids(q, j)));
        }
      }
      CHECK(r->ids(1, 3) != kNoId);
      CHECK(r->ids(1, 4) == kNoId);  // four allowed ids exist
      CHECK(std::isinf(r->scores(1, 4)));
    }
  }
}

TEST_CASE("ProductQuantizedIndex: re-scoring returns exact scores of the candidates") {
  const RowMatrix x = RandomMatrix(2000, 32, 11);
  const RowMatrix queries = RandomMatrix(5, 32, 12);
  std::vector<std::int64_t> ids(2000);
  std::iota(ids.begin(), ids.end(), 0);
  for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
    const bool cosine = metric == Metric::kCosine;
    auto index = Make(32, metric, 8, 4);
    REQUIRE(index->Add(View(x)).ok());
    CHECK_FALSE(index->exact());
    SearchOptions options;
    options.k = 10;
    auto r = index->Search(View(queries), options);
    REQUIRE(r.ok());
    for (int q = 0; q < 5; ++q) {
      for (int j = 0; j < 10; ++j) {
        CHECK(Score(queries, q, x, r->ids(q, j), cosine) == Approx(r->scores(q, j)).margin(1e-5));
        if (j > 0) CHECK(r->scores(q, j - 1) >= r->scores(q, j));
      }
    }
    // A candidate pool covering the collection: the exact top 10.
    auto all = Make(32, metric, 8, 200);
    REQUIRE(all->Add(View(x)).ok());
    auto e = all->Search(View(queries), options);
    REQUIRE(e.ok());
    CheckBruteForce(*e, queries, x, ids, cosine, 10);
  }
  auto plain = Make(32, Metric::kInnerProduct, 8);
  REQUIRE(plain->Add(View(x)).ok());
  const QuantizedMemoryUsage p = plain->memory_usage();
  CHECK(p.codes == 2000 * 8);
  CHECK(p.originals == 0);
  CHECK(p.params == kK * 32 * 4);
  CHECK(p.flat_equivalent - p.ids == 2000 * 32 * 4);
  auto kept = Make(32, Metric::kCosine, 8, 2);
  REQUIRE(kept->Add(View(x)).ok());
  const QuantizedMemoryUsage u = kept->memory_usage();
  CHECK(u.originals == 2000 * 32 * 4);
  CHECK(u.norms == 2 * 2000 * 4);
}

TEST_CASE("ProductQuantizedIndex: bad input is rejected with a message naming the problem") {
  CHECK(absl::IsInvalidArgument(ProductQuantizedIndex::Create(0, Metric::kInnerProduct, 1).status()));
  CHECK_THAT(std::string(ProductQuantizedIndex::Create(10, Metric::kInnerProduct, 3).status().message()),
             Contains("m = 3"));
  CHECK_THAT(std::string(ProductQuantizedIndex::Create(8, Metric::kInnerProduct, 0).status().message()),
             Contains("m = 0"));
  CHECK_THAT(std::string(ProductQuantizedIndex::Create(8, Metric::kInnerProduct, 2, 4).status().message()),
             Contains("nbits = 4"));
  CHECK_THAT(std::string(ProductQuantizedIndex::Create(8, Metric::kInnerProduct, 2, 8, -1).status().message()),
             Contains("rescore_factor"));
  auto index = Make(4, Metric::kInnerProduct, 2);
  // Untrained: the first Add trains and needs 256 vectors.
  const RowMatrix small = RandomMatrix(100, 4, 13);
  CHECK_THAT(std::string(index->Add(View(small)).message()), Contains("at least 256"));
  CHECK_THAT(std::string(index->Train(View(small)).message()), Contains("got 100"));
  CHECK_FALSE(index->trained());
  CHECK(index->size() == 0);
  CHECK_THAT(std::string(index->Train(ConstMatrixView{nullptr, 0, 4}).message()), Contains("empty"));
  RowMatrix x = RandomMatrix(300, 4, 14);
  CHECK_THAT(std::string(index->Add(View(RandomMatrix(2, 5, 1))).message()), Contains("5 dimensions"));
  x(1, 2) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THAT(std::string(index->Add(View(x)).message()), Contains("row 1"));
  CHECK_FALSE(index->trained());  // a failed Add does not train
  x(1, 2) = 0.5f;
  REQUIRE(index->Add(View(x)).ok());
  CHECK(index->trained());
  // Trained: a small batch is fine.
  REQUIRE(index->Add(View(small.topRows(3))).ok());
  CHECK(index->size() == 303);
  const std::vector<std::int64_t> taken = {1000, 0, 1001};
  CHECK_THAT(std::string(index->Add(View(small.topRows(3)), taken).message()), Contains("id 0"));
  CHECK(absl::IsFailedPrecondition(index->Train(View(x))));
  CHECK(absl::IsInvalidArgument(index->Train(View(x), -1)));
  RowMatrix out(1, 4);
  const std::vector<std::int64_t> missing = {4242};
  CHECK_THAT(std::string(index->Reconstruct(missing, MutableView(out)).message()), Contains("id 4242"));
  CHECK(absl::IsNotFound(index->codes(missing).status()));
  SearchOptions options;
  options.k = -1;
  CHECK(absl::IsInvalidArgument(index->Search(View(RandomMatrix(1, 4, 2)), options).status()));
  CHECK(absl::IsUnimplemented(index->Delete(missing)));
  CHECK(absl::IsInvalidArgument(index->Reserve(-1)));
  CHECK(index->Reserve(1000).ok());
  // An empty index answers with padding.
  auto empty = Make(4, Metric::kCosine, 2);
  options.k = 3;
  auto r = empty->Search(View(RandomMatrix(2, 4, 3)), options);
  REQUIRE(r.ok());
}

TEST_CASE("ProductQuantizedIndex: save and load round trip") {
  const std::string dir = TempDir("pq_roundtrip");
  const RowMatrix x = RandomMatrix(600, 12, 15);
  const RowMatrix queries = RandomMatrix(4, 12, 16);
  std::vector<std::int64_t> ids(600);
  for (int i = 0; i < 600; ++i) ids[i] = 599 - i;
  for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
    for (int rescore : {0, 2}) {
      INFO(MetricName(metric) << " rescore " << rescore);
      auto index = Make(12, metric, 3, rescore);
      REQUIRE(index->Add(View(x), ids).ok());
      const std::string path = dir + "/pq.dfb";
      REQUIRE(index->Save(path).ok());
      auto loaded = ProductQuantizedIndex::Load(path);
      REQUIRE(loaded.ok());
      CHECK((*loaded)->m() == 3);
      CHECK((*loaded)->metric() == metric);
      CHECK((*loaded)->rescore_factor() == rescore);
      CHECK((*loaded)->ids() == index->ids());
      CHECK((*loaded)->centroids() == index->centroids());
      CHECK(Decoded(**loaded) == Decoded(*index));
      SearchOptions options;
      options.k = 5;
      auto a = index->Search(View(queries), options);
      auto b = (*loaded)->Search(View(queries), options);
      REQUIRE((a.ok() && b.ok()));
      CHECK(a->ids == b->ids);
      CHECK(a->scores == b->scores);
    }
  }
  auto empty = Make(4, Metric::kInnerProduct, 2);
  REQUIRE(empty->Save(dir + "/empty.dfb").ok());
  auto loaded = ProductQuantizedIndex::Load(dir + "/empty.dfb");
  REQUIRE(loaded.ok());
  CHECK_FALSE((*loaded)->trained());
  REQUIRE((*loaded)->Add(View(RandomMatrix(300, 4, 1))).ok());
  CHECK((*loaded)->trained());
}

TEST_CASE("ProductQuantizedIndex: truncated, bit-flipped, forged and foreign files fail naming the file") {
  const std::string dir = TempDir("pq_corrupt");
  const std::string path = dir + "/pq.dfb";
  auto index = Make(8, Metric::kInnerProduct, 4);
  REQUIRE(index->Add(View(RandomMatrix(300, 8, 17))).ok());
  REQUIRE(index->Save(path).ok());
  const std::string good = testing::ReadFile(path);
  for (std::size_t cut : {std::size_t{0}, std::size_t{10}, std::size_t{32}, std::size_t{40}, good.size() - 1}) {
    testing::WriteFile(path, good.substr(0, cut));
    auto r = ProductQuantizedIndex::Load(path);
    INFO("cut at " << cut);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(std::string(r.status().message()), Contains(path));
  }
  for (std::size_t pos : {std::size_t{3}, std::size_t{13}, std::size_t{33}, std::size_t{60}, std::size_t{5000},
                          good.size() - 5}) {
    std::string bad = good;
    bad[pos] ^= 0x10;
    testing::WriteFile(path, bad);
    INFO("flip at " << pos);
    auto r = ProductQuantizedIndex::Load(path);
    REQUIRE_FALSE(r.ok());
    if (pos >= 32) CHECK_THAT(std::string(r.status().message()), Contains("checksum"));
  }
  // Checksummed payloads with invalid fields: each error names the file and the field.
  auto forged = [&](std::vector<std::uint32_t> header, const std::vector<float>& books, std::uint64_t n,
                    std::size_t code_bytes) {
    auto w = AtomicFileWriter::Open(path, "PQFL", 1);
    REQUIRE(w.ok());
    for (std::uint32_t v : header) REQUIRE((*w)->WritePod(v).ok());
    if (!books.empty()) REQUIRE((*w)->Write(books.data(), books.size() * sizeof(float)).ok());
    REQUIRE((*w)->WritePod(n).ok());
    for (std::uint64_t i = 0; i < n && i < 16; ++i) REQUIRE((*w)->WritePod<std::int64_t>(static_cast<std::int64_t>(i)).ok());
    const std::vector<std::uint8_t> codes(code_bytes, 0);
    if (!codes.empty()) REQUIRE((*w)->Write(codes.data(), codes.size()).ok());
    REQUIRE((*w)->Commit().ok());
    auto r = ProductQuantizedIndex::Load(path);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(std::string(r.status().message()), Contains(path));
    return std::string(r.status().message());
  };
  // header: dim, metric, m, nbits, rescore_factor, trained
  CHECK_THAT(forged({0, 0, 1, 8, 0, 0}, {}, 0, 0), Contains("invalid dim"));
  CHECK_THAT(forged({4, 7, 2, 8, 0, 0}, {}, 0, 0), Contains("metric"));
  CHECK_THAT(forged({4, 0, 3, 8, 0, 0}, {}, 0, 0), Contains("invalid m"));
  CHECK_THAT(forged({4, 0, 0, 8, 0, 0}, {}, 0, 0), Contains("invalid m"));
  CHECK_THAT(forged({4, 0, 2, 4, 0, 0}, {}, 0, 0), Contains("nbits"));
  CHECK_THAT(forged({4, 0, 2, 8, 5000, 0}, {}, 0, 0), Contains("rescore_factor"));
  CHECK_THAT(forged({4, 0, 2, 8, 0, 2}, {}, 0, 0), Contains("trained"));
  CHECK_THAT(forged({4, 0, 2, 8, 0, 0}, {}, 1, 2), Contains("without trained codebooks"));
  CHECK_THAT(forged({4, 0, 2, 8, 0, 0}, {}, std::uint64_t{1} << 60, 0), Contains("does not fit"));
  CHECK_THAT(forged({1u << 20, 0, 1, 8, 0, 1}, {}, 0, 0), Contains("centroids need"));
  std::vector<float> books(kK * 4, 0.5f);
  books[kK * 2 + 5] = std::numeric_limits<float>::quiet_NaN();  // sub-space 1, centroid 2
  CHECK_THAT(forged({4, 0, 2, 8, 0, 1}, books, 0, 0), Contains("centroid 2 of sub-space 1 is not finite"));
  std::fill(books.begin(), books.end(), 3e38f);
  CHECK_THAT(forged({4, 0, 2, 8, 0, 1}, books, 0, 0), Contains("above 1.8e19"));
  std::fill(books.begin(), books.end(), 0.5f);
  CHECK_THAT(forged({4, 0, 2, 8, 0, 1}, books, 1, 1), Contains("vector count"));  // one code byte short
  {
    auto w = AtomicFileWriter::Open(path, "SQFL", 1);
    REQUIRE(w.ok());
    REQUIRE((*w)->Commit().ok());
    CHECK_THAT(std::string(ProductQuantizedIndex::Load(path).status().message()), Contains("expected \"PQFL\""));
  }
  {
    auto w = AtomicFileWriter::Open(path, "PQFL", ProductQuantizedIndex::kFormatVersion + 1);
    REQUIRE(w.ok());
    REQUIRE((*w)->Commit().ok());
    CHECK(absl::IsUnimplemented(ProductQuantizedIndex::Load(path).status()));
  }
  CHECK(absl::IsNotFound(ProductQuantizedIndex::Load(dir + "/missing.dfb").status()));
}

}  // namespace
}  // namespace densefb
