// The committed version-1 scalar-quantized index files (tests/fixtures/v1/sq_*.dfb, written by
// tests/fixtures/make_sq_fixtures.py) load through the C++ API: ids as written, decoded vectors
// within each encoding's bound of the v1_data.py vectors (re-derived here), searches equal to
// brute force over the decoded vectors. A format change that can no longer read them fails here.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "densefb/quantized_index.h"
#include "test_util.h"

namespace densefb {
namespace {

constexpr int kDim = 8;
constexpr int kDocs = 40;

std::string Fixture(const std::string& name) {
  const std::string dir = testing::TempDir("fixtures_sq_" + name);
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

TEST_CASE("v1 scalar-quantized files load with their ids, codes and range", "[fixtures]") {
  struct Case {
    const char* name;
    Metric metric;
    ScalarEncoding encoding;
    int rescore;
  };
  for (const Case& c : {Case{"sq_int8_ip.dfb", Metric::kInnerProduct, ScalarEncoding::kInt8, 0},
                        Case{"sq_int8_cosine_rescore2.dfb", Metric::kCosine, ScalarEncoding::kInt8, 2},
                        Case{"sq_fp16_ip.dfb", Metric::kInnerProduct, ScalarEncoding::kFp16, 0},
                        Case{"sq_bf16_cosine.dfb", Metric::kCosine, ScalarEncoding::kBf16, 0}}) {
    INFO(c.name);
    auto index = ScalarQuantizedIndex::Load(Fixture(c.name));
    REQUIRE(index.ok());
    ScalarQuantizedIndex& x = **index;
    CHECK(x.dim() == kDim);
    CHECK(x.size() == kDocs);
    CHECK(x.metric() == c.metric);
    CHECK(x.encoding() == c.encoding);
    CHECK(x.rescore_factor() == c.rescore);
    const std::vector<std::int64_t> ids = FlatIds();
    CHECK(x.ids() == ids);
    const RowMatrix want = FlatVectors();
    RowMatrix back(kDocs, kDim);
    REQUIRE(x.Reconstruct(ids, MutableView(back)).ok());
    if (c.encoding == ScalarEncoding::kInt8) {
      // The range is each dimension's minimum and maximum; decoding is within half a step.
      const std::vector<float> lo = x.vmin(), hi = x.vmax();
      for (int j = 0; j < kDim; ++j) {
        CHECK(lo[j] == want.col(j).minCoeff());
        CHECK(hi[j] == want.col(j).maxCoeff());
        CHECK((back.col(j) - want.col(j)).cwiseAbs().maxCoeff() <= (hi[j] - lo[j]) / 510.0f + 1e-6f);
      }
    } else {
      CHECK(back == want);  // quarters are exact in fp16 and bf16
    }
    SearchOptions options;
    options.k = 10;
    options.num_threads = 1;
    auto r = x.Search(View(Queries()), options);
    REQUIRE(r.ok());
    // Brute force over the decoded vectors (the originals when re-scoring, 2 x 10 candidates).
    const RowMatrix& docs = c.rescore > 0 ? want : back;
    for (int q = 0; q < 4; ++q) {
      std::vector<double> all;
      for (int d = 0; d < kDocs; ++d) {
        double s = Queries().row(q).cast<double>().dot(docs.row(d).cast<double>());
        if (c.metric == Metric::kCosine) s /= Queries().row(q).cast<double>().norm() * docs.row(d).cast<double>().norm();
        all.push_back(s);
      }
      std::sort(all.begin(), all.end(), std::greater<double>());
      for (int k = 0; k < 10; ++k) CHECK(r->scores(q, k) == Approx(all[k]).margin(1e-5));
    }
  }
}

}  // namespace
}  // namespace densefb
