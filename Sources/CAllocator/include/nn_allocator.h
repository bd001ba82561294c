#ifndef NN_ALLOCATOR_H
#define NN_ALLOCATOR_H
/* glibc allocator tuning for the executables (NNTrain.AllocatorTuning, NNServer.ServerMemory); not a kernel.
   Sets the size above which malloc serves blocks with fresh mmaps: below it, freed blocks stay
   on the heap for reuse instead of being unmapped, then mapped and faulted in anew. Returns 1
   on success, 0 where unsupported. */
int nn_set_mmap_threshold(int bytes);
/* Sets the free space at the top of a heap above which free() gives it back to the system.
   Setting it fixes it: glibc otherwise raises it to twice each mmapped block it frees. Returns 1
   on success, 0 where unsupported. */
int nn_set_trim_threshold(int bytes);
/* Gives the pages of free heap memory back to the system (malloc_trim(0)), in every arena:
   freed blocks between live ones too, which the trim threshold cannot reach. Walks and locks
   each arena in turn: call it from a background thread, seldom. Returns 1 if memory was
   released, 0 if none was or where unsupported. */
int nn_release_free_memory(void);
#endif
