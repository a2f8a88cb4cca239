#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <vector>

#include "densefb/residual_multivector.h"
#include "test_util.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;
using testing::RandomMatrix;
using testing::TempDir;

RowMatrix Normalized(RowMatrix m) {
  for (std::int64_t i = 0; i < m.rows(); ++i) m.row(i) /= m.row(i).norm();
  return m;
}

// `n` documents of 2..30 unit-length tokens (clustered, as real token embeddings are), token ids
// from a small vocabulary.
std::unique_ptr<MultiVectorIndex> MakeSource(int n, int dim, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> len(2, 30), tok(0, 60), topic(0, 15);
  const RowMatrix topics = RandomMatrix(16, dim, seed + 7);
  auto index = *MultiVectorIndex::Create(dim);
  for (int d = 0; d < n; ++d) {
    const int rows = len(gen);
    RowMatrix v = RandomMatrix(rows, dim, seed * 1000 + d) * 0.5f;
    std::vector<std::int32_t> ids;
    for (int r = 0; r < rows; ++r) {
      v.row(r) += topics.row(topic(gen));
      ids.push_back(tok(gen));
    }
    v = Normalized(v);
    const ConstMatrixView view{v.data(), v.rows(), v.cols()};
    const absl::Span<const std::int32_t> id_span(ids);
    REQUIRE(index->Add({&view, 1}, {&id_span, 1}).ok());
  }
  return index;
}

TEST_CASE("residual compression: decompression is centroid + bucket weights, normalised") {
  auto source = MakeSource(120, 32, 1);
  ResidualCompressionConfig config;
  config.nbits = 2;
  config.num_centroids = 64;
  auto x = *ResidualMultiVectorIndex::Build(*source, config, 2);
  REQUIRE(x->num_tokens() == source->num_tokens());
  REQUIRE(x->num_centroids() == 64);
  REQUIRE(x->bucket_cutoffs().size() == 3);
  REQUIRE(x->bucket_weights().size() == 4);
  REQUIRE(std::is_sorted(x->bucket_cutoffs().begin(), x->bucket_cutoffs().end()));
  const auto packed = x->residual_codes();
  const std::int64_t bytes = 32 * 2 / 8;
  REQUIRE(static_cast<std::int64_t>(packed.size()) == x->num_tokens() * bytes);
  double cosine = 0;
  for (std::int64_t d = 0; d < source->size(); ++d) {
    const ConstMatrixView orig = *source->Document(d);
    const RowMatrix got = *x->Document(d);
    REQUIRE(got.rows() == orig.rows);
    // Reference decompression and bucketing written here.
    for (std::int64_t i = 0; i < orig.rows; ++i) {
      const std::int64_t row = std::distance(source->token_ids().data(), (*source->DocumentTokenIds(d)).data()) + i;
      const std::int32_t c = x->codes()[row];
      // The code is the centroid of largest inner product.
      Eigen::VectorXf s = x->centroids() * Eigen::Map<const Eigen::VectorXf>(orig.row(i), 32);
      REQUIRE(s(c) >= s.maxCoeff() - 1e-5f);
      Eigen::VectorXf ref(32);
      for (int j = 0; j < 32; ++j) {
        const int bucket = (packed[row * bytes + j / 4] >> ((j % 4) * 2)) & 3;
        const float r = orig.row(i)[j] - x->centroids()(c, j);
        const auto& cut = x->bucket_cutoffs();
        REQUIRE(bucket == std::lower_bound(cut.begin(), cut.end(), r) - cut.begin());
        ref(j) = x->centroids()(c, j) + x->bucket_weights()[bucket];
      }
      ref.normalize();
      for (int j = 0; j < 32; ++j) REQUIRE(got(i, j) == Approx(ref(j)).margin(1e-6));
      cosine += got.row(i).dot(Eigen::Map<const Eigen::RowVectorXf>(orig.row(i), 32));
    }
  }
  // 2-bit residuals keep the embeddings close.
  REQUIRE(cosine / x->num_tokens() > 0.9);
}

TEST_CASE("residual compression: neighbours probing every centroid equal brute force over the decompressed tokens") {
  auto source = MakeSource(80, 16, 2);
  ResidualCompressionConfig config;
  config.nbits = 1;
  config.num_centroids = 32;
  auto x = *ResidualMultiVectorIndex::Build(*source, config, 3);
  REQUIRE(x->set_nprobe(32).ok());
  RowMatrix all(x->num_tokens(), 16);
  REQUIRE(x->Decompress(0, x->num_tokens(), {all.data(), all.rows(), all.cols()}).ok());
  const RowMatrix q = Normalized(RandomMatrix(5, 16, 99));
  const TokenNeighbours nb = *x->Neighbours({q.data(), 5, 16}, 7, 0, 2);
  for (int i = 0; i < 5; ++i) {
    Eigen::VectorXf s = all * q.row(i).transpose();
    std::vector<std::int64_t> order(s.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return s(a) > s(b); });
    for (int j = 0; j < 7; ++j) {
      REQUIRE(nb.scores(i, j) == Approx(s(order[j])).margin(1e-5));
      REQUIRE(nb.token_ids(i, j) == x->token_ids()[nb.rows(i, j)]);
      REQUIRE(*source->DocumentOfToken(nb.rows(i, j)) == nb.docs(i, j));
    }
  }
  // Fewer probes: only tokens of the probed centroids, still best first.
  REQUIRE(x->set_nprobe(1).ok());
  const TokenNeighbours one = *x->Neighbours({q.data(), 5, 16}, 7, 0, 1);
  for (int i = 0; i < 5; ++i) {
    for (int j = 1; j < 7; ++j) REQUIRE(one.scores(i, j) <= one.scores(i, j - 1));
  }
  REQUIRE_FALSE(x->set_nprobe(33).ok());
}

TEST_CASE("residual compression: rerank is exact MaxSim over the decompressed documents, deleted ones dropped") {
  auto source = MakeSource(60, 16, 3);
  REQUIRE(source->Delete({std::int64_t{4}, std::int64_t{9}}).ok());
  ResidualCompressionConfig config;
  config.num_centroids = 16;
  auto x = *ResidualMultiVectorIndex::Build(*source, config, 2);
  REQUIRE(x->size() == 60);
  REQUIRE(x->num_documents() == 58);
  REQUIRE(absl::IsNotFound(x->Document(4).status()));
  TokenQuery q;
  q.vectors = Normalized(RandomMatrix(4, 16, 5));
  q.weights = {1.0f, 0.5f, 2.0f, 1.0f};
  BatchRanking cands;
  cands.lists.resize(1);
  for (std::int64_t d = 0; d < 60; ++d) cands.lists[0].push_back({d, 0.0f});
  const BatchRanking r = *x->Rerank({&q, 1}, cands, 0, 2);
  REQUIRE(r.lists[0].size() == 58);
  for (const ScoredDoc& d : r.lists[0]) {
    REQUIRE(d.id != 4);
    REQUIRE(d.id != 9);
    const RowMatrix doc = *x->Document(d.id);
    const ConstMatrixView view{doc.data(), doc.rows(), doc.cols()};
    REQUIRE(d.score == Approx(MaxSim(q, view)).margin(1e-5));
  }
  // Statistics follow the live documents of the source.
  for (std::int32_t t = 0; t < 61; ++t) {
    REQUIRE((*x->DocumentFrequencies({&t, 1}))[0] == source->DocumentFrequency(t));
  }
}

TEST_CASE("residual compression: save and load round trip; corrupt files fail cleanly") {
  auto source = MakeSource(40, 16, 4);
  ResidualCompressionConfig config;
  config.nbits = 4;
  config.num_centroids = 8;
  auto x = *ResidualMultiVectorIndex::Build(*source, config, 1);
  const std::string dir = TempDir("residual_multivector");
  const std::string path = dir + "/residual.mvrc";
  REQUIRE(x->Save(path).ok());
  auto y = *ResidualMultiVectorIndex::Load(path);
  REQUIRE(y->nbits() == 4);
  REQUIRE(y->nprobe() == x->nprobe());
  REQUIRE(y->num_tokens() == x->num_tokens());
  for (std::int64_t d = 0; d < x->size(); ++d) REQUIRE((*y->Document(d) - *x->Document(d)).norm() == 0.0f);
  // Flip one payload byte: the checksum names the file.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (std::size_t at : {std::size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[at] ^= 0x5a;
    const std::string bad_path = dir + "/residual-bad.mvrc";
    std::ofstream(bad_path, std::ios::binary) << bad;
    const auto s = ResidualMultiVectorIndex::Load(bad_path);
    REQUIRE_FALSE(s.ok());
    REQUIRE_THAT(std::string(s.status().message()), Contains("residual-bad.mvrc"));
  }
  const std::string cut_path = dir + "/residual-cut.mvrc";
  std::ofstream(cut_path, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  REQUIRE_FALSE(ResidualMultiVectorIndex::Load(cut_path).ok());
}

TEST_CASE("residual compression: ColBERTv2's number of centroids by default") {
  auto source = MakeSource(100, 8, 6);
  auto x = *ResidualMultiVectorIndex::Build(*source, {}, 2);
  const double t = static_cast<double>(source->num_tokens());
  REQUIRE(x->num_centroids() == (std::int64_t{1} << static_cast<int>(std::floor(std::log2(16 * std::sqrt(t))))));
  REQUIRE(x->nbits() == 2);
  REQUIRE(x->nprobe() == 4);
}

TEST_CASE("residual compression: bad settings and inputs are refused by name") {
  auto source = MakeSource(10, 8, 5);
  ResidualCompressionConfig config;
  config.nbits = 3;
  REQUIRE_THAT(std::string(ResidualMultiVectorIndex::Build(*source, config).status().message()), Contains("nbits"));
  config.nbits = 2;
  config.nprobe = 0;
  REQUIRE_THAT(std::string(ResidualMultiVectorIndex::Build(*source, config).status().message()), Contains("nprobe"));
  // Not unit length with normalize: refused, naming the row and the way out.
  auto raw = *MultiVectorIndex::Create(8);
  RowMatrix v = RandomMatrix(3, 8, 1) * 3.0f;
  std::vector<std::int32_t> ids{1, 2, 3};
  const ConstMatrixView view{v.data(), 3, 8};
  const absl::Span<const std::int32_t> id_span(ids);
  REQUIRE(raw->Add({&view, 1}, {&id_span, 1}).ok());
  config.nprobe = 4;
  const auto s = ResidualMultiVectorIndex::Build(*raw, config);
  REQUIRE_THAT(std::string(s.status().message()), Contains("normalize = false"));
  config.normalize = false;
  auto x = *ResidualMultiVectorIndex::Build(*raw, config);
  REQUIRE(x->num_centroids() >= 1);
  RowMatrix q = RandomMatrix(1, 7, 2);
  REQUIRE_THAT(std::string(x->Neighbours({q.data(), 1, 7}, 3, 0, 1).status().message()), Contains("dimensions"));
  q = RandomMatrix(1, 8, 2);
  q(0, 3) = std::nanf("");
  REQUIRE_FALSE(x->Neighbours({q.data(), 1, 8}, 3, 0, 1).ok());
  auto empty = *MultiVectorIndex::Create(8);
  REQUIRE_THAT(std::string(ResidualMultiVectorIndex::Build(*empty, config).status().message()),
               Contains("no token embeddings"));
}

}  // namespace
}  // namespace densefb
