// The committed version-1 product-quantised index files (tests/fixtures/v1/pq_*.dfb, written by
// tests/fixtures/make_pq_fixtures.py) load through the C++ API: ids as written, codes naming the
// nearest centroid of each sub-vector of the v1_data.py vectors (re-derived here), decoded
// vectors the concatenated centroids, searches equal to brute force over the decoded vectors
// (the originals when re-scoring). A format change that can no longer read them fails here.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "densefb/pq_index.h"
#include "test_util.h"

namespace densefb {
namespace {

constexpr int kDim = 8;
constexpr int kDocs = 40;
constexpr int kK = ProductQuantizedIndex::kCentroids;

std::string Fixture(const std::string& name) {
  const std::string dir = testing::TempDir("fixtures_pq_" + name);
  const std::string path = dir + "/" + name;
  std::filesystem::copy_file(std::string(DENSEFB_SOURCE_DIR) + "/tests/fixtures/v1/" + name, path);
  return path;
}

// v1_data.flat_vectors(), flat_ids(), queries().
RowMatrix FlatVectors() {
  RowMatrix m(kDocs, kDim);
  for (int i = 0; i < kDocs; ++i) {
    for (int j = 0; j < kDim; ++j) m(i, j) = static_cast<float>((i * 7 + j * j * 3 + i * j) % 11 - 5) / 4.0f;
  }
  return m;
}
std::vector<std::int64_t> FlatIds() {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < kDocs; ++i) ids.push_back(1000 + 3 * i);
  return ids;
}
RowMatrix Queries() {
  RowMatrix m(4, kDim);
  for (int q = 0; q < 4; ++q) {
    for (int j = 0; j < kDim; ++j) m(q, j) = static_cast<float>((q * 5 + j * 2 + 1) % 7 - 3) / 2.0f;
  }
  return m;
}

TEST_CASE("v1 product-quantised files load with their ids, codebooks and codes", "[fixtures]") {
  struct Case {
    const char* name;
    Metric metric;
    int m;
    int rescore;
  };
  for (const Case& c : {Case{"pq_m4_ip.dfb", Metric::kInnerProduct, 4, 0},
                        Case{"pq_m2_cosine_rescore2.dfb", Metric::kCosine, 2, 2}}) {
    INFO(c.name);
    auto index = ProductQuantizedIndex::Load(Fixture(c.name));
    REQUIRE(index.ok());
    ProductQuantizedIndex& x = **index;
    CHECK(x.dim() == kDim);
    CHECK(x.size() == kDocs);
    CHECK(x.metric() == c.metric);
    CHECK(x.m() == c.m);
    CHECK(x.rescore_factor() == c.rescore);
    REQUIRE(x.trained());
    const std::vector<std::int64_t> ids = FlatIds();
    CHECK(x.ids() == ids);
    const RowMatrix want = FlatVectors();
    const std::vector<float> books = x.centroids();
    const int dsub = kDim / c.m;
    REQUIRE(books.size() == static_cast<std::size_t>(c.m * kK * dsub));
    auto codes = x.codes(ids);
    REQUIRE(codes.ok());
    RowMatrix back(kDocs, kDim);
    REQUIRE(x.Reconstruct(ids, MutableView(back)).ok());
    for (int i = 0; i < kDocs; ++i) {
      for (int j = 0; j < c.m; ++j) {
        auto dist = [&](int cent) {
          double s = 0;
          for (int t = 0; t < dsub; ++t) {
            const double d = double{want(i, j * dsub + t)} - books[(j * kK + cent) * dsub + t];
            s += d * d;
          }
          return s;
        };
        double best = std::numeric_limits<double>::infinity();
        for (int cent = 0; cent < kK; ++cent) best = std::min(best, dist(cent));
        const int code = (*codes)[i * c.m + j];
        CHECK(dist(code) <= best + 1e-6);
        for (int t = 0; t < dsub; ++t) CHECK(back(i, j * dsub + t) == books[(j * kK + code) * dsub + t]);
      }
    }
    SearchOptions options;
    options.k = 10;
    options.num_threads = 1;
    auto r = x.Search(View(Queries()), options);
    REQUIRE(r.ok());
    // Brute force over the decoded vectors (the originals when re-scoring: 2 x 10 candidates
    // need not hold the exact top 10, so only the returned ids' scores are checked then).
    const RowMatrix& docs = c.rescore > 0 ? want : back;
    auto score = [&](int q, int d) {
      double s = Queries().row(q).cast<double>().dot(docs.row(d).cast<double>());
      if (c.metric == Metric::kCosine) s /= Queries().row(q).cast<double>().norm() * docs.row(d).cast<double>().norm();
      return s;
    };
    for (int q = 0; q < 4; ++q) {
      std::vector<double> all;
      for (int d = 0; d < kDocs; ++d) all.push_back(score(q, d));
      std::sort(all.begin(), all.end(), std::greater<double>());
      for (int k = 0; k < 10; ++k) {
        const auto row = std::find(ids.begin(), ids.end(), r->ids(q, k)) - ids.begin();
        REQUIRE(row < kDocs);
        CHECK(r->scores(q, k) == Approx(score(q, static_cast<int>(row))).margin(1e-5));
        if (c.rescore == 0) CHECK(r->scores(q, k) == Approx(all[k]).margin(1e-5));
      }
    }
  }
}

}  // namespace
}  // namespace densefb
