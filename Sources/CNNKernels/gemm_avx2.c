/*
 * AVX2 GEMM for training's three products: c = op(a)·b (+ bias); the loop over panels and k
 * blocks is gemm_blocking.c, this file the kernel over one block (see gemm_avx512.c).
 *
 * The tile is 6 rows × 16 columns, the BLIS Haswell shape: 12 ymm accumulators, 2 vectors of
 * b and a broadcast fit the 16 registers with one to spare, and each k step issues 12 FMAs
 * for 8 loads, within the two load ports. Column tails load with vmaskmov (fast on Zen and
 * Intel) and store masked only in the tail vector (masked stores are microcoded on Zen).
 */
#include "variants.h"
#include "gemm_blocking.h"
#include "tile_switch.h"

#if defined(__x86_64__)
#include "epilogue_tile.h"

enum { TILE_ROWS = 6, TILE_VECTORS = 2, TILE_COLUMNS = 8 * TILE_VECTORS };
enum { K_BLOCK = 256, PACK_MIN_ROWS = 128 };
_Static_assert(TILE_COLUMNS * K_BLOCK <= NN_GEMM_MAX_BLOCK_FLOATS, "a packed block fits its buffer");

/* One tile over one k block, resuming from c's partial sums after the first block and adding
   the bias after the last. */
NN_AVX2 static inline __attribute__((always_inline)) void
gemm_tile(const int mr, const int nv, const int masked, int k, const float *a, const float *b,
          long ldb, int columns, int first, const float *bias, float *c, int ldc) {
    __m256 acc[TILE_ROWS][TILE_VECTORS];
    /* A constant for unmasked tiles, so their k loop holds no mask register (all 16 ymm are
       taken by 12 accumulators, 2 vectors of b and the broadcast; one more spills: 66 against
       125 GFLOPS). */
    const int full_vectors = masked ? columns / 8 : nv;
    const __m256i tail = nn_lane_mask(columns - 8 * (nv - 1));
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            const float *cv = c + (long)r * ldc + 8 * v;
            acc[r][v] = first ? _mm256_setzero_ps() : v < full_vectors ? _mm256_loadu_ps(cv) : _mm256_maskload_ps(cv, tail);
        }
    for (int p = 0; p < k; p++) {
        const float *brow = b + (long)p * ldb;
        __m256 bv[TILE_VECTORS];
        for (int v = 0; v < nv; v++) bv[v] = v < full_vectors ? _mm256_loadu_ps(brow + 8 * v) : _mm256_maskload_ps(brow + 8 * v, tail);
        for (int r = 0; r < mr; r++) {
            const __m256 ab = _mm256_broadcast_ss(a + (long)p * TILE_ROWS + r);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm256_fmadd_ps(ab, bv[v], acc[r][v]);
        }
    }
    for (int v = 0; v < nv; v++) {
        const int full = v < full_vectors;
        __m256 bias_v = _mm256_setzero_ps();
        if (bias) bias_v = full ? _mm256_loadu_ps(bias + 8 * v) : _mm256_maskload_ps(bias + 8 * v, tail);
        for (int r = 0; r < mr; r++) {
            float *cv = c + (long)r * ldc + 8 * v;
            const __m256 value = bias ? _mm256_add_ps(acc[r][v], bias_v) : acc[r][v];
            if (full) _mm256_storeu_ps(cv, value);
            else _mm256_maskstore_ps(cv, tail, value);
        }
    }
}

NN_AVX2 static void gemm_block_avx2(const nn_gemm_block *g) {
    const int nv = (g->columns + 7) / 8;
    for (int row = 0; row < g->m; row += TILE_ROWS) {
        const int mr = g->m - row < TILE_ROWS ? g->m - row : TILE_ROWS;
        const float *ar = g->a + (long)row * g->k;
        float *cr = g->c + (long)row * g->ldc;
#define NN_TILE(MR, NV, MASKED) \
    gemm_tile(MR, NV, MASKED, g->k, ar, g->b, g->ldb, g->columns, g->first, g->bias, cr, g->ldc)
#define NN_TILE_ROWS(MR) \
    if (g->columns == TILE_COLUMNS) NN_TILE(MR, 2, 0); else if (nv == 1) NN_TILE(MR, 1, 1); else NN_TILE(MR, 2, 1)
        NN_FOR_TILE_ROWS_6(mr, NN_TILE_ROWS)
#undef NN_TILE_ROWS
#undef NN_TILE
    }
}

void nn_gemm_avx2(NN_GEMM_ARGUMENTS) {
    static const nn_gemm_blocking blocking = { TILE_COLUMNS, TILE_ROWS, K_BLOCK, PACK_MIN_ROWS, gemm_block_avx2 };
    nn_gemm_blocked(&blocking, m, n, k, a, lda, transpose_a, b, ldb, bias, c, ldc);
}
#endif
