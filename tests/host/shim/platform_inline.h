// lib/platform.h's per-cpu primitives for librvslab.so, inline, as the
// kernel has them (arch/riscv/include/platform_inline.h): the slab fast path
// runs them on every malloc and free. Only the shim's build puts
// tests/host/shim on the include path; the host tests keep
// tests/host/platform.c. The rest, and why it is correct, is in
// platform_shim.c.
//
// A thread owns a cpu slot while it lives. Its per-CPU section is then a
// flag only it writes (busy) and a flag it reads (remote), with no atomic
// read-modify-write and no fence: another thread that must work on the
// slot (a cross-call, stop_machine, fork) sets remote, and membarrier()
// makes the owner's busy visible to it, or remote visible to the owner.
// Everything else -- a thread's first section, a slot shared by threads
// when all are taken, a section nested in a cross-call, an owner that
// finds remote set -- goes out of line (shim_lock_slow), to the slot's lock.
#ifndef PLATFORM_INLINE_H
#define PLATFORM_INLINE_H

#include <stdbool.h>

#define PLATFORM_INLINE 1

// One per cpu index, a cache line each. local_lock_irqsave's flags are the
// address of the word local_unlock_irqrestore clears: busy, lock or nest.
// Each of the three has a copy of the slot's index 16 bytes further on, so
// local_lock_cpu is one load from flags, whichever way the section went.
struct shim_slot {
    int busy;   // the owner is in its section the fast way (written by the owner only)
    int lock;   // a section the slow way: sharers, cross-calls, an owner that found remote
    int nest;   // a section nested in a cross-call on this slot: cleared, never read
    int remote; // nonzero: the owner must take `lock` (a cross-call or stop is on)
    int cpu[3]; // this slot's index, three times: at busy + 16, lock + 16, nest + 16
    int state;  // SLOT_FREE or SLOT_OWNED (platform_shim.c)
    long owner; // lock_owner_self() of the owning thread, 0 if none
    int used;   // ever taken: cross-calls visit only these (no other has arrays)
} __attribute__((aligned(64)));

// This thread's slot while it owns one and sections go the fast way; else
// (before its first section, when it shares a slot, during a cross-call)
// shim_no_slot, whose remote is always set: the quick way in then fails at
// the test every owner makes anyway, and the fast paths need no NULL test.
// Its busy word is written by every such thread and read by none.
// initial-exec: never a __tls_get_addr call, which may itself call malloc.
extern __thread struct shim_slot *shim_own
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
extern struct shim_slot shim_no_slot __attribute__((visibility("hidden")));
// Cpu index + 1 this thread runs as (its slot, or another in a cross-call);
// 0 until its first allocation.
extern __thread int shim_this_cpu __attribute__((tls_model("initial-exec"), visibility("hidden")));
extern __thread int shim_noff __attribute__((tls_model("initial-exec"), visibility("hidden")));
int shim_first_cpu(void) __attribute__((visibility("hidden")));            // takes a slot
unsigned long shim_lock_slow(void) __attribute__((visibility("hidden")));  // the section, by lock
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

// The owner's way in: say busy, then look for a remote worker. The signal
// fence keeps the compiler from swapping the store and the load (the CPU
// may: membarrier answers for that, platform_shim.c); the acquire load
// keeps the section's own accesses after the look. Anything else -- no
// slot owned (shim_no_slot), or a remote worker on it -- is
// local_lock_irqsave's.
#define PLATFORM_HAS_TRYLOCK 1
#if defined(__has_feature) // clang says "thread sanitizer" only this way
#define SHIM_CLANG_TSAN __has_feature(thread_sanitizer)
#else
#define SHIM_CLANG_TSAN 0
#endif
static inline bool local_trylock_irqsave(unsigned long *flags)
{
    struct shim_slot *s = shim_own;
    __atomic_store_n(&s->busy, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__) && !SHIM_CLANG_TSAN
    // An x86 load is an acquire load: one compare with memory does what
    // the atomic load and a test do (GCC keeps an atomic load out of a
    // compare). The memory clobber keeps the section's accesses after it.
    // TSan builds keep the atomic load, whose ordering TSan must see.
    asm goto("cmpl $0, %0\n\tjne %l[remote]" : : "m"(s->remote) : "memory", "cc" : remote);
#else
    if (__builtin_expect(__atomic_load_n(&s->remote, __ATOMIC_ACQUIRE) != 0, 0))
        goto remote;
#endif
    *flags = (unsigned long)&s->busy;
    return true;
remote:
    __atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE); // not in after all
    return false;
}

static inline unsigned long local_lock_irqsave(void)
{
    unsigned long flags;
    return local_trylock_irqsave(&flags) ? flags : shim_lock_slow();
}

// busy, lock or nest back to 0: a plain store on x86-64.
static inline void local_unlock_irqrestore(unsigned long flags)
{
    __atomic_store_n((int *)flags, 0, __ATOMIC_RELEASE);
}

#define local_lock_cpu(flags) (*(const int *)((flags) + 16))

// mm's globals that every alloc and free reads are the library's own: one
// RIP-relative load each, not a load of the address from the GOT first.
#define __mm_internal __attribute__((visibility("hidden")))

const char *atomic_context(void); // platform_shim.c

// Spin locks are held by threads, not by cpu indices (which threads may share).
static inline long lock_owner_self(void)
{
    return (long)&shim_noff;
}

#endif
