// librvslab.so's heap: the "RAM" the buddy allocator manages, reserved from
// the host as it is used (tests/host/shim_heap.c). Only the shim's build
// puts tests/host/shim on the include path.
#ifndef SHIM_HEAP_H
#define SHIM_HEAP_H

#include "lib/platform.h"

#define HIDDEN __attribute__((visibility("hidden")))

extern uintptr_t shim_heap_base HIDDEN;
extern size_t shim_heap_bytes HIDDEN; // atomic: grows
extern int shim_heap_state HIDDEN;    // 0 not set up, 1 being set up, 2 ready, 3 failed,
                                      // 4 ready and a shrink asked (shim_heap.c)

bool heap_ready_slow(void) HIDDEN;       // sets the heap up on the first call
size_t heap_trim_now(size_t pad) HIDDEN; // malloc_trim: free memory beyond pad back; frames
void shim_big_lock(bool lock) HIDDEN;    // malloc_shim.c's big-block list lock, around fork
void malloc_classes_forget(void) HIDDEN; // malloc_shim.c: every malloc takes the slow way once

// True once the heap is usable. The first caller sets it up; threads that
// arrive meanwhile wait. (State 4 takes the slow way: it shrinks the heap.)
static inline bool heap_ready(void)
{
    return likely(__atomic_load_n(&shim_heap_state, __ATOMIC_ACQUIRE) == 2) || heap_ready_slow();
}

// A pointer into the heap (the rest are big blocks, or not ours).
static inline bool in_heap(const void *p)
{
    return (uintptr_t)p - shim_heap_base < __atomic_load_n(&shim_heap_bytes, __ATOMIC_RELAXED);
}

#endif
