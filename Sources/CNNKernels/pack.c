/* Weights packed once per plan into column panels, the layout register tiles read. */
#include <string.h>
#include "nn_kernels.h"

long nn_packed_weights_count(int k, int n, int panel_columns) {
    return (long)((n + panel_columns - 1) / panel_columns) * panel_columns * k;
}

void nn_pack_weights(int k, int n, const float *w, int ldw, int panel_columns, float *packed) {
    for (int col = 0; col < n; col += panel_columns) {
        float *panel = packed + (long)(col / panel_columns) * k * panel_columns;
        for (int p = 0; p < k; p++)
            for (int j = 0; j < panel_columns; j++)
                panel[(long)p * panel_columns + j] = col + j < n ? w[(long)p * ldw + col + j] : 0.0f;
    }
}

long nn_packed_weights_bf16_count(int k, int n, int panel_columns) {
    return (long)((n + panel_columns - 1) / panel_columns) * panel_columns * 2 * ((k + 1) / 2);
}

/* Round to nearest even, as the model files' bf16 encoding does; NaN stays a quiet NaN. A
   weight read from a bf16 file is already a bf16 value and passes unchanged, unless the plan
   rescaled it (a folded standardization or batch norm): then it is rounded a second time. */
static uint16_t bf16_bits(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((bits >> 16) | 0x0040u);
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

void nn_pack_weights_bf16(int k, int n, const float *w, int ldw, int panel_columns, uint16_t *packed) {
    const long pair_rows = (k + 1) / 2;
    for (int col = 0; col < n; col += panel_columns) {
        uint16_t *panel = packed + (long)(col / panel_columns) * pair_rows * 2 * panel_columns;
        for (long q = 0; q < pair_rows; q++)
            for (int j = 0; j < panel_columns; j++)
                for (int half = 0; half < 2; half++) {
                    const long p = 2 * q + half;
                    const float value = col + j < n && p < k ? w[p * ldw + col + j] : 0.0f;
                    panel[(q * panel_columns + j) * 2 + half] = bf16_bits(value);
                }
    }
}
