/* The Dense epilogue on 16 lanes, shared by the AVX-512 dense kernels (fp32 and bf16), so both
   compute the same epilogue values. */
#ifndef NNSERVE_EPILOGUE_AVX512_H
#define NNSERVE_EPILOGUE_AVX512_H

#include "epilogue_tile.h"

#if defined(__x86_64__)
#define NN_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))

/* The first `count` (0...16) lanes. */
NN_AVX512 static inline __mmask16 lanes16(int count) {
    return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1u);
}

NN_AVX512 static inline __attribute__((always_inline)) __m512 activation16(__m512 v, int kind, float alpha) {
    if (kind == NN_ACT_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());
    const __m256 low = nn_act_avx2(_mm512_castps512_ps256(v), kind, alpha);
    const __m256 high = nn_act_avx2(_mm512_extractf32x8_ps(v, 1), kind, alpha);
    return _mm512_insertf32x8(_mm512_castps256_ps512(low), high, 1);
}

/* y = post(act(acc + bias) + residual) on the `mask` lanes of 16 columns from `column` of `row`;
   softmax (row-wise) is left to the caller. Masked-off lanes are neither read nor written. */
NN_AVX512 static inline __attribute__((always_inline)) void
epilogue_store16(__m512 acc, float *y, int column, int row, __mmask16 mask, const nn_epilogue *ep) {
    __m512 v = acc;
    if (ep->bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, ep->bias + column));
    if (ep->activation != NN_ACT_LINEAR && ep->activation != NN_ACT_SOFTMAX) v = activation16(v, ep->activation, ep->alpha);
    if (ep->residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, ep->residual + (long)row * ep->residual_ld + column));
    if (ep->post_activation != NN_ACT_LINEAR) v = activation16(v, ep->post_activation, ep->post_alpha);
    _mm512_mask_storeu_ps(y, mask, v);
}
#endif

#endif
