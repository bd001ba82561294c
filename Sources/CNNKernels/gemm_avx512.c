/*
 * AVX-512 GEMM for training's three products: c = op(a)·b (+ bias), without a GEMM library.
 * The loop over panels and k blocks is gemm_blocking.c; this file is the kernel over one
 * block.
 *
 * The register tile is the inference kernel's 8 rows × 48 columns (24 zmm accumulators, 3
 * vectors of b, a broadcast). The weights change every step, so b is not packed once: each k
 * step loads 3 vectors from row p of the block (masked at the column tail: masked loads
 * suppress faults, so nothing past a row is touched).
 *
 * op(a) arrives packed by the blocking loop (a or aᵀ alike): the tile's 8 rows for one k are
 * 8 adjacent floats. Per element the sum runs over p ascending, as in the portable variant.
 */
#include "variants.h"
#include "epilogue_avx512.h"
#include "gemm_blocking.h"
#include "tile_switch.h"

#if defined(__x86_64__)
enum { TILE_ROWS = 8, TILE_VECTORS = 3, TILE_COLUMNS = 16 * TILE_VECTORS };
enum { K_BLOCK = 128, PACK_MIN_ROWS = 128 };
_Static_assert(TILE_COLUMNS * K_BLOCK <= NN_GEMM_MAX_BLOCK_FLOATS, "a packed block fits its buffer");

/* One tile over one k block: c[mr rows, columns] = (first ? 0 : c) + Σ_p op(a)[r, p] · b[p, :],
   plus the bias after the last block. */
NN_AVX512 static inline __attribute__((always_inline)) void
gemm_tile(const int mr, const int nv, int k, const float *a, const float *b, long ldb,
          int columns, int first, const float *bias, float *c, int ldc) {
    __m512 acc[TILE_ROWS][TILE_VECTORS];
    __mmask16 mask[TILE_VECTORS];
    for (int v = 0; v < nv; v++) mask[v] = lanes16(columns - 16 * v);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            acc[r][v] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask[v], c + (long)r * ldc + 16 * v);
    for (int p = 0; p < k; p++) {
        const float *brow = b + (long)p * ldb;
        __m512 bv[TILE_VECTORS];
        for (int v = 0; v < nv; v++) bv[v] = _mm512_maskz_loadu_ps(mask[v], brow + 16 * v);
        for (int r = 0; r < mr; r++) {
            const __m512 ab = _mm512_set1_ps(a[(long)p * TILE_ROWS + r]);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(ab, bv[v], acc[r][v]);
        }
    }
    for (int v = 0; v < nv; v++) {
        const __m512 bias_v = bias ? _mm512_maskz_loadu_ps(mask[v], bias + 16 * v) : _mm512_setzero_ps();
        for (int r = 0; r < mr; r++)
            _mm512_mask_storeu_ps(c + (long)r * ldc + 16 * v, mask[v], bias ? _mm512_add_ps(acc[r][v], bias_v) : acc[r][v]);
    }
}

NN_AVX512 static void gemm_block_avx512(const nn_gemm_block *g) {
    const int nv = (g->columns + 15) / 16;
    for (int row = 0; row < g->m; row += TILE_ROWS) {
        const int mr = g->m - row < TILE_ROWS ? g->m - row : TILE_ROWS;
        const float *ar = g->a + (long)row * g->k;
        float *cr = g->c + (long)row * g->ldc;
#define NN_TILE(MR, NV) gemm_tile(MR, NV, g->k, ar, g->b, g->ldb, g->columns, g->first, g->bias, cr, g->ldc)
#define NN_TILE_ROWS(MR) switch (nv) { case 1: NN_TILE(MR, 1); break; case 2: NN_TILE(MR, 2); break; default: NN_TILE(MR, 3); }
        NN_FOR_TILE_ROWS_8(mr, NN_TILE_ROWS)
#undef NN_TILE_ROWS
#undef NN_TILE
    }
}

void nn_gemm_avx512(NN_GEMM_ARGUMENTS) {
    static const nn_gemm_blocking blocking = { TILE_COLUMNS, TILE_ROWS, K_BLOCK, PACK_MIN_ROWS, gemm_block_avx512 };
    nn_gemm_blocked(&blocking, m, n, k, a, lda, transpose_a, b, ldb, bias, c, ldc);
}
#endif
