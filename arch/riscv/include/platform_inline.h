// lib/platform.h's per-cpu and interrupt primitives for the kernel, inline:
// kmem_cache_alloc and kmem_cache_free use cpu_id and the per-CPU section on
// every operation, and as calls (with the frame set-up that
// -fno-omit-frame-pointer adds) they would cost more than the one or two
// CSR instructions each one is. lib/platform.h includes this header because
// the kernel Makefile puts arch/riscv/include on the include path; the host
// test build has none and links tests/host/platform.c. mm/ still never
// names an arch/ header: it only sees lib/platform.h.
#ifndef PLATFORM_INLINE_H
#define PLATFORM_INLINE_H

#include "../percpu.h"
#include "../riscv.h"

#define PLATFORM_INLINE 1

// The dense cpu index, which entry.S put in sscratch: one instruction. (The
// range promise spares a sign extension where it indexes an array.)
static inline int cpu_id(void)
{
    unsigned long id = csr_read(sscratch);
    if (id >= NCPU)
        __builtin_unreachable();
    return (int)id;
}

// Interrupts on this hart: the SIE bit of sstatus. Saving is one csrrc
// (read and clear at once, so nothing can come in between).
static inline unsigned long irq_save(void)
{
    return csr_read_clear(sstatus, SSTATUS_SIE) & SSTATUS_SIE;
}

static inline void irq_restore(unsigned long flags)
{
    csr_set(sstatus, flags); // flags is 0 or SIE: one csrs, no branch
}

_Noreturn void pop_off_panic(int noff); // arch/riscv/smp.c

// xv6's push_off/pop_off: interrupts off, counted, so that they come back
// on only when the last lock is dropped, and only if they were on before
// the first was taken (an interrupt handler runs with them off: its locks
// leave them off).
static inline void push_off(void)
{
    unsigned long on = irq_save();
    struct cpu *c = &cpus[cpu_id()];
    if (c->noff++ == 0)
        c->intena = (int)on;
}

static inline void pop_off(void)
{
    struct cpu *c = &cpus[cpu_id()];
    int n = --c->noff;
    if (unlikely(n < 0))
        pop_off_panic(n);
    if (n == 0)
        irq_restore((unsigned long)c->intena);
}

// The per-CPU section is interrupts off, nothing else: no other cpu ever
// touches this cpu's per-CPU data (it asks by cross-call, which waits for
// the section to end), and no interrupt handler can run in the middle.
// flags is the SIE bit from before and the leave sets only that bit back,
// as Linux's local_irq_restore does: whatever else changes in sstatus
// meanwhile (the FS and VS dirty bits, SUM) stays changed.
static inline unsigned long local_lock_irqsave(void)
{
    return irq_save();
}

static inline void local_unlock_irqrestore(unsigned long flags)
{
    irq_restore(flags);
}

// The cpu inside a section, as an unsigned long: it indexes the per-CPU
// arrays, and an int would cost a sign extension on every alloc and free.
#define local_lock_cpu(flags) ((void)(flags), this_cpu_index())
static inline unsigned long this_cpu_index(void)
{
    unsigned long id = csr_read(sscratch);
    if (id >= NCPU)
        __builtin_unreachable();
    return id;
}

// lib/platform.h, rule 4: checked by every allocation that could wait, so
// inline. Before this hart first turned its interrupts on (sie.SSIE is set
// then) it is booting: no interrupt can come, and a cross-call waits for
// cpus that are not running yet or runs at once.
static inline const char *atomic_context(void)
{
    struct cpu *me = &cpus[cpu_id()];
    if (me->in_irq)
        return "interrupt handler";
    if (me->noff > 0)
        return "spin lock held";
    if (!(csr_read(sstatus) & SSTATUS_SIE) && (csr_read(sie) & SIE_SSIE))
        return "interrupts off";
    return NULL;
}

// A lock holder is a cpu: an interrupt handler never takes a lock its own
// cpu holds, because a holder has interrupts off.
static inline long lock_owner_self(void)
{
    return cpu_id();
}

#define __read_mostly __attribute__((section(".sdata.read_mostly"))) // linker/kernel.ld

#endif
