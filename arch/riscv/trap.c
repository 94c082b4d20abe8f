// Traps. Two interrupts are expected: the supervisor timer (the tick,
// timer.c) and the supervisor software interrupt (an IPI: cross-calls,
// smp_call.c). Every exception is a bug (a bad pointer, an illegal
// instruction, a stack overflow) and the report says where it happened,
// then panics; the one exception kept is a probe (trap_probe below).
//
// kernelvec (kernelvec.S) saved every register on this cpu's interrupt
// stack; sstatus still has SIE off, and the handler never turns it on, so
// interrupts do not nest. sret turns SIE back to what it was (SPIE).
#include "cpu.h"
#include "riscv.h"
#include "smp.h"
#include "timer.h"

static const char *const exception_names[] = {
    [0] = "instruction address misaligned",
    [1] = "instruction access fault",
    [2] = "illegal instruction",
    [3] = "breakpoint",
    [4] = "load address misaligned",
    [5] = "load access fault",
    [6] = "store address misaligned",
    [7] = "store access fault",
    [8] = "environment call from U-mode",
    [9] = "environment call from S-mode",
    [12] = "instruction page fault",
    [13] = "load page fault",
    [15] = "store page fault",
};

static const char *const interrupt_names[] = {
    [1] = "supervisor software interrupt",
    [5] = "supervisor timer interrupt",
    [9] = "supervisor external interrupt",
};

void trap_init_hart(void)
{
    csr_write(stvec, (uintptr_t)kernelvec);
}

void kernel_trap(struct trapframe *tf);

static _Noreturn void unexpected(struct trapframe *tf, unsigned long scause)
{
    unsigned long sepc = csr_read(sepc), stval = csr_read(stval);
    unsigned long code = scause & ~SCAUSE_INTR;
    const char *name = NULL;
    if (scause & SCAUSE_INTR) {
        if (code < ARRAY_SIZE(interrupt_names))
            name = interrupt_names[code];
    } else if (code < ARRAY_SIZE(exception_names)) {
        name = exception_names[code];
    }
    int cpu = cpu_id();
    printk("trap: unexpected %s on hart %lu (cpu %d)\n",
           (scause & SCAUSE_INTR) ? "interrupt" : "exception", r_tp(), cpu);
    printk("  scause %#lx (%s)  sepc %#lx  stval %#lx\n", scause, name ? name : "reserved", sepc,
           stval);
    printk("  ra %#lx  sp %#lx  fp %#lx\n", tf->x[1], tf->x[2], tf->x[8]);
    const char *over = stack_overflowed(cpu);
    if (over)
        printk("  cpu %d's %s overflowed (a trap on a bad sp often follows)\n", cpu, over);
    panic("unexpected trap: scause %#lx (%s) at sepc %#lx, stval %#lx, hart %lu", scause,
          name ? name : "reserved", sepc, stval, r_tp());
}

void kernel_trap(struct trapframe *tf)
{
    // A handler may itself trap (a probe), which overwrites these: keep them.
    unsigned long scause = csr_read(scause), sepc = csr_read(sepc), sstatus = csr_read(sstatus);
    struct cpu *me = mycpu();
    if (scause == (SCAUSE_INTR | IRQ_S_TIMER) || scause == (SCAUSE_INTR | IRQ_S_SOFT)) {
        // Interrupts were on, so the interrupted code held no lock (rule 2).
        if (me->noff != 0)
            panic("interrupt on cpu %d while it holds %d spin lock(s)", cpu_id(), me->noff);
        me->in_irq++;
        if (scause == (SCAUSE_INTR | IRQ_S_TIMER))
            timer_interrupt();
        else
            smp_ipi_interrupt();
        me->in_irq--;
    } else if (scause == EXC_ILLEGAL && me->probing == 1) {
        // trap_probe: the instruction is not allowed here. Skip it (CSR
        // instructions are 4 bytes) and say so.
        me->probing = 2;
        sepc += 4;
    } else {
        unexpected(tf, scause);
    }
    // Here, not only when a task ends: an overflow is caught near the code
    // that caused it, and a handler's overflow, which no task end would see,
    // is caught at all. The handler has returned, so there is room to panic.
    stacks_check(cpu_id());
    csr_write(sepc, sepc);
    csr_write(sstatus, sstatus);
}
