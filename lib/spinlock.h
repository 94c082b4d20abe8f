// Spin locks built on compiler atomics, so the same code runs on RISC-V
// (amoswap with acquire/release ordering) and on the host under TSan.
// A lock does not touch interrupts: callers that can race with an
// interrupt handler on the same cpu take spin_lock_irqsave().
#ifndef SPINLOCK_H
#define SPINLOCK_H

#include "platform.h"

struct spinlock {
    int locked;       // 0 free, 1 held
    int cpu;          // holder's cpu index, for holding() and debugging
    const char *name; // for messages
};

#define SPINLOCK_INIT(n)                                                                           \
    {                                                                                              \
        0, -1, (n)                                                                                 \
    }

void spin_lock_init(struct spinlock *lk, const char *name);
bool spin_is_locked(struct spinlock *lk); // held by anyone (a snapshot)
void spin_lock_slow(struct spinlock *lk); // spin_lock's waiting part

// Taking and dropping a free lock is a handful of instructions and happens
// on every slab alloc and free, so it is inline; only waiting is a call.
static inline bool spin_trylock(struct spinlock *lk)
{
    if (__atomic_exchange_n(&lk->locked, 1, __ATOMIC_ACQUIRE) != 0)
        return false;
    __atomic_store_n(&lk->cpu, cpu_id(), __ATOMIC_RELAXED);
    return true;
}

static inline void spin_lock(struct spinlock *lk)
{
    if (unlikely(!spin_trylock(lk)))
        spin_lock_slow(lk);
}

static inline void spin_unlock(struct spinlock *lk)
{
    __atomic_store_n(&lk->cpu, -1, __ATOMIC_RELAXED);
    __atomic_store_n(&lk->locked, 0, __ATOMIC_RELEASE);
}

#define spin_lock_irqsave(lk, flags)                                                               \
    do {                                                                                           \
        (flags) = irq_save();                                                                      \
        spin_lock(lk);                                                                             \
    } while (0)
#define spin_unlock_irqrestore(lk, flags)                                                          \
    do {                                                                                           \
        spin_unlock(lk);                                                                           \
        irq_restore(flags);                                                                        \
    } while (0)

#endif
