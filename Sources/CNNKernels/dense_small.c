/*
 * Small-batch Dense: y = epilogue(x·w) for a few rows, without GEMM packing overhead.
 *
 * Tiles of up to 4 rows × 24 columns keep 12 accumulators in ymm registers; each step of
 * the k loop loads 3 weight vectors and broadcasts 4 inputs (12 FMAs). The epilogue (bias,
 * activation, residual) runs on the accumulators before the single store, so the output
 * is written once. Column tails use masked loads and stores: nothing reads past w's row n
 * or writes past y's row n.
 */
#include "nn_kernels.h"
#include "epilogue_tile.h"
#include "softmax.h"

enum { TILE_ROWS = 4, TILE_VECTORS = 3, TILE_COLUMNS = 8 * TILE_VECTORS };

#if defined(__x86_64__)
NN_AVX2 static inline __attribute__((always_inline)) void
tile_avx2(const int mr, const int nv, int k, const float *x, int ldx, const float *w, int ldw,
          float *y, int ldy, int row0, int col0, int columns, const nn_epilogue *ep) {
    __m256 acc[TILE_ROWS][TILE_VECTORS];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = _mm256_setzero_ps();
    const __m256i last_mask = nn_lane_mask(columns - 8 * (nv - 1));
    const __m256i full_mask = _mm256_set1_epi32(-1);
    const int last_full = columns == 8 * nv;
    for (int p = 0; p < k; p++) {
        const float *wrow = w + (long)p * ldw + col0;
        __m256 wv[TILE_VECTORS];
        for (int v = 0; v < nv - 1; v++) wv[v] = _mm256_loadu_ps(wrow + 8 * v);
        wv[nv - 1] = last_full ? _mm256_loadu_ps(wrow + 8 * (nv - 1)) : _mm256_maskload_ps(wrow + 8 * (nv - 1), last_mask);
        for (int r = 0; r < mr; r++) {
            __m256 xb = _mm256_broadcast_ss(x + (long)r * ldx + p);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm256_fmadd_ps(xb, wv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            nn_epilogue_store_avx2(acc[r][v], y + (long)r * ldy + col0 + 8 * v, col0 + 8 * v, row0 + r,
                                   v == nv - 1 ? last_mask : full_mask, ep);
}

/* Dispatches to a tile specialised for constant (mr, nv) so the accumulators stay in registers. */
NN_AVX2 static void dense_small_avx2(int rows, int k, int n, const float *x, int ldx, const float *w, int ldw,
                                     float *y, int ldy, const nn_epilogue *ep) {
    for (int row = 0; row < rows; row += TILE_ROWS) {
        const int mr = rows - row < TILE_ROWS ? rows - row : TILE_ROWS;
        const float *xr = x + (long)row * ldx;
        float *yr = y + (long)row * ldy;
        for (int col = 0; col < n; col += TILE_COLUMNS) {
            const int columns = n - col < TILE_COLUMNS ? n - col : TILE_COLUMNS;
            const int nv = (columns + 7) / 8;
#define NN_TILE(MR, NV) tile_avx2(MR, NV, k, xr, ldx, w, ldw, yr, ldy, row, col, columns, ep)
#define NN_TILE_ROWS(MR) switch (nv) { case 1: NN_TILE(MR, 1); break; case 2: NN_TILE(MR, 2); break; default: NN_TILE(MR, 3); }
            switch (mr) {
            case 1: NN_TILE_ROWS(1); break;
            case 2: NN_TILE_ROWS(2); break;
            case 3: NN_TILE_ROWS(3); break;
            default: NN_TILE_ROWS(4); break;
            }
#undef NN_TILE_ROWS
#undef NN_TILE
        }
    }
}
#endif

/* Portable path: the same arithmetic order per output element (sum over p ascending). */
static void dense_small_portable(int rows, int k, int n, const float *x, int ldx, const float *w, int ldw,
                                 float *y, int ldy, const nn_epilogue *ep) {
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
}

void nn_dense_small(int rows, int k, int n, const float *x, int ldx, const float *w, int ldw,
                    float *y, int ldy, const nn_epilogue *ep, int use_avx2) {
#if defined(__x86_64__)
    if (use_avx2) dense_small_avx2(rows, k, n, x, ldx, w, ldw, y, ldy, ep);
    else
#endif
        dense_small_portable(rows, k, n, x, ldx, w, ldw, y, ldy, ep);
    if (ep->activation == NN_ACT_SOFTMAX) nn_softmax_rows_in_place(rows, n, y, ldy, use_avx2);
}
