// Baseline kernels and the run-time choice among the compiled instruction sets.
#include "index/kernels.h"

#include <cstdint>

// The baseline copy uses a renamed Eigen too, so no kernel shares instantiations with the
// Eigen code of the rest of the library.
#define Eigen densefb_eigen_generic
#define DENSEFB_KERNEL_NS generic
#include "index/kernels_impl.inc"
#undef Eigen

namespace densefb::kernels {

const KernelSet* GenericKernels() {
  static const KernelSet set{"generic", &generic::GemmNt, &generic::Dot, &generic::HnswDistance, &generic::HnswSearch,
                             &generic::SelectAbove};
  return &set;
}

#if !defined(DENSEFB_HAVE_X86_DISPATCH)
const KernelSet* Avx2Kernels() { return nullptr; }
const KernelSet* Avx512Kernels() { return nullptr; }
#endif

const KernelSet& Best() {
  static const KernelSet* best = [] {
#if defined(DENSEFB_HAVE_X86_DISPATCH)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        Avx512Kernels() != nullptr) {
      return Avx512Kernels();
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        Avx2Kernels() != nullptr) {
      return Avx2Kernels();
    }
#endif
    return GenericKernels();
  }();
  return *best;
}

}  // namespace densefb::kernels
