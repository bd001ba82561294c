/* The Dense epilogue on one vector or one element, shared by the small-batch kernel and by
   nn_epilogue_apply so both paths compute bit-identical results. */
#ifndef NNSERVE_EPILOGUE_TILE_H
#define NNSERVE_EPILOGUE_TILE_H

#include "activation_scalar.h"

/* y = post(act(acc + bias) + residual) for one element; softmax (row-wise) is skipped here
   and applied by the caller once the row is complete. */
static inline float nn_epilogue_scalar(float acc, int column, int row, const nn_epilogue *ep) {
    float v = acc + (ep->bias ? ep->bias[column] : 0.0f);
    if (ep->activation != NN_ACT_SOFTMAX) v = nn_act_scalar(v, ep->activation, ep->alpha);
    if (ep->residual) v += ep->residual[(long)row * ep->residual_ld + column];
    return nn_act_scalar(v, ep->post_activation, ep->post_alpha);
}

#if defined(__x86_64__)
#include "activation_avx2.h"

/* Eight columns starting at `column` of `row`. With `full` all lanes are valid and plain
   loads and stores are used; otherwise `mask` selects the valid lanes (masked stores are
   microcoded and slow on AMD Zen, so interior vectors must not use them). */
NN_AVX2 static inline __attribute__((always_inline)) void nn_epilogue_store_avx2(__m256 acc, float *y, int column, int row,
                                                                                 int full, __m256i mask, const nn_epilogue *ep) {
    __m256 v = acc;
    if (ep->bias) v = _mm256_add_ps(v, full ? _mm256_loadu_ps(ep->bias + column) : _mm256_maskload_ps(ep->bias + column, mask));
    if (ep->activation != NN_ACT_LINEAR && ep->activation != NN_ACT_SOFTMAX) v = nn_act_avx2(v, ep->activation, ep->alpha);
    if (ep->residual) {
        const float *residual = ep->residual + (long)row * ep->residual_ld + column;
        v = _mm256_add_ps(v, full ? _mm256_loadu_ps(residual) : _mm256_maskload_ps(residual, mask));
    }
    if (ep->post_activation != NN_ACT_LINEAR) v = nn_act_avx2(v, ep->post_activation, ep->post_alpha);
    if (full) _mm256_storeu_ps(y, v);
    else _mm256_maskstore_ps(y, mask, v);
}

/* Lane mask with the first `count` (0...8) lanes set. */
NN_AVX2 static inline __m256i nn_lane_mask(int count) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lanes);
}
#endif

#endif
