/*
 * AVX-512 GEMM for training's three products: c = op(a)·b (+ bias), b row-major and read in
 * place, no packing, no GEMM library.
 *
 * The register tile is the inference kernel's 8 rows × 48 columns (24 zmm accumulators, 3
 * weight vectors, a broadcast). Unlike inference, the weights change every step, so they are
 * not packed: each k step loads 3 vectors from row p of b directly (the last one masked when
 * n is not a multiple of 48; masked loads suppress faults, so nothing past a row is touched).
 * The loop runs column panel by column panel, so the k × 48 strip of b a panel reads (150 KB
 * for k = 784) stays in L2 while every row block passes over it.
 *
 * op(a) is a with strides (lda, 1), or aᵀ with (1, lda): the broadcast is a scalar load
 * either way, and for aᵀ (the weight gradient xᵀ·dz) the 8 rows of a tile are 8 adjacent
 * floats of one row of a. The two forms are separate instantiations so both index with
 * constants. Per element the sum runs over p ascending, as in the portable variant.
 */
#include "variants.h"
#include "epilogue_avx512.h"

#if defined(__x86_64__)

enum { TILE_ROWS = 8, TILE_VECTORS = 3, TILE_COLUMNS = 16 * TILE_VECTORS };
/* k is cut into blocks of K_BLOCK rows of b; with at least PACK_MIN_ROWS rows of c each block
   of a panel is copied into a contiguous buffer first (fewer rows read it too few times to
   repay the copy). */
enum { K_BLOCK = 128, PACK_MIN_ROWS = 64 };

/* One tile over one k block: c[mr rows, columns] = (first ? 0 : c) + Σ_p op(a)[r, p] · b[p, :],
   plus the bias after the last block. `b` rows are `ldb` apart: a packed block (ldb = 48, zero
   past n) or b itself (masked loads). Resuming from the stored partial sums continues the same
   chain of FMAs, so blocking k changes no bit of the result. */
NN_AVX512 static inline __attribute__((always_inline)) void
gemm_tile(const int mr, const int nv, const int transposed, int k, const float *a, long lda, const float *b, long ldb,
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
            const __m512 ab = _mm512_set1_ps(transposed ? a[(long)p * lda + r] : a[(long)r * lda + p]);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(ab, bv[v], acc[r][v]);
        }
    }
    for (int v = 0; v < nv; v++) {
        const __m512 bias_v = bias ? _mm512_maskz_loadu_ps(mask[v], bias + 16 * v) : _mm512_setzero_ps();
        for (int r = 0; r < mr; r++)
            _mm512_mask_storeu_ps(c + (long)r * ldc + 16 * v, mask[v], bias ? _mm512_add_ps(acc[r][v], bias_v) : acc[r][v]);
    }
}

NN_AVX512 static inline __attribute__((always_inline)) void
gemm_panels(const int transposed, int m, int n, int k, const float *a, long lda, const float *b, int ldb, const float *bias,
            float *c, int ldc) {
    /* One k block of one panel, packed: 24 KB, half of L1, so it stays there while every row
       block passes over it; b's own rows can be a power-of-two stride apart (M3: 4 KB), and
       then they all fall into one L1 set and the strip never stays cached (196 GFLOPS at
       256×1024×1024 read in place, 250 packed). */
    float block[K_BLOCK * TILE_COLUMNS] __attribute__((aligned(64)));
    const int pack = m >= PACK_MIN_ROWS;
    for (int col = 0; col < n; col += TILE_COLUMNS) {
        const int columns = n - col < TILE_COLUMNS ? n - col : TILE_COLUMNS;
        const int nv = (columns + 15) / 16;
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
#define NN_TILE(MR, NV) gemm_tile(MR, NV, transposed, kb, ar, lda, bb, ldbb, columns, first, bias_panel, cr, ldc)
#define NN_TILE_ROWS(MR) switch (nv) { case 1: NN_TILE(MR, 1); break; case 2: NN_TILE(MR, 2); break; default: NN_TILE(MR, 3); }
                switch (mr) {
                case 1: NN_TILE_ROWS(1); break;
                case 2: NN_TILE_ROWS(2); break;
                case 3: NN_TILE_ROWS(3); break;
                case 4: NN_TILE_ROWS(4); break;
                case 5: NN_TILE_ROWS(5); break;
                case 6: NN_TILE_ROWS(6); break;
                case 7: NN_TILE_ROWS(7); break;
                default: NN_TILE_ROWS(8); break;
                }
#undef NN_TILE_ROWS
#undef NN_TILE
            }
        }
    }
}

NN_AVX512 void nn_gemm_avx512(NN_GEMM_ARGUMENTS) {
    if (transpose_a) gemm_panels(1, m, n, k, a, lda, b, ldb, bias, c, ldc);
    else gemm_panels(0, m, n, k, a, lda, b, ldb, bias, c, ldc);
}
#endif
