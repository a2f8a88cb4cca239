// Run-time choice of the attention kernel.
#include "common/attention.h"

namespace densefb::kernels {

AttentionFn BestAttention() {
  static const AttentionFn best = []() -> AttentionFn {
#if defined(DENSEFB_HAVE_X86_DISPATCH)
    // The CPU features of kernels::Best()'s AVX-512 set (src/index/kernels.cc).
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
      return Avx512Attention();
    }
#endif
    return nullptr;
  }();
  return best;
}

}  // namespace densefb::kernels
