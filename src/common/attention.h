// Internal: the scaled dot-product attention kernel of the BERT encoders, chosen at run time
// (written for AVX-512 only; elsewhere the encoders use libtorch's attention).
#ifndef DENSEFB_SRC_COMMON_ATTENTION_H_
#define DENSEFB_SRC_COMMON_ATTENTION_H_

#include <cstdint>

namespace densefb::kernels {

// Scaled dot-product attention of one head over one sequence: for each of the s query rows,
// out_i = sum_{j < valid} softmax_j(scale * <q_i, k_j>) v_j. q, k, v and out are s rows of d
// floats with row stride ld (the heads of a (tokens, hidden) matrix side by side). Keys at
// j >= valid are padding and get no weight. `scratch` holds attention_scratch_floats(s, d)
// floats. Only where d is a multiple of 16 up to 64 (attention_supports).
using AttentionFn = void (*)(const float* q, const float* k, const float* v, std::int64_t s,
                             std::int64_t valid, std::int64_t d, std::int64_t ld, float scale,
                             float* out, float* scratch);

inline bool AttentionSupports(std::int64_t d) { return d > 0 && d <= 64 && d % 16 == 0; }
inline std::int64_t AttentionScratchFloats(std::int64_t s, std::int64_t d) {
  const std::int64_t padded = (s + 31) / 32 * 32;
  return padded * d + 8 * padded;
}

// The kernel for this CPU, chosen once; nullptr where none is written for its instruction set.
AttentionFn BestAttention();

// The AVX-512 kernel (attention_avx512.cc, compiled only with DENSEFB_HAVE_X86_DISPATCH).
AttentionFn Avx512Attention();

}  // namespace densefb::kernels

#endif  // DENSEFB_SRC_COMMON_ATTENTION_H_
