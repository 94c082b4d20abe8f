// A library with no code that matters, preloaded as the allocators are: what
// LD_PRELOAD itself costs a process (the loader maps, relocates and
// initialises one more object). The fork+exec chain (spawn.c) measures
// every allocator against it and against no preload at all.
void rvslab_empty_library(void);
void rvslab_empty_library(void) {}
