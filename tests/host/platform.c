// lib/platform.h for the host build: each thread is a cpu.
// on_each_cpu() runs the function on ncpu threads (the caller is cpu 0),
// interrupts are a no-op, printk writes whole lines to stdout.
#include "lib/platform.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "host.h"

static __thread int this_cpu;
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

// Yield rather than spin: the host may have fewer cores than test threads.
void cpu_relax(void)
{
    sched_yield();
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

void on_each_cpu(void (*fn)(void *), void *arg)
{
    pthread_t tid[NCPU];
    struct cpu_work work[NCPU];
    pthread_barrier_t start;
    int n = host_ncpu;
    pthread_barrier_init(&start, NULL, n);
    for (int i = 1; i < n; i++) {
        work[i] = (struct cpu_work){fn, arg, i, &start};
        if (pthread_create(&tid[i], NULL, cpu_thread, &work[i]) != 0)
            panic("on_each_cpu: pthread_create failed");
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
