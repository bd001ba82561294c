#ifndef NNSERVE_NN_KERNELS_H
#define NNSERVE_NN_KERNELS_H

/*
 * nnserve's CPU kernels: pure functions over raw row-major float buffers.
 *
 * Invariants shared by every function here:
 *  - Matrices are row-major with an explicit leading dimension (ld >= columns), so a
 *    kernel can read or write a column slice of a wider buffer (concat by layout).
 *  - Outputs never alias inputs unless a function says so.
 *  - Nothing allocates, except gemm's one buffer per thread for op(a)'s packed k block (grown
 *    to the largest block that thread has packed and kept); nothing keeps a pointer to its
 *    arguments after returning.
 *  - Pointers need only float alignment; AVX2 paths use unaligned loads.
 *  - The SIMD variants are reached only through a kernel table (nn_kernel_table_for), which
 *    exists for a set only when nn_cpu_supports(set) is 1: no function takes a per-call
 *    "which instructions" flag, and no code path can run an instruction the CPU lacks.
 */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Activation codes; the Swift side maps NNCore.Activation onto them. */
enum {
    NN_ACT_LINEAR = 0,
    NN_ACT_RELU = 1,
    NN_ACT_LEAKY_RELU = 2,
    NN_ACT_ELU = 3,
    NN_ACT_SELU = 4,
    NN_ACT_SIGMOID = 5,
    NN_ACT_TANH = 6,
    NN_ACT_SOFTPLUS = 7,
    NN_ACT_GELU = 8,
    NN_ACT_SOFTMAX = 9
};

/*
 * What is applied to each output element of a Dense layer after the matrix product:
 *     y = post_activation(activation(acc + bias) + residual)
 * bias: [n] or NULL. residual: [rows, n] with leading dimension residual_ld, or NULL; it
 * must not alias y. activation may be NN_ACT_SOFTMAX (row-wise) only when residual is NULL
 * and post_activation is NN_ACT_LINEAR; post_activation is never NN_ACT_SOFTMAX.
 */
typedef struct {
    const float *bias;
    int activation;
    float alpha;
    const float *residual;
    int residual_ld;
    int post_activation;
    float post_alpha;
} nn_epilogue;

/* The instruction sets kernels are written for; the best one the CPU runs is chosen once
   per process (NNInference.KernelSet, overridable with NNSERVE_KERNELS). */
typedef enum {
    NN_KERNELS_PORTABLE = 0, /* plain C, any CPU: the cross-check for the others */
    NN_KERNELS_AVX2 = 1,     /* AVX2 + FMA (Haswell, Zen 1-3 and later) */
    NN_KERNELS_AVX512 = 2,   /* AVX-512 F/BW/DQ/VL + AVX2 + FMA (Skylake-SP and later Xeons, Zen 4/5) */
    NN_KERNELS_AVX512_BF16 = 3, /* the AVX-512 VNNI set + AVX512_BF16 for bf16-stored models (Cooper
                                   Lake, Sapphire Rapids and later Xeons, Zen 4/5) */
    NN_KERNELS_AVX512_VNNI = 4  /* the AVX-512 set + AVX512_VNNI (vpdpbusd) for int8-stored models
                                   (Cascade Lake, Ice Lake and later Xeons, Zen 4/5) */
} nn_kernel_set;

/* 1 when this CPU (and OS) runs every instruction of the set, else 0. */
int nn_cpu_supports(nn_kernel_set set);

/*
 * One set's kernels. Every variant computes the same function; they differ in speed and in
 * the last bits of rounding (sums run in the same order per element, activations share one
 * polynomial per width).
 *
 * dense: y[rows, n] = epilogue(x[rows, k] · w[k, n]) for any row count: register tiles over
 *   `packed` (w as laid out by nn_pack_weights with this table's panel_columns), the
 *   epilogue applied in registers before the single store; one row (AVX2: one or two) streams the
 *   row-major `w` (ldw) instead. Both `w` and `packed` must be given.
 * dense_bf16: as dense, with the weights bf16 as laid out by nn_pack_weights_bf16 and each
 *   input rounded to bf16 (vdpbf16ps; fp32 accumulation and epilogue; within 2⁻⁷·Σ|x·w| of
 *   the exact sum over the packed weights). NULL in every set but
 *   avx512bf16: plans use it only for models stored as bf16 (PlanOptions.storedWeights).
 * dense_int8: as dense, with int8 weights q (w[p][j] ≈ q[p][j]·column_scales[j]) as laid out by
 *   nn_pack_weights_int8, column_sums[j] = Σ_p q[p][j], and each input row quantized per call
 *   into `scratch` (nn_int8_scratch_bytes(rows, k) bytes, 64-byte aligned, owned by the caller):
 *   u = clamp(round(x·L/(hi-lo)) + z, 0, L) with lo = min(0, min x), hi = max(0, max x),
 *   L = int8_levels, z = round(-lo·L/(hi-lo)), so x ≈ (u - z)·(hi-lo)/L. The products are
 *   summed exactly in int32 and y = epilogue(float(Σ u·q - z·column_sums[j]) · (row_scale ·
 *   column_scales[j])): the offset z is removed exactly. Every variant computes the same
 *   integers as nn_dense_int8_reference with its table's int8_levels, so outputs differ only
 *   in the epilogue's last bits.
 * epilogue_apply: the epilogue in place on y[rows, n] (after a GEMM wrote the products to y).
 * activation: y = activation(x), elementwise or (softmax) row-wise; y may equal x.
 * gemm: c[m, n] = op(a)[m, k] · b[k, n] (+ bias[j] on every row when bias is not NULL), for
 *   training's products x·W, xᵀ·dz and dz·Wᵀ (through nn_transpose). op(a) is a[m, k] (lda)
 *   or, with transpose_a, the transpose of a[k, m] (lda). b is row-major; weights change
 *   every step, so it is not packed once per plan but read a k block at a time (copied into
 *   a stack buffer when c has many rows: gemm_blocking.c); op(a)'s k block is packed tile by
 *   tile first, for a and aᵀ alike. Each element sums over p
 *   ascending, then adds the bias; k = 0 gives the bias. c must not overlap a, b or bias.
 * adam_update: one Adam (or AdamW, decay = lr·weight_decay) step over n parameters in place:
 *   m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
 *   w = w - decay·w - lr·(m/correction1) / (√(v/correction2) + ε)
 *   with correction_i = 1 - β_i^t. w, m, v and g must not overlap.
 */
typedef struct {
    nn_kernel_set set;
    const char *name;
    /* Columns per panel of the packed weights `dense` reads. */
    int panel_columns;
    void (*dense)(int rows, int k, int n, const float *x, int ldx, const float *w, int ldw, const float *packed,
                  float *y, int ldy, const nn_epilogue *epilogue);
    void (*dense_bf16)(int rows, int k, int n, const float *x, int ldx, const uint16_t *packed, float *y, int ldy,
                       const nn_epilogue *epilogue);
    void (*epilogue_apply)(int rows, int n, float *y, int ldy, const nn_epilogue *epilogue);
    void (*dense_int8)(int rows, int k, int n, const float *x, int ldx, const int8_t *packed, const float *column_scales,
                       const int32_t *column_sums, void *scratch, float *y, int ldy, const nn_epilogue *epilogue);
    /* Levels of the inputs' quantization in dense_int8: 255 where products are summed in 32
       bits (vpdpbusd), 127 where pairs are summed in 16 bits first (vpmaddubsw: 2·127·127
       fits, 2·255·127 would saturate) and in the portable set, the oracle of that coarsest
       variant. */
    int int8_levels;
    void (*activation)(int rows, int n, const float *x, int ldx, float *y, int ldy, int activation, float alpha);
    void (*gemm)(int m, int n, int k, const float *a, long lda, int transpose_a, const float *b, int ldb,
                 const float *bias, float *c, int ldc);
    void (*adam_update)(long n, float *w, const float *g, float *m, float *v, float beta1, float beta2,
                        float learning_rate, float correction1, float correction2, float epsilon, float decay);
    /* y[n, rows] = x[rows, n]ᵀ (ldy ≥ rows), as nn_transpose: the same values, faster. */
    void (*transpose)(int rows, int n, const float *x, int ldx, float *y, int ldy);
} nn_kernel_table;

/* The table of a set, or NULL when this CPU lacks it (nn_cpu_supports(set) == 0). */
const nn_kernel_table *nn_kernel_table_for(nn_kernel_set set);

/* Floats needed by nn_pack_weights for a k×n matrix in panels of `panel_columns`. */
long nn_packed_weights_count(int k, int n, int panel_columns);

/* Rearranges w[k, n] into column panels: panel p holds, for each of the k rows, the
   `panel_columns` floats of columns p·panel_columns ... (zero past n), contiguously, so a
   register tile reads its weights sequentially. Done once per plan. */
void nn_pack_weights(int k, int n, const float *w, int ldw, int panel_columns, float *packed);

/* bf16 values (uint16) needed by nn_pack_weights_bf16 for a k×n matrix. */
long nn_packed_weights_bf16_count(int k, int n, int panel_columns);

/* w[k, n] rounded to bf16 (to nearest even) in column panels for dense_bf16: panel p holds,
   for each pair of rows (2q, 2q+1), `panel_columns` pairs (w[2q][j], w[2q+1][j]) of columns
   p·panel_columns ... — one 32-bit lane per column, as vdpbf16ps reads them — with zeros past
   n and, for odd k, a zero row at the end. */
void nn_pack_weights_bf16(int k, int n, const float *w, int ldw, int panel_columns, uint16_t *packed);

/* Columns per panel of the int8 weights: one 512-bit vector of 16 columns × 4 rows, the layout
   every int8 variant reads (AVX2 as two halves). */
enum { NN_INT8_PANEL_COLUMNS = 16 };

/* Bytes needed by nn_pack_weights_int8 for a k×n matrix. */
long nn_packed_weights_int8_bytes(int k, int n);

/* q[k, n] in panels of 16 columns: panel p holds, for each quad of rows (4t ... 4t+3), 16
   columns × 4 bytes (q[4t][j], q[4t+1][j], q[4t+2][j], q[4t+3][j]) — one 32-bit lane per column,
   as vpdpbusd reads it — with zeros past n and past k. Also writes column_sums[j] = Σ_p q[p][j]. */
void nn_pack_weights_int8(int k, int n, const int8_t *q, int ldq, int8_t *packed, int32_t *column_sums);

/* Bytes of the scratch dense_int8 needs for `rows` rows of k inputs. */
long nn_int8_scratch_bytes(int rows, int k);

/* The oracle of every dense_int8 variant: plain loops, inputs quantized to `levels` levels. */
void nn_dense_int8_reference(int levels, int rows, int k, int n, const float *x, int ldx, const int8_t *packed,
                             const float *column_scales, const int32_t *column_sums, void *scratch, float *y, int ldy,
                             const nn_epilogue *epilogue);

/* y[:, j] = x[:, j] * scale[j] + shift[j]; y may equal x. */
void nn_affine(int rows, int n, const float *x, int ldx,
               const float *scale, const float *shift, float *y, int ldy);

/* y = a + b; y may equal a or b. */
void nn_add(int rows, int n, const float *a, int lda, const float *b, int ldb, float *y, int ldy);

/* y[n, rows] = x[rows, n]ᵀ (ldy ≥ rows); y must not overlap x. */
void nn_transpose(int rows, int n, const float *x, int ldx, float *y, int ldy);

/* y = x (rows of n floats between buffers of different leading dimensions). */
void nn_copy(int rows, int n, const float *x, int ldx, float *y, int ldy);

#ifdef __cplusplus
}
#endif

#endif
