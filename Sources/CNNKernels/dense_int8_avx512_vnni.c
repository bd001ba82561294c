/*
 * AVX-512 VNNI Dense for models stored as int8: y = epilogue(x·w) with vpdpbusd.
 *
 * Each input row is quantized once per call into the caller's scratch (255 levels, one pass
 * for the range and one to quantize, 16 floats per step), then the tiles run over it: 8 rows
 * × 48 columns (three 16-column int8 panels), 24 int32 accumulators in zmm registers. One
 * vpdpbusd adds four u8·s8 products to each of 16 lanes: four times the multiply-adds of an
 * fp32 FMA, a quarter of the weight bytes. The epilogue removes the zero point exactly in
 * int32, scales by row scale × column scale in fp32, and shares the fp32 kernel's epilogue
 * (epilogue_avx512.h).
 */
#include "variants.h"
#include "tile_switch.h"
#include "int8_rows.h"
#include "epilogue_avx512.h"

#if defined(__x86_64__)
#define NN_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")))

enum { TILE_ROWS = 8, TILE_PANELS = 3, LEVELS = 255 };
/* Bytes of one panel's quad row: 16 columns × 4 rows. */
enum { QUAD_BYTES = 4 * NN_INT8_PANEL_COLUMNS };

/* Quantizes one row as nn_int8_quantize_rows_scalar does, integer for integer: min/max are
   exact in any order, and the conversions round to nearest even like nearbyintf. */
NN_AVX512_VNNI static void quantize_row(int k, const float *x, uint8_t *u, int row_bytes, float *scale, int32_t *zero) {
    __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
    for (int p = 0; p < k; p += 16) {
        const __m512 v = _mm512_maskz_loadu_ps(lanes16(k - p), x + p);
        lo = _mm512_min_ps(lo, v);
        hi = _mm512_max_ps(hi, v);
    }
    float inverse;
    nn_int8_row_parameters(_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi), LEVELS, &inverse, zero, scale);
    const __m512 inverse16 = _mm512_set1_ps(inverse);
    const __m512i zero16 = _mm512_set1_epi32(*zero), top = _mm512_set1_epi32(LEVELS), bottom = _mm512_setzero_si512();
    for (int p = 0; p < row_bytes; p += 16) {
        /* Past k the loads give 0, which quantizes to z; the padding must be 0, so mask it. */
        const __mmask16 valid = lanes16(k - p);
        const __m512 v = _mm512_maskz_loadu_ps(valid, x + p);
        __m512i code = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v, inverse16)), zero16);
        code = _mm512_maskz_min_epi32(valid, _mm512_max_epi32(code, bottom), top);
        _mm512_mask_cvtepi32_storeu_epi8(u + p, lanes16(row_bytes - p), code);
    }
}

NN_AVX512_VNNI static inline __attribute__((always_inline)) void
tile_vnni(const int mr, const int nv, long quads, const uint8_t *u, int row_bytes, const int8_t *panels,
          const float *row_scales, const int32_t *row_zeros, const float *column_scales, const int32_t *column_sums,
          float *y, int ldy, int row0, int col0, int columns, const nn_epilogue *ep) {
    __m512i acc[TILE_ROWS][TILE_PANELS];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_si512();
    const long panel_bytes = quads * QUAD_BYTES;
    for (long t = 0; t < quads; t++) {
        __m512i wv[TILE_PANELS];
        for (int v = 0; v < nv; v++) wv[v] = _mm512_loadu_si512((const void *)(panels + v * panel_bytes + t * QUAD_BYTES));
        for (int r = 0; r < mr; r++) {
            int32_t four;
            __builtin_memcpy(&four, u + (long)r * row_bytes + 4 * t, 4);
            const __m512i xb = _mm512_set1_epi32(four);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], xb, wv[v]);
        }
    }
    for (int v = 0; v < nv; v++) {
        const int column = col0 + 16 * v;
        const __mmask16 mask = lanes16(columns - 16 * v);
        const __m512i sums = _mm512_maskz_loadu_epi32(mask, column_sums + column);
        const __m512 scales = _mm512_maskz_loadu_ps(mask, column_scales + column);
        for (int r = 0; r < mr; r++) {
            const __m512i exact = _mm512_sub_epi32(acc[r][v], _mm512_mullo_epi32(_mm512_set1_epi32(row_zeros[r]), sums));
            const __m512 value = _mm512_mul_ps(_mm512_cvtepi32_ps(exact), _mm512_mul_ps(_mm512_set1_ps(row_scales[r]), scales));
            epilogue_store16(value, y + (long)r * ldy + column, column, row0 + r, mask, ep);
        }
    }
}

NN_AVX512_VNNI void nn_dense_int8_avx512_vnni(NN_DENSE_INT8_ARGUMENTS) {
    const nn_int8_rows quantized = nn_int8_rows_in(scratch, rows, k);
    for (int r = 0; r < rows; r++)
        quantize_row(k, x + (long)r * ldx, quantized.quantized + (long)r * quantized.row_bytes, quantized.row_bytes,
                     &quantized.scales[r], &quantized.zeros[r]);
    const long quads = (k + 3) / 4;
    const int tile_columns = TILE_PANELS * NN_INT8_PANEL_COLUMNS;
    for (int col = 0; col < n; col += tile_columns) {
        const int columns = n - col < tile_columns ? n - col : tile_columns;
        const int nv = (columns + 15) / 16;
        const int8_t *panels = packed + (long)(col / NN_INT8_PANEL_COLUMNS) * quads * QUAD_BYTES;
        for (int row = 0; row < rows; row += TILE_ROWS) {
            const int mr = rows - row < TILE_ROWS ? rows - row : TILE_ROWS;
            const uint8_t *u = quantized.quantized + (long)row * quantized.row_bytes;
            float *yr = y + (long)row * ldy;
#define NN_TILE(MR, NV) tile_vnni(MR, NV, quads, u, quantized.row_bytes, panels, quantized.scales + row, quantized.zeros + row, \
                                  column_scales, column_sums, yr, ldy, row, col, columns, ep)
#define NN_TILE_ROWS(MR) switch (nv) { case 1: NN_TILE(MR, 1); break; case 2: NN_TILE(MR, 2); break; default: NN_TILE(MR, 3); }
            NN_FOR_TILE_ROWS_8(mr, NN_TILE_ROWS)
#undef NN_TILE_ROWS
#undef NN_TILE
        }
    }
    if (ep->activation == NN_ACT_SOFTMAX) nn_softmax_rows_avx2(rows, n, y, ldy);
}
#endif
