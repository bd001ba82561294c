#include "nn_kernels.h"

int nn_cpu_supports(nn_kernel_set set) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    switch (set) {
    case NN_KERNELS_PORTABLE: return 1;
    case NN_KERNELS_AVX2: return avx2;
    /* The subsets the AVX-512 kernels use; every AVX-512 CPU so far has all four (Xeon Phi,
       which lacks BW/DQ/VL, is the exception and gets AVX2). */
    case NN_KERNELS_AVX512:
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    case NN_KERNELS_AVX512_VNNI:
        return nn_cpu_supports(NN_KERNELS_AVX512) && __builtin_cpu_supports("avx512vnni");
    /* Every CPU with AVX512_BF16 so far also has VNNI (Cooper Lake, Sapphire Rapids, Zen 4/5). */
    case NN_KERNELS_AVX512_BF16:
        return nn_cpu_supports(NN_KERNELS_AVX512_VNNI) && __builtin_cpu_supports("avx512bf16");
    }
    return 0;
#else
    return set == NN_KERNELS_PORTABLE;
#endif
}
