/*
 * int8 Dense, the parts every variant shares: the weight panels, the scratch size, and the
 * reference kernel the SIMD variants are tested against (and the portable set runs).
 *
 * A model exported with `--weights int8` stores each Dense kernel as int8 with one symmetric
 * scale per output column (w ≈ q·s_j, |q| ≤ 127). Inputs are quantized per row at run time,
 * asymmetrically (int8_rows.h), so a ReLU layer's non-negative inputs use all levels. The
 * product of an unsigned input code u = x/s_x + z and a signed weight q sums exactly in int32;
 * the zero point is removed with the column sums packed beside the weights:
 *     Σ_p x_p·w_pj ≈ s_x·s_j·(Σ_p u_p·q_pj − z·Σ_p q_pj).
 * Overflow: |u·q| ≤ 255·127, so int32 sums are exact for k < 66,000.
 */
#include <string.h>
#include "variants.h"
#include "int8_rows.h"
#include "epilogue_tile.h"

long nn_packed_weights_int8_bytes(int k, int n) {
    const long panels = (n + NN_INT8_PANEL_COLUMNS - 1) / NN_INT8_PANEL_COLUMNS;
    return panels * NN_INT8_PANEL_COLUMNS * ((k + 3) / 4 * 4);
}

void nn_pack_weights_int8(int k, int n, const int8_t *q, int ldq, int8_t *packed, int32_t *column_sums) {
    const long quads = (k + 3) / 4;
    for (int col = 0; col < n; col += NN_INT8_PANEL_COLUMNS) {
        int8_t *panel = packed + (long)(col / NN_INT8_PANEL_COLUMNS) * quads * 4 * NN_INT8_PANEL_COLUMNS;
        for (long t = 0; t < quads; t++)
            for (int j = 0; j < NN_INT8_PANEL_COLUMNS; j++)
                for (int i = 0; i < 4; i++) {
                    const long p = 4 * t + i;
                    panel[(t * NN_INT8_PANEL_COLUMNS + j) * 4 + i] = col + j < n && p < k ? q[p * ldq + col + j] : 0;
                }
    }
    for (int j = 0; j < n; j++) {
        int32_t sum = 0;
        for (int p = 0; p < k; p++) sum += q[(long)p * ldq + j];
        column_sums[j] = sum;
    }
}

long nn_int8_scratch_bytes(int rows, int k) {
    return nn_int8_rows_header_bytes(rows) + (long)rows * ((k + 3) / 4 * 4);
}

void nn_dense_int8_reference(int levels, int rows, int k, int n, const float *x, int ldx, const int8_t *packed,
                             const float *column_scales, const int32_t *column_sums, void *scratch, float *y, int ldy,
                             const nn_epilogue *ep) {
    const nn_int8_rows quantized = nn_int8_rows_in(scratch, rows, k);
    nn_int8_quantize_rows_scalar(levels, rows, k, x, ldx, quantized);
    const long quads = (k + 3) / 4;
    for (int r = 0; r < rows; r++) {
        const uint8_t *u = quantized.quantized + (long)r * quantized.row_bytes;
        for (int j = 0; j < n; j++) {
            const int8_t *panel = packed + (long)(j / NN_INT8_PANEL_COLUMNS) * quads * 4 * NN_INT8_PANEL_COLUMNS;
            const int lane = j % NN_INT8_PANEL_COLUMNS;
            int32_t sum = 0;
            for (long t = 0; t < quads; t++)
                for (int i = 0; i < 4; i++) sum += (int32_t)u[4 * t + i] * panel[(t * NN_INT8_PANEL_COLUMNS + lane) * 4 + i];
            const float value = (float)(sum - quantized.zeros[r] * column_sums[j]) * (quantized.scales[r] * column_scales[j]);
            y[(long)r * ldy + j] = nn_epilogue_scalar(value, j, r, ep);
        }
    }
    if (ep->activation == NN_ACT_SOFTMAX) nn_softmax_rows_portable(rows, n, y, ldy);
}

/* The portable set quantizes as the AVX2 variant does (127 levels): it is the oracle of the
   coarsest variant, and export's accuracy gate measures with it. */
void nn_dense_int8_portable(NN_DENSE_INT8_ARGUMENTS) {
    nn_dense_int8_reference(127, rows, k, n, x, ldx, packed, column_scales, column_sums, scratch, y, ldy, ep);
}
