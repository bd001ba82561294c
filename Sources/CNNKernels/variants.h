/* The per-instruction-set variants behind the kernel tables (kernel_tables.c). Internal:
   Swift reaches them only through nn_kernel_table_for, so a variant runs only on a CPU that
   has its instructions. Each variant family lives in its own file (dense_*.c, epilogue_*.c). */
#ifndef NNSERVE_VARIANTS_H
#define NNSERVE_VARIANTS_H
#include "nn_kernels.h"

/* Panel widths of the packed weights each dense variant reads (its register tile's columns). */
enum { NN_PORTABLE_PANEL_COLUMNS = 24, NN_AVX2_PANEL_COLUMNS = 24, NN_AVX512_PANEL_COLUMNS = 48 };

#define NN_DENSE_ARGUMENTS int rows, int k, int n, const float *x, int ldx, const float *w, int ldw, \
                           const float *packed, float *y, int ldy, const nn_epilogue *ep
void nn_dense_portable(NN_DENSE_ARGUMENTS);
void nn_dense_avx2(NN_DENSE_ARGUMENTS);
void nn_dense_avx512(NN_DENSE_ARGUMENTS);

#define NN_DENSE_BF16_ARGUMENTS int rows, int k, int n, const float *x, int ldx, const uint16_t *packed, float *y, int ldy, \
                                const nn_epilogue *ep
void nn_dense_bf16_avx512(NN_DENSE_BF16_ARGUMENTS);

#define NN_DENSE_INT8_ARGUMENTS int rows, int k, int n, const float *x, int ldx, const int8_t *packed, \
                                const float *column_scales, const int32_t *column_sums, void *scratch, float *y, int ldy, \
                                const nn_epilogue *ep
void nn_dense_int8_portable(NN_DENSE_INT8_ARGUMENTS);
void nn_dense_int8_avx2(NN_DENSE_INT8_ARGUMENTS);
void nn_dense_int8_avx512_vnni(NN_DENSE_INT8_ARGUMENTS);

void nn_epilogue_apply_portable(int rows, int n, float *y, int ldy, const nn_epilogue *ep);
void nn_epilogue_apply_avx2(int rows, int n, float *y, int ldy, const nn_epilogue *ep);
void nn_activation_portable(int rows, int n, const float *x, int ldx, float *y, int ldy, int kind, float alpha);
void nn_activation_avx2(int rows, int n, const float *x, int ldx, float *y, int ldy, int kind, float alpha);

/* Max-subtracted softmax of each row of y[rows, n], in place. */
void nn_softmax_rows_portable(int rows, int n, float *y, int ldy);
void nn_softmax_rows_avx2(int rows, int n, float *y, int ldy);

#define NN_GEMM_ARGUMENTS int m, int n, int k, const float *a, long lda, int transpose_a, const float *b, int ldb, \
                          const float *bias, float *c, int ldc
void nn_gemm_portable(NN_GEMM_ARGUMENTS);
void nn_gemm_avx2(NN_GEMM_ARGUMENTS);
void nn_gemm_avx512(NN_GEMM_ARGUMENTS);

void nn_transpose_avx2(int rows, int n, const float *x, int ldx, float *y, int ldy);

#define NN_ADAM_ARGUMENTS long n, float *w, const float *g, float *m, float *v, float beta1, float beta2, \
                          float learning_rate, float correction1, float correction2, float epsilon, float decay
void nn_adam_update_portable(NN_ADAM_ARGUMENTS);
void nn_adam_update_avx2(NN_ADAM_ARGUMENTS);
#endif
