// Cases that must make the harness report failure, built only into the
// harness self-check kernel (make test-harness: KTEST_SELFCHECK=1, its own
// build directory). Each is run alone by its filter, e.g. ktest=selfcheck.hangs.
#include "../../arch/riscv/timer.h"
#include "../../lib/ktest.h"
#include "../../lib/spinlock.h"

#ifdef KTEST_SELFCHECK

KTEST(selfcheck, fails)
{
    EXPECT_EQ(t, 1 + 1, 3); // a not ok
}

KTEST(selfcheck, panics)
{
    panic("selfcheck: a deliberate panic");
}

static void panic_on_last_cpu(void *arg)
{
    (void)arg;
    if (cpu_id() == ncpu_online() - 1 && cpu_id() != 0)
        panic("selfcheck: a deliberate panic on cpu %d", cpu_id());
    for (;;) // the others wait here until the panic powers the machine off
        cpu_relax();
}

KTEST(selfcheck, panics_on_other_cpu)
{
    if (ncpu_online() < 2)
        KTEST_SKIP(t, "needs 2 cpus");
    run_on_all_cpus(panic_on_last_cpu, NULL);
}

KTEST(selfcheck, traps)
{
    uintptr_t addr = 8;   // nothing is mapped there: a load access fault
    asm("" : "+r"(addr)); // hide the constant from the compiler's bounds checks
    EXPECT_EQ(t, *(volatile unsigned long *)addr, 0);
}

// Taking a lock this cpu holds must panic, naming the lock, not spin forever.
KTEST(selfcheck, recursive_lock)
{
    static struct spinlock lk = SPINLOCK_INIT("selfcheck-lock");
    spin_lock(&lk);
    spin_lock(&lk);
    spin_unlock(&lk);
    EXPECT(t, false); // not reached
}

// A cross-call from atomic context must panic, naming the caller and the
// context: from an interrupt handler it could spin forever on the call
// slot the interrupted code was filling in.
static void nothing(void *arg)
{
    (void)arg;
}

static void cross_call_hook(void)
{
    on_each_cpu(nothing, NULL);
}

KTEST(selfcheck, cross_call_from_tick)
{
    tick_hook = cross_call_hook;
    for (;;) // until the next tick panics
        cpu_relax();
}

KTEST(selfcheck, cross_call_under_lock)
{
    static struct spinlock lk = SPINLOCK_INIT("selfcheck-xcall");
    spin_lock(&lk);
    on_each_cpu(nothing, NULL);
    spin_unlock(&lk);
    EXPECT(t, false); // not reached
}

KTEST(selfcheck, hangs)
{
    for (;;) // caught only by the harness timeout
        cpu_relax();
}

#endif
