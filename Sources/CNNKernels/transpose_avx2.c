/*
 * AVX2 transpose for training's dz·Wᵀ (the input gradient multiplies by a transposed copy of
 * W): 8×8 blocks transposed in registers (unpack, shuffle, lane permute), so each block is 8
 * row loads and 8 row stores instead of 64 scalar stores down columns. Blocks are visited in
 * 64×64 tiles: rows of W a power of two apart (1,024 columns: 4 KB) share one L1 set, and
 * a tile's 64 destination rows stay cached while its 8 source blocks fill them. Tails (rows or
 * columns past a multiple of 8) are copied element by element, as the portable variant does.
 */
#include "variants.h"
#include "activation_avx2.h"

#if defined(__x86_64__)
enum { TILE = 64 };

NN_AVX2 static inline void transpose8x8(const float *x, int ldx, float *y, int ldy) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(x + (long)i * ldx);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    /* Within each 128-bit lane: columns 0-3 of rows (0, 1, 2, 3) and (4, 5, 6, 7). */
    const __m256 s0 = _mm256_shuffle_ps(t[0], t[2], _MM_SHUFFLE(1, 0, 1, 0)), s1 = _mm256_shuffle_ps(t[0], t[2], _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 s2 = _mm256_shuffle_ps(t[1], t[3], _MM_SHUFFLE(1, 0, 1, 0)), s3 = _mm256_shuffle_ps(t[1], t[3], _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 s4 = _mm256_shuffle_ps(t[4], t[6], _MM_SHUFFLE(1, 0, 1, 0)), s5 = _mm256_shuffle_ps(t[4], t[6], _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 s6 = _mm256_shuffle_ps(t[5], t[7], _MM_SHUFFLE(1, 0, 1, 0)), s7 = _mm256_shuffle_ps(t[5], t[7], _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(y + 0L * ldy, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(y + 1L * ldy, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(y + 2L * ldy, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(y + 3L * ldy, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(y + 4L * ldy, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(y + 5L * ldy, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(y + 6L * ldy, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(y + 7L * ldy, _mm256_permute2f128_ps(s3, s7, 0x31));
}

NN_AVX2 void nn_transpose_avx2(int rows, int n, const float *x, int ldx, float *y, int ldy) {
    const int whole_rows = rows - rows % 8, whole_columns = n - n % 8;
    for (int r0 = 0; r0 < whole_rows; r0 += TILE)
        for (int j0 = 0; j0 < whole_columns; j0 += TILE) {
            const int r1 = r0 + TILE < whole_rows ? r0 + TILE : whole_rows, j1 = j0 + TILE < whole_columns ? j0 + TILE : whole_columns;
            for (int r = r0; r < r1; r += 8)
                for (int j = j0; j < j1; j += 8) transpose8x8(x + (long)r * ldx + j, ldx, y + (long)j * ldy + r, ldy);
        }
    for (int r = 0; r < whole_rows; r++)
        for (int j = whole_columns; j < n; j++) y[(long)j * ldy + r] = x[(long)r * ldx + j];
    for (int r = whole_rows; r < rows; r++)
        for (int j = 0; j < n; j++) y[(long)j * ldy + r] = x[(long)r * ldx + j];
}
#endif
