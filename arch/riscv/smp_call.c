// Cross-calls: run a function on other cpus, as Linux's kernel/smp.c does.
//
// Each (sender, target) pair owns one struct call. The sender fills it in,
// pushes it on the target's queue (cpus[t].calls, a lock-free stack), and
// rings the target with an IPI: an SBI call that makes a supervisor software
// interrupt pending there. The target's interrupt handler takes the whole
// queue at once, runs the functions oldest first with interrupts off, and
// clears each call's `busy` when its function has returned; a sender that
// waits spins on that flag.
//
// Deadlock freedom (lib/platform.h, rules 4 and 5): a cpu waiting here runs
// the calls queued for it, so two cpus that call each other both get
// through. Code in atomic context may not call at all (check_context): a
// cpu holding a spin lock, because another cpu spinning on that lock with
// interrupts off could never run the call; an interrupt handler -- and so
// a called function, which runs in one -- because it may have interrupted
// this very cpu filling in the call slot it would use.
#include <errno.h>

#include "cpu.h"
#include "riscv.h"
#include "sbi.h"
#include "smp.h"

struct call {
    void (*fn)(void *);
    void *arg;
    struct call *next; // on the target's queue
    int busy;          // set by the sender; cleared by the target once fn returned
};

static struct call call_slot[NCPU][NCPU]; // [sender][target]: one call in flight per pair

cpumask_t cpu_online_mask(void)
{
    cpumask_t m = 0;
    for (int c = 0; c < ncpu_online(); c++)
        if (__atomic_load_n(&cpus[c].online, __ATOMIC_ACQUIRE))
            m |= CPU_BIT(c);
    return m;
}

// Run every call queued for this cpu. Interrupts off. The queue is a stack,
// newest first: reverse it so calls from one sender run in the order sent.
static void run_calls(struct cpu *me)
{
    struct call *list = __atomic_exchange_n(&me->calls, NULL, __ATOMIC_ACQUIRE), *fifo = NULL;
    while (list) {
        struct call *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo) {
        struct call *c = fifo;
        fifo = c->next; // read before busy is cleared: the sender may reuse c at once
        c->fn(c->arg);
        me->calls_run++;
        __atomic_store_n(&c->busy, 0, __ATOMIC_RELEASE);
    }
}

bool smp_ipi_reason(void)
{
    return __atomic_load_n(&mycpu()->calls, __ATOMIC_ACQUIRE) != NULL || smp_stopping();
}

void smp_call_poll(void)
{
    struct cpu *me = mycpu();
    if (__atomic_load_n(&me->calls, __ATOMIC_ACQUIRE) == NULL)
        return;
    unsigned long flags = irq_save();
    run_calls(me);
    irq_restore(flags);
}

// The supervisor software interrupt. Its pending bit is only a doorbell:
// what to do is in memory (the queue, the stop flag), so clearing it first
// loses nothing that arrives later.
void smp_ipi_interrupt(void)
{
    csr_clear(sip, SIP_SSIP);
    if (smp_stopping())
        smp_park();
    struct cpu *me = mycpu();
    if (__atomic_load_n(&me->calls, __ATOMIC_ACQUIRE)) {
        me->ipis++;
        run_calls(me);
    }
}

// Waiting for another cpu: run what is queued for us, then relax.
static void wait_relax(void)
{
    smp_call_poll();
    cpu_relax();
}

static void post(int me, int t, void (*fn)(void *), void *arg)
{
    struct call *c = &call_slot[me][t];
    while (__atomic_load_n(&c->busy, __ATOMIC_ACQUIRE)) // our previous call to t, not yet run
        wait_relax();
    c->fn = fn;
    c->arg = arg;
    c->busy = 1;
    struct call *head = __atomic_load_n(&cpus[t].calls, __ATOMIC_RELAXED);
    do
        c->next = head;
    while (!__atomic_compare_exchange_n(&cpus[t].calls, &head, c, true, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED));
    // A non-empty queue has been rung already and not yet taken: whoever
    // takes it takes this call too.
    if (head == NULL) {
        sbi_send_ipi_to(cpus[t].hartid);
        cpus[me].ipis_sent++;
    }
}

// A cross-call waits for other cpus: never in atomic context (rule 4 of
// lib/platform.h). From an interrupt handler it could reuse the call slot
// the interrupted code is filling in for the same target, and spin on it
// forever; under a spin lock, a cpu spinning on that lock could never run
// the call.
static void check_context(const char *who, const void *caller)
{
    const char *ctx = atomic_context();
    if (ctx)
        panic("%s called in atomic context (%s) on cpu %d, from %p: a cross-call waits for "
              "other cpus",
              who, ctx, cpu_id(), caller);
}

static int call_function(cpumask_t mask, void (*fn)(void *), void *arg, bool wait)
{
    int me = cpu_id();
    if (mask & ~cpu_online_mask())
        return -EINVAL;
    for (int t = 0; t < NCPU; t++)
        if (t != me && (mask & CPU_BIT(t)))
            post(me, t, fn, arg);
    if (mask & CPU_BIT(me)) {
        unsigned long flags = irq_save();
        fn(arg);
        irq_restore(flags);
    }
    if (wait)
        for (int t = 0; t < NCPU; t++)
            if (t != me && (mask & CPU_BIT(t)))
                while (__atomic_load_n(&call_slot[me][t].busy, __ATOMIC_ACQUIRE))
                    wait_relax();
    return 0;
}

int smp_call_function(cpumask_t mask, void (*fn)(void *), void *arg, bool wait)
{
    check_context("smp_call_function", __builtin_return_address(0));
    return call_function(mask, fn, arg, wait);
}

void on_each_cpu(void (*fn)(void *), void *arg)
{
    check_context("on_each_cpu", __builtin_return_address(0));
    call_function(cpu_online_mask(), fn, arg, true);
}

int smp_call_function_single(int cpu, void (*fn)(void *), void *arg)
{
    check_context("smp_call_function_single", __builtin_return_address(0));
    if (cpu < 0 || cpu >= NCPU)
        return -EINVAL;
    return call_function(CPU_BIT(cpu), fn, arg, true);
}

// ---- stop_machine -------------------------------------------------------
//
// One stop at a time (stop_busy, taken with polling, not a spin lock: the
// caller must be able to send). Every other cpu runs stop_cpu, which counts
// itself in and spins with interrupts off until the stopper releases this
// generation. A cpu only runs a call where it holds no lock and is in no
// section, so fn finds every lock free and no per-CPU data half-changed.

static int stop_busy, stop_arrived;
static unsigned long stop_gen, stop_released;

static void stop_cpu(void *arg)
{
    unsigned long gen = (unsigned long)arg;
    __atomic_add_fetch(&stop_arrived, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&stop_released, __ATOMIC_ACQUIRE) < gen)
        cpu_relax();
}

void stop_machine(void (*fn)(void *), void *arg)
{
    check_context("stop_machine", __builtin_return_address(0));
    int expected = 0;
    while (!__atomic_compare_exchange_n(&stop_busy, &expected, 1, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
        expected = 0;
        wait_relax();
    }
    unsigned long gen = ++stop_gen;
    cpumask_t others = cpu_online_mask() & ~CPU_BIT(cpu_id());
    __atomic_store_n(&stop_arrived, 0, __ATOMIC_RELAXED);
    call_function(others, stop_cpu, (void *)gen, false);
    while (__atomic_load_n(&stop_arrived, __ATOMIC_ACQUIRE) < __builtin_popcountl(others))
        wait_relax();
    unsigned long flags = irq_save();
    fn(arg);
    irq_restore(flags);
    __atomic_store_n(&stop_released, gen, __ATOMIC_RELEASE);
    __atomic_store_n(&stop_busy, 0, __ATOMIC_RELEASE);
}
