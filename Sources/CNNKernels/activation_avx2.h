/* AVX2/FMA activations over 8 lanes. Only included by files whose functions carry
   NN_AVX2 (target attribute), so the package never needs -mavx2 or -march=native. */
#ifndef NNSERVE_ACTIVATION_AVX2_H
#define NNSERVE_ACTIVATION_AVX2_H

#include <immintrin.h>
#include "activation_scalar.h"

#define NN_AVX2 __attribute__((target("avx2,fma")))

/* e^x, Cephes' range reduction and degree-5 polynomial (relative error < 2e-7 on the
   clamped range; inputs below -87.3 give 0-ish normals, above 88.4 are clamped). */
NN_AVX2 static inline __m256 nn_exp_avx2(__m256 x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3365447505531f));
    __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
    fx = _mm256_floor_ps(fx);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(exponent));
}

/* Lanes through the scalar definition: for the activations without a vector form here. */
NN_AVX2 static inline __m256 nn_act_lanes_scalar(__m256 v, int kind, float alpha) {
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    for (int i = 0; i < 8; i++) lanes[i] = nn_act_scalar(lanes[i], kind, alpha);
    return _mm256_loadu_ps(lanes);
}

/* Elementwise activation of 8 lanes (softmax is row-wise: callers handle it). */
NN_AVX2 static inline __attribute__((always_inline)) __m256 nn_act_avx2(__m256 v, int kind, float alpha) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 one = _mm256_set1_ps(1.0f);
    switch (kind) {
    case NN_ACT_RELU:
        return _mm256_max_ps(v, zero);
    case NN_ACT_LEAKY_RELU: {
        __m256 positive = _mm256_cmp_ps(v, zero, _CMP_GT_OQ);
        return _mm256_blendv_ps(_mm256_mul_ps(v, _mm256_set1_ps(alpha)), v, positive);
    }
    case NN_ACT_ELU:
    case NN_ACT_SELU: {
        float scale = kind == NN_ACT_SELU ? NN_SELU_ALPHA : alpha;
        __m256 positive = _mm256_cmp_ps(v, zero, _CMP_GT_OQ);
        __m256 negative = _mm256_mul_ps(_mm256_set1_ps(scale), _mm256_sub_ps(nn_exp_avx2(_mm256_min_ps(v, zero)), one));
        __m256 result = _mm256_blendv_ps(negative, v, positive);
        return kind == NN_ACT_SELU ? _mm256_mul_ps(result, _mm256_set1_ps(NN_SELU_LAMBDA)) : result;
    }
    case NN_ACT_SIGMOID:
        /* 1/(1+e^-x): e^-x is clamped to at most e^88, so the sum never overflows. */
        return _mm256_div_ps(one, _mm256_add_ps(one, nn_exp_avx2(_mm256_sub_ps(zero, v))));
    case NN_ACT_TANH: {
        /* sign(x)·(1 - 2/(e^{2|x|}+1)), accurate to ~1e-7 absolute. */
        __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
        __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
        __m256 e = nn_exp_avx2(_mm256_add_ps(magnitude, magnitude));
        __m256 t = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
        return _mm256_or_ps(t, sign);
    }
    case NN_ACT_SOFTPLUS:
    case NN_ACT_GELU:
        return nn_act_lanes_scalar(v, kind, alpha);
    default:
        return v;
    }
}

#endif
