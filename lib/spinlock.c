#include "spinlock.h"

void spin_lock_init(struct spinlock *lk, const char *name)
{
    lk->locked = 0;
    lk->owner = -1;
    lk->name = name;
}

// The lock was taken by someone when spin_lock tried it. If that someone is
// us, waiting would never end: say which lock. Otherwise wait, with the
// interrupt state the cpu had before spin_lock's push_off: if this is its
// outermost lock and interrupts were on, they are on while it spins, so a
// cross-call for this cpu runs meanwhile (lib/platform.h, rule 5). Inside
// another lock or a per-CPU section pop_off leaves them off.
void spin_lock_slow(struct spinlock *lk)
{
    if (__atomic_load_n(&lk->owner, __ATOMIC_RELAXED) == lock_owner_self())
        panic("spin_lock: lock \"%s\" is already held by this cpu", lk->name);
    for (;;) {
        pop_off();
        // Test-and-test-and-set: spin on a plain load so waiting cpus share
        // the cache line instead of bouncing it with atomic swaps.
        while (__atomic_load_n(&lk->locked, __ATOMIC_RELAXED))
            cpu_relax();
        push_off();
        if (__atomic_exchange_n(&lk->locked, 1, __ATOMIC_ACQUIRE) == 0)
            return;
    }
}

bool spin_is_locked(struct spinlock *lk)
{
    return __atomic_load_n(&lk->locked, __ATOMIC_RELAXED) != 0;
}

bool spin_holding(struct spinlock *lk)
{
    return spin_is_locked(lk) && __atomic_load_n(&lk->owner, __ATOMIC_RELAXED) == lock_owner_self();
}
