/* The loop training's GEMM runs on every instruction set (gemm_blocking.c), and the one piece
   each set supplies: a kernel over one k block of one column panel. */
#ifndef NNSERVE_GEMM_BLOCKING_H
#define NNSERVE_GEMM_BLOCKING_H
#include "variants.h"

/* One k block of one column panel: c[m, columns] (+)= op(a)[m, k] · b[k, columns]. */
typedef struct {
    int m, k, columns;
    /* op(a)'s rows for the block's k, packed by tiles of `tile_rows` rows: element (i, p) at
       a[(i / tile_rows)·k·tile_rows + p·tile_rows + i % tile_rows], zeros past m. */
    const float *a;
    /* The block of b: packed (ldb = the panel width, zeros past `columns`) or b in place. */
    const float *b;
    long ldb;
    /* The first block starts its sums at 0; later ones resume from c's partial sums, which
       continues the same chain of FMAs, so blocking changes no bit of the result. */
    int first;
    /* Added after the last block's sums; NULL before the last block (or without a bias). */
    const float *bias;
    float *c;
    int ldc;
} nn_gemm_block;

typedef struct {
    /* The set's tile: panels of this many columns, a packed in tiles of this many rows. */
    int panel_columns;
    int tile_rows;
    /* Rows of b per block; panel_columns × k_block floats must fit NN_GEMM_MAX_BLOCK_FLOATS. */
    int k_block;
    /* From this many rows of c on, each block is copied into a contiguous buffer first: rows of
       b a power of two apart (M3: 4 KB) fall into one L1 set and never stay cached; with fewer
       rows the copy costs more than it saves. */
    int pack_min_rows;
    void (*kernel)(const nn_gemm_block *block);
} nn_gemm_blocking;

/* 24 KB of stack, half a Zen L1. */
enum { NN_GEMM_MAX_BLOCK_FLOATS = 48 * 128 };

void nn_gemm_blocked(const nn_gemm_blocking *blocking, NN_GEMM_ARGUMENTS);
#endif
