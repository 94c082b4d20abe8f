// printk and panic: the console is the SBI console (see sbi.c).
//
// printk formats into a buffer on the stack first, then writes the whole
// buffer under one lock, so lines from different harts never interleave.
// Once a hart panics, only that hart may print.
#include <stdio.h>

#include "../../lib/spinlock.h"
#include "cpu.h"
#include "power.h"
#include "riscv.h"
#include "sbi.h"

#define PRINTK_MAX 512 // longer messages are cut, and end in "...\n"

static struct spinlock console_lock = SPINLOCK_INIT("console");
static int panic_cpu = -1; // the cpu that is panicking, or -1

static bool console_acquire(void)
{
    int p = __atomic_load_n(&panic_cpu, __ATOMIC_ACQUIRE);
    if (p < 0) {
        spin_lock(&console_lock);
        return true;
    }
    // Panicking: a hart stopped while holding the lock must not silence the
    // panic message, so wait a little, then print without the lock.
    for (int i = 0; i < 1000000; i++)
        if (spin_trylock(&console_lock))
            return true;
    return false;
}

static int vprintk(const char *fmt, va_list ap)
{
    char buf[PRINTK_MAX];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    if (n < 0)
        return n;
    size_t len = (size_t)n;
    if (len >= sizeof(buf)) {
        len = sizeof(buf) - 1;
        buf[len - 4] = buf[len - 3] = buf[len - 2] = '.';
        buf[len - 1] = '\n';
    }
    unsigned long flags = irq_save();
    int p = __atomic_load_n(&panic_cpu, __ATOMIC_ACQUIRE);
    if (p >= 0 && p != cpu_id()) { // another hart panicked: stay silent
        irq_restore(flags);
        return 0;
    }
    bool locked = console_acquire();
    sbi_console_write(buf, len);
    if (locked)
        spin_unlock(&console_lock);
    irq_restore(flags);
    return n;
}

int printk(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintk(fmt, ap);
    va_end(ap);
    return n;
}

// Walk the frame-pointer chain (the kernel is built with
// -fno-omit-frame-pointer): each frame stores ra at fp-8 and the caller's fp
// at fp-16. Stop at fp 0 (entry.S sets it) or when fp leaves this cpu's
// stacks. A trap keeps fp, so from a handler the chain goes on from the
// interrupt stack into the task stack, through the code it interrupted.
// We print ra-2, an address inside the call instruction (jalr is 4 bytes,
// c.jalr 2): ra itself may already be in the next function when the callee
// never returns, as with panic().
extern char _start[], _etext[];

static bool on_stack(uintptr_t fp, const unsigned char *stack, size_t size)
{
    return fp > (uintptr_t)stack + 16 && fp <= (uintptr_t)stack + size && (fp & 7) == 0;
}

static void backtrace(unsigned long fp)
{
    int cpu = cpu_id();
    printk("backtrace (call sites; riscv64-unknown-elf-addr2line -fe build/kernel.elf ADDR):\n");
    for (int depth = 0; depth < 16 && (on_stack(fp, cpu_stacks[cpu], KSTACK_SIZE) ||
                                       on_stack(fp, irq_stacks[cpu], IRQ_STACK_SIZE));
         depth++) {
        unsigned long ra = ((unsigned long *)fp)[-1];
        if (ra < (uintptr_t)_start + 2 || ra > (uintptr_t)_etext)
            break; // not a return address: a leaf function's frame has no ra slot
        printk("  #%d %#lx\n", depth, ra - 2);
        fp = ((unsigned long *)fp)[-2];
    }
}

void panic(const char *fmt, ...)
{
    irq_save();
    int me = cpu_id(), expected = -1;
    if (!__atomic_compare_exchange_n(&panic_cpu, &expected, me, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        if (expected == me) // panicked while panicking: just stop
            power_off(EXIT_PANIC);
        smp_park(); // another hart is already reporting
    }
    char msg[PRINTK_MAX - 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    printk("panic: %s\n", msg);
    const char *over = stack_overflowed(me);
    printk("  on cpu %d (hart %lu)%s%s%s\n", me, r_tp(), over ? ", and its " : "", over ? over : "",
           over ? " has overflowed" : "");
    backtrace(r_fp());
    smp_stop_others();
    power_off(EXIT_PANIC);
}
