// lib/platform.h for librvslab.so, the malloc-compatible build of mm/.
//
// Unlike tests/host/platform.c, threads here belong to someone else's
// program: we cannot give each one its own cpu. A thread takes a cpu index
// on its first allocation, round-robin modulo NCPU, so several threads may
// share one index. That is safe because the host build of the slab layer
// guards each per-CPU array with its own lock (in the kernel, interrupts
// off on the hart do that job); sharing only costs contention.
//
// Nothing here may call malloc: we ARE malloc. printk formats on the stack
// and write(2)s. cpu_id, irq_save/restore and cpu_relax are inline, in
// tests/host/shim/platform_inline.h.
#include "lib/platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__thread int shim_this_cpu; // see shim/platform_inline.h: cpu_id() is inline there
static int next_cpu;

int shim_first_cpu(void)
{
    int c = __atomic_fetch_add(&next_cpu, 1, __ATOMIC_RELAXED) % NCPU;
    shim_this_cpu = c + 1;
    return c;
}

// Every index may be in use by some thread, so reclaim must visit them all.
int ncpu_online(void)
{
    return NCPU;
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

// There are no cpus to interrupt: the caller stands in for each cpu index in
// turn (cpu_id() answers that index during its call), so "each cpu drains its
// own array" still reaches every array. The per-array locks make this safe.
void on_each_cpu(void (*fn)(void *arg), void *arg)
{
    int me = shim_this_cpu;
    for (int c = 0; c < NCPU; c++) {
        shim_this_cpu = c + 1;
        fn(arg);
    }
    shim_this_cpu = me;
}
