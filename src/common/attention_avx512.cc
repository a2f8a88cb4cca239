// The attention kernel for AVX-512 (see common/attention.h). Compiled with -mavx512f -mavx512dq
// -mavx512bw -mavx512vl -mfma, and called only where the CPU has them.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "common/attention.h"

namespace densefb::kernels {
namespace {

// Horizontal sum and maximum, by hand (as in src/index/kernels_impl.inc): GCC 12 warns
// (-Wuninitialized) inside _mm512_reduce_add_ps and the 512-to-256 casts.
inline float ReduceAdd(__m512 v) {
  const __m256 q = _mm256_add_ps(_mm512_extractf32x8_ps(v, 0), _mm512_extractf32x8_ps(v, 1));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(q), _mm256_extractf128_ps(q, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}
inline float ReduceMax(__m512 v) {
  const __m256 q = _mm256_max_ps(_mm512_extractf32x8_ps(v, 0), _mm512_extractf32x8_ps(v, 1));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(q), _mm256_extractf128_ps(q, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
}

// e^x for x <= 0 (softmax arguments after the row maximum is subtracted): x = n ln2 + r with
// |r| <= ln2 / 2, e^r by its Taylor polynomial to degree 7 (truncation error < 2e-8 there),
// times 2^n. Below -87 the result underflows to 0 as expf does (flushed).
inline __m512 ExpNonPositive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-103.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// Scores of R query rows against every key (in blocks of 32 keys, 2 vectors): scores[r][j] =
// <q_r, k_j> * scale, from kt, the keys transposed (d rows of `padded` floats, zero past valid).
template <int R>
void AttentionScores(const float* q, std::int64_t ld, const float* kt, std::int64_t padded,
                     std::int64_t d, float* scores) {
  for (std::int64_t j = 0; j < padded; j += 32) {
    __m512 acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (std::int64_t c = 0; c < d; ++c) {
      const __m512 k0 = _mm512_loadu_ps(kt + c * padded + j);
      const __m512 k1 = _mm512_loadu_ps(kt + c * padded + j + 16);
      for (int r = 0; r < R; ++r) {
        const __m512 qv = _mm512_set1_ps(q[r * ld + c]);
        acc[r][0] = _mm512_fmadd_ps(qv, k0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(qv, k1, acc[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm512_storeu_ps(scores + r * padded + j, acc[r][0]);
      _mm512_storeu_ps(scores + r * padded + j + 16, acc[r][1]);
    }
  }
}

// out[r] = sum_j p[r][j] v_j * inv[r] for R rows, V = d / 16 vectors per row.
template <int R, int V>
void AttentionValues(const float* p, std::int64_t padded, const float* v, std::int64_t ld,
                     std::int64_t valid, const float* inv, float* out) {
  __m512 acc[R][V];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < V; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  for (std::int64_t j = 0; j < valid; ++j) {
    __m512 vj[V];
    for (int t = 0; t < V; ++t) vj[t] = _mm512_loadu_ps(v + j * ld + 16 * t);
    for (int r = 0; r < R; ++r) {
      const __m512 w = _mm512_set1_ps(p[r * padded + j]);
      for (int t = 0; t < V; ++t) acc[r][t] = _mm512_fmadd_ps(w, vj[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m512 s = _mm512_set1_ps(inv[r]);
    for (int t = 0; t < V; ++t) _mm512_storeu_ps(out + r * ld + 16 * t, _mm512_mul_ps(acc[r][t], s));
  }
}

template <int V>
void AttentionRows(const float* q, const float* v, std::int64_t s, std::int64_t valid,
                   std::int64_t d, std::int64_t ld, const float* kt, std::int64_t padded,
                   float* out, float* scores) {
  constexpr int kRows = V <= 2 ? 8 : 4;  // R x 2 score vectors / R x V value accumulators
  float inv[kRows];
  for (std::int64_t i = 0; i < s; i += kRows) {
    const int rows = static_cast<int>(std::min<std::int64_t>(kRows, s - i));
    if (rows == kRows) {
      AttentionScores<kRows>(q + i * ld, ld, kt, padded, d, scores);
    } else {
      for (int r = 0; r < rows; ++r) AttentionScores<1>(q + (i + r) * ld, ld, kt, padded, d, scores + r * padded);
    }
    // Softmax over the valid keys of each row; the normalisation is applied to the output.
    const std::int64_t full = valid / 16 * 16;
    const __mmask16 tail = static_cast<__mmask16>((1u << (valid - full)) - 1);
    for (int r = 0; r < rows; ++r) {
      float* row = scores + r * padded;
      __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
      for (std::int64_t j = 0; j < full; j += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(row + j));
      if (tail != 0) m = _mm512_mask_max_ps(m, tail, m, _mm512_maskz_loadu_ps(tail, row + full));
      const __m512 mx = _mm512_set1_ps(ReduceMax(m));
      __m512 sum = _mm512_setzero_ps();
      for (std::int64_t j = 0; j < full; j += 16) {
        const __m512 e = ExpNonPositive(_mm512_sub_ps(_mm512_loadu_ps(row + j), mx));
        _mm512_storeu_ps(row + j, e);
        sum = _mm512_add_ps(sum, e);
      }
      if (tail != 0) {
        const __m512 e = _mm512_maskz_mov_ps(tail, ExpNonPositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, row + full), mx)));
        _mm512_mask_storeu_ps(row + full, tail, e);
        sum = _mm512_add_ps(sum, e);
      }
      inv[r] = 1.0f / ReduceAdd(sum);
    }
    if (rows == kRows) {
      AttentionValues<kRows, V>(scores, padded, v, ld, valid, inv, out + i * ld);
    } else {
      for (int r = 0; r < rows; ++r) {
        AttentionValues<1, V>(scores + r * padded, padded, v, ld, valid, inv + r, out + (i + r) * ld);
      }
    }
  }
}

void Attention(const float* q, const float* k, const float* v, std::int64_t s, std::int64_t valid,
               std::int64_t d, std::int64_t ld, float scale, float* out, float* scratch) {
  if (valid <= 0) {  // nothing to attend to
    for (std::int64_t i = 0; i < s; ++i) std::fill(out + i * ld, out + i * ld + d, 0.0f);
    return;
  }
  const std::int64_t padded = (valid + 31) / 32 * 32;
  // Keys transposed and scaled; columns past `valid` are zero (their scores are never read).
  float* kt = scratch;
  float* scores = scratch + padded * d;
  // Row by row of K (contiguous reads), d streams of writes.
  for (std::int64_t j = 0; j < valid; ++j) {
    const float* key = k + j * ld;
    for (std::int64_t c = 0; c < d; ++c) kt[c * padded + j] = key[c] * scale;
  }
  for (std::int64_t c = 0; c < d; ++c) std::fill(kt + c * padded + valid, kt + (c + 1) * padded, 0.0f);
  switch (d / 16) {
    case 1: AttentionRows<1>(q, v, s, valid, d, ld, kt, padded, out, scores); break;
    case 2: AttentionRows<2>(q, v, s, valid, d, ld, kt, padded, out, scores); break;
    case 3: AttentionRows<3>(q, v, s, valid, d, ld, kt, padded, out, scores); break;
    default: AttentionRows<4>(q, v, s, valid, d, ld, kt, padded, out, scores); break;
  }
}

}  // namespace

AttentionFn Avx512Attention() { return &Attention; }

}  // namespace densefb::kernels
