#ifndef NNSERVE_COPENBLAS_SHIM_H
#define NNSERVE_COPENBLAS_SHIM_H
/* cblas.h from Debian's libopenblas-dev also declares the OpenBLAS extensions
   (openblas_set_num_threads, openblas_get_num_threads). */
#include <cblas.h>
#endif
