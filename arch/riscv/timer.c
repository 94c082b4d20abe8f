// The tick. Each hart asks for a timer interrupt one interval from now, and
// every interrupt, once its handler is done, asks for the next one: the
// first deadline of the hart's schedule (its deadlines one interval apart)
// that is still ahead. Two ways to ask: the SBI TIME call (an ecall into
// OpenSBI, a few hundred instructions) or, where the hart has the Sstc
// extension, writing the deadline to stimecmp directly. Setting a deadline
// in the future also clears the pending interrupt.
#include "timer.h"

#include <string.h>

#include "../../mm/slab.h"
#include "cpu.h"
#include "fdt.h"
#include "riscv.h"
#include "sbi.h"
#include "smp.h"

void (*volatile tick_hook)(void);
static uint64_t timebase_hz = 10000000;
static volatile uint64_t interval; // time-CSR ticks between interrupts
static unsigned hz;
static bool paused[NCPU];

static void set_deadline(uint64_t when)
{
    mycpu()->next_tick = when;
    if (mycpu()->sstc)
        csr_write(0x14d, when); // stimecmp
    else
        sbi_set_timer(when);
}

// Does this hart let S-mode write stimecmp? The firmware must have set
// menvcfg.STCE; if not, the access is an illegal instruction, which
// kernel_trap skips (trap_probe) instead of reporting.
static bool stimecmp_works(void)
{
    struct cpu *me = mycpu();
    me->probing = 1;
    unsigned long v;
    asm volatile("csrr %0, 0x14d" : "=r"(v)::"memory");
    (void)v;
    bool ok = me->probing == 1;
    me->probing = 0;
    return ok;
}

// An ISA string such as rv64imafdch_zicsr_..._sstc names its multi-letter
// extensions after underscores.
static bool isa_has(const char *isa, const char *ext)
{
    size_t n = strlen(ext);
    for (const char *p = isa ? strchr(isa, '_') : NULL; p; p = strchr(p + 1, '_'))
        if (strncmp(p + 1, ext, n) == 0 && (p[1 + n] == '_' || p[1 + n] == '\0'))
            return true;
    return false;
}

void timer_init(const struct fdt_info *fi, unsigned rate)
{
    timebase_hz = fi->timebase_hz;
    hz = rate;
    interval = timebase_hz / hz;
}

// Each hart decides for itself: harts need not be alike.
static const char *choose(struct cpu *me)
{
    bool listed = isa_has(me->isa, "sstc");
    me->sstc = listed && stimecmp_works();
    return me->sstc ? "stimecmp (Sstc)"
           : listed ? "SBI TIME (Sstc listed, but the firmware keeps stimecmp)"
                    : "SBI TIME";
}

void timer_start_hart(void)
{
    const char *how = choose(mycpu());
    if (cpu_id() == 0)
        printk("timer: %u Hz tick, every %llu timebase ticks, set with %s\n", hz,
               (unsigned long long)interval, how);
    set_deadline(r_time() + interval);
    csr_set(sie, SIE_STIE);
}

// The slab reaper, every slab_reap_ms (mm/slab_reap.c). It never waits
// here: if another cpu holds the list of caches, it tries again next tick.
static void reap_tick(struct cpu *me)
{
    unsigned ms = READ_ONCE(slab_reap_ms);
    if (ms == 0)
        return;
    if (me->reap_wait > 1) {
        me->reap_wait--;
        return;
    }
    if (slab_reap(false))
        me->reap_wait = MAX((uint64_t)hz * ms / 1000, 1);
}

// The next deadline is set after the hook, from the time it is then. A
// deadline set before the hook, one interval on, would already have passed
// when a hook ran longer than that: the next interrupt would come the moment
// this one returned, and the interrupted code would never run again. So the
// deadlines the handler ran past (or that passed while interrupts were off)
// are skipped and counted, and the interrupted code gets the rest of the
// period.
void timer_interrupt(void)
{
    struct cpu *me = mycpu();
    me->ticks++;
    void (*hook)(void) = tick_hook;
    if (hook)
        hook();
    reap_tick(me);
    if (paused[cpu_id()]) {
        set_deadline(UINT64_MAX);
        return;
    }
    uint64_t step = interval, next = me->next_tick + step, now = r_time();
    if (next <= now) {
        uint64_t missed = (now - me->next_tick) / step;
        me->ticks_missed += missed;
        next = me->next_tick + (missed + 1) * step; // the first after now
    }
    set_deadline(next);
}

unsigned timer_hz(void)
{
    return hz;
}

void timer_set_hz(unsigned rate)
{
    if (rate < 1 || rate > HZ_MAX)
        return;
    hz = rate;
    interval = timebase_hz / rate;
}

bool timer_uses_sstc(void)
{
    return mycpu()->sstc;
}

static void pause_here(void *arg)
{
    paused[cpu_id()] = arg != NULL;
    set_deadline(arg ? UINT64_MAX : r_time() + interval);
}

void timer_pause_all(void)
{
    on_each_cpu(pause_here, (void *)1);
}

void timer_resume_all(void)
{
    on_each_cpu(pause_here, NULL);
}
