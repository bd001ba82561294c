/* Training's GEMM loop, the same on every instruction set: column panels of the set's tile
   width; k in blocks, so a block of a panel stays in L1 while every row block passes over it;
   the block packed into a contiguous buffer when c has enough rows to repay the copy. */
#include <string.h>
#include "gemm_blocking.h"

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
    for (int col = 0; col < n; col += width) {
        const int columns = n - col < width ? n - col : width;
        for (int p0 = 0; p0 < k; p0 += blocking->k_block) {
            const int kb = k - p0 < blocking->k_block ? k - p0 : blocking->k_block;
            nn_gemm_block block = {
                .m = m, .k = kb, .columns = columns,
                .a = transpose_a ? a + (long)p0 * lda : a + p0, .lda = lda, .transposed = transpose_a,
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
