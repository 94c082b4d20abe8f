// Per-cpu bookkeeping shared by entry.S, smp.c and the boot self-tests.
//
// Two numbers name a hart. The hart id is the firmware's (mhartid): whatever
// the device tree's /cpus/cpu@N reg says, possibly sparse and not starting at 0;
// every hart keeps it in tp. The cpu index is ours: dense, 0 for the boot hart,
// 1.. for the others in device-tree order; it lives in sscratch (no user mode,
// so the trap path does not need sscratch) and indexes cpus[] and the stacks.
#ifndef CPU_H
#define CPU_H

#define KSTACK_SIZE 16384 // bytes of stack per cpu

#ifndef __ASSEMBLER__
#include "../../lib/platform.h"

struct cpu {
    unsigned long hartid; // firmware hart id (also in this hart's tp)
    int online;           // set by the hart itself once it runs C code
};

extern struct cpu cpus[NCPU];
extern unsigned char cpu_stacks[NCPU][KSTACK_SIZE];

struct fdt_info;
void smp_boot(const struct fdt_info *fi, unsigned long boot_hartid);
void stacks_init(void);                                       // write every stack's canary
bool stack_ok(int cpu);                                       // its overflow canary is intact
_Noreturn void smp_park(void);                                // stop this hart for good
void smp_stop_others(void);                                   // for panic: ask idle harts to park
void secondary_entry(void);                                   // entry.S: where HSM starts a hart
void kernelvec(void);                                         // kernelvec.S: the S-mode trap vector
void trap_init_hart(void);                                    // point stvec at kernelvec
_Noreturn void kmain(unsigned long hartid, uintptr_t dtb);    // kernel/main.c
_Noreturn void secondary_main(unsigned long hartid, int cpu); // smp.c
#endif

#endif
