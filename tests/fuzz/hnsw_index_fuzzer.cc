// Fuzzes HnswIndex::Load (see WriteIndexInput for the input layout). A graph that loads must be
// searchable, grow by Add (the insertion walks the loaded links), and save / load again.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "densefb/hnsw_index.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = densefb_fuzz::WriteIndexInput("in.hnsw", "HNSW", data, size);
  auto index = densefb::HnswIndex::Load(path);
  if (!index.ok()) {
    densefb_fuzz::CheckNamesFile(index.status(), path);
    return 0;
  }
  densefb::HnswIndex& x = **index;
  FUZZ_CHECK(x.dim() >= 1 && x.size() >= 0);
  const int dim = x.dim();
  if (dim > (1 << 12)) return 0;  // the vectors below would be the largest allocation
  std::vector<float> queries(2 * static_cast<std::size_t>(dim), 0.25f);
  queries[0] = -1.0f;
  const int k = static_cast<int>(std::min<std::int64_t>(x.size() + 2, 8));
  densefb::SearchOptions options;
  options.k = k;
  options.num_threads = 1;
  options.ef_search = 16;
  auto result = x.Search({queries.data(), 2, dim}, options);
  FUZZ_CHECK(result.ok());
  FUZZ_CHECK(result->ids.cols() == std::min<std::int64_t>(k, x.size()));  // k capped by the size
  std::vector<std::int64_t> found;
  for (int q = 0; q < 2; ++q) {
    for (std::int64_t j = 0; j < result->ids.cols(); ++j) {
      const std::int64_t id = result->ids(q, j);
      FUZZ_CHECK(id >= -1);
      if (id >= 0) {
        FUZZ_CHECK(!std::isnan(result->scores(q, j)));
        found.push_back(id);
      }
    }
  }
  std::vector<float> out(found.size() * static_cast<std::size_t>(dim));
  FUZZ_CHECK(x.Reconstruct(found, {out.data(), static_cast<std::int64_t>(found.size()), dim}).ok());
  // Insertion from the loaded entry point through the loaded links, single-threaded.
  const std::int64_t before = x.size();
  absl::Status added = x.Add({queries.data(), 2, dim});
  if (absl::IsAlreadyExists(added)) {
    // The file's ids may hold the sequential ids size(), size() + 1: refused, nothing changed.
    FUZZ_CHECK(x.size() == before);
    const std::vector<std::int64_t> ids = {std::int64_t{1} << 62, (std::int64_t{1} << 62) + 1};
    added = x.Add({queries.data(), 2, dim}, ids);
  }
  FUZZ_CHECK(added.ok() ? x.size() == before + 2 : x.size() == before);
  FUZZ_CHECK(added.ok() || absl::IsAlreadyExists(added) || before + 2 > (std::int64_t{1} << 31));
  if (added.ok()) {
    auto after = x.Search({queries.data(), 2, dim}, options);
    FUZZ_CHECK(after.ok());
  }
  const std::string again = densefb_fuzz::ScratchDir() + "/again.hnsw";
  FUZZ_CHECK(x.Save(again).ok());
  auto reloaded = densefb::HnswIndex::Load(again);
  FUZZ_CHECK(reloaded.ok() && (*reloaded)->size() == x.size());
  return 0;
}
