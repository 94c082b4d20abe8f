// Per-cpu bookkeeping shared by entry.S, smp.c, smp_call.c, timer.c, trap.c
// and the boot self-tests. struct cpu itself is in percpu.h.
#ifndef CPU_H
#define CPU_H

#define KSTACK_SIZE 16384 // bytes of stack per cpu

#ifndef __ASSEMBLER__
#include "../../lib/platform.h"
#include "percpu.h"

extern unsigned char cpu_stacks[NCPU][KSTACK_SIZE];

static inline struct cpu *mycpu(void)
{
    return &cpus[cpu_id()];
}

struct fdt_info;
void smp_boot(const struct fdt_info *fi, unsigned long boot_hartid);
void stacks_init(void);        // write every stack's canary
bool stack_ok(int cpu);        // its overflow canary is intact
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
#endif

#endif
