/*
 * AVX-512 Dense: y = epilogue(x·w) for any row count, without a GEMM library.
 *
 * 32 zmm registers allow an 8-row × 48-column register tile: 24 accumulators, 3 weight
 * vectors and a broadcast (28 registers, nothing spilled). Each step of the k loop loads 3
 * weight vectors from a panel packed at plan compile time (48 columns wide) and broadcasts
 * 8 inputs: 24 FMAs for 11 loads, against 12 FMAs for 7 loads in the AVX2 4×24 tile. Column
 * tails use mask registers, which AVX-512 makes cheap (AVX2's masked stores are microcoded
 * on AMD Zen). The loop runs panel by panel, so a panel (k × 48 floats: 196 KB for k = 1024)
 * stays in L2 while every row block passes over it.
 *
 * The epilogue runs on the accumulators before the single store. Activations other than
 * ReLU go through the AVX2 polynomials on each 8-lane half, so this variant and the AVX2
 * one compute the same activation values; per element the sum runs over p ascending in
 * both, so the two agree to the last bit except where the AVX2 variant streams rows.
 */
#include "variants.h"
#include "tile_switch.h"
#include "epilogue_avx512.h"

#if defined(__x86_64__)

enum { TILE_ROWS = 8, TILE_VECTORS = 3, TILE_COLUMNS = 16 * TILE_VECTORS };
_Static_assert(TILE_COLUMNS == NN_AVX512_PANEL_COLUMNS, "the AVX-512 tile reads panels of its own width");

/* One row with at least this many columns streams the row-major weights (memory-bound: each
   weight is used once, so a tile's accumulator chains would sit idle). Two rows take the
   tile: measured alternately on Zen 5 (µs, batch 2, streamed → tile), M2 12.4-13.1 → 8.9-9.1,
   M3 96-105 → 86-90, M4 2.2-2.4 → 2.3; at batch 1 streaming still wins (M2 7.3-7.9 against
   8.3-8.6, M4 1.8 against 2.1, M3 even). */
enum { STREAM_MAX_ROWS = 1, STREAM_MIN_COLUMNS = 32, STREAM_K_BLOCK = 8 };
/* Weights larger than a Zen L2 (1 MB) come from L3 or memory: streaming them, each block of
   k rows prefetches the next one, ~6% faster for M3's 4 MB layers (94-96 against 100-103 µs
   at batch 1). Smaller weights stay in L2, and the prefetches only take load slots (M2 7.3-8.3
   → 9.1-9.7 µs, M4 1.7 → 2.7 µs with them). */
#define STREAM_PREFETCH_MIN_BYTES (1L << 20)

NN_AVX512 static inline __attribute__((always_inline)) void
tile_avx512(const int mr, const int nv, int k, const float *x, int ldx, const float *panel, float *y, int ldy,
            int row0, int col0, int columns, const nn_epilogue *ep) {
    __m512 acc[TILE_ROWS][TILE_VECTORS];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_ps();
    for (int p = 0; p < k; p++) {
        /* Panels are zero-padded to TILE_COLUMNS, so whole-vector loads are always in bounds. */
        const float *wrow = panel + (long)p * TILE_COLUMNS;
        __m512 wv[TILE_VECTORS];
        for (int v = 0; v < nv; v++) wv[v] = _mm512_loadu_ps(wrow + 16 * v);
        for (int r = 0; r < mr; r++) {
            const __m512 xb = _mm512_set1_ps(x[(long)r * ldx + p]);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(xb, wv[v], acc[r][v]);
        }
    }
    const __mmask16 last = lanes16(columns - 16 * (nv - 1));
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            epilogue_store16(acc[r][v], y + (long)r * ldy + col0 + 16 * v, col0 + 16 * v, row0 + r,
                             v == nv - 1 ? last : (__mmask16)0xFFFF, ep);
}

/* Row-streaming form for `mr` (up to STREAM_MAX_ROWS) rows: y[r, :] += Σ_i x[r, p+i]·w[p+i, :] over blocks of
   STREAM_K_BLOCK weight rows, reading the row-major weights once, sequentially; the partial
   sums stay in y (L1), then the epilogue runs over the same rows. */
NN_AVX512 static inline __attribute__((always_inline)) void
stream_rows_avx512(const int mr, const int prefetch, int k, int n, const float *x, int ldx, const float *w, int ldw, float *y,
                   int ldy, int row0, const nn_epilogue *ep) {
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < n; j++) y[(long)r * ldy + j] = 0.0f;
    const __mmask16 tail = lanes16(n % 16);
    const int whole = n - n % 16;
    int p = 0;
    for (; p + STREAM_K_BLOCK <= k; p += STREAM_K_BLOCK) {
        __m512 xb[STREAM_MAX_ROWS][STREAM_K_BLOCK];
        for (int r = 0; r < mr; r++)
            for (int i = 0; i < STREAM_K_BLOCK; i++) xb[r][i] = _mm512_set1_ps(x[(long)r * ldx + p + i]);
        const float *wp = w + (long)p * ldw;
        for (int j = 0; j < n; j += 16) {
            const __mmask16 mask = j < whole ? (__mmask16)0xFFFF : tail;
            __m512 wv[STREAM_K_BLOCK];
            for (int i = 0; i < STREAM_K_BLOCK; i++) wv[i] = _mm512_maskz_loadu_ps(mask, wp + (long)i * ldw + j);
            if (prefetch && p + 2 * STREAM_K_BLOCK <= k)
                for (int i = 0; i < STREAM_K_BLOCK; i++) _mm_prefetch((const char *)(wp + (long)(STREAM_K_BLOCK + i) * ldw + j), _MM_HINT_T0);
            for (int r = 0; r < mr; r++) {
                float *yr = y + (long)r * ldy + j;
                __m512 acc = _mm512_maskz_loadu_ps(mask, yr);
                for (int i = 0; i < STREAM_K_BLOCK; i++) acc = _mm512_fmadd_ps(xb[r][i], wv[i], acc);
                _mm512_mask_storeu_ps(yr, mask, acc);
            }
        }
    }
    for (; p < k; p++) {
        const float *wp = w + (long)p * ldw;
        for (int r = 0; r < mr; r++) {
            const __m512 xv = _mm512_set1_ps(x[(long)r * ldx + p]);
            float *yr = y + (long)r * ldy;
            for (int j = 0; j < n; j += 16) {
                const __mmask16 mask = j < whole ? (__mmask16)0xFFFF : tail;
                _mm512_mask_storeu_ps(yr + j, mask, _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(mask, wp + j), _mm512_maskz_loadu_ps(mask, yr + j)));
            }
        }
    }
    for (int r = 0; r < mr; r++) {
        float *yr = y + (long)r * ldy;
        for (int j = 0; j < n; j += 16) {
            const __mmask16 mask = j < whole ? (__mmask16)0xFFFF : tail;
            epilogue_store16(_mm512_maskz_loadu_ps(mask, yr + j), yr + j, j, row0 + r, mask, ep);
        }
    }
}

/* Dispatches to code specialised for constant (mr, nv) so the tile stays in registers. */
NN_AVX512 static void dense_avx512(int rows, int k, int n, const float *x, int ldx, const float *w, int ldw,
                                   const float *packed, float *y, int ldy, const nn_epilogue *ep) {
    int row = 0;
    if (rows <= STREAM_MAX_ROWS && n >= STREAM_MIN_COLUMNS) {
        if ((long)k * n * (long)sizeof(float) > STREAM_PREFETCH_MIN_BYTES) stream_rows_avx512(1, 1, k, n, x, ldx, w, ldw, y, ldy, 0, ep);
        else stream_rows_avx512(1, 0, k, n, x, ldx, w, ldw, y, ldy, 0, ep);
        return;
    }
    for (int col = 0; col < n; col += TILE_COLUMNS) {
        const int columns = n - col < TILE_COLUMNS ? n - col : TILE_COLUMNS;
        const int nv = (columns + 15) / 16;
        const float *panel = packed + (long)(col / TILE_COLUMNS) * k * TILE_COLUMNS;
        for (row = 0; row < rows; row += TILE_ROWS) {
            const int mr = rows - row < TILE_ROWS ? rows - row : TILE_ROWS;
            const float *xr = x + (long)row * ldx;
            float *yr = y + (long)row * ldy;
#define NN_TILE(MR, NV) tile_avx512(MR, NV, k, xr, ldx, panel, yr, ldy, row, col, columns, ep)
#define NN_TILE_ROWS(MR) switch (nv) { case 1: NN_TILE(MR, 1); break; case 2: NN_TILE(MR, 2); break; default: NN_TILE(MR, 3); }
            NN_FOR_TILE_ROWS_8(mr, NN_TILE_ROWS)
#undef NN_TILE_ROWS
#undef NN_TILE
        }
    }
}

void nn_dense_avx512(NN_DENSE_ARGUMENTS) {
    /* A regression head (one column): the AVX2 dot product along k is as fast, and identical. */
    if (n == 1 && ldw == 1 && k >= 8) {
        nn_dense_avx2(rows, k, n, x, ldx, w, ldw, packed, y, ldy, ep);
        return;
    }
    dense_avx512(rows, k, n, x, ldx, w, ldw, packed, y, ldy, ep);
    if (ep->activation == NN_ACT_SOFTMAX) nn_softmax_rows_avx2(rows, n, y, ldy);
}
#endif
