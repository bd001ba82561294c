/* Training's GEMM loop, the same on every instruction set: k in blocks; op(a)'s block packed
   once, tile by tile, so a register tile reads its rows' k values contiguously (rows of a
   a power of two apart share one L1 set with the b block: M3's 4 KB rows); then column panels
   of the set's tile width, each block of a panel staying in L1 while every row tile passes
   over it, copied into a contiguous buffer first when c has enough rows to repay the copy. */
#include <stdlib.h>
#include <string.h>
#include "gemm_blocking.h"

/* op(a)'s packed block: one buffer per thread, grown to the largest block it has packed and
   kept (training threads live for the process; a GEMM allocates nothing once warm). */
static __thread float *packed_a;
static __thread long packed_a_capacity;

static float *packed_a_buffer(long floats) {
    if (floats > packed_a_capacity) {
        free(packed_a);
        void *memory = NULL;
        if (posix_memalign(&memory, 64, (size_t)floats * sizeof(float)) != 0) abort();
        packed_a = memory;
        packed_a_capacity = floats;
    }
    return packed_a;
}

/* Rows [0, m) of op(a) for k in [p0, p0 + kb), tile by tile (zeros past m). Each source row
   is read along its length: a's rows for a, a's k rows (the tile's rows side by side) for aᵀ. */
static void pack_a(int m, int kb, int p0, const float *a, long lda, int transposed, int tile_rows, float *out) {
    for (int row = 0; row < m; row += tile_rows) {
        float *tile = out + (long)row * kb;
        const int rows = m - row < tile_rows ? m - row : tile_rows;
        if (transposed) {
            for (int p = 0; p < kb; p++) {
                const float *source = a + (long)(p0 + p) * lda + row;
                float *destination = tile + (long)p * tile_rows;
                for (int r = 0; r < rows; r++) destination[r] = source[r];
                for (int r = rows; r < tile_rows; r++) destination[r] = 0.0f;
            }
        } else {
            for (int r = 0; r < rows; r++) {
                const float *source = a + (long)(row + r) * lda + p0;
                for (int p = 0; p < kb; p++) tile[(long)p * tile_rows + r] = source[p];
            }
            for (int r = rows; r < tile_rows; r++)
                for (int p = 0; p < kb; p++) tile[(long)p * tile_rows + r] = 0.0f;
        }
    }
}

void nn_gemm_blocked(const nn_gemm_blocking *blocking, NN_GEMM_ARGUMENTS) {
    float packed[NN_GEMM_MAX_BLOCK_FLOATS] __attribute__((aligned(64)));
    const int width = blocking->panel_columns;
    const int pack = m >= blocking->pack_min_rows;
    if (k == 0) {
        /* An empty sum: c is the bias (or zeros) on every row, as in the portable variant. */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[(long)i * ldc + j] = bias ? bias[j] : 0.0f;
        return;
    }
    const int tile_rows = blocking->tile_rows;
    const long padded_rows = (m + tile_rows - 1) / tile_rows * tile_rows;
    float *a_block = packed_a_buffer(padded_rows * blocking->k_block);
    for (int p0 = 0; p0 < k; p0 += blocking->k_block) {
        const int kb = k - p0 < blocking->k_block ? k - p0 : blocking->k_block;
        pack_a(m, kb, p0, a, lda, transpose_a, tile_rows, a_block);
        for (int col = 0; col < n; col += width) {
            const int columns = n - col < width ? n - col : width;
            nn_gemm_block block = {
                .m = m, .k = kb, .columns = columns, .a = a_block,
                .b = b + (long)p0 * ldb + col, .ldb = ldb,
                .first = p0 == 0, .bias = bias && p0 + kb == k ? bias + col : 0,
                .c = c + col, .ldc = ldc,
            };
            if (pack) {
                /* A row copy per k row (this file has no vector target: memcpy brings its own),
                   zeros past n so the kernel loads whole vectors. */
                for (int p = 0; p < kb; p++) {
                    memcpy(packed + p * width, block.b + (long)p * ldb, (size_t)columns * sizeof(float));
                    if (columns < width) memset(packed + p * width + columns, 0, (size_t)(width - columns) * sizeof(float));
                }
                block.b = packed;
                block.ldb = width;
            }
            blocking->kernel(&block);
        }
    }
}
