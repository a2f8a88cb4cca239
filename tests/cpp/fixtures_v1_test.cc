// The committed version-1 index files (tests/fixtures/v1/) load through the C++ API with exactly
// the contents that tests/fixtures/v1_data.py defines by formula (re-derived here), so that a
// format change that can no longer read v1 files fails in C++ (and under the sanitizers) too.
// tests/python/test_fixtures_v1.py checks the same files from Python, BM25 scores included.
// The residual-compressed multi-vector files (mvrc_*.dfb, tests/fixtures/make_mvrc_fixtures.py)
// are compressed from the same multi-vector documents; tests/python/test_fixtures_mvrc.py reads
// them from Python.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "densefb/bm25.h"
#include "densefb/flat_index.h"
#include "densefb/hnsw_index.h"
#include "densefb/multivector.h"
#include "densefb/residual_multivector.h"
#include "test_util.h"

namespace densefb {
namespace {

constexpr int kDim = 8;
constexpr int kDocs = 40;

// A copy of the committed file: nothing a load might do can touch the original.
std::string Fixture(const std::string& name) {
  const std::string dir = testing::TempDir("fixtures_v1_" + name);
  const std::string path = dir + "/" + name;
  std::filesystem::copy_file(std::string(DENSEFB_SOURCE_DIR) + "/tests/fixtures/v1/" + name, path);
  return path;
}

// v1_data.flat_vectors(), flat_ids() and queries().
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

// Each query's top k are the k best documents by the directly computed scores, best first.
void CheckTopK(const SearchResult& got, const RowMatrix& queries, const RowMatrix& docs,
               const std::vector<std::int64_t>& ids, bool cosine, int k) {
  for (int q = 0; q < queries.rows(); ++q) {
    std::map<std::int64_t, double> want;
    std::vector<double> sorted;
    for (int d = 0; d < docs.rows(); ++d) {
      double s = queries.row(q).cast<double>().dot(docs.row(d).cast<double>());
      if (cosine) s /= queries.row(q).cast<double>().norm() * docs.row(d).cast<double>().norm();
      want[ids[d]] = s;
      sorted.push_back(s);
    }
    std::sort(sorted.begin(), sorted.end(), std::greater<double>());
    for (int r = 0; r < k; ++r) {
      CHECK(got.scores(q, r) == Approx(sorted[r]).margin(1e-5));
      CHECK(want.at(got.ids(q, r)) == Approx(got.scores(q, r)).margin(1e-5));
    }
  }
}

TEST_CASE("v1 flat index files load with their vectors and ids", "[fixtures]") {
  for (const auto& [name, cosine] : {std::pair<std::string, bool>{"flat_ip.dfb", false}, {"flat_cosine.dfb", true}}) {
    INFO(name);
    absl::StatusOr<std::unique_ptr<FlatIndex>> index = FlatIndex::Load(Fixture(name));
    REQUIRE(index.ok());
    CHECK((*index)->dim() == kDim);
    CHECK((*index)->size() == kDocs);
    CHECK((*index)->metric() == (cosine ? Metric::kCosine : Metric::kInnerProduct));
    const std::vector<std::int64_t> ids = FlatIds();
    CHECK((*index)->ids() == ids);
    RowMatrix back(kDocs, kDim);
    REQUIRE((*index)->Reconstruct(ids, MutableView(back)).ok());
    CHECK(back == FlatVectors());
    const absl::StatusOr<SearchResult> r = (*index)->Search(View(Queries()), SearchOptions{10, 1, 0});
    REQUIRE(r.ok());
    CheckTopK(*r, Queries(), FlatVectors(), ids, cosine, 10);
  }
}

TEST_CASE("the v1 HNSW file loads; a beam over the whole graph is exact", "[fixtures]") {
  absl::StatusOr<std::unique_ptr<HnswIndex>> index = HnswIndex::Load(Fixture("hnsw_ip.dfb"));
  REQUIRE(index.ok());
  CHECK((*index)->size() == kDocs);
  CHECK((*index)->dim() == kDim);
  const std::vector<std::int64_t> ids = FlatIds();
  RowMatrix back(kDocs, kDim);
  REQUIRE((*index)->Reconstruct(ids, MutableView(back)).ok());
  CHECK(back == FlatVectors());
  const absl::StatusOr<SearchResult> r = (*index)->Search(View(Queries()), SearchOptions{10, 1, kDocs});
  REQUIRE(r.ok());
  CheckTopK(*r, Queries(), FlatVectors(), ids, false, 10);
}

TEST_CASE("the v1 BM25 file loads with its documents", "[fixtures]") {
  absl::StatusOr<std::unique_ptr<Bm25Index>> index = Bm25Index::Load(Fixture("bm25.dfb"));
  REQUIRE(index.ok());
  REQUIRE((*index)->num_docs() == kDocs);
  for (int i = 0; i < kDocs; ++i) CHECK((*index)->doc_names()[i] == absl::StrCat("doc-", i < 10 ? "0" : "", i));
  // v1_data.bm25_texts(): document i holds word (i * 5 + t * t + t * i) % 16 for t < 3 + i % 7;
  // "violin" is word 15. A search for it finds exactly the documents that hold it.
  std::vector<std::int64_t> holders;
  for (int i = 0; i < kDocs; ++i) {
    for (int t = 0; t < 3 + i % 7; ++t) {
      if ((i * 5 + t * t + t * i) % 16 == 15) {
        holders.push_back(i);
        break;
      }
    }
  }
  REQUIRE_FALSE(holders.empty());
  const std::vector<std::string> query = {"violin"};
  const absl::StatusOr<BatchRanking> r = (*index)->Search(query, kDocs);
  REQUIRE(r.ok());
  std::vector<std::int64_t> found;
  for (const ScoredDoc& d : r->lists[0]) {
    CHECK(d.score > 0);
    found.push_back(d.id);
  }
  std::sort(found.begin(), found.end());
  CHECK(found == holders);
}

TEST_CASE("the v1 multi-vector file loads with its token embeddings and ids", "[fixtures]") {
  absl::StatusOr<std::unique_ptr<MultiVectorIndex>> index = MultiVectorIndex::Load(Fixture("multivector.dfb"));
  REQUIRE(index.ok());
  REQUIRE((*index)->size() == kDocs);
  CHECK((*index)->dim() == kDim);
  // v1_data.multivector_docs()
  std::vector<RowMatrix> docs;
  std::int64_t row = 0;
  for (int i = 0; i < kDocs; ++i) {
    const int n = 2 + i % 5;
    RowMatrix d(n, kDim);
    for (int t = 0; t < n; ++t) {
      for (int j = 0; j < kDim; ++j) d(t, j) = static_cast<float>((i * 3 + t * 5 + j * (t + 1) + i * j) % 9 - 4) / 4.0f;
      CHECK((*index)->token_ids()[row++] == (i * 11 + t * 7) % 50 + 100);
    }
    const absl::StatusOr<ConstMatrixView> stored = (*index)->Document(i);
    REQUIRE(stored.ok());
    REQUIRE(stored->rows == n);
    CHECK(RowMatrix(Eigen::Map<const RowMatrix>(stored->data, stored->rows, stored->cols)) == d);
    docs.push_back(std::move(d));
  }
  CHECK((*index)->num_tokens() == row);
  // Exact MaxSim of a 3-token query against every document.
  TokenQuery query;
  query.vectors = Queries().topRows(3);
  query.weights.assign(3, 1.0f);
  std::vector<std::int64_t> all(kDocs);
  for (int i = 0; i < kDocs; ++i) all[i] = i;
  std::vector<float> got(kDocs);
  REQUIRE((*index)->Score(query, all, absl::MakeSpan(got)).ok());
  for (int i = 0; i < kDocs; ++i) {
    const Eigen::MatrixXd sims = query.vectors.cast<double>() * docs[i].cast<double>().transpose();
    CHECK(got[i] == Approx(sims.rowwise().maxCoeff().sum()).margin(1e-5));
  }
}

// v1_data.multivector_docs(): document i's tokens and token ids.
RowMatrix MultiVectorDoc(int i) {
  const int n = 2 + i % 5;
  RowMatrix d(n, kDim);
  for (int t = 0; t < n; ++t) {
    for (int j = 0; j < kDim; ++j) d(t, j) = static_cast<float>((i * 3 + t * 5 + j * (t + 1) + i * j) % 9 - 4) / 4.0f;
  }
  return d;
}
std::int32_t MultiVectorTokenId(int i, int t) { return (i * 11 + t * 7) % 50 + 100; }

TEST_CASE("the v1 residual-compressed multi-vector files load with their codes, buckets and documents",
          "[fixtures]") {
  struct Case {
    const char* name;
    bool unit;  // tokens scaled to unit length, decompressed embeddings normalised
    int nbits;
    int centroids;
    std::vector<std::int64_t> deleted;
    std::vector<std::int32_t> excluded;
  };
  for (const Case& c : {Case{"mvrc_nbits2_raw.dfb", false, 2, 8, {5, 17}, {100, 101}},
                        Case{"mvrc_nbits1_unit.dfb", true, 1, 4, {}, {}}}) {
    INFO(c.name);
    auto loaded = ResidualMultiVectorIndex::Load(Fixture(c.name));
    REQUIRE(loaded.ok());
    ResidualMultiVectorIndex& x = **loaded;
    CHECK(x.dim() == kDim);
    CHECK(x.size() == kDocs);
    CHECK(x.num_deleted() == static_cast<std::int64_t>(c.deleted.size()));
    CHECK(x.nbits() == c.nbits);
    CHECK(x.normalize() == c.unit);
    CHECK(x.nprobe() == 2);
    REQUIRE(x.num_centroids() == c.centroids);
    CHECK(*x.ExcludedTokenIds() == c.excluded);
    const RowMatrix& centroids = x.centroids();
    const auto& cut = x.bucket_cutoffs();
    const auto& w = x.bucket_weights();
    REQUIRE(cut.size() == (1u << c.nbits) - 1);
    REQUIRE(w.size() == 1u << c.nbits);
    const int per_byte = 8 / c.nbits, bytes = kDim / per_byte;
    std::vector<RowMatrix> decoded(kDocs);
    std::int64_t row = 0;
    for (int i = 0; i < kDocs; ++i) {
      const bool deleted = std::count(c.deleted.begin(), c.deleted.end(), i) > 0;
      if (deleted) {
        CHECK(absl::IsNotFound(x.Document(i).status()));
        continue;
      }
      RowMatrix doc = MultiVectorDoc(i);
      if (c.unit) doc.rowwise().normalize();
      auto got = x.Document(i);
      REQUIRE(got.ok());
      REQUIRE(got->rows() == doc.rows());
      RowMatrix& ref = decoded[i];
      ref.resize(doc.rows(), kDim);
      for (int t = 0; t < doc.rows(); ++t, ++row) {
        CHECK(x.token_ids()[row] == MultiVectorTokenId(i, t));
        // The code: the nearest centroid (squared L2).
        const std::int32_t code = x.codes()[row];
        REQUIRE(code >= 0);
        REQUIRE(code < c.centroids);
        const Eigen::VectorXd dist =
            (centroids.cast<double>().rowwise() - doc.row(t).cast<double>()).rowwise().squaredNorm();
        CHECK(dist(code) <= dist.minCoeff() + 1e-6);
        for (int j = 0; j < kDim; ++j) {
          const int bucket = (x.residual_codes()[row * bytes + j / per_byte] >> ((j % per_byte) * c.nbits)) &
                             ((1 << c.nbits) - 1);
          // The bucket: the cutoffs strictly below the residual (exact for the unscaled tokens;
          // a unit-length token may differ from the generator's by an ulp).
          const float r = doc(t, j) - centroids(code, j);
          if (!c.unit) CHECK(bucket == std::lower_bound(cut.begin(), cut.end(), r) - cut.begin());
          ref(t, j) = centroids(code, j) + w[bucket];
        }
        if (c.unit) ref.row(t).normalize();
        for (int j = 0; j < kDim; ++j) CHECK((*got)(t, j) == Approx(ref(t, j)).margin(1e-6));
      }
    }
    CHECK(x.num_tokens() == row);
    // Every live document reranked: exact MaxSim over the decompressed tokens, deleted ones dropped.
    TokenQuery query;
    query.vectors = Queries().topRows(3);
    query.weights.assign(3, 1.0f);
    BatchRanking all;
    all.lists.resize(1);
    for (std::int64_t d = 0; d < kDocs; ++d) all.lists[0].push_back({d, 0.0f});
    auto ranked = x.Rerank({&query, 1}, all, 0, 1);
    REQUIRE(ranked.ok());
    REQUIRE(ranked->lists[0].size() == kDocs - c.deleted.size());
    for (const ScoredDoc& d : ranked->lists[0]) {
      REQUIRE(decoded[d.id].size() > 0);
      const Eigen::MatrixXd sims = query.vectors.cast<double>() * decoded[d.id].cast<double>().transpose();
      CHECK(d.score == Approx(sims.rowwise().maxCoeff().sum()).margin(1e-5));
    }
  }
}

}  // namespace
}  // namespace densefb
