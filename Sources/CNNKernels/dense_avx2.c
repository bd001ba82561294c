/*
 * AVX2 Dense: y = epilogue(x·w) for any row count, without a GEMM library.
 *
 * Tiles of up to 4 rows × 24 columns keep 12 accumulators in ymm registers; each step of
 * the k loop loads 3 weight vectors from a packed panel (the weights rearranged once, when
 * the plan is compiled, so a tile reads them sequentially) and broadcasts 4 inputs (12
 * FMAs). The epilogue (bias, activation, residual) runs on the accumulators before the
 * single store, so the output is written once. Column tails use masked stores: nothing
 * writes past y's row n. One or two rows stream the row-major weights instead.
 */
#include "variants.h"
#include "tile_switch.h"
#include "epilogue_tile.h"

enum { TILE_ROWS = 4, TILE_VECTORS = 3, TILE_COLUMNS = 8 * TILE_VECTORS };
_Static_assert(TILE_COLUMNS == NN_AVX2_PANEL_COLUMNS, "the AVX2 tile reads panels of its own width");

/* Row blocks of at most this many rows stream the row-major weights; larger ones use the
   packed panels with register accumulators. Set from `nnbench crossover`. */
#define NN_STREAM_MAX_ROWS 2
/* Narrower outputs are mostly masked tails when streamed; tiles serve them better. */
#define NN_STREAM_MIN_COLUMNS 32

#if defined(__x86_64__)
NN_AVX2 static inline __attribute__((always_inline)) void
tile_avx2(const int mr, const int nv, int k, const float *x, int ldx, const float *panel,
          float *y, int ldy, int row0, int col0, int columns, const nn_epilogue *ep) {
    __m256 acc[TILE_ROWS][TILE_VECTORS];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = _mm256_setzero_ps();
    const __m256i last_mask = nn_lane_mask(columns - 8 * (nv - 1));
    const __m256i full_mask = _mm256_set1_epi32(-1);
    const int last_full = columns == 8 * nv;
    /* A full tile needs 12 accumulators + 3 weight vectors + a broadcast: all 16 ymm registers.
       clang then keeps a second broadcast register and spills an accumulator, putting a
       store-reload inside that accumulator's FMA chain every step (perf annotate: half the
       tile's time). So a full tile reads its last weight vector from memory in each FMA. */
    const int in_registers = (mr == TILE_ROWS && nv == TILE_VECTORS) ? nv - 1 : nv;
    for (int p = 0; p < k; p++) {
        /* Panels are zero-padded to TILE_COLUMNS, so whole-vector loads are always in bounds. */
        const float *wrow = panel + (long)p * TILE_COLUMNS;
        __m256 wv[TILE_VECTORS];
        for (int v = 0; v < in_registers; v++) wv[v] = _mm256_loadu_ps(wrow + 8 * v);
        for (int r = 0; r < mr; r++) {
            __m256 xb = _mm256_broadcast_ss(x + (long)r * ldx + p);
            for (int v = 0; v < in_registers; v++) acc[r][v] = _mm256_fmadd_ps(xb, wv[v], acc[r][v]);
            if (in_registers < nv) {
                /* The empty asm hides that the address is the same for every row, so the
                   load is not hoisted into a register but folded into the FMA. */
                const float *last = wrow + 8 * in_registers;
                __asm__ volatile("" : "+r"(last));
                acc[r][in_registers] = _mm256_fmadd_ps(xb, _mm256_loadu_ps(last), acc[r][in_registers]);
            }
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            nn_epilogue_store_avx2(acc[r][v], y + (long)r * ldy + col0 + 8 * v, col0 + 8 * v, row0 + r,
                                   v < nv - 1 || last_full, v == nv - 1 ? last_mask : full_mask, ep);
}

/* Row-streaming form for few rows: y[r, :] += Σ_i x[r, p+i]·w[p+i, :] over blocks of KB
   weight rows, so the weights are read once, sequentially, per block of MR rows (no
   page-sized strides through w). The partial sums live in y, which stays in L1 for the
   layer widths nnserve serves; the epilogue then runs over the same rows. */
NN_AVX2 static inline __attribute__((always_inline)) void
stream_rows_avx2(const int mr, const int kb, int k, int n, const float *x, int ldx, const float *w, int ldw,
                 float *y, int ldy) {
    const __m256i tail = nn_lane_mask(n % 8);
    const int whole = n - n % 8;
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < n; j++) y[(long)r * ldy + j] = 0.0f;
    int p = 0;
    for (; p + kb <= k; p += kb) {
        __m256 xb[TILE_ROWS][4];
        for (int r = 0; r < mr; r++)
            for (int i = 0; i < kb; i++) xb[r][i] = _mm256_broadcast_ss(x + (long)r * ldx + p + i);
        const float *wp = w + (long)p * ldw;
        for (int j = 0; j < whole; j += 8) {
            __m256 wv[4];
            for (int i = 0; i < kb; i++) wv[i] = _mm256_loadu_ps(wp + (long)i * ldw + j);
            for (int r = 0; r < mr; r++) {
                float *yr = y + (long)r * ldy + j;
                __m256 acc = _mm256_loadu_ps(yr);
                for (int i = 0; i < kb; i++) acc = _mm256_fmadd_ps(xb[r][i], wv[i], acc);
                _mm256_storeu_ps(yr, acc);
            }
        }
        if (whole < n) {
            __m256 wv[4];
            for (int i = 0; i < kb; i++) wv[i] = _mm256_maskload_ps(wp + (long)i * ldw + whole, tail);
            for (int r = 0; r < mr; r++) {
                float *yr = y + (long)r * ldy + whole;
                __m256 acc = _mm256_maskload_ps(yr, tail);
                for (int i = 0; i < kb; i++) acc = _mm256_fmadd_ps(xb[r][i], wv[i], acc);
                _mm256_maskstore_ps(yr, tail, acc);
            }
        }
    }
    for (; p < k; p++) {
        const float *wp = w + (long)p * ldw;
        for (int r = 0; r < mr; r++) {
            const __m256 xv = _mm256_broadcast_ss(x + (long)r * ldx + p);
            float *yr = y + (long)r * ldy;
            int j = 0;
            for (; j < whole; j += 8) _mm256_storeu_ps(yr + j, _mm256_fmadd_ps(xv, _mm256_loadu_ps(wp + j), _mm256_loadu_ps(yr + j)));
            if (whole < n) _mm256_maskstore_ps(yr + whole, tail, _mm256_fmadd_ps(xv, _mm256_maskload_ps(wp + whole, tail), _mm256_maskload_ps(yr + whole, tail)));
        }
    }
}

/* One output column (a regression head): y[r] = x[r, :]·w[:, 0], vectorized along k — the
   weights of a k×1 layer are contiguous — instead of k-long chains of one FMA per row. */
NN_AVX2 static void dot_rows_avx2(int rows, int k, const float *x, int ldx, const float *w, float *y, int ldy,
                                  const nn_epilogue *ep) {
    const __m256i tail = nn_lane_mask(k % 8);
    const int whole = k - k % 8;
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (long)r * ldx;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        int p = 0;
        for (; p + 16 <= whole; p += 16) {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(xr + p), _mm256_loadu_ps(w + p), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(xr + p + 8), _mm256_loadu_ps(w + p + 8), acc1);
        }
        for (; p < whole; p += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(xr + p), _mm256_loadu_ps(w + p), acc0);
        if (whole < k) acc1 = _mm256_fmadd_ps(_mm256_maskload_ps(xr + whole, tail), _mm256_maskload_ps(w + whole, tail), acc1);
        const __m256 sum8 = _mm256_add_ps(acc0, acc1);
        __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(sum8), _mm256_extractf128_ps(sum8, 1));
        sum4 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
        sum4 = _mm_add_ss(sum4, _mm_movehdup_ps(sum4));
        y[(long)r * ldy] = nn_epilogue_scalar(_mm_cvtss_f32(sum4), 0, r, ep);
    }
}

/* Dispatches to code specialised for constant (mr, nv) or (mr, kb) so values stay in registers. */
NN_AVX2 static void dense_small_avx2(int rows, int k, int n, const float *x, int ldx, const float *w, int ldw,
                                     const float *packed, float *y, int ldy, const nn_epilogue *ep) {
    if (n == 1 && ldw == 1 && k >= 8) {
        dot_rows_avx2(rows, k, x, ldx, w, y, ldy, ep);
        return;
    }
    for (int row = 0; row < rows; row += TILE_ROWS) {
        const int mr = rows - row < TILE_ROWS ? rows - row : TILE_ROWS;
        const float *xr = x + (long)row * ldx;
        float *yr = y + (long)row * ldy;
        if (mr <= NN_STREAM_MAX_ROWS && n >= NN_STREAM_MIN_COLUMNS) {
            /* One or two rows: memory-bound, so stream the row-major weights once, then run
               the epilogue over the rows while they are in L1. */
            if (mr == 1) stream_rows_avx2(1, 4, k, n, xr, ldx, w, ldw, yr, ldy);
            else stream_rows_avx2(2, 4, k, n, xr, ldx, w, ldw, yr, ldy);
            const __m256i full = _mm256_set1_epi32(-1);
            const __m256i tail = nn_lane_mask(n % 8);
            for (int r = 0; r < mr; r++) {
                float *out = yr + (long)r * ldy;
                int j = 0;
                for (; j + 8 <= n; j += 8) nn_epilogue_store_avx2(_mm256_loadu_ps(out + j), out + j, j, row + r, 1, full, ep);
                if (j < n) nn_epilogue_store_avx2(_mm256_maskload_ps(out + j, tail), out + j, j, row + r, 0, tail, ep);
            }
            continue;
        }
        for (int col = 0; col < n; col += TILE_COLUMNS) {
            const int columns = n - col < TILE_COLUMNS ? n - col : TILE_COLUMNS;
            const int nv = (columns + 7) / 8;
            const float *panel = packed + (long)(col / TILE_COLUMNS) * k * TILE_COLUMNS;
#define NN_TILE(MR, NV) tile_avx2(MR, NV, k, xr, ldx, panel, yr, ldy, row, col, columns, ep)
#define NN_TILE_ROWS(MR) switch (nv) { case 1: NN_TILE(MR, 1); break; case 2: NN_TILE(MR, 2); break; default: NN_TILE(MR, 3); }
            NN_FOR_TILE_ROWS_4(mr, NN_TILE_ROWS)
#undef NN_TILE_ROWS
#undef NN_TILE
        }
    }
}
void nn_dense_avx2(NN_DENSE_ARGUMENTS) {
    dense_small_avx2(rows, k, n, x, ldx, w, ldw, packed, y, ldy, ep);
    if (ep->activation == NN_ACT_SOFTMAX) nn_softmax_rows_avx2(rows, n, y, ldy);
}
#endif
