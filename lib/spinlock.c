#include "spinlock.h"

void spin_lock_init(struct spinlock *lk, const char *name)
{
    lk->locked = 0;
    lk->cpu = -1;
    lk->name = name;
}

void spin_lock_slow(struct spinlock *lk)
{
    // Test-and-test-and-set: spin on a plain load so waiting cpus share the
    // cache line instead of bouncing it with atomic swaps.
    do {
        while (__atomic_load_n(&lk->locked, __ATOMIC_RELAXED))
            cpu_relax();
    } while (!spin_trylock(lk));
}

bool spin_is_locked(struct spinlock *lk)
{
    return __atomic_load_n(&lk->locked, __ATOMIC_RELAXED) != 0;
}
