#include "spinlock.h"

void spin_lock_init(struct spinlock *lk, const char *name)
{
    lk->locked = 0;
    lk->cpu = -1;
    lk->name = name;
}

bool spin_trylock(struct spinlock *lk)
{
    if (__atomic_exchange_n(&lk->locked, 1, __ATOMIC_ACQUIRE) != 0)
        return false;
    __atomic_store_n(&lk->cpu, cpu_id(), __ATOMIC_RELAXED);
    return true;
}

void spin_lock(struct spinlock *lk)
{
    // Test-and-test-and-set: spin on a plain load so waiting cpus share the
    // cache line instead of bouncing it with atomic swaps.
    while (!spin_trylock(lk)) {
        while (__atomic_load_n(&lk->locked, __ATOMIC_RELAXED))
            cpu_relax();
    }
}

void spin_unlock(struct spinlock *lk)
{
    __atomic_store_n(&lk->cpu, -1, __ATOMIC_RELAXED);
    __atomic_store_n(&lk->locked, 0, __ATOMIC_RELEASE);
}

bool spin_is_locked(struct spinlock *lk)
{
    return __atomic_load_n(&lk->locked, __ATOMIC_RELAXED) != 0;
}
