// Cross-calls between harts (smp_call.c): the kernel-side API. The portable
// part (on_each_cpu, smp_call_function_single, stop_machine,
// run_on_all_cpus) is declared in lib/platform.h.
#ifndef SMP_H
#define SMP_H

#include "../../lib/platform.h"

typedef unsigned long cpumask_t; // bit c: cpu index c
#define CPU_BIT(c) (1UL << (c))

cpumask_t cpu_online_mask(void); // cpus 0..ncpu_online()-1 that are running

// Run fn(arg) on every cpu in mask (this one too if its bit is set): on the
// others from their IPI handler, here with interrupts off. wait: return
// only when every fn has returned; else only wait for a previous call to
// the same cpu to finish. 0, or -EINVAL (nothing run) if mask names a cpu
// that is not online: beyond ncpu_online(), or a hart that is parked or
// was never started (it has no cpu index at all). Panics in atomic context
// (lib/platform.h, rule 4). While waiting, this cpu runs the calls queued
// for it.
int smp_call_function(cpumask_t mask, void (*fn)(void *arg), void *arg, bool wait);

void smp_call_poll(void);     // run the calls queued for this cpu now (any context)
bool smp_ipi_reason(void);    // a queued call or a stop is waiting for this cpu
void smp_ipi_interrupt(void); // trap.c: the supervisor software interrupt

#endif
