// Per-cpu bookkeeping shared by entry.S, kernelvec.S, smp.c, smp_call.c, timer.c,
// trap.c and the boot self-tests. struct cpu itself is in percpu.h.
#ifndef CPU_H
#define CPU_H

#define KSTACK_SIZE 16384 // bytes of task stack per cpu
// Bytes of interrupt stack per cpu: a power of two, so that kernelvec can
// tell whether sp is already on it with a subtract and a shift.
#define IRQ_STACK_SHIFT 14
#define IRQ_STACK_SIZE  (1 << IRQ_STACK_SHIFT)
#define STACK_MAGIC     0x5ac0ffee5ac0ffeeUL // the canary: the lowest word of every stack

#ifndef __ASSEMBLER__
#include "../../lib/platform.h"
#include "percpu.h"

extern unsigned char cpu_stacks[NCPU][KSTACK_SIZE];    // task code runs here
extern unsigned char irq_stacks[NCPU][IRQ_STACK_SIZE]; // traps run here (kernelvec.S)

// The registers as kernelvec saved them: x[i] is register xi (x[0] unused,
// x[2] the sp of the interrupted code).
struct trapframe {
    unsigned long x[32];
};

static inline struct cpu *mycpu(void)
{
    return &cpus[cpu_id()];
}

struct fdt_info;
void smp_boot(const struct fdt_info *fi, unsigned long boot_hartid);
_Noreturn void smp_park(void); // stop this hart for good
void smp_stop_others(void);    // for panic: ask the others to park
bool smp_stopping(void);       // smp_stop_others was called
void secondary_entry(void);    // entry.S: where HSM starts a hart
void kernelvec(void);          // kernelvec.S: the S-mode trap vector
void trap_init_hart(void);     // point stvec at kernelvec
void irq_enable_hart(void);    // this hart takes its tick and IPIs from now on
bool irqs_enabled(void);       // sstatus.SIE
void irqinfo(void);            // print ticks and IPIs per cpu
_Noreturn void kmain(unsigned long hartid, uintptr_t dtb);    // kernel/main.c
_Noreturn void secondary_main(unsigned long hartid, int cpu); // smp.c

// ---- The stacks (smp.c) ----
//
// Each cpu has a task stack and an interrupt stack, each with a canary in
// its lowest word; stacks_init also paints what is not in use yet, so that
// the deepest use shows. The canaries are checked at every trap exit and
// when a task ends.
void stacks_init(void);
// Which of this cpu's stacks lost its canary: "task stack", "interrupt stack",
// "task and interrupt stacks", or NULL if neither.
const char *stack_overflowed(int cpu);
_Noreturn void stack_overflow_panic(int cpu); // names the stack

static inline void stacks_check(int cpu) // two loads and compares
{
    if (unlikely(*(volatile uint64_t *)cpu_stacks[cpu] != STACK_MAGIC ||
                 *(volatile uint64_t *)irq_stacks[cpu] != STACK_MAGIC))
        stack_overflow_panic(cpu);
}

// The deepest this stack has been: bytes from its top down to the lowest
// word that no longer holds the paint.
size_t stack_deepest(const unsigned char *stack, size_t size);
void stackinfo(void); // print each cpu's deepest use of both stacks
#endif

#endif
