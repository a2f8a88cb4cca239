// Fuzzes FlatIndex::Load (see WriteIndexInput for the input layout). An index that loads must
// search, reconstruct, save and load again consistently.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "densefb/flat_index.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = densefb_fuzz::WriteIndexInput("in.flat", "FLAT", data, size);
  auto index = densefb::FlatIndex::Load(path);
  if (!index.ok()) {
    densefb_fuzz::CheckNamesFile(index.status(), path);
    return 0;
  }
  densefb::FlatIndex& x = **index;
  FUZZ_CHECK(x.dim() >= 1 && x.size() >= 0);
  FUZZ_CHECK(static_cast<std::int64_t>(x.ids().size()) == x.size());
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
  // k is capped by the vectors that exist: min(k, size) columns, every one a real result.
  FUZZ_CHECK(result->ids.cols() == std::min<std::int64_t>(k, x.size()));
  for (int q = 0; q < 2; ++q) {
    for (std::int64_t j = 0; j < result->ids.cols(); ++j) {
      FUZZ_CHECK(result->ids(q, j) >= 0);
      FUZZ_CHECK(!std::isnan(result->scores(q, j)));
    }
  }
  if (x.size() > 0) {
    std::vector<float> out(static_cast<std::size_t>(dim));
    FUZZ_CHECK(x.Reconstruct({x.ids().data(), 1}, {out.data(), 1, dim}).ok());
    FUZZ_CHECK(std::equal(out.begin(), out.end(), x.vectors().data));
  }
  const std::string again = densefb_fuzz::ScratchDir() + "/again.flat";
  FUZZ_CHECK(x.Save(again).ok());
  auto reloaded = densefb::FlatIndex::Load(again);
  FUZZ_CHECK(reloaded.ok() && (*reloaded)->size() == x.size() && (*reloaded)->ids() == x.ids());
  return 0;
}
