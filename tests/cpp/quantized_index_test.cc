// ScalarQuantizedIndex: encode/decode error bounds, search equal to brute force over the decoded
// vectors (ip and cosine, filters, any thread count), exact re-scoring, bad input, save/load and
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
#include "densefb/quantized_index.h"
#include "test_util.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;
using testing::RandomMatrix;
using testing::TempDir;

constexpr ScalarEncoding kEncodings[] = {ScalarEncoding::kInt8, ScalarEncoding::kFp16, ScalarEncoding::kBf16};

std::unique_ptr<ScalarQuantizedIndex> Make(int dim, Metric metric, ScalarEncoding enc, int rescore = 0) {
  auto index = ScalarQuantizedIndex::Create(dim, metric, enc, rescore);
  REQUIRE(index.ok());
  return *std::move(index);
}

RowMatrix Decoded(const ScalarQuantizedIndex& index) {
  RowMatrix out(index.size(), index.dim());
  REQUIRE(index.Reconstruct(index.ids(), MutableView(out)).ok());
  return out;
}

// Top-k by brute force in double over `docs`, ties by smaller row; ids as given.
void CheckBruteForce(const SearchResult& got, const RowMatrix& queries, const RowMatrix& docs,
                     const std::vector<std::int64_t>& ids, bool cosine, int k,
                     const Filter* filter = nullptr) {
  for (int q = 0; q < queries.rows(); ++q) {
    std::vector<std::pair<double, std::int64_t>> all;
    for (int d = 0; d < docs.rows(); ++d) {
      if (filter != nullptr && !filter->Allows(q, ids[d])) continue;
      double s = queries.row(q).cast<double>().dot(docs.row(d).cast<double>());
      if (cosine) s /= queries.row(q).cast<double>().norm() * docs.row(d).cast<double>().norm();
      all.push_back({-s, d});
    }
    std::sort(all.begin(), all.end());
    for (int r = 0; r < k; ++r) {
      INFO("query " << q << " rank " << r);
      if (r >= static_cast<int>(all.size())) {
        CHECK(got.ids(q, r) == kNoId);
        continue;
      }
      CHECK(got.scores(q, r) == Approx(-all[r].first).margin(1e-4));
      // Near-ties may swap; the returned id must score what it claims.
      const auto it = std::find(ids.begin(), ids.end(), got.ids(q, r));
      REQUIRE(it != ids.end());
      const auto row = it - ids.begin();
      double s = queries.row(q).cast<double>().dot(docs.row(row).cast<double>());
      if (cosine) s /= queries.row(q).cast<double>().norm() * docs.row(row).cast<double>().norm();
      CHECK(s == Approx(got.scores(q, r)).margin(1e-4));
    }
  }
}

TEST_CASE("ScalarQuantizedIndex: decoded vectors within each encoding's error bound") {
  const RowMatrix x = RandomMatrix(500, 37, 1);
  for (ScalarEncoding enc : kEncodings) {
    INFO(ScalarEncodingName(enc));
    auto index = Make(37, Metric::kInnerProduct, enc);
    REQUIRE(index->Add(View(x)).ok());
    const RowMatrix y = Decoded(*index);
    if (enc == ScalarEncoding::kInt8) {
      REQUIRE(index->trained());
      const std::vector<float> lo = index->vmin(), hi = index->vmax();
      for (int j = 0; j < 37; ++j) {
        CHECK(lo[j] == x.col(j).minCoeff());
        CHECK(hi[j] == x.col(j).maxCoeff());
        const float step = (hi[j] - lo[j]) / 255.0f;
        CHECK((x.col(j) - y.col(j)).cwiseAbs().maxCoeff() <= step * 0.5f + 1e-5f);
      }
    } else {
      const float rel = enc == ScalarEncoding::kFp16 ? 1.0f / 2048 : 1.0f / 256;
      for (Eigen::Index i = 0; i < x.size(); ++i) {
        // Relative bound for normal values, an absolute one near zero (fp16 subnormals).
        CHECK(std::abs(x.data()[i] - y.data()[i]) <= rel * std::abs(x.data()[i]) + 6e-8f);
      }
    }
  }
}

TEST_CASE("ScalarQuantizedIndex: int8 clamps values outside the trained range; fp16 clamps beyond 65504") {
  auto index = Make(2, Metric::kInnerProduct, ScalarEncoding::kInt8);
  const RowMatrix sample = (RowMatrix(2, 2) << 0.0f, -1.0f, 1.0f, 1.0f).finished();
  REQUIRE(index->Train(View(sample)).ok());
  const RowMatrix x = (RowMatrix(1, 2) << 5.0f, -3.0f).finished();
  REQUIRE(index->Add(View(x)).ok());
  const RowMatrix y = Decoded(*index);
  CHECK(y(0, 0) == Approx(1.0f));
  CHECK(y(0, 1) == Approx(-1.0f));
  // Training is refused once vectors are stored.
  CHECK(absl::IsFailedPrecondition(index->Train(View(sample))));

  auto half = Make(3, Metric::kInnerProduct, ScalarEncoding::kFp16);
  const RowMatrix big = (RowMatrix(1, 3) << 1e6f, -70000.0f, 65519.0f).finished();
  REQUIRE(half->Add(View(big)).ok());
  const RowMatrix h = Decoded(*half);
  CHECK(h(0, 0) == 65504.0f);
  CHECK(h(0, 1) == -65504.0f);
  CHECK(h(0, 2) == 65504.0f);
}

TEST_CASE("ScalarQuantizedIndex: a constant dimension decodes exactly") {
  RowMatrix x = RandomMatrix(20, 4, 2);
  x.col(2).setConstant(0.25f);
  auto index = Make(4, Metric::kInnerProduct, ScalarEncoding::kInt8);
  REQUIRE(index->Add(View(x)).ok());
  const RowMatrix y = Decoded(*index);
  for (int i = 0; i < 20; ++i) CHECK(y(i, 2) == 0.25f);
}

TEST_CASE("ScalarQuantizedIndex: search equals brute force over the decoded vectors, any thread count") {
  const RowMatrix x = RandomMatrix(1500, 24, 3);  // several GEMM blocks and a partial one
  const RowMatrix queries = RandomMatrix(7, 24, 4);
  std::vector<std::int64_t> ids(1500);
  for (int i = 0; i < 1500; ++i) ids[i] = 10 * i + 7;
  for (ScalarEncoding enc : kEncodings) {
    for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
      INFO(ScalarEncodingName(enc) << " " << MetricName(metric));
      auto index = Make(24, metric, enc);
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
}

TEST_CASE("ScalarQuantizedIndex: filters, few and many allowed ids") {
  const RowMatrix x = RandomMatrix(800, 16, 5);
  const RowMatrix queries = RandomMatrix(3, 16, 6);
  std::vector<std::int64_t> ids(800);
  std::iota(ids.begin(), ids.end(), 0);
  std::vector<std::vector<std::int64_t>> lists(3);
  for (int i = 0; i < 800; i += 2) lists[0].push_back(i);       // many
  lists[1] = {3, 17, 400, 799, 5000};                             // few (one unknown id)
  for (int i = 0; i < 800; i += 7) lists[2].push_back(i);       // many
  auto filter = Filter::FromIdLists(lists);
  REQUIRE(filter.ok());
  for (ScalarEncoding enc : kEncodings) {
    for (int rescore : {0, 3}) {
      INFO(ScalarEncodingName(enc) << " rescore " << rescore);
      auto index = Make(16, Metric::kCosine, enc, rescore);
      REQUIRE(index->Add(View(x)).ok());
      SearchOptions options;
      options.k = 8;
      options.filter = &*filter;
      auto r = index->Search(View(queries), options);
      REQUIRE(r.ok());
      CheckBruteForce(*r, queries, rescore > 0 ? x : Decoded(*index), ids, true, 4, &*filter);
      for (int q = 0; q < 3; ++q) {
        for (int j = 0; j < 8; ++j) {
          if (r->ids(q, j) != kNoId) CHECK(filter->Allows(q, r->ids(q, j)));
        }
      }
      CHECK(r->ids(1, 4) == kNoId);  // four allowed ids exist
      CHECK(std::isinf(r->scores(1, 4)));
    }
  }
}

TEST_CASE("ScalarQuantizedIndex: re-scoring returns exact scores of the candidates") {
  const RowMatrix x = RandomMatrix(2000, 32, 7);
  const RowMatrix queries = RandomMatrix(5, 32, 8);
  std::vector<std::int64_t> ids(2000);
  std::iota(ids.begin(), ids.end(), 0);
  auto index = Make(32, Metric::kInnerProduct, ScalarEncoding::kInt8, 4);
  REQUIRE(index->Add(View(x)).ok());
  CHECK_FALSE(index->exact());
  SearchOptions options;
  options.k = 10;
  auto r = index->Search(View(queries), options);
  REQUIRE(r.ok());
  // With 40 candidates per query over 2000 vectors, the exact top 10 is recovered.
  CheckBruteForce(*r, queries, x, ids, false, 10);
  const QuantizedMemoryUsage u = index->memory_usage();
  CHECK(u.codes == 2000 * 32);
  CHECK(u.originals == 2000 * 32 * 4);
  auto plain = Make(32, Metric::kInnerProduct, ScalarEncoding::kInt8);
  REQUIRE(plain->Add(View(x)).ok());
  const QuantizedMemoryUsage p = plain->memory_usage();
  CHECK(p.originals == 0);
  CHECK(p.flat_equivalent - p.ids == 4 * (p.codes));
}

TEST_CASE("ScalarQuantizedIndex: bad input is rejected with a message naming the problem") {
  CHECK(absl::IsInvalidArgument(ScalarQuantizedIndex::Create(0, Metric::kInnerProduct, ScalarEncoding::kInt8).status()));
  CHECK_THAT(std::string(ScalarQuantizedIndex::Create(4, Metric::kInnerProduct, ScalarEncoding::kInt8, -1).status().message()),
             Contains("rescore_factor"));
  CHECK_THAT(std::string(ParseScalarEncoding("int4").status().message()), Contains("int4"));
  CHECK(*ParseScalarEncoding("FP16") == ScalarEncoding::kFp16);
  auto index = Make(4, Metric::kInnerProduct, ScalarEncoding::kInt8);
  RowMatrix x = RandomMatrix(3, 4, 9);
  CHECK_THAT(std::string(index->Add(View(RandomMatrix(2, 5, 1))).message()), Contains("5 dimensions"));
  x(1, 2) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THAT(std::string(index->Add(View(x)).message()), Contains("row 1"));
  CHECK_FALSE(index->trained());  // a failed Add does not train
  x(1, 2) = 0.5f;
  const std::vector<std::int64_t> dup = {1, 2, 1};
  CHECK(absl::IsInvalidArgument(index->Add(View(x), dup)));
  CHECK_FALSE(index->trained());
  REQUIRE(index->Add(View(x)).ok());
  const std::vector<std::int64_t> taken = {7, 0, 8};
  CHECK_THAT(std::string(index->Add(View(x), taken).message()), Contains("id 0"));
  CHECK(absl::IsFailedPrecondition(index->Train(View(x))));
  auto fresh = Make(4, Metric::kInnerProduct, ScalarEncoding::kInt8);
  CHECK_THAT(std::string(fresh->Train(ConstMatrixView{nullptr, 0, 4}).message()), Contains("empty"));
  RowMatrix out(1, 4);
  const std::vector<std::int64_t> missing = {42};
  CHECK_THAT(std::string(index->Reconstruct(missing, MutableView(out)).message()), Contains("id 42"));
  SearchOptions options;
  options.k = -1;
  CHECK(absl::IsInvalidArgument(index->Search(View(RandomMatrix(1, 4, 2)), options).status()));
  CHECK(absl::IsUnimplemented(index->Delete(missing)));
  CHECK(absl::IsInvalidArgument(index->Reserve(-1)));
}

TEST_CASE("ScalarQuantizedIndex: save and load round trip, every encoding and option") {
  const std::string dir = TempDir("sq_roundtrip");
  const RowMatrix x = RandomMatrix(300, 12, 10);
  const RowMatrix queries = RandomMatrix(4, 12, 11);
  std::vector<std::int64_t> ids(300);
  for (int i = 0; i < 300; ++i) ids[i] = 299 - i;
  for (ScalarEncoding enc : kEncodings) {
    for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
      for (int rescore : {0, 2}) {
        INFO(ScalarEncodingName(enc) << " " << MetricName(metric) << " rescore " << rescore);
        auto index = Make(12, metric, enc, rescore);
        REQUIRE(index->Add(View(x), ids).ok());
        const std::string path = dir + "/sq.dfb";
        REQUIRE(index->Save(path).ok());
        auto loaded = ScalarQuantizedIndex::Load(path);
        REQUIRE(loaded.ok());
        CHECK((*loaded)->encoding() == enc);
        CHECK((*loaded)->metric() == metric);
        CHECK((*loaded)->rescore_factor() == rescore);
        CHECK((*loaded)->ids() == index->ids());
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
  }
  // An empty, untrained int8 index round-trips and trains on its first Add afterwards.
  auto empty = Make(3, Metric::kInnerProduct, ScalarEncoding::kInt8);
  REQUIRE(empty->Save(dir + "/empty.dfb").ok());
  auto loaded = ScalarQuantizedIndex::Load(dir + "/empty.dfb");
  REQUIRE(loaded.ok());
  CHECK_FALSE((*loaded)->trained());
  REQUIRE((*loaded)->Add(View(RandomMatrix(5, 3, 1))).ok());
  CHECK((*loaded)->trained());
}

TEST_CASE("ScalarQuantizedIndex: truncated, bit-flipped, forged and foreign files fail naming the file") {
  const std::string dir = TempDir("sq_corrupt");
  const std::string path = dir + "/sq.dfb";
  auto index = Make(8, Metric::kInnerProduct, ScalarEncoding::kInt8);
  REQUIRE(index->Add(View(RandomMatrix(64, 8, 13))).ok());
  REQUIRE(index->Save(path).ok());
  const std::string good = testing::ReadFile(path);
  for (std::size_t cut : {std::size_t{0}, std::size_t{10}, std::size_t{32}, std::size_t{40}, good.size() - 1}) {
    testing::WriteFile(path, good.substr(0, cut));
    auto r = ScalarQuantizedIndex::Load(path);
    INFO("cut at " << cut);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(std::string(r.status().message()), Contains(path));
  }
  for (std::size_t pos : {std::size_t{3}, std::size_t{13}, std::size_t{33}, std::size_t{60}, good.size() - 5}) {
    std::string bad = good;
    bad[pos] ^= 0x10;
    testing::WriteFile(path, bad);
    INFO("flip at " << pos);
    REQUIRE_FALSE(ScalarQuantizedIndex::Load(path).ok());
  }
  // Checksummed payloads with invalid fields: each error names the file and the field.
  auto forged = [&](std::uint32_t dim, std::uint32_t metric, std::uint32_t enc, std::uint32_t rescore,
                    std::uint32_t trained, const std::vector<float>& range, std::uint64_t n,
                    const std::vector<std::uint16_t>& codes) {
    auto w = AtomicFileWriter::Open(path, "SQFL", 1);
    REQUIRE(w.ok());
    for (std::uint32_t v : {dim, metric, enc, rescore, trained}) REQUIRE((*w)->WritePod(v).ok());
    if (!range.empty()) REQUIRE((*w)->Write(range.data(), range.size() * sizeof(float)).ok());
    REQUIRE((*w)->WritePod(n).ok());
    for (std::uint64_t i = 0; i < n && i < 16; ++i) REQUIRE((*w)->WritePod<std::int64_t>(static_cast<std::int64_t>(i)).ok());
    if (!codes.empty()) REQUIRE((*w)->Write(codes.data(), codes.size() * 2).ok());
    REQUIRE((*w)->Commit().ok());
    auto r = ScalarQuantizedIndex::Load(path);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(std::string(r.status().message()), Contains(path));
    return std::string(r.status().message());
  };
  CHECK_THAT(forged(0, 0, 0, 0, 0, {}, 0, {}), Contains("invalid dim"));
  CHECK_THAT(forged(2, 7, 0, 0, 0, {}, 0, {}), Contains("metric"));
  CHECK_THAT(forged(2, 0, 9, 0, 0, {}, 0, {}), Contains("encoding"));
  CHECK_THAT(forged(2, 0, 0, 5000, 0, {}, 0, {}), Contains("rescore_factor"));
  CHECK_THAT(forged(2, 0, 1, 0, 1, {}, 0, {}), Contains("trained"));
  CHECK_THAT(forged(2, 0, 0, 0, 1, {0.0f, 1.0f, -1.0f, 2.0f}, 0, {}), Contains("invalid range"));
  CHECK_THAT(forged(2, 0, 0, 0, 1, {0.0f, std::numeric_limits<float>::infinity(), 1.0f, 2.0f}, 0, {}),
             Contains("invalid range"));
  CHECK_THAT(forged(2, 0, 0, 0, 0, {}, 1, {0}), Contains("without a trained range"));
  CHECK_THAT(forged(2, 0, 0, 0, 0, {}, std::uint64_t{1} << 60, {}), Contains("does not fit"));
  CHECK_THAT(forged(2, 0, 1, 0, 0, {}, 1, {0x3C00, 0x7C00}), Contains("not finite"));  // fp16 +inf
  CHECK_THAT(forged(2, 0, 2, 0, 0, {}, 1, {0x7FC0, 0x3F80}), Contains("not finite"));  // bf16 NaN
  // fp16 codes that decode to a vector beyond the norm bound cannot exist (65504 * sqrt(dim) is
  // far below it), but a forged int8 range near float32's limit can.
  {
    const float big = 3e38f;
    auto w = AtomicFileWriter::Open(path, "SQFL", 1);
    REQUIRE(w.ok());
    for (std::uint32_t v : {2u, 0u, 0u, 0u, 1u}) REQUIRE((*w)->WritePod(v).ok());
    const std::vector<float> range = {big, big, big, big};
    REQUIRE((*w)->Write(range.data(), 16).ok());
    REQUIRE((*w)->WritePod<std::uint64_t>(1).ok());
    REQUIRE((*w)->WritePod<std::int64_t>(0).ok());
    REQUIRE((*w)->WritePod<std::uint16_t>(0).ok());
    REQUIRE((*w)->Commit().ok());
    auto r = ScalarQuantizedIndex::Load(path);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(std::string(r.status().message()), Contains("decoded vectors"));
  }
  {
    auto w = AtomicFileWriter::Open(path, "FLAT", 1);
    REQUIRE(w.ok());
    REQUIRE((*w)->Commit().ok());
    CHECK_THAT(std::string(ScalarQuantizedIndex::Load(path).status().message()), Contains("expected \"SQFL\""));
  }
  {
    auto w = AtomicFileWriter::Open(path, "SQFL", ScalarQuantizedIndex::kFormatVersion + 1);
    REQUIRE(w.ok());
    REQUIRE((*w)->Commit().ok());
    CHECK(absl::IsUnimplemented(ScalarQuantizedIndex::Load(path).status()));
  }
  CHECK(absl::IsNotFound(ScalarQuantizedIndex::Load(dir + "/missing.dfb").status()));
}

}  // namespace
}  // namespace densefb
