// lib/platform.h for the kernel: what portable code (lib/, mm/) may ask of
// the machine. printk and panic are in console.c, on_each_cpu in smp.c.
#include "../../lib/platform.h"

#include "riscv.h"

// The dense cpu index, which entry.S put in sscratch: one instruction.
int cpu_id(void)
{
    return (int)csr_read(sscratch);
}

// Interrupts on this hart: the SIE bit of sstatus. The kernel runs with it
// off throughout (idle harts wake from wfi without taking the interrupt),
// so these only matter once something turns interrupts on.
unsigned long irq_save(void)
{
    return csr_read_clear(sstatus, SSTATUS_SIE) & SSTATUS_SIE;
}

void irq_restore(unsigned long flags)
{
    if (flags & SSTATUS_SIE)
        csr_set(sstatus, SSTATUS_SIE);
}

// Zihintpause "pause" (an ordinary fence on harts without it). QEMU also
// ends the translation block there, which lets other vcpus run sooner.
void cpu_relax(void)
{
    asm volatile(".4byte 0x0100000f" ::: "memory");
}
