/* One table per instruction set: the only way from Swift to a SIMD variant, so a set's
   instructions run only where nn_cpu_supports(set) said yes. The AVX-512 table reuses the
   AVX2 epilogue, activation and Adam passes: they are memory-bound, and AVX2 code runs at
   full speed on every AVX-512 CPU. */
#include <stddef.h>
#include "variants.h"

static const nn_kernel_table portable_table = {
    NN_KERNELS_PORTABLE, "portable", NN_PORTABLE_PANEL_COLUMNS,
    nn_dense_portable, NULL, nn_epilogue_apply_portable, nn_dense_int8_portable, 127, nn_activation_portable, nn_gemm_portable, nn_adam_update_portable, nn_transpose,
};

#if defined(__x86_64__)
static const nn_kernel_table avx2_table = {
    NN_KERNELS_AVX2, "avx2", NN_AVX2_PANEL_COLUMNS,
    nn_dense_avx2, NULL, nn_epilogue_apply_avx2, nn_dense_int8_avx2, 127, nn_activation_avx2, nn_gemm_avx2, nn_adam_update_avx2, nn_transpose_avx2,
};

static const nn_kernel_table avx512_table = {
    NN_KERNELS_AVX512, "avx512", NN_AVX512_PANEL_COLUMNS,
    nn_dense_avx512, NULL, nn_epilogue_apply_avx2, nn_dense_int8_avx2, 127, nn_activation_avx2, nn_gemm_avx512, nn_adam_update_avx2, nn_transpose_avx2,
};

/* The AVX-512 set with vpdpbusd for int8-stored models. */
static const nn_kernel_table avx512_vnni_table = {
    NN_KERNELS_AVX512_VNNI, "avx512vnni", NN_AVX512_PANEL_COLUMNS,
    nn_dense_avx512, NULL, nn_epilogue_apply_avx2, nn_dense_int8_avx512_vnni, 255, nn_activation_avx2, nn_gemm_avx512, nn_adam_update_avx2, nn_transpose_avx2,
};

/* The AVX-512 VNNI set with bf16 dot products for bf16-stored models; fp32 models run exactly
   as in the avx512 set. */
static const nn_kernel_table avx512_bf16_table = {
    NN_KERNELS_AVX512_BF16, "avx512bf16", NN_AVX512_PANEL_COLUMNS,
    nn_dense_avx512, nn_dense_bf16_avx512, nn_epilogue_apply_avx2, nn_dense_int8_avx512_vnni, 255, nn_activation_avx2, nn_gemm_avx512, nn_adam_update_avx2, nn_transpose_avx2,
};
#endif

const nn_kernel_table *nn_kernel_table_for(nn_kernel_set set) {
    if (!nn_cpu_supports(set)) return NULL;
    switch (set) {
    case NN_KERNELS_PORTABLE: return &portable_table;
#if defined(__x86_64__)
    case NN_KERNELS_AVX2: return &avx2_table;
    case NN_KERNELS_AVX512: return &avx512_table;
    case NN_KERNELS_AVX512_VNNI: return &avx512_vnni_table;
    case NN_KERNELS_AVX512_BF16: return &avx512_bf16_table;
#endif
    default: return NULL;
    }
}
