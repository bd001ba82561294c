#ifndef NN_ALLOCATOR_H
#define NN_ALLOCATOR_H
/* glibc allocator tuning for training executables (NNTrain.AllocatorTuning); not a kernel.
   Sets the size above which malloc serves blocks with fresh mmaps: below it, freed blocks stay
   on the heap for reuse instead of being unmapped, then mapped and faulted in anew. Returns 1
   on success, 0 where unsupported. */
int nn_set_mmap_threshold(int bytes);
#endif
