// Fault injection, after Linux's fault-inject: an allocator asks
// should_fail(&attr) before each request and, when told to, fails it as if
// memory had run out. Tests use it to prove every caller copes with NULL.
#ifndef FAULT_INJECT_H
#define FAULT_INJECT_H

#include "platform.h"

struct fault_attr {
    unsigned long fail_nth; // fail the call numbered fail_nth after arming (1 = the next); 0 = off
    unsigned ppm;           // or fail each call with this probability, per million; 0 = off
    uint64_t seed;          // random state for ppm (xorshift), so a failing run replays
    unsigned long calls;    // calls seen since armed
    unsigned long injected; // failures injected since armed
};

void fault_fail_nth(struct fault_attr *a, unsigned long nth);              // arm: fail call nth
void fault_fail_random(struct fault_attr *a, unsigned ppm, uint64_t seed); // arm: random failures
void fault_disarm(struct fault_attr *a);
bool should_fail_slow(struct fault_attr *a);

// The check an allocator makes: a load and a branch while disarmed.
static inline bool should_fail(struct fault_attr *a)
{
    if (likely(__atomic_load_n(&a->fail_nth, __ATOMIC_RELAXED) == 0 &&
               __atomic_load_n(&a->ppm, __ATOMIC_RELAXED) == 0))
        return false;
    return should_fail_slow(a);
}

#endif
