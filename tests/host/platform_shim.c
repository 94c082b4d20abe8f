// lib/platform.h for librvslab.so, the malloc-compatible build of mm/.
//
// Unlike tests/host/platform.c, threads here belong to someone else's
// program: we cannot give each one its own cpu. A thread takes a cpu index
// on its first allocation, round-robin modulo NCPU, so several threads may
// share one index. The per-CPU section is then a lock on the index's slot
// (shim/platform_inline.h): sharing only costs contention. A cross-call to
// cpu N is run by the caller itself, as N, holding N's slot.
//
// Nothing here may call malloc: we ARE malloc. printk formats on the stack
// and write(2)s.
#include "lib/platform.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__thread int shim_this_cpu; // see shim/platform_inline.h: cpu_id() is inline there
__thread int shim_noff;
struct shim_slot shim_slot[NCPU];
static int next_cpu;

int shim_first_cpu(void)
{
    int c = __atomic_fetch_add(&next_cpu, 1, __ATOMIC_RELAXED) % NCPU;
    shim_this_cpu = c + 1;
    return c;
}

void shim_slot_wait(struct shim_slot *s)
{
    do {
        while (__atomic_load_n(&s->locked, __ATOMIC_RELAXED))
            sched_yield();
    } while (__atomic_exchange_n(&s->locked, 1, __ATOMIC_ACQUIRE) != 0);
}

int spin_locks_held(void)
{
    return shim_noff;
}

// Every index may be in use by some thread, so reclaim must visit them all.
int ncpu_online(void)
{
    return NCPU;
}

// Yield rather than spin: a lock holder may be preempted (2 cores, many threads).
void cpu_relax(void)
{
    sched_yield();
}

static int vprintk(const char *prefix, const char *fmt, va_list ap)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%s", prefix);
    n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
    if (n > (int)sizeof(buf) - 1)
        n = sizeof(buf) - 1;
    return (int)write(2, buf, n); // one write: lines from threads do not interleave
}

int printk(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintk("rvslab: ", fmt, ap);
    va_end(ap);
    return n;
}

void panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintk("rvslab: panic: ", fmt, ap);
    va_end(ap);
    write(2, "\n", 1);
    abort();
}

static void call_as(int cpu, void (*fn)(void *), void *arg)
{
    int me = shim_this_cpu;
    shim_this_cpu = cpu + 1;
    unsigned long flags = local_lock_irqsave();
    fn(arg);
    local_unlock_irqrestore(flags);
    shim_this_cpu = me;
}

void on_each_cpu(void (*fn)(void *arg), void *arg)
{
    for (int c = 0; c < NCPU; c++)
        call_as(c, fn, arg);
}

int smp_call_function_single(int cpu, void (*fn)(void *arg), void *arg)
{
    if (cpu < 0 || cpu >= NCPU)
        return -EINVAL;
    call_as(cpu, fn, arg);
    return 0;
}

void stop_machine(void (*fn)(void *arg), void *arg)
{
    int me = shim_this_cpu;
    for (int c = 0; c < NCPU; c++) {
        shim_this_cpu = c + 1;
        local_lock_irqsave();
    }
    shim_this_cpu = me;
    fn(arg);
    for (int c = NCPU - 1; c >= 0; c--) {
        shim_this_cpu = c + 1;
        local_unlock_irqrestore(0);
    }
    shim_this_cpu = me;
}

// Every per-CPU section held by the caller, in index order (as stop_machine
// takes them), until shim_sections_unlock_all: around fork(), before the
// allocator's locks (malloc_shim.c).
void shim_sections_lock_all(void)
{
    int me = shim_this_cpu;
    for (int c = 0; c < NCPU; c++) {
        shim_this_cpu = c + 1;
        local_lock_irqsave();
    }
    shim_this_cpu = me;
}

void shim_sections_unlock_all(void)
{
    int me = shim_this_cpu;
    for (int c = NCPU - 1; c >= 0; c--) {
        shim_this_cpu = c + 1;
        local_unlock_irqrestore(0);
    }
    shim_this_cpu = me;
}

void run_on_all_cpus(void (*fn)(void *arg), void *arg)
{
    (void)fn;
    (void)arg;
    panic("run_on_all_cpus: not in librvslab.so (it is for the self-tests)");
}
