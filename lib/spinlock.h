// Spin locks built on compiler atomics, so the same code runs on RISC-V
// (amoswap with acquire/release ordering) and on the host under TSan.
//
// A holder always has interrupts off (lib/platform.h, rule 2): spin_lock
// calls push_off() before it takes the lock and spin_unlock pop_off() after
// it lets go, as xv6 does, so no caller can forget and locks nest freely.
// Taking a lock this cpu already holds panics with the lock's name (it would
// spin forever otherwise).
#ifndef SPINLOCK_H
#define SPINLOCK_H

#include "platform.h"

struct spinlock {
    int locked;       // 0 free, 1 held
    long owner;       // lock_owner_self() of the holder, -1 if none: for the recursion check
    const char *name; // for messages
};

#define SPINLOCK_INIT(n)                                                                           \
    {                                                                                              \
        0, -1, (n)                                                                                 \
    }

void spin_lock_init(struct spinlock *lk, const char *name);
bool spin_is_locked(struct spinlock *lk); // held by anyone (a snapshot)
bool spin_holding(struct spinlock *lk);   // held by this cpu (the host: this thread)
void spin_lock_slow(struct spinlock *lk); // spin_lock's waiting part (push_off done)

// Taking and dropping a free lock is a handful of instructions, so it is
// inline; only waiting is a call.
static inline bool spin_trylock(struct spinlock *lk)
{
    push_off();
    if (__atomic_exchange_n(&lk->locked, 1, __ATOMIC_ACQUIRE) != 0) {
        pop_off();
        return false;
    }
    WRITE_ONCE(lk->owner, lock_owner_self());
    return true;
}

static inline void spin_lock(struct spinlock *lk)
{
    push_off();
    if (unlikely(__atomic_exchange_n(&lk->locked, 1, __ATOMIC_ACQUIRE) != 0))
        spin_lock_slow(lk);
    WRITE_ONCE(lk->owner, lock_owner_self());
}

static inline void spin_unlock(struct spinlock *lk)
{
    WRITE_ONCE(lk->owner, -1L);
    __atomic_store_n(&lk->locked, 0, __ATOMIC_RELEASE);
    pop_off();
}

#endif
