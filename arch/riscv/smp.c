// Bringing up the other harts, their idle loop, and on_each_cpu().
//
// The boot hart numbers the usable harts of /cpus densely (itself 0, then
// device-tree order) and starts them one at a time with SBI HSM, passing the
// cpu index as HSM's opaque argument. A started hart runs secondary_main()
// and waits in idle_loop() for work, asleep in wfi; on_each_cpu() posts the
// work and wakes it with an IPI (a supervisor software interrupt). Interrupts
// stay off (sstatus.SIE = 0): with sie.SSIE set, a pending IPI still ends
// wfi, and no trap is ever taken, so there is no interrupt handler at all.
#include "../../lib/spinlock.h"
#include "cpu.h"
#include "fdt.h"
#include "riscv.h"
#include "sbi.h"

#define START_TIMEOUT_MS 3000                 // per hart; TCG on a busy host can be slow
#define STACK_MAGIC      0x5ac0ffee5ac0ffeeUL // at the lowest address of every stack

struct cpu cpus[NCPU];
unsigned char cpu_stacks[NCPU][KSTACK_SIZE] __attribute__((aligned(16)));
static int nr_online;
// The hart smp_boot() is starting now, for entry.S's late_hart (-1: none).
// Initialised, so in .data: the BSS clear does not touch them.
unsigned long hsm_starting_hartid = -1UL;
long hsm_starting_cpu = -1;
static int stopping; // set by panic: idle harts park

int ncpu_online(void)
{
    return __atomic_load_n(&nr_online, __ATOMIC_ACQUIRE);
}

bool stack_ok(int cpu)
{
    return cpu >= 0 && cpu < NCPU && *(uint64_t *)cpu_stacks[cpu] == STACK_MAGIC;
}

void smp_park(void)
{
    csr_write(sie, 0);
    for (;;)
        wfi();
}

// ---- on_each_cpu ----------------------------------------------------------
//
// One call at a time (oec_lock). The caller fills in the work and bumps
// oec_gen; each cpu notices the new generation (idle cpus after the IPI),
// waits at the start barrier until all n have arrived, runs fn, and counts
// itself done; the caller returns when all n are done.

static struct spinlock oec_lock = SPINLOCK_INIT("on_each_cpu");
static void (*oec_fn)(void *);
static void *oec_arg;
static int oec_n; // cpus taking part in this call
static int oec_started, oec_done;
static unsigned long oec_gen; // bumped by each call
static unsigned long seen_gen[NCPU];
static bool in_oec[NCPU]; // running an on_each_cpu function now

static void oec_run(int cpu)
{
    int n = oec_n;
    in_oec[cpu] = true;
    __atomic_add_fetch(&oec_started, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&oec_started, __ATOMIC_ACQUIRE) < n) // start barrier
        cpu_relax();
    oec_fn(oec_arg);
    in_oec[cpu] = false;
    if (!stack_ok(cpu))
        panic("cpu %d overflowed its %d-byte stack", cpu, KSTACK_SIZE);
    __atomic_add_fetch(&oec_done, 1, __ATOMIC_RELEASE); // done barrier, counted by the caller
}

// Run the posted work if this cpu has not yet run this generation.
static void oec_poll(int cpu)
{
    unsigned long gen = __atomic_load_n(&oec_gen, __ATOMIC_ACQUIRE);
    if (gen != seen_gen[cpu]) {
        seen_gen[cpu] = gen;
        oec_run(cpu);
    }
}

void on_each_cpu(void (*fn)(void *), void *arg)
{
    int me = cpu_id();
    // fn runs with the other cpus inside the same call: a nested call would
    // wait for cpus that are busy in the outer one, forever.
    if (in_oec[me])
        panic("on_each_cpu called from inside an on_each_cpu function (cpu %d)", me);
    // Another cpu may be posting work meanwhile: run it while we wait, or it
    // would wait for us while we wait for it.
    while (!spin_trylock(&oec_lock)) {
        oec_poll(me);
        cpu_relax();
    }
    int n = ncpu_online();
    oec_fn = fn;
    oec_arg = arg;
    oec_n = n;
    oec_started = 0;
    oec_done = 0;
    seen_gen[me] = oec_gen + 1; // we run it here, not from our idle loop
    __atomic_store_n(&oec_gen, oec_gen + 1, __ATOMIC_RELEASE);
    for (int c = 0; c < n; c++)
        if (c != me)
            sbi_send_ipi_to(cpus[c].hartid);
    oec_run(me);
    while (__atomic_load_n(&oec_done, __ATOMIC_ACQUIRE) < n)
        cpu_relax();
    spin_unlock(&oec_lock);
}

// ---- idle and bring-up ------------------------------------------------------

static _Noreturn void idle_loop(int cpu)
{
    for (;;) {
        // Clear the IPI before looking for work: an IPI sent after the check
        // leaves SSIP set, and wfi then returns at once instead of sleeping.
        csr_clear(sip, SIP_SSIP);
        if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
            smp_park();
        oec_poll(cpu);
        if (sbi.ipi)
            wfi();
        else
            cpu_relax(); // no IPI extension: nothing would wake us, so poll
    }
}

void smp_stop_others(void)
{
    __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
    for (int c = 0; c < ncpu_online(); c++)
        if (c != cpu_id())
            sbi_send_ipi_to(cpus[c].hartid);
}

void secondary_main(unsigned long hartid, int cpu)
{
    trap_init_hart();
    csr_write(sie, SIE_SSIE); // the IPI may end wfi; sstatus.SIE stays off
    printk("hart %lu online as cpu %d\n", hartid, cpu);
    __atomic_store_n(&cpus[cpu].online, 1, __ATOMIC_RELEASE);
    idle_loop(cpu);
}

static uint64_t ms_to_ticks(const struct fdt_info *fi, uint64_t ms)
{
    return fi->timebase_hz / 1000 * ms;
}

void stacks_init(void)
{
    for (int c = 0; c < NCPU; c++)
        *(uint64_t *)cpu_stacks[c] = STACK_MAGIC;
}

void smp_boot(const struct fdt_info *fi, unsigned long boot_hartid)
{
    cpus[0].hartid = boot_hartid;
    cpus[0].online = 1;
    nr_online = 1;
    csr_write(sie, SIE_SSIE);
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
        seen_gen[cpu] = oec_gen; // past work is not for it
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
