// lib/platform.h's per-cpu and interrupt primitives for the kernel, inline.
//
// kmem_cache_alloc and kmem_cache_free call irq_save, cpu_id and
// irq_restore on every operation; as out-of-line functions (with the frame
// set-up -fno-omit-frame-pointer adds) they cost more than the CSR
// instruction each one is. lib/platform.h includes this header when the
// build puts arch/riscv/include on the include path (the kernel Makefile
// does); the host build has no such header and links tests/host/platform.c.
// mm/ still never names an arch/ header: it only sees lib/platform.h.
#ifndef PLATFORM_INLINE_H
#define PLATFORM_INLINE_H

#include "../riscv.h"

// The dense cpu index, which entry.S put in sscratch: one instruction.
static inline int cpu_id(void)
{
    return (int)csr_read(sscratch);
}

// Interrupts on this hart: the SIE bit of sstatus. The kernel runs with it
// off throughout (idle harts wake from wfi without taking the interrupt),
// so these only matter once something turns interrupts on.
static inline unsigned long irq_save(void)
{
    return csr_read_clear(sstatus, SSTATUS_SIE) & SSTATUS_SIE;
}

static inline void irq_restore(unsigned long flags)
{
    if (flags & SSTATUS_SIE)
        csr_set(sstatus, SSTATUS_SIE);
}

// A hint inside a spin loop, and a yield. Zihintpause "pause" first (an
// ordinary fence on harts without it). Then wfi, with our own software
// interrupt made pending so that wfi returns at once: under QEMU -icount
// (make bench) one thread runs all harts, and QEMU 7.2 lets the running hart
// use the whole slice up to the next timer; a hart spinning on a flag that
// another hart must set would starve that hart forever (QEMU 8.0 fixed the
// scheduler). wfi ends the slice. Harmless elsewhere: sstatus.SIE stays
// off, so the pending SSIP never traps, and the idle loop clears it before
// it really sleeps. Until sie.SSIE is set (early boot) wfi could sleep for
// good, so then it is skipped.
static inline void cpu_relax(void)
{
    asm volatile(".4byte 0x0100000f" ::: "memory");
    csr_set(sip, SIP_SSIP);
    if (csr_read(sie) & SIE_SSIE)
        wfi();
}

#endif
