#include "fault_inject.h"

#include "spinlock.h"

// One lock for all attributes: taken only while armed, so never on a hot path.
static struct spinlock fault_lock = SPINLOCK_INIT("fault");

void fault_fail_nth(struct fault_attr *a, unsigned long nth)
{
    spin_lock(&fault_lock);
    a->calls = a->injected = 0;
    a->ppm = 0;
    __atomic_store_n(&a->fail_nth, nth, __ATOMIC_RELAXED);
    spin_unlock(&fault_lock);
}

void fault_fail_random(struct fault_attr *a, unsigned ppm, uint64_t seed)
{
    spin_lock(&fault_lock);
    a->calls = a->injected = 0;
    a->fail_nth = 0;
    a->seed = seed ? seed : 1; // xorshift never leaves 0
    __atomic_store_n(&a->ppm, ppm, __ATOMIC_RELAXED);
    spin_unlock(&fault_lock);
}

void fault_disarm(struct fault_attr *a)
{
    spin_lock(&fault_lock);
    __atomic_store_n(&a->fail_nth, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&a->ppm, 0, __ATOMIC_RELAXED);
    spin_unlock(&fault_lock);
}

bool should_fail_slow(struct fault_attr *a)
{
    bool fail = false;
    spin_lock(&fault_lock);
    a->calls++;
    if (a->fail_nth != 0 && a->calls == a->fail_nth) {
        fail = true;
    } else if (a->ppm != 0) {
        uint64_t x = a->seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        a->seed = x;
        fail = x % 1000000 < a->ppm;
    }
    a->injected += fail;
    spin_unlock(&fault_lock);
    return fail;
}
