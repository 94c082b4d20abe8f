// lib/platform.h's per-cpu and interrupt primitives for librvslab.so, inline,
// as the kernel has them (arch/riscv/include/platform_inline.h): the slab
// fast path calls cpu_id twice per alloc or free (array lookup, lock
// holder), and as calls into another file those cost more than the TLS load
// they are. Only the shim's build puts tests/host/shim on the include path;
// the host tests keep tests/host/platform.c. The rest is platform_shim.c.
#ifndef PLATFORM_INLINE_H
#define PLATFORM_INLINE_H

#include <sched.h>

// Cpu index + 1 of this thread, 0 until its first allocation. initial-exec:
// never a __tls_get_addr call, which may itself call malloc.
extern __thread int shim_this_cpu __attribute__((tls_model("initial-exec"), visibility("hidden")));
int shim_first_cpu(void) __attribute__((visibility("hidden"))); // assigns one, round-robin

static inline int cpu_id(void)
{
    int c = shim_this_cpu;
    return __builtin_expect(c != 0, 1) ? c - 1 : shim_first_cpu();
}

// No interrupts in a process: the per-array locks do what irq-off does in the kernel.
static inline unsigned long irq_save(void)
{
    return 0;
}

static inline void irq_restore(unsigned long flags)
{
    (void)flags;
}

// Yield rather than spin: a lock holder may be preempted (2 cores, many threads).
static inline void cpu_relax(void)
{
    sched_yield();
}

#endif
