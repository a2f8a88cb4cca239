// Compiled with -mavx2 -mfma.
#include <cstdint>

#define Eigen densefb_eigen_avx2
#define DENSEFB_KERNEL_NS avx2
#include "index/kernels.h"
#include "index/kernels_impl.inc"

namespace densefb::kernels {
const KernelSet* Avx2Kernels() {
  static const KernelSet set{"avx2", &avx2::GemmNt, &avx2::Dot, &avx2::HnswDistance, &avx2::HnswSearch,
                             &avx2::SelectAbove};
  return &set;
}
}  // namespace densefb::kernels
