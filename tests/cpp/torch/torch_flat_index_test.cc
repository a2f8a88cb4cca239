// TorchFlatIndex from C++ alone, on torch's CPU device (and on CUDA where one is present):
// the results of FlatIndex, ties included, the shared file format, the memory limit, and the
// encoder's output added on the device. The SciFact checks are in tests/python.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "densefb/flat_index.h"
#include "densefb/torch/encoders.h"
#include "densefb/torch/flat_index.h"
#include "test_model.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;

std::vector<std::string> Devices() {
  std::vector<std::string> devices = {"cpu"};
  if (CudaAvailable()) devices.push_back("cuda");
  return devices;
}

// n x dim Gaussian vectors whose rows [n - 20, n) copy rows [0, 20) (exact ties).
std::vector<float> Vectors(std::int64_t n, int dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<std::size_t>(n * dim));
  for (float& x : v) x = normal(rng);
  std::copy_n(v.begin(), 20 * dim, v.end() - 20 * dim);
  return v;
}

TEST_CASE("TorchFlatIndex returns FlatIndex's results, ties included") {
  const int dim = 48;
  const std::int64_t n = 3000, nq = 70;
  const std::vector<float> docs = Vectors(n, dim, 1);
  std::vector<float> queries = Vectors(nq, dim, 2);
  std::copy_n(docs.begin(), 20 * dim, queries.begin());  // queries equal to tied documents
  std::vector<std::int64_t> ids(n);
  for (std::int64_t i = 0; i < n; ++i) ids[i] = 7 * (n - i);  // ids decreasing with the row
  for (const std::string& device : Devices()) {
    for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
      DYNAMIC_SECTION(device << " " << MetricName(metric)) {
        auto flat = FlatIndex::Create(dim, metric);
        REQUIRE(flat.ok());
        REQUIRE((*flat)->Add({docs.data(), n, dim}, ids).ok());
        TorchFlatIndex::Options options;
        options.device = device;
        options.query_block = 16;
        options.doc_block = 500;
        auto index = TorchFlatIndex::FromFlat(**flat, options);
        REQUIRE(index.ok());
        for (int k : {1, 10, 257, 5000}) {
          const SearchOptions so{k};
          auto want = (*flat)->Search({queries.data(), nq, dim}, so);
          auto got = (*index)->Search({queries.data(), nq, dim}, so);
          REQUIRE(want.ok());
          REQUIRE(got.ok());
          REQUIRE(got->ids.cols() == want->ids.cols());
          // Random Gaussian data has no near ties at this size: the rankings are equal, and
          // the copies of row r follow it (a larger id first, as its row is earlier).
          CHECK(got->ids == want->ids);
          CHECK((got->scores - want->scores).cwiseAbs().maxCoeff() < 1e-4f);
        }
        auto top = (*index)->Search({queries.data(), 20, dim}, SearchOptions{2});
        REQUIRE(top.ok());
        for (int q = 0; q < 20; ++q) {
          CHECK(top->ids(q, 0) == ids[q]);
          CHECK(top->ids(q, 1) == ids[n - 20 + q]);
          CHECK(top->scores(q, 0) == top->scores(q, 1));
        }
      }
    }
  }
}

TEST_CASE("TorchFlatIndex reads and writes the FlatIndex format and refuses memory it lacks") {
  const int dim = 16;
  const std::vector<float> docs = Vectors(100, dim, 3);
  const std::string path = std::string(DENSEFB_TEST_TMPDIR) + "/torch_flat.flat";
  TorchFlatIndex::Options options;
  options.memory_limit = 100 * dim * 4;  // inner product: no norms stored
  auto index = TorchFlatIndex::Create(dim, Metric::kInnerProduct, options);
  REQUIRE(index.ok());
  REQUIRE((*index)->Add({docs.data(), 60, dim}).ok());
  const absl::Status refused = (*index)->Add({docs.data(), 41, dim});
  CHECK(refused.code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(std::string(refused.message()), Contains("101 vectors of dim 16 need 6464 bytes") &&
                                                 Contains("above memory_limit 6400 bytes"));
  CHECK((*index)->size() == 60);
  REQUIRE((*index)->Add({docs.data() + 60 * dim, 40, dim}).ok());
  CHECK((*index)->device_bytes() == 6400);
  REQUIRE((*index)->Save(path).ok());
  auto flat = FlatIndex::Load(path);
  REQUIRE(flat.ok());
  CHECK((*flat)->size() == 100);
  CHECK(std::equal(docs.begin(), docs.end(), (*flat)->vectors().data));
  auto back = TorchFlatIndex::Load(path);
  REQUIRE(back.ok());
  std::vector<float> out(3 * dim);
  const std::vector<std::int64_t> some = {99, 0, 42};
  REQUIRE((*back)->Reconstruct(some, {out.data(), 3, dim}).ok());
  for (int i = 0; i < 3; ++i) CHECK(std::equal(out.begin() + i * dim, out.begin() + (i + 1) * dim, docs.begin() + some[i] * dim));
  TorchFlatIndex::Options bad;
  bad.device = "mps";
  CHECK(TorchFlatIndex::Create(dim, Metric::kInnerProduct, bad).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("EncodeAndAdd puts a BERT encoder's output on the device index as the host path would") {
  const std::string dir = ModelDir();
  if (dir.empty()) {
    WARN("packaged all-MiniLM-L6-v2 not found; set DENSEFB_TEST_MODEL_DIR");
    return;
  }
  const std::vector<std::string> docs = {"Vaccines train the immune system.", "Paris is in France.",
                                         "Mitochondria make ATP.", "BM25 ranks by term frequency."};
  BertEncoderConfig config;
  config.model_dir = dir;
  auto encoder = MakeBertEncoder(config);
  REQUIRE(encoder.ok());
  auto host = FlatIndex::Create(384, Metric::kCosine);
  auto device = TorchFlatIndex::Create(384, Metric::kCosine);
  REQUIRE(host.ok());
  REQUIRE(device.ok());
  IndexingOptions options;
  options.chunk_size = 3;
  REQUIRE(EncodeAndAdd(**encoder, docs, static_cast<VectorIndex*>(host->get()), {}, options).ok());
  REQUIRE(EncodeAndAdd(**encoder, docs, device->get(), {10, 11, 12, 13}, options).ok());
  std::vector<float> out(4 * 384);
  REQUIRE((*device)->Reconstruct(std::vector<std::int64_t>{10, 11, 12, 13}, {out.data(), 4, 384}).ok());
  const ConstMatrixView want = (*host)->vectors();
  for (std::size_t i = 0; i < out.size(); ++i) CHECK(std::abs(out[i] - want.data[i]) < 1e-6f);
  const absl::Status dup = EncodeAndAdd(**encoder, docs, device->get(), {13, 14, 15, 16}, options);
  CHECK_THAT(std::string(dup.message()), Contains("13"));
  CHECK((*device)->size() == 4);
}

}  // namespace
}  // namespace densefb
