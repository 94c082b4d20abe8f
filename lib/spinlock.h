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
void spin_lock(struct spinlock *lk);
bool spin_trylock(struct spinlock *lk);
void spin_unlock(struct spinlock *lk);
bool spin_is_locked(struct spinlock *lk); // held by anyone (a snapshot)

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
