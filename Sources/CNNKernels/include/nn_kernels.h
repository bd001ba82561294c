#ifndef NNSERVE_NN_KERNELS_H
#define NNSERVE_NN_KERNELS_H

/*
 * nnserve's CPU kernels: pure functions over raw row-major float buffers.
 *
 * Invariants shared by every function here:
 *  - Matrices are row-major with an explicit leading dimension (ld >= columns), so a
 *    kernel can read or write a column slice of a wider buffer (concat by layout).
 *  - Outputs never alias inputs unless a function says so.
 *  - Nothing allocates; nothing keeps a pointer after returning.
 *  - Pointers need only float alignment; AVX2 paths use unaligned loads.
 *  - `use_avx2` may be non-zero only when nn_cpu_has_avx2_fma() returned 1.
 */

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

/* 1 when the CPU runs AVX2 and FMA instructions, else 0. */
int nn_cpu_has_avx2_fma(void);

/* Floats needed by nn_pack_weights for a k×n matrix. */
long nn_packed_weights_count(int k, int n);

/* Rearranges w[k, n] into column panels of 24: panel p holds, for each of the k rows, the
   24 floats of columns 24p..24p+23 (zero past n), contiguously. Done once per plan. */
void nn_pack_weights(int k, int n, const float *w, int ldw, float *packed);

/*
 * y[rows, n] = epilogue(x[rows, k] * w[k, n]): a register-blocked kernel for small batches
 * (rows of 4 at a time, 24 columns per tile) with the epilogue applied in registers.
 * `w` is row-major with leading dimension ldw; `packed` is the same matrix as laid out by
 * nn_pack_weights (both are read, by different row counts).
 */
void nn_dense_small(int rows, int k, int n,
                    const float *x, int ldx, const float *w, int ldw, const float *packed,
                    float *y, int ldy, const nn_epilogue *epilogue, int use_avx2);

/* Applies the epilogue in place to y[rows, n] (after a GEMM wrote acc into y). */
void nn_epilogue_apply(int rows, int n, float *y, int ldy, const nn_epilogue *epilogue, int use_avx2);

/* y = activation(x), elementwise or (softmax) row-wise; y may equal x. */
void nn_activation(int rows, int n, const float *x, int ldx, float *y, int ldy,
                   int activation, float alpha, int use_avx2);

/* y[:, j] = x[:, j] * scale[j] + shift[j]; y may equal x. */
void nn_affine(int rows, int n, const float *x, int ldx,
               const float *scale, const float *shift, float *y, int ldy);

/* y = a + b; y may equal a or b. */
void nn_add(int rows, int n, const float *a, int lda, const float *b, int ldb, float *y, int ldy);

/* y = x (rows of n floats between buffers of different leading dimensions). */
void nn_copy(int rows, int n, const float *x, int ldx, float *y, int ldy);

/*
 * One Adam (or AdamW, decay = lr·weight_decay) step over n parameters, in place:
 *   m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
 *   w = w - decay·w - lr·(m/correction1) / (√(v/correction2) + ε)
 * with correction_i = 1 - β_i^t. w, m, v and g must not overlap.
 */
void nn_adam_update(long n, float *w, const float *g, float *m, float *v, float beta1, float beta2,
                    float learning_rate, float correction1, float correction2, float epsilon, float decay, int use_avx2);

/* Sets glibc's mmap threshold (bytes) so large blocks are reused from the heap instead of
   mapped and faulted in anew; returns 1 on success, 0 where unsupported. */
int nn_set_mmap_threshold(int bytes);

#ifdef __cplusplus
}
#endif

#endif
