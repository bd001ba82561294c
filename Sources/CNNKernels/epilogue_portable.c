/* Portable epilogues, activations and softmax over whole matrices: the reference the SIMD
   variants are tested against, and the path for CPUs without AVX2. */
#include <math.h>
#include "variants.h"
#include "epilogue_tile.h"

static void softmax_row_portable(int n, float *y) {
    float row_max = -INFINITY;
    for (int j = 0; j < n; j++) row_max = fmaxf(row_max, y[j]);
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        y[j] = expf(y[j] - row_max);
        sum += y[j];
    }
    const float inverse = 1.0f / sum;
    for (int j = 0; j < n; j++) y[j] *= inverse;
}

void nn_softmax_rows_portable(int rows, int n, float *y, int ldy) {
    for (int r = 0; r < rows; r++) softmax_row_portable(n, y + (long)r * ldy);
}

void nn_epilogue_apply_portable(int rows, int n, float *y, int ldy, const nn_epilogue *ep) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) y[(long)r * ldy + j] = nn_epilogue_scalar(y[(long)r * ldy + j], j, r, ep);
    if (ep->activation == NN_ACT_SOFTMAX) nn_softmax_rows_portable(rows, n, y, ldy);
}

void nn_activation_portable(int rows, int n, const float *x, int ldx, float *y, int ldy, int kind, float alpha) {
    if (kind == NN_ACT_SOFTMAX) {
        if (x != y || ldx != ldy) nn_copy(rows, n, x, ldx, y, ldy);
        nn_softmax_rows_portable(rows, n, y, ldy);
        return;
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) y[(long)r * ldy + j] = nn_act_scalar(x[(long)r * ldx + j], kind, alpha);
}
