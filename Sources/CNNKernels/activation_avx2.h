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

/* ln x for x > 0 (callers pass x >= 1 here), Cephes' logf: x = m·2^e with m in [√½, √2),
   ln m by a degree-8 polynomial in m - 1, e·ln 2 added in two parts (relative error ~1e-7). */
NN_AVX2 static inline __m256 nn_log_avx2(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    x = _mm256_max_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x00800000)));  /* smallest normal */
    __m256i bits = _mm256_castps_si256(x);
    __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
    /* The mantissa as a number in [0.5, 1). */
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x3F000000)));
    /* Below √½: use 2m - 1 and one less in the exponent, so m - 1 stays in [√½ - 1, √2 - 1). */
    __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
    e = _mm256_sub_ps(e, _mm256_and_ps(one, small));
    m = _mm256_sub_ps(_mm256_add_ps(m, _mm256_and_ps(m, small)), one);
    __m256 z = _mm256_mul_ps(m, m);
    __m256 y = _mm256_set1_ps(7.0376836292e-2f);
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.1514610310e-1f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.1676998740e-1f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.2420140846e-1f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.4249322787e-1f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.6668057665e-1f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(2.0000714765e-1f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-2.4999993993e-1f));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(3.3333331174e-1f));
    y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
    y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
    y = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5f), y);
    return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(m, y));
}

/* ln(1 + e) for e in [0, 1] without losing a small e to the rounding of 1 + e: with u = 1 + e
   rounded, ln(1 + e) = ln(u)·e/(u - 1) (exact where u - 1 is; e itself where u rounds to 1). */
NN_AVX2 static inline __m256 nn_log1p_unit_avx2(__m256 e) {
    __m256 u = _mm256_add_ps(_mm256_set1_ps(1.0f), e);
    __m256 d = _mm256_sub_ps(u, _mm256_set1_ps(1.0f));
    __m256 rounded_away = _mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_EQ_OQ);
    __m256 scaled = _mm256_mul_ps(nn_log_avx2(u), _mm256_div_ps(e, _mm256_blendv_ps(d, _mm256_set1_ps(1.0f), rounded_away)));
    return _mm256_blendv_ps(scaled, e, rounded_away);
}

/* erfc(z) for z >= 0: t·exp(-z² + P(t)) with t = 1/(1 + z/2), P of degree 9 (the Chebyshev fit
   of Numerical Recipes' erfcc: fractional error below 1.2e-7 for every z >= 0). */
NN_AVX2 static inline __m256 nn_erfc_nonnegative_avx2(__m256 z) {
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(0.17087277f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
    /* z² overflows to +inf for huge z: the clamp inside nn_exp_avx2 turns -inf into ~0. */
    return _mm256_mul_ps(t, nn_exp_avx2(_mm256_fnmadd_ps(z, z, p)));
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
    case NN_ACT_SOFTPLUS: {
        /* max(x, 0) + ln(1 + e^-|x|): e^-|x| is in (0, 1], so nothing overflows. A NaN stays
           NaN (the clamps inside nn_exp_avx2 would turn it into a number). */
        __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
        __m256 y = _mm256_add_ps(_mm256_max_ps(v, zero), nn_log1p_unit_avx2(nn_exp_avx2(_mm256_sub_ps(zero, magnitude))));
        return _mm256_blendv_ps(y, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    case NN_ACT_GELU: {
        /* x·Φ(x) = ½·x·erfc(-x/√2): erfc(|z|) for x < 0 (accurate where GELU is tiny), 2 - erfc(|z|) above. */
        __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), v), _mm256_set1_ps(0.70710678118654752f));
        __m256 tail = nn_erfc_nonnegative_avx2(z);
        __m256 negative = _mm256_cmp_ps(v, zero, _CMP_LT_OQ);
        __m256 complement = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), tail), tail, negative);
        return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), complement);
    }
    default:
        return v;
    }
}

#endif
