/* Row-wise elementwise helpers for nodes the plan could not fold or fuse. Simple loops that
   the compiler vectorizes; they run only on unfolded graphs. */
#include <string.h>
#include "nn_kernels.h"

void nn_affine(int rows, int n, const float *x, int ldx, const float *scale, const float *shift, float *y, int ldy) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (long)r * ldx;
        float *yr = y + (long)r * ldy;
        for (int j = 0; j < n; j++) yr[j] = xr[j] * scale[j] + shift[j];
    }
}

void nn_add(int rows, int n, const float *a, int lda, const float *b, int ldb, float *y, int ldy) {
    for (int r = 0; r < rows; r++) {
        const float *ar = a + (long)r * lda;
        const float *br = b + (long)r * ldb;
        float *yr = y + (long)r * ldy;
        for (int j = 0; j < n; j++) yr[j] = ar[j] + br[j];
    }
}

void nn_copy(int rows, int n, const float *x, int ldx, float *y, int ldy) {
    if (x == y && ldx == ldy) return;
    for (int r = 0; r < rows; r++) memmove(y + (long)r * ldy, x + (long)r * ldx, (size_t)n * sizeof(float));
}

/* In 8 × 8 blocks, so both the rows read and the rows written stay in a few cache lines. */
void nn_transpose(int rows, int n, const float *x, int ldx, float *y, int ldy) {
    enum { BLOCK = 8 };
    for (int r0 = 0; r0 < rows; r0 += BLOCK)
        for (int j0 = 0; j0 < n; j0 += BLOCK) {
            const int r1 = r0 + BLOCK < rows ? r0 + BLOCK : rows, j1 = j0 + BLOCK < n ? j0 + BLOCK : n;
            for (int r = r0; r < r1; r++)
                for (int j = j0; j < j1; j++) y[(long)j * ldy + r] = x[(long)r * ldx + j];
        }
}
