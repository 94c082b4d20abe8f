// Bringing up the other harts, their idle loop, run_on_all_cpus(), and the
// spin-loop hint cpu_relax().
//
// The boot hart numbers the usable harts of /cpus densely (itself 0, then
// device-tree order) and starts them one at a time with SBI HSM, passing the
// cpu index as HSM's opaque argument. A started hart runs secondary_main(),
// turns its interrupts on and waits in idle_loop(), asleep in wfi, for an
// interrupt: its tick, or an IPI (cross-calls, smp_call.c).
#include <stdio.h>

#include "../../lib/spinlock.h"
#include "cpu.h"
#include "fdt.h"
#include "riscv.h"
#include "sbi.h"
#include "smp.h"
#include "timer.h"

#define START_TIMEOUT_MS 3000 // per hart; TCG on a busy host can be slow
// What stacks_init writes over every stack not yet in use; the deepest use
// is where it ends. Not one repeated byte, so that the compiler does not make
// the painting loop a call to memset, which would need stack of its own.
#define STACK_PAINT 0x57ac57ac57ac57acUL

struct cpu cpus[NCPU];
unsigned char cpu_stacks[NCPU][KSTACK_SIZE] __attribute__((aligned(16)));
unsigned char irq_stacks[NCPU][IRQ_STACK_SIZE] __attribute__((aligned(16)));
static int nr_online;
// The hart smp_boot() is starting now, for entry.S's late_hart (-1: none).
// Initialised, so in .data: the BSS clear does not touch them.
unsigned long hsm_starting_hartid = -1UL;
long hsm_starting_cpu = -1;
static int stopping; // set by panic: the other harts park

int ncpu_online(void)
{
    return __atomic_load_n(&nr_online, __ATOMIC_ACQUIRE);
}

const char *stack_overflowed(int cpu)
{
    if (cpu < 0 || cpu >= NCPU)
        return NULL;
    bool task = *(uint64_t *)cpu_stacks[cpu] != STACK_MAGIC;
    bool irq = *(uint64_t *)irq_stacks[cpu] != STACK_MAGIC;
    return task && irq ? "task and interrupt stacks"
           : task      ? "task stack"
           : irq       ? "interrupt stack"
                       : NULL;
}

void stack_overflow_panic(int cpu)
{
    panic("cpu %d's %s overflowed: the canary in the lowest word was overwritten", cpu,
          stack_overflowed(cpu));
}

void pop_off_panic(int noff)
{
    panic("pop_off on cpu %d without a matching push_off (depth %d)", cpu_id(), noff);
}

int spin_locks_held(void)
{
    return mycpu()->noff;
}

bool irqs_enabled(void)
{
    return (csr_read(sstatus) & SSTATUS_SIE) != 0;
}

unsigned long *current_flags(void)
{
    struct cpu *me = mycpu();
    return me->in_irq ? &me->irq_flags : &me->task_flags;
}

// The tick and IPIs reach this hart from now on.
void irq_enable_hart(void)
{
    csr_set(sie, SIE_SSIE);
    timer_start_hart();
    csr_set(sstatus, SSTATUS_SIE);
}

void smp_park(void)
{
    csr_clear(sstatus, SSTATUS_SIE);
    csr_write(sie, 0);
    for (;;)
        wfi();
}

bool smp_stopping(void)
{
    return __atomic_load_n(&stopping, __ATOMIC_ACQUIRE) != 0;
}

void smp_stop_others(void)
{
    __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
    for (int c = 0; c < ncpu_online(); c++)
        if (c != cpu_id())
            sbi_send_ipi_to(cpus[c].hartid);
}

// A hint inside a spin loop, and a yield. Zihintpause "pause" first (an
// ordinary fence on harts without it). Then wfi on our own software
// interrupt, made pending so that wfi returns at once: under QEMU -icount
// (make bench) one thread runs all harts, and QEMU 7.2 lets the running
// hart use the whole slice up to the next timer; a hart spinning on a flag
// that another hart must set would starve that hart (QEMU 8.0 fixed the
// scheduler). wfi ends the slice. The pending bit is a doorbell shared with
// real IPIs: clear it, and ring it again if an IPI has a reason waiting
// (smp_ipi_reason), so that one is not lost. If interrupts were on, that
// IPI is taken right here, at irq_restore; if they were off, later. Until
// sie.SSIE is set (early boot) nothing would end the wfi: skip it then.
void cpu_relax(void)
{
    asm volatile(".4byte 0x0100000f" ::: "memory");
    if (!(csr_read(sie) & SIE_SSIE))
        return;
    unsigned long flags = irq_save();
    csr_set(sip, SIP_SSIP);
    wfi();
    csr_clear(sip, SIP_SSIP);
    if (smp_ipi_reason())
        csr_set(sip, SIP_SSIP);
    irq_restore(flags);
}

// ---- run_on_all_cpus ------------------------------------------------------
//
// One call at a time (task_busy). The caller fills in the task and bumps
// task_gen; every other cpu, idle or woken by an IPI, sees the new
// generation, waits at the start barrier until all n have arrived, runs fn
// with interrupts on, and counts itself done; the caller returns when all n
// are done. The tests and benchmarks use this; fn is ordinary code.

static int task_busy;
static void (*task_fn)(void *);
static void *task_arg;
static int task_n; // cpus taking part in this call
static int task_started, task_done;
static unsigned long task_gen; // bumped by each call
static unsigned long seen_gen[NCPU];
static bool in_task[NCPU]; // running a task function now

static void task_run(int cpu)
{
    int n = task_n;
    in_task[cpu] = true;
    __atomic_add_fetch(&task_started, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&task_started, __ATOMIC_ACQUIRE) < n) // start barrier
        cpu_relax();
    task_fn(task_arg);
    in_task[cpu] = false;
    stacks_check(cpu);
    if (cpus[cpu].noff != 0 || !irqs_enabled())
        panic("cpu %d: a task returned with %s", cpu,
              cpus[cpu].noff ? "a spin lock held" : "interrupts off");
    __atomic_add_fetch(&task_done, 1, __ATOMIC_RELEASE); // done barrier, counted by the caller
}

// A new task for this cpu? Interrupts off (the idle loop's check).
static bool task_posted(int cpu)
{
    return __atomic_load_n(&task_gen, __ATOMIC_ACQUIRE) != seen_gen[cpu];
}

static void wake(void *arg)
{
    (void)arg; // the IPI itself is the message: the idle loop looks for the task
}

void run_on_all_cpus(void (*fn)(void *), void *arg)
{
    int me = cpu_id();
    // fn runs with the other cpus inside the same call: a nested call would
    // wait for cpus that are busy in the outer one, forever.
    if (in_task[me])
        panic("run_on_all_cpus called from inside a run_on_all_cpus function (cpu %d)", me);
    int expected = 0;
    while (!__atomic_compare_exchange_n(&task_busy, &expected, 1, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
        expected = 0;
        cpu_relax();
    }
    int n = ncpu_online();
    task_fn = fn;
    task_arg = arg;
    task_n = n;
    task_started = 0;
    task_done = 0;
    seen_gen[me] = task_gen + 1; // we run it here, not from our idle loop
    __atomic_store_n(&task_gen, task_gen + 1, __ATOMIC_RELEASE);
    smp_call_function(cpu_online_mask() & ~CPU_BIT(me), wake, NULL, false);
    task_run(me);
    while (__atomic_load_n(&task_done, __ATOMIC_ACQUIRE) < n)
        cpu_relax();
    __atomic_store_n(&task_busy, 0, __ATOMIC_RELEASE);
}

// ---- idle and bring-up ------------------------------------------------------

// Interrupts off while looking for work, so that an interrupt arriving
// after the look still ends the wfi (it stays pending; wfi wakes on a
// pending interrupt even with SIE off), and is taken when SIE comes back.
static _Noreturn void idle_loop(int cpu)
{
    for (;;) {
        irq_save();
        if (task_posted(cpu)) {
            seen_gen[cpu] = __atomic_load_n(&task_gen, __ATOMIC_ACQUIRE);
            irq_restore(SSTATUS_SIE);
            task_run(cpu);
            continue;
        }
        wfi();
        irq_restore(SSTATUS_SIE);
    }
}

void secondary_main(unsigned long hartid, int cpu)
{
    trap_init_hart();
    irq_enable_hart();
    printk("hart %lu online as cpu %d\n", hartid, cpu);
    __atomic_store_n(&cpus[cpu].online, 1, __ATOMIC_RELEASE);
    idle_loop(cpu);
}

static uint64_t ms_to_ticks(const struct fdt_info *fi, uint64_t ms)
{
    return fi->timebase_hz / 1000 * ms;
}

static void paint(unsigned char *lo, unsigned char *hi)
{
    *(uint64_t *)lo = STACK_MAGIC;
    for (uint64_t *p = (uint64_t *)lo + 1; p < (uint64_t *)hi; p++)
        *p = STACK_PAINT;
}

// Before any trap and before the other harts start: nobody uses a stack yet
// but this one, cpu 0's task stack, and only above sp. Below sp, paint()'s
// own frame, unless it is inlined: a margin is left for it.
void stacks_init(void)
{
    for (int c = 0; c < NCPU; c++) {
        unsigned char *top = cpu_stacks[c] + KSTACK_SIZE;
        if (c == cpu_id())
            top = (unsigned char *)((r_sp() - 256) & ~7UL);
        paint(cpu_stacks[c], top);
        paint(irq_stacks[c], irq_stacks[c] + IRQ_STACK_SIZE);
    }
}

size_t stack_deepest(const unsigned char *stack, size_t size)
{
    const uint64_t *p = (const uint64_t *)stack, *end = (const uint64_t *)(stack + size);
    if (*p != STACK_MAGIC)
        return size;
    for (p++; p < end && *p == STACK_PAINT; p++)
        ;
    return (size_t)((const unsigned char *)end - (const unsigned char *)p);
}

static const char *hart_isa(const struct fdt_info *fi, unsigned long hartid)
{
    for (int i = 0; i < fi->nharts; i++)
        if (fi->harts[i].hartid == hartid)
            return fi->harts[i].isa;
    return NULL;
}

void smp_boot(const struct fdt_info *fi, unsigned long boot_hartid)
{
    cpus[0].hartid = boot_hartid;
    cpus[0].isa = hart_isa(fi, boot_hartid);
    cpus[0].online = 1;
    nr_online = 1;
    irq_enable_hart();
    printk("hart %lu online as cpu 0 (boot hart)\n", boot_hartid);

    if (!sbi.hsm) {
        printk("smp: firmware has no SBI HSM extension: running on the boot hart only\n");
        return;
    }
    int next = 1;
    for (int i = 0; i < fi->nharts; i++) {
        const struct fdt_hart *h = &fi->harts[i];
        if (h->hartid == boot_hartid)
            continue;
        if (!h->enabled) {
            printk("hart %lu: skipped: disabled in the device tree\n", h->hartid);
            continue;
        }
        if (!h->has_mmu) {
            printk("hart %lu: skipped: no mmu-type, cannot run S-mode\n", h->hartid);
            continue;
        }
        if (next == NCPU) {
            printk("hart %lu: parked (never started): all NCPU=%d cpus in use; "
                   "build with a larger NCPU to use it\n",
                   h->hartid, NCPU);
            continue;
        }
        int cpu = next;
        cpus[cpu].hartid = h->hartid;
        cpus[cpu].isa = h->isa;
        seen_gen[cpu] = task_gen; // past work is not for it
        hsm_starting_cpu = cpu;
        __atomic_store_n(&hsm_starting_hartid, h->hartid, __ATOMIC_SEQ_CST);
        long err = sbi_hart_start(h->hartid, (uintptr_t)secondary_entry, (unsigned long)cpu);
        if (err != SBI_SUCCESS) {
            __atomic_store_n(&hsm_starting_hartid, -1UL, __ATOMIC_SEQ_CST);
            printk("hart %lu: SBI HSM hart_start failed (error %ld): skipped\n", h->hartid, err);
            continue;
        }
        uint64_t deadline = r_time() + ms_to_ticks(fi, START_TIMEOUT_MS);
        while (!__atomic_load_n(&cpus[cpu].online, __ATOMIC_ACQUIRE)) {
            if (r_time() > deadline)
                panic("smp: hart %lu (cpu %d) did not come online within %d ms "
                      "(HSM status %ld)",
                      h->hartid, cpu, START_TIMEOUT_MS, sbi_hart_status(h->hartid));
            cpu_relax();
        }
        __atomic_store_n(&hsm_starting_hartid, -1UL, __ATOMIC_SEQ_CST);
        __atomic_store_n(&nr_online, cpu + 1, __ATOMIC_RELEASE);
        next++;
    }
    if (fi->nharts_dropped)
        printk("smp: %d more cpu nodes than FDT_MAX_HARTS=%d were ignored\n", fi->nharts_dropped,
               FDT_MAX_HARTS);
}

// "3.1 KiB": tenths by integer arithmetic (printk has no floating point).
static void kib(char *buf, size_t n, size_t bytes)
{
    size_t tenths = (bytes * 10 + 512) / 1024;
    snprintf(buf, n, "%zu.%zu KiB", tenths / 10, tenths % 10);
}

void stackinfo(void)
{
    for (int c = 0; c < ncpu_online(); c++) {
        char task[24], irq[24];
        kib(task, sizeof(task), stack_deepest(cpu_stacks[c], KSTACK_SIZE));
        kib(irq, sizeof(irq), stack_deepest(irq_stacks[c], IRQ_STACK_SIZE));
        printk("stacks: cpu %d: task %s of %d KiB, irq %s of %d KiB\n", c, task, KSTACK_SIZE / 1024,
               irq, IRQ_STACK_SIZE / 1024);
    }
}

// Like /proc/interrupts: what each cpu took and sent. A missed tick is a
// deadline that passed while the cpu was still in the handler of an earlier
// one, or had interrupts off (timer.c).
void irqinfo(void)
{
    printk("interrupts: %u Hz tick; per cpu: ticks taken, ticks missed, IPIs sent, IPIs taken, "
           "cross-call functions run for others\n",
           timer_hz());
    for (int c = 0; c < ncpu_online(); c++)
        printk("  cpu %d (hart %lu): %llu ticks, %llu missed, %llu IPIs sent, %llu IPIs taken, "
               "%llu calls run\n",
               c, cpus[c].hartid, (unsigned long long)cpus[c].ticks,
               (unsigned long long)cpus[c].ticks_missed, (unsigned long long)cpus[c].ipis_sent,
               (unsigned long long)cpus[c].ipis, (unsigned long long)cpus[c].calls_run);
}
