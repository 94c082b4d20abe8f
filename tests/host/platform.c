// lib/platform.h for the host test build: each thread is a cpu.
//
// There are no interrupts. What interrupts-off gives the kernel, a lock per
// cpu slot gives here: the per-CPU section (local_lock_irqsave) takes this
// cpu's slot lock, and a cross-call to cpu N is run by the caller itself,
// as cpu N (cpu_id() answers N meanwhile), holding N's slot lock; so the
// slab layer's owner-only rule for array_caches holds with no IPIs.
// run_on_all_cpus starts one thread per cpu (the caller is cpu 0); printk
// writes whole lines to stdout.
#include "lib/platform.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "host.h"
#include "lib/spinlock.h"

static __thread int this_cpu;
static __thread int noff; // push_off depth (no interrupts to turn off, but the rules still hold)
static struct spinlock slot[NCPU];
int host_ncpu = 4;
bool host_quiet;

int cpu_id(void)
{
    return this_cpu;
}

void host_set_cpu(int cpu)
{
    this_cpu = cpu;
}

int ncpu_online(void)
{
    return host_ncpu;
}

unsigned long irq_save(void)
{
    return 0;
}

void irq_restore(unsigned long flags)
{
    (void)flags;
}

void push_off(void)
{
    noff++;
}

void pop_off(void)
{
    if (--noff < 0)
        panic("pop_off without a matching push_off");
}

int spin_locks_held(void)
{
    return noff;
}

// A per-CPU section is a slot lock here, so it counts in noff too.
const char *atomic_context(void)
{
    return noff > 0 ? "spin lock held" : NULL;
}

unsigned long *current_flags(void)
{
    static __thread unsigned long flags;
    return &flags;
}

// A thread is a holder of its own: threads of the LD_PRELOAD build may share
// a cpu index, and the tests' threads are told apart the same way.
long lock_owner_self(void)
{
    return (long)(uintptr_t)&this_cpu;
}

// Nested, like interrupts already off: a cross-call function runs in the
// owner's section already (call_as), and may allocate as a kernel
// interrupt handler may. flags says whether this call took the slot.
unsigned long local_lock_irqsave(void)
{
    if (READ_ONCE(slot[this_cpu].owner) == lock_owner_self())
        return 0;
    spin_lock(&slot[this_cpu]);
    return 1;
}

void local_unlock_irqrestore(unsigned long flags)
{
    if (flags)
        spin_unlock(&slot[this_cpu]);
}

// Yield rather than spin: the host may have fewer cores than test threads.
void cpu_relax(void)
{
    sched_yield();
}

static void no_lock_held(const char *who)
{
    if (noff != 0)
        panic("%s called in atomic context (%d spin lock(s) or a per-CPU section held)", who, noff);
}

static void call_as(int cpu, void (*fn)(void *), void *arg)
{
    int me = this_cpu;
    spin_lock(&slot[cpu]);
    this_cpu = cpu;
    fn(arg);
    this_cpu = me;
    spin_unlock(&slot[cpu]);
}

void on_each_cpu(void (*fn)(void *), void *arg)
{
    no_lock_held("on_each_cpu");
    for (int c = 0; c < host_ncpu; c++)
        call_as(c, fn, arg);
}

int smp_call_function_single(int cpu, void (*fn)(void *), void *arg)
{
    no_lock_held("smp_call_function_single");
    if (cpu < 0 || cpu >= host_ncpu)
        return -EINVAL;
    call_as(cpu, fn, arg);
    return 0;
}

// Every slot locked, in index order (two stoppers cannot deadlock): no
// array_cache can change until fn returns.
void stop_machine(void (*fn)(void *), void *arg)
{
    no_lock_held("stop_machine");
    for (int c = 0; c < host_ncpu; c++)
        spin_lock(&slot[c]);
    fn(arg);
    for (int c = host_ncpu - 1; c >= 0; c--)
        spin_unlock(&slot[c]);
}

int printk(const char *fmt, ...)
{
    char buf[1024];
    if (host_quiet)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    flockfile(stdout);
    fputs(buf, stdout);
    funlockfile(stdout);
    fflush(stdout);
    return n;
}

void panic(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    printk("panic: %s\n", buf);
    abort(); // sanitizers print the stack
}

struct cpu_work {
    void (*fn)(void *);
    void *arg;
    int cpu;
    pthread_barrier_t *start;
};

static void *cpu_thread(void *p)
{
    struct cpu_work *w = p;
    this_cpu = w->cpu;
    pthread_barrier_wait(w->start);
    w->fn(w->arg);
    return NULL;
}

void run_on_all_cpus(void (*fn)(void *), void *arg)
{
    pthread_t tid[NCPU];
    struct cpu_work work[NCPU];
    pthread_barrier_t start;
    int n = host_ncpu;
    pthread_barrier_init(&start, NULL, n);
    for (int i = 1; i < n; i++) {
        work[i] = (struct cpu_work){fn, arg, i, &start};
        if (pthread_create(&tid[i], NULL, cpu_thread, &work[i]) != 0)
            panic("run_on_all_cpus: pthread_create failed");
    }
    int me = this_cpu;
    this_cpu = 0;
    pthread_barrier_wait(&start);
    fn(arg);
    for (int i = 1; i < n; i++) // the done barrier
        pthread_join(tid[i], NULL);
    this_cpu = me;
    pthread_barrier_destroy(&start);
}

// Before main: the slot locks, named for messages.
__attribute__((constructor)) static void slots_init(void)
{
    for (int c = 0; c < NCPU; c++)
        spin_lock_init(&slot[c], "cpu slot");
}
