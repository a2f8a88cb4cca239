// Writes the seed inputs of the index fuzz targets into <dir>/{flat,hnsw,bm25,quantized,pq}_index_fuzzer/
// and <dir>/residual_multivector_fuzzer/:
// small valid indexes saved by the library, each as a whole file (mode byte 1) and as a bare
// payload (mode byte 0, wrapped in a valid container by the fuzzer). The text formats' seeds
// are plain files kept in the repository as they are.
//
//   make_fuzz_seeds tests/fuzz/corpus
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "densefb/bm25.h"
#include "densefb/file_format.h"
#include "densefb/flat_index.h"
#include "densefb/hnsw_index.h"
#include "densefb/multivector.h"
#include "densefb/pq_index.h"
#include "densefb/quantized_index.h"
#include "densefb/residual_multivector.h"

namespace fs = std::filesystem;

namespace {

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::cerr << s << "\n";
    std::exit(1);
  }
}

// Saves through `save` into a temporary file, then writes the two seeds of that file.
template <typename SaveFn>
void Seeds(const fs::path& dir, const std::string& name, SaveFn save) {
  fs::create_directories(dir);
  const fs::path tmp = dir / (name + ".tmp");
  Check(save(tmp.string()));
  std::ifstream in(tmp, std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(tmp);
  std::ofstream(dir / (name + "-file"), std::ios::binary) << '\x01' << file;
  std::ofstream(dir / (name + "-payload"), std::ios::binary)
      << '\x00' << file.substr(densefb::kFileHeaderSize);
}

std::vector<float> Vectors(int n, int dim) {
  std::vector<float> v(static_cast<std::size_t>(n) * dim);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 7919) % 23) / 11.0f - 1.0f;
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_fuzz_seeds <corpus dir>\n";
    return 2;
  }
  const fs::path root = argv[1];
  for (auto metric : {densefb::Metric::kInnerProduct, densefb::Metric::kCosine}) {
    const std::string tag = metric == densefb::Metric::kCosine ? "cosine" : "ip";
    for (int n : {0, 5}) {
      auto flat = densefb::FlatIndex::Create(4, metric).value();
      const auto v = Vectors(n, 4);
      Check(flat->Add({v.data(), n, 4}));
      Seeds(root / "flat_index_fuzzer", tag + "-" + std::to_string(n),
            [&](const std::string& p) { return flat->Save(p); });
      densefb::HnswConfig config;
      config.M = 2;
      config.ef_construction = 8;
      config.num_threads = 1;
      auto hnsw = densefb::HnswIndex::Create(3, metric, config).value();
      const auto w = Vectors(3 * n, 3);
      Check(hnsw->Add({w.data(), 3 * n, 3}));
      Seeds(root / "hnsw_index_fuzzer", tag + "-" + std::to_string(3 * n),
            [&](const std::string& p) { return hnsw->Save(p); });
      if (n > 0) {  // explicit ids that hold the next sequential ones (an Add without ids is refused)
        std::vector<std::int64_t> ids(static_cast<std::size_t>(3 * n));
        for (int i = 0; i < 3 * n; ++i) ids[i] = 3 * n + i;
        auto with_ids = densefb::HnswIndex::Create(3, metric, config).value();
        Check(with_ids->Add({w.data(), 3 * n, 3}, ids));
        Seeds(root / "hnsw_index_fuzzer", tag + "-ids-" + std::to_string(3 * n),
              [&](const std::string& p) { return with_ids->Save(p); });
      }
    }
  }
  for (auto enc : {densefb::ScalarEncoding::kInt8, densefb::ScalarEncoding::kFp16, densefb::ScalarEncoding::kBf16}) {
    for (int rescore : {0, 2}) {
      const auto metric = rescore > 0 ? densefb::Metric::kCosine : densefb::Metric::kInnerProduct;
      auto sq = densefb::ScalarQuantizedIndex::Create(4, metric, enc, rescore).value();
      const auto v = Vectors(5, 4);
      Check(sq->Add({v.data(), 5, 4}));
      Seeds(root / "quantized_index_fuzzer",
            std::string(densefb::ScalarEncodingName(enc)) + "-rescore" + std::to_string(rescore),
            [&](const std::string& p) { return sq->Save(p); });
    }
  }
  // Product quantisation: dim 4 in 2 sub-spaces, trained on 256 vectors (the minimum; the
  // formula repeats values, so k-means meets empty clusters and splits), an empty untrained
  // index, and one with re-scoring.
  for (int rescore : {0, 2}) {
    const auto metric = rescore > 0 ? densefb::Metric::kCosine : densefb::Metric::kInnerProduct;
    auto pq = densefb::ProductQuantizedIndex::Create(4, metric, 2, 8, rescore).value();
    const auto v = Vectors(256, 4);
    Check(pq->Train({v.data(), 256, 4}, 1));
    Check(pq->Add({v.data(), 6, 4}));
    Seeds(root / "pq_index_fuzzer", "m2-rescore" + std::to_string(rescore),
          [&](const std::string& p) { return pq->Save(p); });
  }
  {
    auto empty = densefb::ProductQuantizedIndex::Create(4, densefb::Metric::kInnerProduct, 4).value();
    Seeds(root / "pq_index_fuzzer", "untrained", [&](const std::string& p) { return empty->Save(p); });
  }
  for (int nbits : {1, 2, 8}) {
    auto mv = densefb::MultiVectorIndex::Create(4).value();
    for (int d = 0; d < 5; ++d) {
      const int rows = 1 + d % 3;
      auto v = Vectors(rows, 4);
      for (int r = 0; r < rows; ++r) {
        float norm = 0;
        for (int j = 0; j < 4; ++j) norm += v[r * 4 + j] * v[r * 4 + j];
        for (int j = 0; j < 4; ++j) v[r * 4 + j] /= std::sqrt(norm);
      }
      std::vector<std::int32_t> ids(static_cast<std::size_t>(rows), 7 + d);
      const densefb::ConstMatrixView view{v.data(), rows, 4};
      const absl::Span<const std::int32_t> id_span(ids);
      Check(mv->Add({&view, 1}, {&id_span, 1}));
    }
    if (nbits == 2) Check(mv->Delete({std::int64_t{1}}));
    densefb::ResidualCompressionConfig config;
    config.nbits = nbits;
    config.num_centroids = 3;
    auto residual = densefb::ResidualMultiVectorIndex::Build(*mv, config, 1).value();
    Seeds(root / "residual_multivector_fuzzer", "nbits" + std::to_string(nbits),
          [&](const std::string& p) { return residual->Save(p); });
  }
  const std::vector<std::string> names = {"d1", "d2", "d3", "d4"};
  const std::vector<std::string> texts = {"The quick brown fox jumps", "foxes and dogs running",
                                          "a lazy dog sleeps all day", "quick quick quick"};
  for (bool stem : {true, false}) {
    densefb::Bm25BuildOptions options;
    options.num_threads = 1;
    options.analyzer.stemmer = stem ? densefb::Stemmer::kPorter : densefb::Stemmer::kNone;
    auto bm25 = densefb::Bm25Index::Build(names, texts, options).value();
    Seeds(root / "bm25_index_fuzzer", stem ? "porter" : "nostem",
          [&](const std::string& p) { return bm25->Save(p); });
  }
  std::cout << "seeds written under " << root << "\n";
  return 0;
}
