/* Portable Dense: the same arithmetic order per output element as the SIMD variants (sum
   over p ascending, one rounding per multiply-add step), for any CPU and as their oracle. */
#include "variants.h"
#include "epilogue_tile.h"

void nn_dense_portable(NN_DENSE_ARGUMENTS) {
    (void)packed;
    for (int r = 0; r < rows; r++) {
        float *yr = y + (long)r * ldy;
        for (int j = 0; j < n; j++) yr[j] = 0.0f;
        for (int p = 0; p < k; p++) {
            const float xv = x[(long)r * ldx + p];
            const float *wrow = w + (long)p * ldw;
            for (int j = 0; j < n; j++) yr[j] += xv * wrow[j];
        }
        for (int j = 0; j < n; j++) yr[j] = nn_epilogue_scalar(yr[j], j, r, ep);
    }
    if (ep->activation == NN_ACT_SOFTMAX) nn_softmax_rows_portable(rows, n, y, ldy);
}
