/* Interposes the allocator of the test process (glibc exports its implementation as
   __libc_*), counting calls while enabled. Invariant: every function forwards to glibc
   unchanged, so behaviour is the same whether counting or not.
   Under AddressSanitizer or ThreadSanitizer the sanitizer owns malloc (its interceptors are
   what it checks with), so nothing is interposed and the counter reports itself unavailable:
   the no-allocation tests are skipped there, not passed. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include "malloc_counter.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

#if defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#    define NN_SANITIZED 1
#  endif
#endif

#ifdef NN_SANITIZED
int nn_malloc_counter_available(void) { return 0; }
void nn_malloc_counter_start(void) {}
long nn_malloc_counter_stop(void) { return 0; }
#else
int nn_malloc_counter_available(void) { return 1; }

static atomic_int counting;
static atomic_long allocations;

static inline void count_one(void) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

void nn_malloc_counter_start(void) {
    atomic_store(&allocations, 0);
    atomic_store(&counting, 1);
}

long nn_malloc_counter_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&allocations);
}

void *malloc(size_t size) { count_one(); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { count_one(); return __libc_calloc(count, size); }
void *realloc(void *pointer, size_t size) { count_one(); return __libc_realloc(pointer, size); }
void free(void *pointer) { __libc_free(pointer); }
void *memalign(size_t alignment, size_t size) { count_one(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count_one(); return __libc_memalign(alignment, size); }
int posix_memalign(void **result, size_t alignment, size_t size) {
    count_one();
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer && size) return ENOMEM;
    *result = pointer;
    return 0;
}
#endif
