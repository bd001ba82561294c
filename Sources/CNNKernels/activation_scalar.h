/* Scalar activations: the portable path, and the lanes AVX2 code hands back to libm
   (softplus, gelu). Numerically stable for every finite input. */
#ifndef NNSERVE_ACTIVATION_SCALAR_H
#define NNSERVE_ACTIVATION_SCALAR_H

#include <math.h>
#include "nn_kernels.h"

#define NN_SELU_ALPHA 1.6732632423543772f
#define NN_SELU_LAMBDA 1.0507009873554805f

static inline float nn_sigmoid_scalar(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* Elementwise activation; softmax is row-wise and handled by callers. */
static inline float nn_act_scalar(float x, int kind, float alpha) {
    switch (kind) {
    case NN_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case NN_ACT_LEAKY_RELU: return x > 0.0f ? x : alpha * x;
    case NN_ACT_ELU: return x > 0.0f ? x : alpha * expm1f(x);
    case NN_ACT_SELU: return NN_SELU_LAMBDA * (x > 0.0f ? x : NN_SELU_ALPHA * expm1f(x));
    case NN_ACT_SIGMOID: return nn_sigmoid_scalar(x);
    case NN_ACT_TANH: return tanhf(x);
    case NN_ACT_SOFTPLUS: return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
    /* ½·x·erfc(-x/√2), not ½·x·(1 + erf(x/√2)): 1 + erf cancels to noise where GELU is tiny. */
    case NN_ACT_GELU: return 0.5f * x * erfcf(-x * 0.70710678118654752f);
    default: return x;
    }
}

#endif
