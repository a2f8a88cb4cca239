// Compiled with -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma.
#include <cstdint>

#define Eigen densefb_eigen_avx512
#define DENSEFB_KERNEL_NS avx512
#include "index/kernels.h"
#include "index/kernels_impl.inc"

namespace densefb::kernels {
const KernelSet* Avx512Kernels() {
  static const KernelSet set{"avx512", &avx512::GemmNt, &avx512::Dot, &avx512::HnswDistance, &avx512::HnswSearch,
                             &avx512::SelectAbove};
  return &set;
}
}  // namespace densefb::kernels
