/*
 * AVX-512 BF16 Dense for models stored as bf16: y = epilogue(x·w) with vdpbf16ps.
 *
 * A model exported with `--weights bf16` holds weights with 8 significant bits; computing
 * them as fp32 streams 4 bytes per weight where 2 carry the information. Here the weights stay
 * bf16 (packed at plan compile time by nn_pack_weights_bf16: panels of 48 columns, each k
 * pair (p, p+1) interleaved per column, so one 32-bit lane holds w[p][j] and w[p+1][j]), and
 * the inputs are rounded to bf16 per call, a k block at a time, into a stack buffer. One
 * vdpbf16ps adds x[p]·w[p][j] + x[p+1]·w[p+1][j] to an fp32 accumulator in each lane: twice
 * the multiply-adds of an FMA, half the weight bytes. Accumulation and the epilogue stay
 * fp32 (epilogue_avx512.h, the same code as the fp32 kernel).
 *
 * Accuracy: rounding an input to bf16 (8 significant bits, to nearest even) changes it by at
 * most 2⁻⁸ relative, so each product term is off by at most that much, and a sum by at most
 * 2⁻⁸·Σ|x·w| plus fp32's own rounding of the accumulation. Tests hold the kernel to
 * 2⁻⁷·Σ|x·w| + 1e-6 against the same sum in double over the bf16 weights and fp32 inputs.
 * Weights a plan rescales (input standardization or a batch norm folded into the layer) are
 * rounded to bf16 again when packed: another 2⁻⁸ per term for those layers.
 *
 * The tile is the fp32 kernel's 8 rows × 48 columns (24 zmm accumulators), one or two rows
 * included: bf16 panels are contiguous, so one row reads its weights sequentially at half
 * the bytes of the fp32 streaming path.
 */
#include "variants.h"
#include "tile_switch.h"
#include "epilogue_avx512.h"

#if defined(__x86_64__)
#define NN_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma")))

enum { TILE_ROWS = 8, TILE_VECTORS = 3, TILE_COLUMNS = 16 * TILE_VECTORS };
_Static_assert(TILE_COLUMNS == NN_AVX512_PANEL_COLUMNS, "bf16 panels have the fp32 panels' width");
/* Input pairs rounded per block: 8 rows × 256 pairs × 4 bytes = 8 KB of stack. */
enum { PAIR_BLOCK = 256 };

/* Rounds floats [p0, p0 + 2·pairs) of a row (k floats) to bf16 pairs; past k, zeros. */
NN_AVX512_BF16 static inline void round_pairs(const float *row, int k, int p0, int pairs, uint32_t *out) {
    for (int q = 0; q < pairs; q += 16) {
        const int p = p0 + 2 * q;
        const int low_count = k - p, high_count = k - p - 16;
        const __m512 low = _mm512_maskz_loadu_ps(lanes16(low_count < 0 ? 0 : low_count), row + p);
        const __m512 high = _mm512_maskz_loadu_ps(lanes16(high_count < 0 ? 0 : high_count), row + p + 16);
        _mm512_storeu_si512((void *)(out + q), (__m512i)_mm512_cvtne2ps_pbh(high, low));
    }
}

NN_AVX512_BF16 static inline __attribute__((always_inline)) void
tile_bf16(const int mr, const int nv, int k, const float *x, int ldx, const uint16_t *panel, float *y, int ldy,
          int row0, int col0, int columns, const nn_epilogue *ep) {
    __m512 acc[TILE_ROWS][TILE_VECTORS];
    uint32_t pairs[TILE_ROWS][PAIR_BLOCK] __attribute__((aligned(64)));
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_ps();
    const int total_pairs = (k + 1) / 2;
    for (int q0 = 0; q0 < total_pairs; q0 += PAIR_BLOCK) {
        const int block = total_pairs - q0 < PAIR_BLOCK ? total_pairs - q0 : PAIR_BLOCK;
        /* Whole groups of 16 pairs are rounded (zeros past k), so the buffer is always full. */
        for (int r = 0; r < mr; r++) round_pairs(x + (long)r * ldx, k, 2 * q0, block, pairs[r]);
        const uint16_t *w = panel + (long)q0 * 2 * TILE_COLUMNS;
        for (int q = 0; q < block; q++) {
            /* A pair row of the panel: 48 columns × 2 bf16, zero-padded past n and past k. */
            __m512bh wv[TILE_VECTORS];
            for (int v = 0; v < nv; v++) wv[v] = (__m512bh)_mm512_loadu_si512((const void *)(w + (long)q * 2 * TILE_COLUMNS + 32 * v));
            for (int r = 0; r < mr; r++) {
                const __m512bh xb = (__m512bh)_mm512_set1_epi32((int)pairs[r][q]);
                for (int v = 0; v < nv; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], xb, wv[v]);
            }
        }
    }
    const __mmask16 last = lanes16(columns - 16 * (nv - 1));
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            epilogue_store16(acc[r][v], y + (long)r * ldy + col0 + 16 * v, col0 + 16 * v, row0 + r,
                             v == nv - 1 ? last : (__mmask16)0xFFFF, ep);
}

NN_AVX512_BF16 void nn_dense_bf16_avx512(NN_DENSE_BF16_ARGUMENTS) {
    const long pair_rows = (k + 1) / 2;
    for (int col = 0; col < n; col += TILE_COLUMNS) {
        const int columns = n - col < TILE_COLUMNS ? n - col : TILE_COLUMNS;
        const int nv = (columns + 15) / 16;
        const uint16_t *panel = packed + (long)(col / TILE_COLUMNS) * pair_rows * 2 * TILE_COLUMNS;
        for (int row = 0; row < rows; row += TILE_ROWS) {
            const int mr = rows - row < TILE_ROWS ? rows - row : TILE_ROWS;
            const float *xr = x + (long)row * ldx;
            float *yr = y + (long)row * ldy;
#define NN_TILE(MR, NV) tile_bf16(MR, NV, k, xr, ldx, panel, yr, ldy, row, col, columns, ep)
#define NN_TILE_ROWS(MR) switch (nv) { case 1: NN_TILE(MR, 1); break; case 2: NN_TILE(MR, 2); break; default: NN_TILE(MR, 3); }
            NN_FOR_TILE_ROWS_8(mr, NN_TILE_ROWS)
#undef NN_TILE_ROWS
#undef NN_TILE
        }
    }
    if (ep->activation == NN_ACT_SOFTMAX) nn_softmax_rows_avx2(rows, n, y, ldy);
}
#endif
