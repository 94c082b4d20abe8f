// Cases that must make the harness report failure, built only into the
// harness self-check kernel (make test-harness: KTEST_SELFCHECK=1, its own
// build directory). Each is run alone by its filter, e.g. ktest=selfcheck.hangs.
#include "../../arch/riscv/cpu.h"
#include "../../arch/riscv/riscv.h"
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

// ---- Stacks: each case below must make the harness fail ----

#define DEEP (13 * 1024) // of a 16 KiB stack: past the 75% irq_stacks allows

static void __attribute__((noinline)) use_stack(size_t n)
{
    unsigned char buf[n];
    for (size_t i = 0; i < n; i += 64) // buf[0], the lowest byte, first
        buf[i] = 1;
    asm volatile("" ::"r"(buf) : "memory"); // the stores are not dead
}

static volatile int hook_done;

static void wait_for_hook(void (*hook)(void))
{
    hook_done = 0;
    tick_hook = hook;
    while (!hook_done)
        cpu_relax();
    tick_hook = NULL;
}

// Run with irq_stacks' late check, which must then fail (the deep use
// passes unnoticed if that check ran before this case, or not at all).
KTEST(selfcheck, deep_task_stack)
{
    use_stack(DEEP);
}

static void deep_hook(void)
{
    if (cpu_id() == 0 && !hook_done) {
        use_stack(DEEP);
        hook_done = 1;
    }
}

KTEST(selfcheck, deep_irq_stack)
{
    wait_for_hook(deep_hook);
}

// A stack used all the way down, its canary included, as an overflow
// leaves it: the words from the stack's lowest one up to below this frame.
static void __attribute__((noinline)) use_to_bottom(unsigned char *stack)
{
    for (uint64_t *p = (uint64_t *)stack; p < (uint64_t *)(r_sp() - 256); p++)
        *(volatile uint64_t *)p = 0;
}

// A ktest case runs on cpu 0 itself, not as a task: only the check at trap
// exit sees this (the next tick), and panics naming the task stack.
KTEST(selfcheck, overflows_task_stack)
{
    use_to_bottom(cpu_stacks[cpu_id()]);
    uint64_t t0 = mycpu()->ticks;
    while (mycpu()->ticks < t0 + 3)
        cpu_relax();
}

static void overflow_hook(void)
{
    if (cpu_id() == 0 && !hook_done) {
        use_to_bottom(irq_stacks[0]);
        hook_done = 1;
    }
}

// The check at the exit of this very trap panics, naming the interrupt stack.
KTEST(selfcheck, overflows_irq_stack)
{
    wait_for_hook(overflow_hook);
}

#endif
