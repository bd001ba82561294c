#ifndef NNSERVE_MALLOC_COUNTER_H
#define NNSERVE_MALLOC_COUNTER_H
/* Counts heap allocations (malloc, calloc, realloc, aligned variants) made by any thread
   between start and stop. Linked only into the test binary, where it interposes glibc's
   allocator and forwards every call to it. */
/* 0 in a sanitizer build, where the sanitizer owns malloc and nothing is counted. */
int nn_malloc_counter_available(void);
void nn_malloc_counter_start(void);
long nn_malloc_counter_stop(void);
#endif
