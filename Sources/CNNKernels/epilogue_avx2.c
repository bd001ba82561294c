/* AVX2 epilogues, activations and softmax over whole matrices (after a GEMM, or as
   standalone nodes); also used by the AVX-512 table, where these passes are memory-bound. */
#include <math.h>
#include "variants.h"
#include "epilogue_tile.h"

#if defined(__x86_64__)
NN_AVX2 static void epilogue_avx2(int rows, int n, float *y, int ldy, const nn_epilogue *ep) {
    const __m256i full = _mm256_set1_epi32(-1);
    const __m256i tail = nn_lane_mask(n % 8);
    for (int r = 0; r < rows; r++) {
        float *yr = y + (long)r * ldy;
        int j = 0;
        for (; j + 8 <= n; j += 8) nn_epilogue_store_avx2(_mm256_loadu_ps(yr + j), yr + j, j, r, 1, full, ep);
        if (j < n) nn_epilogue_store_avx2(_mm256_maskload_ps(yr + j, tail), yr + j, j, r, 0, tail, ep);
    }
}

NN_AVX2 static void activation_avx2(int rows, int n, const float *x, int ldx, float *y, int ldy, int kind, float alpha) {
    const __m256i tail = nn_lane_mask(n % 8);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (long)r * ldx;
        float *yr = y + (long)r * ldy;
        int j = 0;
        for (; j + 8 <= n; j += 8) _mm256_storeu_ps(yr + j, nn_act_avx2(_mm256_loadu_ps(xr + j), kind, alpha));
        if (j < n) _mm256_maskstore_ps(yr + j, tail, nn_act_avx2(_mm256_maskload_ps(xr + j, tail), kind, alpha));
    }
}

NN_AVX2 static void softmax_row_avx2(int n, float *y) {
    const __m256i tail = nn_lane_mask(n % 8);
    const int whole = n - n % 8;
    __m256 maximum = _mm256_set1_ps(-INFINITY);
    for (int j = 0; j < whole; j += 8) maximum = _mm256_max_ps(maximum, _mm256_loadu_ps(y + j));
    float row_max = -INFINITY;
    float lanes[8];
    _mm256_storeu_ps(lanes, maximum);
    for (int i = 0; i < 8; i++) row_max = fmaxf(row_max, lanes[i]);
    for (int j = whole; j < n; j++) row_max = fmaxf(row_max, y[j]);
    const __m256 shift = _mm256_set1_ps(row_max);
    __m256 total = _mm256_setzero_ps();
    for (int j = 0; j < whole; j += 8) {
        __m256 e = nn_exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(y + j), shift));
        _mm256_storeu_ps(y + j, e);
        total = _mm256_add_ps(total, e);
    }
    if (whole < n) {
        __m256 e = nn_exp_avx2(_mm256_sub_ps(_mm256_maskload_ps(y + whole, tail), shift));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(tail));
        _mm256_maskstore_ps(y + whole, tail, e);
        total = _mm256_add_ps(total, e);
    }
    _mm256_storeu_ps(lanes, total);
    float sum = 0.0f;
    for (int i = 0; i < 8; i++) sum += lanes[i];
    const __m256 inverse = _mm256_set1_ps(1.0f / sum);
    for (int j = 0; j < whole; j += 8) _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(y + j), inverse));
    if (whole < n) _mm256_maskstore_ps(y + whole, tail, _mm256_mul_ps(_mm256_maskload_ps(y + whole, tail), inverse));
}

void nn_softmax_rows_avx2(int rows, int n, float *y, int ldy) {
    for (int r = 0; r < rows; r++) softmax_row_avx2(n, y + (long)r * ldy);
}

void nn_epilogue_apply_avx2(int rows, int n, float *y, int ldy, const nn_epilogue *ep) {
    epilogue_avx2(rows, n, y, ldy, ep);
    if (ep->activation == NN_ACT_SOFTMAX) nn_softmax_rows_avx2(rows, n, y, ldy);
}

void nn_activation_avx2(int rows, int n, const float *x, int ldx, float *y, int ldy, int kind, float alpha) {
    if (kind == NN_ACT_SOFTMAX) {
        if (x != y || ldx != ldy) nn_copy(rows, n, x, ldx, y, ldy);
        nn_softmax_rows_avx2(rows, n, y, ldy);
        return;
    }
    activation_avx2(rows, n, x, ldx, y, ldy, kind, alpha);
}
#endif
