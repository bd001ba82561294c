/*
 * AVX2 GEMM for training's three products: c = op(a)·b (+ bias), b row-major and read in
 * place (see gemm_avx512.c for the shape of the loop).
 *
 * The tile is 6 rows × 16 columns, the BLIS Haswell shape: 12 ymm accumulators, 2 weight
 * vectors and a broadcast fit the 16 registers with one to spare, and each k step issues 12
 * FMAs for 8 loads, within the two load ports. Column tails load with vmaskmov (fast on Zen
 * and Intel) and store masked only in the tail vector (masked stores are microcoded on Zen).
 */
#include "variants.h"

#if defined(__x86_64__)
#include "epilogue_tile.h"

enum { TILE_ROWS = 6, TILE_VECTORS = 2, TILE_COLUMNS = 8 * TILE_VECTORS };
/* k blocks of b, packed when c has at least PACK_MIN_ROWS rows (as in gemm_avx512.c). */
enum { K_BLOCK = 256, PACK_MIN_ROWS = 64 };

/* One tile over one k block, resuming from c's partial sums after the first block and adding
   the bias after the last (see gemm_avx512.c: blocking changes no bit of the result). */
NN_AVX2 static inline __attribute__((always_inline)) void
gemm_tile(const int mr, const int nv, const int masked, const int transposed, int k, const float *a, long lda, const float *b,
          long ldb, int columns, int first, const float *bias, float *c, int ldc) {
    __m256 acc[TILE_ROWS][TILE_VECTORS];
    /* A constant for unmasked tiles, so their k loop holds no mask register (all 16 ymm are
       taken by 12 accumulators, 2 vectors of b and the broadcast; one more spills). */
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
            const __m256 ab = _mm256_broadcast_ss(transposed ? a + (long)p * lda + r : a + (long)r * lda + p);
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

NN_AVX2 static inline __attribute__((always_inline)) void
gemm_panels(const int transposed, int m, int n, int k, const float *a, long lda, const float *b, int ldb, const float *bias,
            float *c, int ldc) {
    float block[K_BLOCK * TILE_COLUMNS] __attribute__((aligned(32)));
    const int pack = m >= PACK_MIN_ROWS;
    for (int col = 0; col < n; col += TILE_COLUMNS) {
        const int columns = n - col < TILE_COLUMNS ? n - col : TILE_COLUMNS;
        const int nv = (columns + 7) / 8;
        for (int p0 = 0; p0 < k; p0 += K_BLOCK) {
            const int kb = k - p0 < K_BLOCK ? k - p0 : K_BLOCK;
            const float *bb = b + (long)p0 * ldb + col;
            long ldbb = ldb;
            if (pack) {
                for (int p = 0; p < kb; p++)
                    for (int j = 0; j < TILE_COLUMNS; j++) block[p * TILE_COLUMNS + j] = j < columns ? bb[(long)p * ldb + j] : 0.0f;
                bb = block;
                ldbb = TILE_COLUMNS;
            }
            const int first = p0 == 0, last = p0 + kb == k;
            const float *bias_panel = bias && last ? bias + col : 0;
            for (int row = 0; row < m; row += TILE_ROWS) {
                const int mr = m - row < TILE_ROWS ? m - row : TILE_ROWS;
                const float *ar = transposed ? a + (long)p0 * lda + row : a + (long)row * lda + p0;
                float *cr = c + (long)row * ldc + col;
#define NN_TILE(MR, NV, MASKED) gemm_tile(MR, NV, MASKED, transposed, kb, ar, lda, bb, ldbb, columns, first, bias_panel, cr, ldc)
#define NN_TILE_ROWS(MR) \
    if (columns == TILE_COLUMNS) NN_TILE(MR, 2, 0); else if (nv == 1) NN_TILE(MR, 1, 1); else NN_TILE(MR, 2, 1)
                switch (mr) {
                case 1: NN_TILE_ROWS(1); break;
                case 2: NN_TILE_ROWS(2); break;
                case 3: NN_TILE_ROWS(3); break;
                case 4: NN_TILE_ROWS(4); break;
                case 5: NN_TILE_ROWS(5); break;
                default: NN_TILE_ROWS(6); break;
                }
#undef NN_TILE_ROWS
#undef NN_TILE
            }
        }
    }
}

NN_AVX2 void nn_gemm_avx2(NN_GEMM_ARGUMENTS) {
    if (transpose_a) gemm_panels(1, m, n, k, a, lda, b, ldb, bias, c, ldc);
    else gemm_panels(0, m, n, k, a, lda, b, ldb, bias, c, ldc);
}
#endif
