/* The input side of dense_int8, shared by every variant: where the quantized rows live in the
   caller's scratch, and the scalar quantization of one row that the SIMD quantizers must
   reproduce integer for integer (nn_kernels.h: dense_int8). */
#ifndef NNSERVE_INT8_ROWS_H
#define NNSERVE_INT8_ROWS_H

#include <math.h>
#include <stdint.h>
#include "nn_kernels.h"

/* Scratch layout for `rows` rows: row scales (float), row zero points (int32), then the
   quantized rows, each k rounded up to a quad (the padding bytes are zero), from a 64-byte
   boundary. */
typedef struct {
    float *scales;
    int32_t *zeros;
    uint8_t *quantized;
    int row_bytes;
} nn_int8_rows;

static inline long nn_int8_rows_header_bytes(int rows) { return ((long)rows * 8 + 63) / 64 * 64; }

static inline nn_int8_rows nn_int8_rows_in(void *scratch, int rows, int k) {
    nn_int8_rows layout;
    layout.scales = (float *)scratch;
    layout.zeros = (int32_t *)((char *)scratch + (long)rows * 4);
    layout.quantized = (uint8_t *)scratch + nn_int8_rows_header_bytes(rows);
    layout.row_bytes = (k + 3) / 4 * 4;
    return layout;
}

/* The scale (levels over the range) and zero point of a row whose values lie in [lo, hi]
   (lo ≤ 0 ≤ hi). An all-zero row gets scale 0: every value quantizes to the zero point 0. */
static inline void nn_int8_row_parameters(float lo, float hi, int levels, float *inverse, int32_t *zero, float *scale) {
    const float range = hi - lo;
    if (!(range > 0.0f)) {
        *inverse = 0.0f;
        *zero = 0;
        *scale = 0.0f;
        return;
    }
    *inverse = (float)levels / range;
    int32_t z = (int32_t)nearbyintf(-lo * *inverse);
    *zero = z < 0 ? 0 : (z > levels ? levels : z);
    *scale = range / (float)levels;
}

static inline uint8_t nn_int8_quantize(float x, float inverse, int32_t zero, int levels) {
    int32_t u = (int32_t)nearbyintf(x * inverse) + zero;
    return (uint8_t)(u < 0 ? 0 : (u > levels ? levels : u));
}

/* Quantizes rows of x into the scratch, plainly (the reference and short rows). */
static inline void nn_int8_quantize_rows_scalar(int levels, int rows, int k, const float *x, int ldx, nn_int8_rows rows_out) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (long)r * ldx;
        float lo = 0.0f, hi = 0.0f;
        for (int p = 0; p < k; p++) {
            lo = xr[p] < lo ? xr[p] : lo;
            hi = xr[p] > hi ? xr[p] : hi;
        }
        float inverse;
        nn_int8_row_parameters(lo, hi, levels, &inverse, &rows_out.zeros[r], &rows_out.scales[r]);
        uint8_t *u = rows_out.quantized + (long)r * rows_out.row_bytes;
        for (int p = 0; p < k; p++) u[p] = nn_int8_quantize(xr[p], inverse, rows_out.zeros[r], levels);
        for (int p = k; p < rows_out.row_bytes; p++) u[p] = 0;
    }
}

#endif
