// Fuzzes ProductQuantizedIndex::Load (see WriteIndexInput for the input layout). An index that
// loads must search (finite scores, real ids), reconstruct finite vectors, and save and load
// again to the same ids and decoded vectors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "densefb/pq_index.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = densefb_fuzz::WriteIndexInput("in.pq", "PQFL", data, size);
  auto index = densefb::ProductQuantizedIndex::Load(path);
  if (!index.ok()) {
    densefb_fuzz::CheckNamesFile(index.status(), path);
    return 0;
  }
  densefb::ProductQuantizedIndex& x = **index;
  FUZZ_CHECK(x.dim() >= 1 && x.size() >= 0);
  FUZZ_CHECK(x.m() >= 1 && x.dim() % x.m() == 0 && x.sub_dim() * x.m() == x.dim());
  FUZZ_CHECK(static_cast<std::int64_t>(x.ids().size()) == x.size());
  FUZZ_CHECK(x.size() == 0 || x.trained());
  const int dim = x.dim();
  if (dim > (1 << 16)) return 0;  // the queries below would be the largest allocation
  std::vector<float> queries(2 * static_cast<std::size_t>(dim), 0.5f);
  queries[0] = -1.0f;
  const int k = static_cast<int>(std::min<std::int64_t>(x.size() + 2, 8));
  densefb::SearchOptions options;
  options.k = k;
  options.num_threads = 1;
  auto result = x.Search({queries.data(), 2, dim}, options);
  FUZZ_CHECK(result.ok());
  FUZZ_CHECK(result->ids.cols() == std::min<std::int64_t>(k, x.size()));
  for (int q = 0; q < 2; ++q) {
    for (std::int64_t j = 0; j < result->ids.cols(); ++j) {
      FUZZ_CHECK(result->ids(q, j) >= 0);
      FUZZ_CHECK(std::isfinite(result->scores(q, j)));
    }
  }
  std::vector<float> first;
  if (x.size() > 0) {
    first.resize(static_cast<std::size_t>(dim));
    FUZZ_CHECK(x.Reconstruct({x.ids().data(), 1}, {first.data(), 1, dim}).ok());
    for (float v : first) FUZZ_CHECK(std::isfinite(v));
  }
  const std::string again = densefb_fuzz::ScratchDir() + "/again.pq";
  FUZZ_CHECK(x.Save(again).ok());
  auto reloaded = densefb::ProductQuantizedIndex::Load(again);
  FUZZ_CHECK(reloaded.ok() && (*reloaded)->size() == x.size() && (*reloaded)->ids() == x.ids());
  FUZZ_CHECK((*reloaded)->centroids() == x.centroids());
  if (x.size() > 0) {
    std::vector<float> back(static_cast<std::size_t>(dim));
    FUZZ_CHECK((*reloaded)->Reconstruct({x.ids().data(), 1}, {back.data(), 1, dim}).ok());
    FUZZ_CHECK(back == first);
  }
  return 0;
}
