// The libtorch encoders used from C++ alone (no Python): load the packaged all-MiniLM-L6-v2,
// encode, and search. Parity with sentence-transformers is checked in tests/python.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "densefb/flat_index.h"
#include "densefb/indexing.h"
#include "densefb/torch/encoders.h"
#include "test_model.h"

namespace densefb {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("BERT bi-encoder from C++: load, encode, search") {
  const std::string dir = ModelDir();
  if (dir.empty()) {
    WARN("packaged all-MiniLM-L6-v2 not found; set DENSEFB_TEST_MODEL_DIR");
    return;
  }
  BertEncoderConfig config;
  config.model_dir = dir;
  auto encoder = MakeBertEncoder(config);
  REQUIRE(encoder.ok());
  CHECK((*encoder)->Dimension() == 384);
  CHECK((*encoder)->MaxLength() == 256);
  CHECK((*encoder)->Normalized());

  const std::vector<std::string> docs = {
      "The mitochondria is the powerhouse of the cell.",
      "Paris is the capital and largest city of France.",
      "Vaccines train the immune system to recognise a pathogen.",
  };
  auto index = FlatIndex::Create(384, Metric::kInnerProduct);
  REQUIRE(index.ok());
  IndexingOptions options;
  options.chunk_size = 2;
  std::int64_t last = 0;
  options.progress = [&](std::int64_t done, std::int64_t total) {
    CHECK(total == 3);
    last = done;
    return true;
  };
  REQUIRE(EncodeAndAdd(**encoder, docs, index->get(), {}, options).ok());
  CHECK(last == 3);
  CHECK((*index)->size() == 3);

  const std::vector<std::string> queries = {"what is the capital of france", "how do vaccines work"};
  RowMatrix q(2, 384);
  REQUIRE((*encoder)->EncodeQueries(queries, MutableView(q)).ok());
  CHECK(q.row(0).norm() == Approx(1.0f).epsilon(1e-5));
  auto top = (*index)->Search(View(q), {1, 0, 0});
  REQUIRE(top.ok());
  CHECK(top->ids(0, 0) == 1);
  CHECK(top->ids(1, 0) == 2);

  RowMatrix wrong(2, 10);
  CHECK_THAT(std::string((*encoder)->EncodeQueries(queries, MutableView(wrong)).message()),
             Contains("expected 2 x 384"));
  EncodeOptions cancel;
  cancel.progress = [](std::int64_t, std::int64_t) { return false; };
  CHECK(absl::IsCancelled((*encoder)->EncodeQueries(queries, MutableView(q), cancel)));
}

TEST_CASE("Reduced precision from C++: int8 close to fp32, bf16 picked at run time, errors") {
  CHECK(*ParsePrecision("int8") == Precision::kInt8);
  CHECK(*ParsePrecision("bfloat16") == Precision::kBFloat16);
  CHECK_THAT(std::string(ParsePrecision("int4").status().message()), Contains("\"int4\" is not one of"));
  CHECK(*ResolvePrecision(Precision::kBFloat16, "cpu") == (CpuHasBf16() ? Precision::kBFloat16 : Precision::kFloat32));
  CHECK_THAT(std::string(ResolvePrecision(Precision::kFloat16, "cpu").status().message()),
             Contains("CUDA devices only"));
  if (CudaAvailable()) {
    CHECK_THAT(std::string(ResolvePrecision(Precision::kInt8, "cuda").status().message()), Contains("CPU only"));
  }

  const std::string dir = ModelDir();
  if (dir.empty()) {
    WARN("packaged all-MiniLM-L6-v2 not found; set DENSEFB_TEST_MODEL_DIR");
    return;
  }
  const std::vector<std::string> docs = {
      "The mitochondria is the powerhouse of the cell.",
      "Paris is the capital and largest city of France.",
      "Vaccines train the immune system to recognise a pathogen.",
      "Dynamic quantisation rounds each activation to eight bits with a range observed per call.",
  };
  auto encode = [&](Precision precision) {
    BertEncoderConfig config;
    config.model_dir = dir;
    config.precision = precision;
    auto encoder = MakeBertEncoder(config);
    REQUIRE(encoder.ok());
    RowMatrix out(docs.size(), 384);
    REQUIRE((*encoder)->EncodeDocuments(docs, MutableView(out)).ok());
    return out;
  };
  const RowMatrix fp32 = encode(Precision::kFloat32);
  for (const Precision precision : {Precision::kInt8, Precision::kBFloat16}) {
    CAPTURE(PrecisionName(precision));
    const RowMatrix low = encode(precision);
    for (Eigen::Index i = 0; i < low.rows(); ++i) {
      CHECK(low.row(i).norm() == Approx(1.0f).epsilon(1e-5));
      CHECK(low.row(i).dot(fp32.row(i)) >= 0.98f);  // unit vectors: the cosine
    }
    if (precision == Precision::kInt8) CHECK((low - fp32).cwiseAbs().maxCoeff() > 1e-4f);  // really int8
  }
  CHECK((Int8WeightBits() == 7 || Int8WeightBits() == 8));

  // The token encoder takes the same precisions (MiniLM as a plain BERT token encoder).
  auto tokens = [&](Precision precision) {
    ColbertEncoderConfig config;
    config.model_dir = dir;
    config.format = TokenCheckpointFormat::kBert;
    config.precision = precision;
    auto encoder = MakeColbertEncoder(config);
    REQUIRE(encoder.ok());
    auto out = (*encoder)->EncodeDocuments(docs);
    REQUIRE(out.ok());
    return *std::move(out);
  };
  const std::vector<RowMatrix> fp32_tokens = tokens(Precision::kFloat32);
  const std::vector<RowMatrix> int8_tokens = tokens(Precision::kInt8);
  REQUIRE(int8_tokens.size() == docs.size());
  double sum = 0;
  Eigen::Index count = 0;
  for (std::size_t d = 0; d < docs.size(); ++d) {
    REQUIRE(int8_tokens[d].rows() == fp32_tokens[d].rows());
    for (Eigen::Index t = 0; t < int8_tokens[d].rows(); ++t, ++count) {
      sum += int8_tokens[d].row(t).dot(fp32_tokens[d].row(t));
    }
  }
  CHECK(sum / count >= 0.99);  // mean cosine over the tokens
  CHECK(sum / count < 0.99999);
}

TEST_CASE("Model directories that are not models are reported") {
  BertEncoderConfig config;
  config.model_dir = std::string(DENSEFB_TEST_TMPDIR) + "/no-such-model";
  auto missing = MakeBertEncoder(config);
  REQUIRE_FALSE(missing.ok());
  CHECK(absl::IsNotFound(missing.status()));
  CHECK_THAT(std::string(missing.status().message()), Contains("not found"));
  config.model_dir = DENSEFB_TEST_TMPDIR;
  auto not_model = MakeBertEncoder(config);
  REQUIRE_FALSE(not_model.ok());
  CHECK_THAT(std::string(not_model.status().message()), Contains("not a model directory"));
  config.model_dir = "x";
  config.device = "tpu:0";
  CHECK(absl::IsInvalidArgument(MakeBertEncoder(config).status()));
}

}  // namespace
}  // namespace densefb
