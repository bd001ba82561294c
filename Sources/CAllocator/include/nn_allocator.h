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
#endif
