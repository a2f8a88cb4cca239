#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>
#include <thread>

#include "densefb/file_format.h"
#include "densefb/flat_index.h"
#include "densefb/hnsw_index.h"
#include "index/kernels.h"
#include "index/topk.h"
#include "test_util.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;
using testing::RandomMatrix;
using testing::TempDir;

// Reference top-k in double precision: score desc, then row asc.
std::vector<std::vector<std::pair<double, std::int64_t>>> BruteForce(const RowMatrix& docs,
                                                                    const RowMatrix& queries,
                                                                    int k, bool cosine) {
  std::vector<std::vector<std::pair<double, std::int64_t>>> out;
  for (std::int64_t q = 0; q < queries.rows(); ++q) {
    std::vector<std::pair<double, std::int64_t>> all;
    const double qn = queries.row(q).cast<double>().norm();
    for (std::int64_t d = 0; d < docs.rows(); ++d) {
      double s = queries.row(q).cast<double>().dot(docs.row(d).cast<double>());
      if (cosine) s /= qn * docs.row(d).cast<double>().norm();
      all.emplace_back(s, d);
    }
    std::sort(all.begin(), all.end(), [](auto& a, auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    all.resize(std::min<std::size_t>(k, all.size()));
    out.push_back(all);
  }
  return out;
}

// The kernel sets this CPU can run: the baseline, the best, and AVX2 below AVX-512.
std::vector<const kernels::KernelSet*> RunnableKernelSets() {
  std::vector<const kernels::KernelSet*> sets{kernels::GenericKernels()};
  if (&kernels::Best() == kernels::Avx512Kernels() && kernels::Avx2Kernels() != nullptr) {
    sets.push_back(kernels::Avx2Kernels());
  }
  if (&kernels::Best() != kernels::GenericKernels()) sets.push_back(&kernels::Best());
  return sets;
}

TEST_CASE("Every compiled kernel set computes the same GEMM") {
  const RowMatrix a = RandomMatrix(37, 71, 1), b = RandomMatrix(53, 71, 2);
  const RowMatrix ref = (a.cast<double>() * b.cast<double>().transpose()).cast<float>();
  for (const kernels::KernelSet* set : RunnableKernelSets()) {
    INFO(set->name);
    RowMatrix c(37, 53);
    set->gemm_nt(a.data(), 37, b.data(), 53, 71, c.data(), 53);
    CHECK((c - ref).cwiseAbs().maxCoeff() < 1e-4f);
  }
}

TEST_CASE("Every compiled kernel set computes dot products and HNSW distances, any length") {
  const RowMatrix a = RandomMatrix(2, 400, 3);
  for (const kernels::KernelSet* set : RunnableKernelSets()) {
    // Lengths around every unrolling step (16, 64 floats for AVX-512; 8, 32 for AVX2).
    for (const std::int64_t d : {0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 384, 399}) {
      INFO(set->name << " d=" << d);
      double want = 0.0;
      for (std::int64_t j = 0; j < d; ++j) want += double{a(0, j)} * double{a(1, j)};
      CHECK(std::abs(set->dot(a.row(0).data(), a.row(1).data(), d) - want) < 1e-4);
      // Rows of d + 1 floats: the vector, then its factor.
      std::vector<float> x(a.row(0).data(), a.row(0).data() + d), y(a.row(1).data(), a.row(1).data() + d);
      x.push_back(0.5f);
      y.push_back(-2.0f);
      const std::size_t dim = static_cast<std::size_t>(d);
      CHECK(std::abs(set->hnsw_distance(x.data(), y.data(), &dim) - want) < 1e-4);
    }
  }
}

TEST_CASE("Every compiled kernel set selects the same scores above a threshold") {
  std::mt19937 gen(5);
  std::uniform_int_distribution<int> level(-3, 3);  // few distinct values: many ties
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (const std::int64_t n : {0, 1, 7, 15, 16, 17, 63, 64, 65, 100, 513}) {
    std::vector<float> scores(static_cast<std::size_t>(n));
    for (float& x : scores) x = 0.5f * level(gen);
    for (const float threshold : {-kInf, -1.0f, 0.0f, 0.5f, 2.0f}) {
      std::vector<float> want_scores;
      std::vector<std::int32_t> want_offsets;
      float want_lo = 9.0f, want_hi = -9.0f;  // running bounds from an earlier call
      for (std::int64_t j = 0; j < n; ++j) {
        if (scores[j] > threshold) {
          want_scores.push_back(scores[j]);
          want_offsets.push_back(1000 + static_cast<std::int32_t>(j));
          want_lo = std::min(want_lo, scores[j]);
          want_hi = std::max(want_hi, scores[j]);
        }
      }
      for (const kernels::KernelSet* set : RunnableKernelSets()) {
        INFO(set->name << " n=" << n << " threshold=" << threshold);
        // Sentinels past n + kSelectSlack must survive the kernel's whole-vector stores.
        const std::size_t room = static_cast<std::size_t>(n + kSelectSlack);
        std::vector<float> got_scores(room + 4, -7.0f);
        std::vector<std::int32_t> got_offsets(room + 4, -7);
        float lo = 9.0f, hi = -9.0f;
        const std::int64_t m = set->select_above(scores.data(), n, threshold, 1000, got_scores.data(),
                                                 got_offsets.data(), &lo, &hi);
        REQUIRE(m == static_cast<std::int64_t>(want_scores.size()));
        for (std::int64_t i = 0; i < m; ++i) {
          CHECK(got_scores[i] == want_scores[i]);
          CHECK(got_offsets[i] == want_offsets[i]);
        }
        for (std::size_t i = room; i < room + 4; ++i) {
          CHECK(got_scores[i] == -7.0f);
          CHECK(got_offsets[i] == -7);
        }
        CHECK(lo == want_lo);
        CHECK(hi == want_hi);
      }
    }
  }
}

TEST_CASE("FlatIndex search equals brute force, ip and cosine, any thread count") {
  const RowMatrix docs = RandomMatrix(10000, 48, 3);
  const RowMatrix queries = RandomMatrix(300, 48, 4);
  for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
    auto index = FlatIndex::Create(48, metric);
    REQUIRE(index.ok());
    // Added in three batches to exercise growth.
    REQUIRE((*index)->Add({docs.data(), 3000, 48}).ok());
    REQUIRE((*index)->Add({docs.row(3000).data(), 5000, 48}).ok());
    REQUIRE((*index)->Add({docs.row(8000).data(), 2000, 48}).ok());
    REQUIRE((*index)->size() == 10000);
    // k = 20 selects with heaps, k = 150 with reservoirs.
    for (const int k : {20, 150}) {
      const auto ref = BruteForce(docs, queries, k, metric == Metric::kCosine);
      for (int threads : {1, 2, 7}) {
        for (std::int64_t nq : {std::int64_t{1}, std::int64_t{300}}) {
          INFO("k=" << k << " threads=" << threads << " nq=" << nq);
          auto res = (*index)->Search({queries.data(), nq, 48}, {k, threads, 0});
          REQUIRE(res.ok());
          for (std::int64_t q = 0; q < nq; ++q) {
            for (int j = 0; j < k; ++j) {
              CHECK(res->scores(q, j) == Approx(ref[q][j].first).margin(1e-4));
              // float rounding may swap near-ties; the ids must match where scores are apart
              if (j + 1 < k && ref[q][j].first - ref[q][j + 1].first > 1e-4 &&
                  (j == 0 || ref[q][j - 1].first - ref[q][j].first > 1e-4)) {
                CHECK(res->ids(q, j) == ref[q][j].second);
              }
            }
          }
        }
      }
    }
  }
}

// 50 distinct random vectors (16 dims), 400 copies each, row = base + 50 * copy: every score
// is tied 400 times.
std::unique_ptr<FlatIndex> TiedIndex(std::uint32_t seed) {
  const RowMatrix base = RandomMatrix(50, 16, seed);
  RowMatrix docs(20000, 16);
  for (int i = 0; i < 20000; ++i) docs.row(i) = base.row(i % 50);
  auto index = FlatIndex::Create(16, Metric::kInnerProduct);
  REQUIRE(index.ok());
  REQUIRE((*index)->Add({docs.data(), docs.rows(), 16}).ok());
  return std::move(*index);
}

TEST_CASE("FlatIndex: results independent of threads, ties go to the earlier vector") {
  // Many exact ties: duplicated vectors.
  const std::unique_ptr<FlatIndex> index = TiedIndex(5);
  const RowMatrix queries = RandomMatrix(8, 16, 6);
  auto one = index->Search(View(queries), {30, 1, 0});
  REQUIRE(one.ok());
  for (int threads : {2, 3, 8}) {
    auto many = index->Search(View(queries), {30, threads, 0});
    REQUIRE(many.ok());
    CHECK(many->ids == one->ids);
    CHECK(many->scores == one->scores);
  }
  // The best vector appears 400 times; the first 30 copies are the earliest rows, in order.
  for (int j = 1; j < 30; ++j) {
    CHECK(one->scores(0, j) == one->scores(0, 0));
    CHECK(one->ids(0, j) > one->ids(0, j - 1));
    CHECK(one->ids(0, j) - one->ids(0, j - 1) == 50);
  }
}

TEST_CASE("FlatIndex: equal vectors score equally at every position of a GEMM block") {
  // 1,111 copies of one vector (two full blocks and a partial one): every copy must get the
  // same score bit for bit, whatever SIMD panel of the GEMM it falls in, with k below and
  // above the reservoir threshold.
  const RowMatrix base = RandomMatrix(1, 24, 11);
  RowMatrix docs(1111, 24);
  for (int i = 0; i < 1111; ++i) docs.row(i) = base.row(0);
  auto index = FlatIndex::Create(24, Metric::kInnerProduct);
  REQUIRE(index.ok());
  REQUIRE((*index)->Add(View(docs)).ok());
  const RowMatrix queries = RandomMatrix(5, 24, 12);
  for (const int k : {20, 1111}) {
    auto res = (*index)->Search(View(queries), {k, 1, 0});
    REQUIRE(res.ok());
    for (std::int64_t q = 0; q < queries.rows(); ++q) {
      INFO("k=" << k << " query " << q);
      for (int j = 0; j < k; ++j) {
        CHECK(res->scores(q, j) == res->scores(q, 0));
        CHECK(res->ids(q, j) == j);
      }
    }
  }
}

TEST_CASE("FlatIndex: large k (reservoir selection) keeps exact ties in row order") {
  const std::unique_ptr<FlatIndex> index = TiedIndex(7);
  const RowMatrix queries = RandomMatrix(8, 16, 8);
  auto heap = index->Search(View(queries), {31, 1, 0});  // below the reservoir's k
  REQUIRE(heap.ok());
  for (const int k : {32, 100, 700, 5000}) {
    for (const int threads : {1, 3}) {
      INFO("k=" << k << " threads=" << threads);
      auto res = index->Search(View(queries), {k, threads, 0});
      REQUIRE(res.ok());
      CHECK(res->ids.leftCols(31) == heap->ids);
      CHECK(res->scores.leftCols(31) == heap->scores);
      for (std::int64_t q = 0; q < queries.rows(); ++q) {
        // Groups of equal scores, best first; within a group the earliest copies in row order
        // (row = base + 50 * copy), starting from the first copy.
        for (int j = 0; j < k; ++j) {
          const bool starts_group = j == 0 || res->scores(q, j) < res->scores(q, j - 1);
          if (starts_group) {
            CHECK(res->ids(q, j) < 50);
          } else {
            CHECK(res->scores(q, j) == res->scores(q, j - 1));
            CHECK(res->ids(q, j) - res->ids(q, j - 1) == 50);
          }
        }
      }
    }
  }
}

TEST_CASE("FlatIndex: large k keeps a tie at score 0 in row order, between + and - scores") {
  // Zero vectors all score 0 (the reservoir's sort keys map the sign bit): a 298-way tie,
  // broken by row, between one positive and one negative score.
  RowMatrix docs = RowMatrix::Zero(300, 8);
  docs.row(7).setConstant(0.5f);    // one positive score
  docs.row(200).setConstant(-0.5f);  // one negative score
  auto index = FlatIndex::Create(8, Metric::kInnerProduct);
  REQUIRE(index.ok());
  REQUIRE((*index)->Add(View(docs)).ok());
  RowMatrix queries(2, 8);
  queries << -1, 2, -3, 4, -5, 6, -7, 8.5f, -1, -1, -1, -1, -1, -1, -1, -1;
  for (const int k : {40, 300}) {
    auto res = (*index)->Search(View(queries), {k, 1, 0});
    REQUIRE(res.ok());
    for (std::int64_t q = 0; q < 2; ++q) {
      INFO("k=" << k << " q=" << q);
      const std::int64_t best = q == 0 ? 7 : 200;
      const std::int64_t worst = q == 0 ? 200 : 7;
      CHECK(res->ids(q, 0) == best);
      std::int64_t expected = 0;  // the zero rows, in order
      for (int j = 1; j < k; ++j) {
        if (expected == best || expected == worst) ++expected;
        if (expected == best || expected == worst) ++expected;
        if (j == 299) {
          CHECK(res->ids(q, j) == worst);
          continue;
        }
        CHECK(res->scores(q, j) == 0.0f);
        CHECK(res->ids(q, j) == expected++);
      }
    }
  }
}

TEST_CASE("FlatIndex: large k over scores near +-FLT_MAX (their range overflows float)") {
  // Norms of 1.5e19 (allowed up to 1.8e19): scores of about +-2.25e38, whose difference is
  // beyond float. The reservoir's binning must not divide by, or multiply with, that range.
  constexpr int kDocs = 300;
  RowMatrix docs = RowMatrix::Zero(kDocs, 4);
  for (int i = 0; i < kDocs; ++i) {
    const float sign = (i * 7919) % 3 == 0 ? -1.0f : 1.0f;
    docs(i, 0) = sign * (1.5e19f - 1e16f * static_cast<float>(i % 50));
    docs(i, 1) = 1e17f * static_cast<float>(i % 13);
  }
  RowMatrix queries = RowMatrix::Zero(1, 4);
  queries(0, 0) = 1.5e19f;
  auto index = FlatIndex::Create(4, Metric::kInnerProduct);
  REQUIRE(index.ok());
  REQUIRE((*index)->Add(View(docs)).ok());
  const auto ref = BruteForce(docs, queries, kDocs, false);
  for (const int k : {40, 100, kDocs}) {
    auto res = (*index)->Search(View(queries), {k, 1, 0});
    REQUIRE(res.ok());
    for (int j = 0; j < k; ++j) {
      INFO("k=" << k << " j=" << j);
      REQUIRE(std::isfinite(res->scores(0, j)));
      CHECK(res->scores(0, j) == Approx(ref[0][j].first).epsilon(1e-5));
    }
    CHECK(res->scores(0, 0) > 2e38f);
    if (k == kDocs) CHECK(res->scores(0, k - 1) < -2e38f);
  }
}

TEST_CASE("FlatIndex: k capped at the size, raw buffers pad, empty index, k = 0, explicit ids, reconstruct") {
  auto index = FlatIndex::Create(4, Metric::kInnerProduct);
  REQUIRE(index.ok());
  const RowMatrix q = RandomMatrix(2, 4, 7);
  auto empty = (*index)->Search(View(q), {3, 0, 0});
  REQUIRE(empty.ok());
  CHECK(empty->ids.rows() == 2);
  CHECK(empty->ids.cols() == 0);  // nothing exists: no columns

  const RowMatrix v = RandomMatrix(2, 4, 8);
  const std::vector<std::int64_t> ids = {100, 42};
  REQUIRE((*index)->Add(View(v), ids).ok());
  auto res = (*index)->Search(View(q), {5, 0, 0});
  REQUIRE(res.ok());
  REQUIRE(res->ids.cols() == 2);  // min(k, size)
  std::vector<float> raw_scores(2 * 5);
  std::vector<std::int64_t> raw_ids(2 * 5);
  REQUIRE((*index)->Search(View(q), {5, 0, 0}, raw_scores.data(), raw_ids.data()).ok());
  for (int r = 0; r < 2; ++r) {
    CHECK((res->ids(r, 0) == 100 || res->ids(r, 0) == 42));
    CHECK(raw_ids[r * 5 + 0] == res->ids(r, 0));
    CHECK(raw_ids[r * 5 + 1] == res->ids(r, 1));
    CHECK(raw_ids[r * 5 + 2] == kNoId);  // caller-owned buffers keep k slots: padding
    CHECK(raw_ids[r * 5 + 4] == kNoId);
    CHECK(raw_scores[r * 5 + 4] == -std::numeric_limits<float>::infinity());
  }
  auto zero = (*index)->Search(View(q), {0, 0, 0});
  REQUIRE(zero.ok());
  CHECK(zero->ids.cols() == 0);

  RowMatrix back(2, 4);
  const std::vector<std::int64_t> want = {42, 100};
  REQUIRE((*index)->Reconstruct(want, MutableView(back)).ok());
  CHECK(back.row(0) == v.row(1));
  CHECK(back.row(1) == v.row(0));
  const std::vector<std::int64_t> unknown = {7};
  RowMatrix one(1, 4);
  auto st = (*index)->Reconstruct(unknown, MutableView(one));
  CHECK(absl::IsNotFound(st));
  CHECK_THAT(std::string(st.message()), Contains("id 7"));
}

TEST_CASE("FlatIndex: bad input is rejected with a message naming the problem") {
  CHECK(absl::IsInvalidArgument(FlatIndex::Create(0, Metric::kInnerProduct).status()));
  auto index = FlatIndex::Create(4, Metric::kCosine);
  REQUIRE(index.ok());
  RowMatrix v = RandomMatrix(3, 4, 9);
  RowMatrix wrong = RandomMatrix(3, 5, 9);
  auto st = (*index)->Add(View(wrong));
  CHECK_THAT(std::string(st.message()), Contains("5 dimensions, the index has 4"));
  v(2, 1) = std::nanf("");
  st = (*index)->Add(View(v));
  CHECK_THAT(std::string(st.message()), Contains("row 2 column 1 is NaN"));
  CHECK((*index)->size() == 0);  // nothing was added
  v(2, 1) = 1;
  const std::vector<std::int64_t> dup = {1, 2, 1};
  CHECK_THAT(std::string((*index)->Add(View(v), dup).message()), Contains("appears twice"));
  const std::vector<std::int64_t> neg = {1, -1, 3};
  CHECK_THAT(std::string((*index)->Add(View(v), neg).message()), Contains("negative"));
  const std::vector<std::int64_t> short_ids = {1};
  CHECK_THAT(std::string((*index)->Add(View(v), short_ids).message()), Contains("got 1 ids for 3 vectors"));
  REQUIRE((*index)->Add(View(v)).ok());  // ids 0, 1, 2
  const std::vector<std::int64_t> taken = {5, 2, 6};
  CHECK_THAT(std::string((*index)->Add(View(v), taken).message()), Contains("id 2 is already in the index"));
  const std::vector<std::int64_t> ahead = {3, 4, 5};
  REQUIRE((*index)->Add(View(v), ahead).ok());
  // Sequential ids would continue at 6, 7, 8 ... after explicit 5: fine; 3 rows -> 6,7,8.
  REQUIRE((*index)->Add(View(v)).ok());
  CHECK((*index)->size() == 9);
  RowMatrix q = RandomMatrix(1, 4, 10);
  q(0, 3) = std::numeric_limits<float>::infinity();
  CHECK_THAT(std::string((*index)->Search(View(q), {1, 0, 0}).status().message()), Contains("infinite"));
  CHECK(absl::IsInvalidArgument((*index)->Search(View(wrong), {1, 0, 0}).status()));
  CHECK(absl::IsInvalidArgument((*index)->Search(View(v), {-1, 0, 0}).status()));
}

TEST_CASE("FlatIndex: save and load round trip") {
  const std::string dir = TempDir("flat_save");
  const RowMatrix docs = RandomMatrix(500, 12, 11);
  std::vector<std::int64_t> ids(500);
  std::iota(ids.begin(), ids.end(), 1000);
  auto index = FlatIndex::Create(12, Metric::kCosine);
  REQUIRE(index.ok());
  REQUIRE((*index)->Add(View(docs), ids).ok());
  REQUIRE((*index)->Save(dir + "/flat.dfb").ok());
  auto loaded = FlatIndex::Load(dir + "/flat.dfb");
  REQUIRE(loaded.ok());
  CHECK((*loaded)->metric() == Metric::kCosine);
  CHECK((*loaded)->ids() == ids);
  const RowMatrix q = RandomMatrix(5, 12, 12);
  auto a = (*index)->Search(View(q), {10, 0, 0});
  auto b = (*loaded)->Search(View(q), {10, 0, 0});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->ids == b->ids);
  CHECK(a->scores == b->scores);
  // Only the index file is left behind.
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) { (void)e; ++files; }
  CHECK(files == 1);
}

TEST_CASE("FlatIndex: truncated, bit-flipped, foreign and future files fail cleanly") {
  const std::string dir = TempDir("flat_corrupt");
  auto index = FlatIndex::Create(8, Metric::kInnerProduct);
  REQUIRE(index.ok());
  REQUIRE((*index)->Add(View(RandomMatrix(64, 8, 13))).ok());
  const std::string path = dir + "/flat.dfb";
  REQUIRE((*index)->Save(path).ok());
  const std::string good = testing::ReadFile(path);

  for (std::size_t cut : {std::size_t{0}, std::size_t{10}, std::size_t{32}, std::size_t{40}, good.size() - 1}) {
    testing::WriteFile(path, good.substr(0, cut));
    auto r = FlatIndex::Load(path);
    INFO("cut at " << cut);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(std::string(r.status().message()), Contains(path));
  }
  // Flip one bit anywhere: header, counts, ids, vectors.
  for (std::size_t pos : {std::size_t{3}, std::size_t{13}, std::size_t{20}, std::size_t{33}, std::size_t{60}, good.size() - 5}) {
    std::string bad = good;
    bad[pos] ^= 0x10;
    testing::WriteFile(path, bad);
    auto r = FlatIndex::Load(path);
    INFO("flip at " << pos);
    REQUIRE_FALSE(r.ok());
  }
  // A future format version.
  {
    auto w = AtomicFileWriter::Open(path, "FLAT", FlatIndex::kFormatVersion + 1);
    REQUIRE(w.ok());
    REQUIRE((*w)->WritePod<std::uint32_t>(8).ok());
    REQUIRE((*w)->Commit().ok());
    auto r = FlatIndex::Load(path);
    CHECK(absl::IsUnimplemented(r.status()));
    CHECK_THAT(std::string(r.status().message()), Contains("format version 2"));
  }
  // Another kind of file, and a non-index file.
  {
    auto w = AtomicFileWriter::Open(path, "HNSW", 1);
    REQUIRE(w.ok());
    REQUIRE((*w)->Commit().ok());
    CHECK_THAT(std::string(FlatIndex::Load(path).status().message()), Contains("expected \"FLAT\""));
    testing::WriteFile(path, std::string(100, 'x'));
    CHECK_THAT(std::string(FlatIndex::Load(path).status().message()), Contains("not a densefb index"));
  }
  // A checksummed payload that lies about its vector count is caught before allocating.
  {
    auto w = AtomicFileWriter::Open(path, "FLAT", 1);
    REQUIRE(w.ok());
    REQUIRE((*w)->WritePod<std::uint32_t>(8).ok());
    REQUIRE((*w)->WritePod<std::uint32_t>(0).ok());
    REQUIRE((*w)->WritePod<std::uint64_t>(std::uint64_t{1} << 60).ok());
    REQUIRE((*w)->Commit().ok());
    CHECK_THAT(std::string(FlatIndex::Load(path).status().message()), Contains("does not fit"));
  }
  CHECK(absl::IsNotFound(FlatIndex::Load(dir + "/missing.dfb").status()));
  CHECK(absl::IsInvalidArgument(FlatIndex::Load(dir).status()));
}

TEST_CASE("An interrupted save leaves the previous index loadable") {
  const std::string dir = TempDir("flat_crash");
  const std::string path = dir + "/flat.dfb";
  auto index = FlatIndex::Create(8, Metric::kInnerProduct);
  REQUIRE(index.ok());
  REQUIRE((*index)->Add(View(RandomMatrix(100, 8, 14))).ok());
  REQUIRE((*index)->Save(path).ok());
  const std::string before = testing::ReadFile(path);

  // A writer abandoned half-way (an error path) removes its temporary file.
  {
    auto w = AtomicFileWriter::Open(path, "FLAT", 1);
    REQUIRE(w.ok());
    REQUIRE((*w)->WritePod<std::uint32_t>(8).ok());
  }
  CHECK(testing::ReadFile(path) == before);

  // A process killed in the middle of writing (no destructor runs).
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto w = AtomicFileWriter::Open(path, "FLAT", 1);
    if (w.ok()) {
      (void)(*w)->WritePod<std::uint32_t>(8);
      (void)(*w)->WritePod<std::uint32_t>(0);
    }
    _exit(0);  // "crash" before Commit
  }
  int status = 0;
  waitpid(child, &status, 0);
  auto loaded = FlatIndex::Load(path);
  REQUIRE(loaded.ok());
  CHECK((*loaded)->size() == 100);
}

TEST_CASE("FlatIndex: concurrent searches from many threads equal sequential ones") {
  const RowMatrix docs = RandomMatrix(5000, 32, 15);
  const RowMatrix queries = RandomMatrix(64, 32, 16);
  auto index = FlatIndex::Create(32, Metric::kInnerProduct);
  REQUIRE(index.ok());
  REQUIRE((*index)->Add(View(docs)).ok());
  auto expected = (*index)->Search(View(queries), {10, 1, 0});
  REQUIRE(expected.ok());
  std::vector<IdMatrix> got(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 5; ++rep) {
        auto r = (*index)->Search(View(queries), {10, 2, 0});
        if (r.ok()) got[t] = r->ids;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& g : got) CHECK(g == expected->ids);
}

TEST_CASE("Reserve: same results as growing, bad sizes rejected, for both indexes") {
  const RowMatrix v = RandomMatrix(600, 16, 31);
  const RowMatrix q = RandomMatrix(20, 16, 32);
  HnswConfig one_thread;
  one_thread.num_threads = 1;  // a reproducible build, so that the two graphs are the same
  for (const bool hnsw : {false, true}) {
    std::unique_ptr<VectorIndex> grown, reserved;
    for (auto* index : {&grown, &reserved}) {
      if (hnsw) {
        *index = std::move(HnswIndex::Create(16, Metric::kCosine, one_thread).value());
      } else {
        *index = std::move(FlatIndex::Create(16, Metric::kCosine).value());
      }
    }
    REQUIRE(reserved->Reserve(1000).ok());
    REQUIRE(reserved->Reserve(10).ok());  // never shrinks
    for (std::int64_t start = 0; start < 600; start += 50) {  // twelve adds
      const ConstMatrixView batch{v.data() + start * 16, 50, 16};
      REQUIRE(grown->Add(batch).ok());
      REQUIRE(reserved->Add(batch).ok());
    }
    REQUIRE(reserved->Reserve(300).ok());  // below the size: nothing to do
    auto a = grown->Search(View(q), {10, 1, 64});
    auto b = reserved->Search(View(q), {10, 1, 64});
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a->ids == b->ids);
    CHECK(a->scores == b->scores);
    REQUIRE(reserved->Add(View(RandomMatrix(500, 16, 33))).ok());  // past the reservation
    CHECK(reserved->size() == 1100);

    const absl::Status negative = reserved->Reserve(-1);
    CHECK(absl::IsInvalidArgument(negative));
    CHECK_THAT(std::string(negative.message()), Contains("-1"));
    const absl::Status huge = reserved->Reserve(std::int64_t{1} << 60);
    CHECK((absl::IsResourceExhausted(huge) || absl::IsInvalidArgument(huge)));
    CHECK(reserved->size() == 1100);  // a failed reserve leaves the index as it was
    auto c = reserved->Search(View(q), {10, 1, 64});
    REQUIRE(c.ok());
  }
}

TEST_CASE("FlatIndex: a huge k allocates nothing beyond the index size") {
  auto index = FlatIndex::Create(8, Metric::kCosine);
  REQUIRE(index.ok());
  const RowMatrix v = RandomMatrix(50, 8, 21);
  REQUIRE((*index)->Add(View(v)).ok());
  const RowMatrix q = RandomMatrix(1000, 8, 22);
  // 1000 x 2^31 results would be 24 TB; capped, it is 1000 x 50.
  auto res = (*index)->Search(View(q), {std::numeric_limits<int>::max(), 2, 0});
  REQUIRE(res.ok());
  CHECK(res->ids.rows() == 1000);
  CHECK(res->ids.cols() == 50);
  auto exact = (*index)->Search(View(q), {50, 2, 0});
  REQUIRE(exact.ok());
  CHECK(res->ids == exact->ids);
  CHECK(res->scores == exact->scores);
}

}  // namespace
}  // namespace densefb
