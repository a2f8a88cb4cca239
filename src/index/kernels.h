// Internal: numeric kernels with run-time selection of the widest instruction set the CPU
// has (AVX-512, AVX2+FMA, or the baseline build).
#ifndef DENSEFB_SRC_INDEX_KERNELS_H_
#define DENSEFB_SRC_INDEX_KERNELS_H_

#include <cstdint>

#include "index/topk.h"

namespace densefb::kernels {

// C (m x n, row stride ldc) = A (m x d, row-major) * B (n x d, row-major)^T.
using GemmNtFn = void (*)(const float* a, std::int64_t m, const float* b, std::int64_t n,
                          std::int64_t d, float* c, std::int64_t ldc);
// <a, b> over d floats.
using DotFn = float (*)(const float* a, const float* b, std::int64_t d);

struct KernelSet {
  const char* name;  // "avx512", "avx2", "generic"
  GemmNtFn gemm_nt;
  DotFn dot;
  SelectAboveFn select_above;
};

// The kernels for this CPU, chosen once.
const KernelSet& Best();

// Per-ISA sets (nullptr when not compiled in).
const KernelSet* GenericKernels();
const KernelSet* Avx2Kernels();
const KernelSet* Avx512Kernels();

}  // namespace densefb::kernels

#endif  // DENSEFB_SRC_INDEX_KERNELS_H_
