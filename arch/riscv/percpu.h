// What the kernel keeps per cpu, in one cache line-aligned struct per cpu
// (so two cpus never write the same line): identity, the interrupt nesting
// state of push_off/pop_off, the cross-call queue, and counters.
//
// Two numbers name a hart. The hart id is the firmware's (mhartid): whatever
// the device tree's /cpus/cpu@N reg says, possibly sparse and not starting at
// 0; every hart keeps it in tp. The cpu index is ours: dense, 0 for the boot
// hart, 1.. for the others in device-tree order; it lives in sscratch (no
// user mode, so the trap path does not need sscratch) and indexes cpus[].
#ifndef PERCPU_H
#define PERCPU_H

#include <stdint.h>

struct call;

struct cpu {
    unsigned long hartid;                // firmware hart id (also in this hart's tp)
    int online;                          // set by the hart itself once it runs C code
    int noff;                            // push_off depth: spin locks held (and nested push_offs)
    int intena;                          // were interrupts on before the outermost push_off?
    int in_irq;                          // inside the trap handler for an interrupt
    unsigned long task_flags, irq_flags; // current_flags() of task code and of the handler
    int probing;        // 1: an illegal instruction now is a probe (trap.c), 2: it trapped
    int sstc;           // this hart writes its timer deadline to stimecmp (timer.c)
    const char *isa;    // its riscv,isa string from the device tree, or NULL
    struct call *calls; // cross-calls queued for this cpu (smp_call.c), newest first
    uint64_t next_tick; // the deadline this hart's timer is set for (timer.c)
    uint64_t reap_wait; // ticks until this hart's next slab_reap (timer.c)
    // Counters, written only by this cpu.
    uint64_t ticks;        // timer interrupts taken
    uint64_t ticks_missed; // deadlines passed while a tick's handler ran, or interrupts were off
    uint64_t ipis_sent;    // IPIs this cpu sent (each is an SBI call)
    uint64_t ipis;         // software interrupts taken for a reason (a queued call, a stop)
    uint64_t calls_run;    // cross-call functions this cpu ran for others
} __attribute__((aligned(64)));

extern struct cpu cpus[];

#endif
