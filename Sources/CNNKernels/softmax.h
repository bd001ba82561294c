#ifndef NNSERVE_SOFTMAX_H
#define NNSERVE_SOFTMAX_H
#include "nn_kernels.h"
/* Max-subtracted softmax of each row of y[rows, n], in place. */
void nn_softmax_rows_in_place(int rows, int n, float *y, int ldy, int use_avx2);
#endif
