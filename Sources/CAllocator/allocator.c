/* glibc allocator tuning for the executables (see NNTrain.AllocatorTuning, NNServer.ServerMemory). */
#include "nn_allocator.h"
/* Any libc header first: glibc defines __GLIBC__ in <features.h>, which it brings in. Without
   it the test below was false and every setting here compiled to nothing. */
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int nn_set_mmap_threshold(int bytes) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}

int nn_set_trim_threshold(int bytes) {
#if defined(__GLIBC__)
    return mallopt(M_TRIM_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}


int nn_release_free_memory(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}
