/*
 * AVX2 Dense for models stored as int8, for CPUs without VNNI (Zen 3, Haswell, Skylake-SP):
 * vpmaddubsw multiplies u8 inputs by s8 weights and adds adjacent pairs into int16, vpmaddwd
 * by ones adds those pairs into int32 — the four products vpdpbusd sums, in three
 * instructions. vpmaddubsw saturates at 32767, so inputs are quantized to 127 levels
 * (2·127·127 = 32258 fits): one bit less resolution than the VNNI kernel, exactly what the
 * portable set (the oracle) computes. Tiles of 4 rows × 16 columns (one panel as two ymm
 * halves) keep 8 int32 accumulators in registers; the epilogue is the fp32 AVX2 kernel's.
 */
#include "variants.h"
#include "tile_switch.h"
#include "int8_rows.h"
#include "epilogue_tile.h"

#if defined(__x86_64__)
enum { TILE_ROWS = 4, LEVELS = 127 };
enum { QUAD_BYTES = 4 * NN_INT8_PANEL_COLUMNS };

/* Quantizes one row as nn_int8_quantize_rows_scalar does, integer for integer. */
NN_AVX2 static void quantize_row(int k, const float *x, uint8_t *u, int row_bytes, float *scale, int32_t *zero) {
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    int p = 0;
    for (; p + 8 <= k; p += 8) {
        const __m256 v = _mm256_loadu_ps(x + p);
        lo = _mm256_min_ps(lo, v);
        hi = _mm256_max_ps(hi, v);
    }
    float lows[8], highs[8];
    _mm256_storeu_ps(lows, lo);
    _mm256_storeu_ps(highs, hi);
    float low = 0.0f, high = 0.0f;
    for (int i = 0; i < 8; i++) {
        low = lows[i] < low ? lows[i] : low;
        high = highs[i] > high ? highs[i] : high;
    }
    for (int q = p; q < k; q++) {
        low = x[q] < low ? x[q] : low;
        high = x[q] > high ? x[q] : high;
    }
    float inverse;
    nn_int8_row_parameters(low, high, LEVELS, &inverse, zero, scale);
    const __m256 inverse8 = _mm256_set1_ps(inverse);
    const __m256i zero8 = _mm256_set1_epi32(*zero);
    /* packs/packus interleave 128-bit lanes; this puts the 32 bytes back in order. */
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    p = 0;
    for (; p + 32 <= k; p += 32) {
        __m256i code[4];
        for (int i = 0; i < 4; i++)
            code[i] = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + p + 8 * i), inverse8)), zero8);
        /* Signed saturation to int16, then unsigned to [0, 255]; LEVELS clamps the top. */
        const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(code[0], code[1]), _mm256_packs_epi32(code[2], code[3]));
        const __m256i clamped = _mm256_min_epu8(_mm256_permutevar8x32_epi32(bytes, order), _mm256_set1_epi8(LEVELS));
        _mm256_storeu_si256((__m256i *)(u + p), clamped);
    }
    for (; p < k; p++) u[p] = nn_int8_quantize(x[p], inverse, *zero, LEVELS);
    for (; p < row_bytes; p++) u[p] = 0;
}

NN_AVX2 static inline __attribute__((always_inline)) void
tile_int8_avx2(const int mr, long quads, const uint8_t *u, int row_bytes, const int8_t *panel, const float *row_scales,
               const int32_t *row_zeros, const float *column_scales, const int32_t *column_sums, float *y, int ldy,
               int row0, int col0, int columns, const nn_epilogue *ep) {
    __m256i acc[TILE_ROWS][2];
    for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    for (long t = 0; t < quads; t++) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(panel + t * QUAD_BYTES));
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(panel + t * QUAD_BYTES + 32));
        for (int r = 0; r < mr; r++) {
            int32_t four;
            __builtin_memcpy(&four, u + (long)r * row_bytes + 4 * t, 4);
            const __m256i xb = _mm256_set1_epi32(four);
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(xb, w0), ones));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(xb, w1), ones));
        }
    }
    const __m256i full = _mm256_set1_epi32(-1);
    for (int v = 0; v < 2 && 8 * v < columns; v++) {
        const int column = col0 + 8 * v;
        const int valid = columns - 8 * v;
        const __m256i mask = valid >= 8 ? full : nn_lane_mask(valid);
        const __m256i sums = _mm256_maskload_epi32(column_sums + column, mask);
        const __m256 scales = _mm256_maskload_ps(column_scales + column, mask);
        for (int r = 0; r < mr; r++) {
            const __m256i exact = _mm256_sub_epi32(acc[r][v], _mm256_mullo_epi32(_mm256_set1_epi32(row_zeros[r]), sums));
            const __m256 value = _mm256_mul_ps(_mm256_cvtepi32_ps(exact), _mm256_mul_ps(_mm256_set1_ps(row_scales[r]), scales));
            nn_epilogue_store_avx2(value, y + (long)r * ldy + column, column, row0 + r, valid >= 8, mask, ep);
        }
    }
}

NN_AVX2 void nn_dense_int8_avx2(NN_DENSE_INT8_ARGUMENTS) {
    const nn_int8_rows quantized = nn_int8_rows_in(scratch, rows, k);
    for (int r = 0; r < rows; r++)
        quantize_row(k, x + (long)r * ldx, quantized.quantized + (long)r * quantized.row_bytes, quantized.row_bytes,
                     &quantized.scales[r], &quantized.zeros[r]);
    const long quads = (k + 3) / 4;
    for (int col = 0; col < n; col += NN_INT8_PANEL_COLUMNS) {
        const int columns = n - col < NN_INT8_PANEL_COLUMNS ? n - col : NN_INT8_PANEL_COLUMNS;
        const int8_t *panel = packed + (long)(col / NN_INT8_PANEL_COLUMNS) * quads * QUAD_BYTES;
        for (int row = 0; row < rows; row += TILE_ROWS) {
            const int mr = rows - row < TILE_ROWS ? rows - row : TILE_ROWS;
            const uint8_t *u = quantized.quantized + (long)row * quantized.row_bytes;
#define NN_TILE(MR) tile_int8_avx2(MR, quads, u, quantized.row_bytes, panel, quantized.scales + row, quantized.zeros + row, \
                                   column_scales, column_sums, y + (long)row * ldy, ldy, row, col, columns, ep)
            NN_FOR_TILE_ROWS_4(mr, NN_TILE)
#undef NN_TILE
        }
    }
    if (ep->activation == NN_ACT_SOFTMAX) nn_softmax_rows_avx2(rows, n, y, ldy);
}
#endif
