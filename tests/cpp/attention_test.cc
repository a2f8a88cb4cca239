#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/attention.h"
#include "test_util.h"

namespace densefb {
namespace {

using testing::RandomMatrix;

TEST_CASE("The attention kernel equals softmax(q k^T / sqrt(d)) v in double precision") {
  const kernels::AttentionFn attend = kernels::BestAttention();
  if (attend == nullptr) {
    WARN("no attention kernel for this CPU");
    return;
  }
  for (const std::int64_t d : {16, 32, 48, 64}) {
    for (const std::int64_t s : {1, 5, 8, 9, 33, 70}) {
      for (const std::int64_t valid : {std::int64_t{1}, (s + 1) / 2, s}) {
        INFO("d=" << d << " s=" << s << " valid=" << valid);
        const std::int64_t heads = 3, ld = heads * d;
        // Scores of several units, so the softmax is neither flat nor one-hot.
        const RowMatrix q = RandomMatrix(s, ld, 11) * 2.0f, k = RandomMatrix(s, ld, 12) * 2.0f;
        const RowMatrix v = RandomMatrix(s, ld, 13);
        RowMatrix out = RowMatrix::Constant(s, ld, std::nanf(""));
        std::vector<float> scratch(static_cast<std::size_t>(kernels::AttentionScratchFloats(s, d)));
        const float scale = 1.0f / std::sqrt(static_cast<float>(d));
        for (std::int64_t h = 0; h < heads; ++h) {
          attend(q.data() + h * d, k.data() + h * d, v.data() + h * d, s, valid, d, ld, scale,
                 out.data() + h * d, scratch.data());
        }
        double worst = 0.0;
        for (std::int64_t h = 0; h < heads; ++h) {
          for (std::int64_t i = 0; i < s; ++i) {
            std::vector<double> w(static_cast<std::size_t>(valid));
            double top = -1e300, sum = 0.0;
            for (std::int64_t j = 0; j < valid; ++j) {
              double dot = 0.0;
              for (std::int64_t c = 0; c < d; ++c) dot += double{q(i, h * d + c)} * double{k(j, h * d + c)};
              w[j] = dot * scale;
              top = std::max(top, w[j]);
            }
            for (double& x : w) sum += (x = std::exp(x - top));
            for (std::int64_t c = 0; c < d; ++c) {
              double want = 0.0;
              for (std::int64_t j = 0; j < valid; ++j) want += w[j] / sum * double{v(j, h * d + c)};
              worst = std::max(worst, std::abs(want - double{out(i, h * d + c)}));
            }
          }
        }
        CHECK(worst < 1e-5);  // float32 scores of a few units: ~1e-6 rounding
      }
    }
  }
}

}  // namespace
}  // namespace densefb
