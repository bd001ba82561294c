/* Portable GEMM: the same sum order per element as the SIMD variants (p ascending, then the
   bias), for any CPU and as their oracle in tests. */
#include "variants.h"

void nn_gemm_portable(NN_GEMM_ARGUMENTS) {
    for (int i = 0; i < m; i++) {
        float *ci = c + (long)i * ldc;
        for (int j = 0; j < n; j++) ci[j] = 0.0f;
        for (int p = 0; p < k; p++) {
            const float av = transpose_a ? a[(long)p * lda + i] : a[(long)i * lda + p];
            const float *bp = b + (long)p * ldb;
            for (int j = 0; j < n; j++) ci[j] += av * bp[j];
        }
        if (bias)
            for (int j = 0; j < n; j++) ci[j] += bias[j];
    }
}
