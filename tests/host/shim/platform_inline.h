// lib/platform.h's per-cpu primitives for librvslab.so, inline, as the
// kernel has them (arch/riscv/include/platform_inline.h): the slab fast path
// runs them on every malloc and free, and as calls into another file they
// would cost more than the TLS load and the one atomic they are. Only the
// shim's build puts tests/host/shim on the include path; the host tests keep
// tests/host/platform.c. The rest is in platform_shim.c.
//
// Threads here belong to someone else's program, and several may share one
// cpu index: the per-CPU section is a lock on the index's slot (a plain
// test-and-set; waiting is out of line).
#ifndef PLATFORM_INLINE_H
#define PLATFORM_INLINE_H

#define PLATFORM_INLINE 1

// Cpu index + 1 of this thread, 0 until its first allocation. initial-exec:
// never a __tls_get_addr call, which may itself call malloc.
extern __thread int shim_this_cpu __attribute__((tls_model("initial-exec"), visibility("hidden")));
extern __thread int shim_noff __attribute__((tls_model("initial-exec"), visibility("hidden")));
int shim_first_cpu(void) __attribute__((visibility("hidden"))); // assigns one, round-robin

struct shim_slot {
    int locked;
} __attribute__((aligned(64)));
extern struct shim_slot shim_slot[] __attribute__((visibility("hidden")));
void shim_slot_wait(struct shim_slot *s) __attribute__((visibility("hidden")));
void shim_sections_lock_all(void) __attribute__((visibility("hidden")));   // around fork()
void shim_sections_unlock_all(void) __attribute__((visibility("hidden"))); // and after it

static inline int cpu_id(void)
{
    int c = shim_this_cpu;
    return __builtin_expect(c != 0, 1) ? c - 1 : shim_first_cpu();
}

// No interrupts in a process.
static inline unsigned long irq_save(void)
{
    return 0;
}

static inline void irq_restore(unsigned long flags)
{
    (void)flags;
}

static inline void push_off(void)
{
    shim_noff++;
}

static inline void pop_off(void)
{
    shim_noff--;
}

static inline unsigned long local_lock_irqsave(void)
{
    struct shim_slot *s = &shim_slot[cpu_id()];
    if (__builtin_expect(__atomic_exchange_n(&s->locked, 1, __ATOMIC_ACQUIRE) != 0, 0))
        shim_slot_wait(s);
    return 0;
}

static inline void local_unlock_irqrestore(unsigned long flags)
{
    (void)flags;
    __atomic_store_n(&shim_slot[cpu_id()].locked, 0, __ATOMIC_RELEASE);
}

// Spin locks are held by threads, not by cpu indices (which threads share).
static inline long lock_owner_self(void)
{
    return (long)&shim_noff;
}

#endif
