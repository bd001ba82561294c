/* Optimizer updates over whole parameter tensors, one fused pass each. */
#include <math.h>
#include "variants.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define NN_AVX2_FN __attribute__((target("avx2,fma")))
/* Explicit vectors: sqrtf may set errno, so the compiler will not vectorize the scalar loop. */
NN_AVX2_FN static void adam_avx2(long n, float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
                                 float beta1, float beta2, float step_size, float inverse_correction2, float epsilon, float decay) {
    const __m256 b1 = _mm256_set1_ps(beta1), c1 = _mm256_set1_ps(1.0f - beta1);
    const __m256 b2 = _mm256_set1_ps(beta2), c2 = _mm256_set1_ps(1.0f - beta2);
    const __m256 step = _mm256_set1_ps(step_size), inv2 = _mm256_set1_ps(inverse_correction2);
    const __m256 eps = _mm256_set1_ps(epsilon), keep = _mm256_set1_ps(1.0f - decay);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 gv = _mm256_loadu_ps(g + i);
        const __m256 mv = _mm256_fmadd_ps(b1, _mm256_loadu_ps(m + i), _mm256_mul_ps(c1, gv));
        const __m256 vv = _mm256_fmadd_ps(b2, _mm256_loadu_ps(v + i), _mm256_mul_ps(c2, _mm256_mul_ps(gv, gv)));
        _mm256_storeu_ps(m + i, mv);
        _mm256_storeu_ps(v + i, vv);
        const __m256 denominator = _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(vv, inv2)), eps);
        const __m256 wv = _mm256_mul_ps(keep, _mm256_loadu_ps(w + i));
        _mm256_storeu_ps(w + i, _mm256_sub_ps(wv, _mm256_div_ps(_mm256_mul_ps(step, mv), denominator)));
    }
    for (; i < n; i++) {
        m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        w[i] = w[i] - decay * w[i] - step_size * m[i] / (sqrtf(v[i] * inverse_correction2) + epsilon);
    }
}
#endif

static void adam_portable(long n, float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
                          float beta1, float beta2, float step_size, float inverse_correction2, float epsilon, float decay) {
    for (long i = 0; i < n; i++) {
        m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        w[i] = w[i] - decay * w[i] - step_size * m[i] / (sqrtf(v[i] * inverse_correction2) + epsilon);
    }
}

void nn_adam_update_portable(NN_ADAM_ARGUMENTS) {
    adam_portable(n, w, g, m, v, beta1, beta2, learning_rate / correction1, 1.0f / correction2, epsilon, decay);
}

#if defined(__x86_64__)
void nn_adam_update_avx2(NN_ADAM_ARGUMENTS) {
    adam_avx2(n, w, g, m, v, beta1, beta2, learning_rate / correction1, 1.0f / correction2, epsilon, decay);
}
#endif
