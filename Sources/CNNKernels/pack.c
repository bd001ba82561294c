/* Weights packed once per plan into column panels, the layout register tiles read. */
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
