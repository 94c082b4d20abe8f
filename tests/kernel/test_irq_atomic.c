// Allocating from interrupt handlers while memory runs out: the tick
// allocates GFP_ATOMIC (and, on purpose, sometimes GFP_KERNEL: reported,
// served as atomic) while the code it interrupts cross-calls, shrinks,
// reclaims, or takes every frame. Nothing may hang, lose an object or a
// frame, or eat the reserve from task code. Kernel only (the host has no
// interrupts): tests/host/host.mk leaves this file out.
//
// Each test goes on for irq_atomic_secs seconds of host time (the time
// CSR), and then until its progress counts are met -- ticks taken on every
// cpu, work done by the tasks: it ends by progress and never fails by the
// clock. make test runs them by their counts alone (a second or so each),
// make test-irq-soak for 20 s each on 4 and 8 harts.
#include <string.h>

#include "arch/riscv/cpu.h"
#include "arch/riscv/fdt.h"
#include "arch/riscv/riscv.h"
#include "arch/riscv/smp.h"
#include "arch/riscv/timer.h"
#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"

KTEST_PARAM(irq_atomic_secs, 0, 3600, "seconds of host time each irq_atomic test runs at least");

#define GFP_ALL (GFP_KERNEL | __GFP_MEMALLOC | __GFP_NOWARN) // every free frame may go

// Each cpu's ticks in a test, at the least: fewer past 8 cpus, whose vcpus
// share the host's few cores and each get only a few ticks a second.
#define MIN_TICKS (ncpu_online() <= 8 ? 100UL : 20UL)

static uint64_t run_until; // the time CSR when the test's time is up

static void start_clock(void)
{
    run_until = r_time() + fdt_info.timebase_hz * ktest_arg_ul("irq_atomic_secs", 0);
}

static bool time_left(void)
{
    return r_time() < run_until;
}

static size_t settle(void)
{
    slab_reclaim(GFP_KERNEL);
    return nr_free_pages();
}

static void nothing(void *arg)
{
    (void)arg;
}

// After tick_hook = NULL, a handler may still be inside the old hook on
// another cpu; it finishes before that cpu can run a cross-call.
static void hook_off(void)
{
    tick_hook = NULL;
    on_each_cpu(nothing, NULL);
}

// Every frame the zone has, chained through their first words, the
// largest blocks first (few calls, each failure a reclaim).
static void *stash_all(void)
{
    void **stash = NULL, **p;
    for (int order = MAX_ORDER; order >= 0; order--)
        while ((p = alloc_pages(GFP_ALL, order)) != NULL) {
            p[0] = stash;
            p[1] = (void *)(uintptr_t)order;
            stash = p;
        }
    return stash;
}

static void unstash(void *stash)
{
    while (stash) {
        void **p = stash;
        stash = p[0];
        free_pages(p, (unsigned)(uintptr_t)p[1]);
    }
}

static uint64_t stamp_of(const void *p, unsigned salt)
{
    return ((uintptr_t)p * 0x9e3779b97f4a7c15ULL) ^ salt;
}

// ---- 1. Cross-calls while every tick reclaims -------------------------------
//
// cpu 0 sends cpu 1 one cross-call after another; every tick on cpu 0
// allocates from a cache whose memory is gone, so every tick reclaims. A
// reclaim that cross-called from the handler could find the interrupted
// cross-call half-posted to cpu 1 and spin on it forever (the call slot is
// per sender and target). cpu 1 watches cpu 0's progress meanwhile.

#define XR_HOLD 1024
static struct {
    struct kmem_cache *c;
    unsigned long sent, run, bad_seq; // cross-calls 0 -> 1, in order, each once
    unsigned long ticks, got, reclaims_before;
    void *held[XR_HOLD];
    unsigned nheld;
    unsigned long progress; // cpu 0's loop, for the watchdog
    int done;
} xr;

static void xr_count(void *arg)
{
    unsigned long seq = (unsigned long)arg;
    if (seq != xr.run + 1)
        xr.bad_seq++;
    xr.run = seq;
}

// Keep what a tick gets, so memory stays gone and the next tick reclaims
// again. Every other tick asks with the wrong flag: GFP_KERNEL in an
// interrupt handler is reported once and served as GFP_ATOMIC.
static void xr_hook(void)
{
    if (cpu_id() != 0)
        return;
    gfp_t gfp = (xr.ticks & 1) ? GFP_KERNEL : GFP_ATOMIC;
    void *p = kmem_cache_alloc(xr.c, gfp | __GFP_NOWARN);
    xr.ticks++;
    if (p == NULL)
        return;
    xr.got++;
    if (xr.nheld < XR_HOLD)
        xr.held[xr.nheld++] = p;
    else
        kmem_cache_free(xr.c, p);
}

// The watchdog's patience: 5 s of host time with no progress on cpu 0,
// during which the watchdog itself ran at least this many turns (so a host
// that stopped scheduling both vcpus does not fail the test).
#define WATCHDOG_SECS  5
#define WATCHDOG_TURNS 100000

static void xr_task(void *arg)
{
    (void)arg;
    int me = cpu_id();
    if (me == 0) {
        for (unsigned long seq = 1; time_left() || READ_ONCE(xr.ticks) < MIN_TICKS || seq <= 2000;
             seq++) {
            if (smp_call_function_single(1, xr_count, (void *)seq) == 0)
                xr.sent = seq;
            WRITE_ONCE(xr.progress, seq);
        }
        __atomic_store_n(&xr.done, 1, __ATOMIC_RELEASE);
    } else if (me == 1) {
        uint64_t patience = fdt_info.timebase_hz * WATCHDOG_SECS;
        unsigned long last = READ_ONCE(xr.progress), turns = 0;
        uint64_t since = r_time();
        while (!__atomic_load_n(&xr.done, __ATOMIC_ACQUIRE)) {
            cpu_relax(); // cross-calls from cpu 0 run here
            unsigned long now = READ_ONCE(xr.progress);
            if (now != last) {
                last = now, turns = 0, since = r_time();
            } else if (++turns >= WATCHDOG_TURNS && r_time() - since > patience) {
                panic("irq_atomic: cpu 0 made no progress for %d s (cross-call %lu, %lu ticks "
                      "taken): stuck in its tick handler?",
                      WATCHDOG_SECS, last, READ_ONCE(xr.ticks));
            }
        }
    }
}

KTEST(irq_atomic, cross_calls_while_every_tick_reclaims)
{
    if (ncpu_online() < 2)
        KTEST_SKIP(t, "needs 2 cpus");
    size_t before = settle();
    uint64_t errors = slab_error_count();
    memset(&xr, 0, sizeof(xr));
    xr.c = kmem_cache_create("t_irq_xr", 128, 0, 0, NULL);
    ASSERT_NE(t, xr.c, NULL);
    struct buddy_stats st0, st1;
    buddy_get_stats(&st0);
    void *stash = stash_all();
    // Fast enough that ticks land inside cross-calls being posted often
    // (a hang, when reclaim cross-called from the handler, came within a
    // few thousand ticks at 2000 Hz).
    unsigned hz = timer_hz();
    timer_set_hz(MAX(hz, 2000U));
    tick_hook = xr_hook;
    start_clock();
    run_on_all_cpus(xr_task, NULL);
    hook_off();
    timer_set_hz(hz);
    buddy_get_stats(&st1);
    printk("# %lu cross-calls, %lu ticks, %lu got memory, %llu reclaims\n", xr.sent, xr.ticks,
           xr.got, (unsigned long long)(st1.reclaims - st0.reclaims));
    EXPECT_EQ(t, xr.run, xr.sent); // every cross-call ran ...
    EXPECT_EQ(t, xr.bad_seq, 0UL); // ... exactly once, in order
    EXPECT_GE(t, xr.ticks, MIN_TICKS);
    EXPECT_GE(t, st1.reclaims - st0.reclaims, xr.ticks - xr.got); // each failed tick reclaimed
    unstash(stash);
    for (unsigned i = 0; i < xr.nheld; i++)
        kmem_cache_free(xr.c, xr.held[i]);
    EXPECT_EQ(t, slab_error_count(), errors);
    EXPECT_EQ(t, slab_validate_all(), 0);
    EXPECT_EQ(t, kmem_cache_destroy(xr.c), 0);
    EXPECT_EQ(t, settle(), before);
    EXPECT_EQ(t, buddy_validate(), 0);
}

// ---- 2. Shrink and reclaim in every task, allocation in every tick ----------

#define SR_HOLD 16
static struct sr_cpu {
    void *obj[SR_HOLD];
    size_t size[SR_HOLD]; // 0: from sr.c
    uint64_t rng;
    unsigned long ticks, ops, rounds;
} srcpu[NCPU];
static struct {
    struct kmem_cache *c;
    unsigned long broken;
} sr;

static void sr_put(struct sr_cpu *s, unsigned k)
{
    uint64_t *p = s->obj[k];
    size_t n = s->size[k] ? s->size[k] : 64;
    if (p[0] != stamp_of(p, 1) || p[n / 8 - 1] != ~p[0])
        __atomic_add_fetch(&sr.broken, 1, __ATOMIC_RELAXED);
    if (s->size[k])
        kfree(p);
    else
        kmem_cache_free(sr.c, p);
    s->obj[k] = NULL;
}

static void sr_hook(void)
{
    struct sr_cpu *s = &srcpu[cpu_id()];
    s->ticks++;
    for (int i = 0; i < 4; i++) {
        uint64_t r = ktest_rand(&s->rng);
        unsigned k = r % SR_HOLD;
        if (s->obj[k]) {
            sr_put(s, k);
            continue;
        }
        static const size_t sizes[] = {0, 0, 48, 256, 2000};
        size_t n = sizes[(r >> 16) % ARRAY_SIZE(sizes)];
        uint64_t *p = n ? kmalloc(n, GFP_ATOMIC) : kmem_cache_alloc(sr.c, GFP_ATOMIC);
        if (p == NULL)
            continue;
        size_t len = n ? n : 64;
        p[0] = stamp_of(p, 1);
        p[len / 8 - 1] = ~p[0];
        s->obj[k] = p;
        s->size[k] = n;
        s->ops++;
    }
}

// Between shrinks, the task allocates and frees from the same cache, so
// ticks also land in the middle of its own pops and pushes.
static void sr_task(void *arg)
{
    (void)arg;
    struct sr_cpu *s = &srcpu[cpu_id()];
    unsigned long rounds = ncpu_online() <= 8 ? 20 : 3;
    while (time_left() || READ_ONCE(s->ticks) < MIN_TICKS || s->rounds < rounds) {
        uint64_t *mine[32];
        for (int i = 0; i < 32; i++) {
            mine[i] = kmem_cache_alloc(sr.c, GFP_KERNEL);
            if (mine[i])
                mine[i][0] = stamp_of(mine[i], 2), mine[i][7] = ~mine[i][0];
        }
        for (int i = 0; i < 32; i++) {
            if (mine[i] == NULL)
                continue;
            if (mine[i][0] != stamp_of(mine[i], 2) || mine[i][7] != ~mine[i][0])
                __atomic_add_fetch(&sr.broken, 1, __ATOMIC_RELAXED);
            kmem_cache_free(sr.c, mine[i]);
        }
        kmem_cache_shrink(sr.c);
        slab_reclaim(GFP_KERNEL);
        s->rounds++;
    }
}

KTEST(irq_atomic, shrink_and_reclaim_while_every_tick_allocates)
{
    size_t before = settle();
    uint64_t errors = slab_error_count();
    unsigned long reports = gfp_context_reports();
    sr.c = kmem_cache_create("t_irq_sr", 64, 0, 0, NULL);
    ASSERT_NE(t, sr.c, NULL);
    sr.broken = 0;
    memset(srcpu, 0, sizeof(srcpu));
    for (int c = 0; c < NCPU; c++)
        srcpu[c].rng = 0x5eed5 + c;
    unsigned hz = timer_hz();
    timer_set_hz(MAX(hz, 2000U)); // ticks inside the tasks' sections, if they let them in
    tick_hook = sr_hook;
    start_clock();
    run_on_all_cpus(sr_task, NULL);
    hook_off();
    timer_set_hz(hz);
    unsigned long ops = 0, rounds = 0;
    for (int c = 0; c < ncpu_online(); c++) {
        ops += srcpu[c].ops;
        rounds += srcpu[c].rounds;
        EXPECT_GE(t, srcpu[c].ticks, MIN_TICKS);
        EXPECT_GT(t, srcpu[c].ops, 0UL);
        for (unsigned k = 0; k < SR_HOLD; k++)
            if (srcpu[c].obj[k])
                sr_put(&srcpu[c], k);
    }
    printk("# %lu allocations in ticks, %lu shrink+reclaim rounds in tasks\n", ops, rounds);
    EXPECT_EQ(t, sr.broken, 0UL);
    EXPECT_EQ(t, slab_error_count(), errors);
    EXPECT_EQ(t, gfp_context_reports(), reports);
    EXPECT_EQ(t, slab_validate_all(), 0);
    EXPECT_EQ(t, kmem_cache_destroy(sr.c), 0);
    EXPECT_EQ(t, settle(), before);
    EXPECT_EQ(t, buddy_validate(), 0);
}

// ---- 3. Task code takes all it may, ticks live on the reserve ---------------
//
// Every cpu's task takes frames GFP_KERNEL until it gets NULL, and keeps
// asking; every tick takes and gives back frames GFP_ATOMIC. The tasks stop
// at the min watermark; the ticks go on below it, on the reserve.

#define RS_HOLD 8
static struct rs_cpu {
    void *page[RS_HOLD];
    unsigned n;
    unsigned long ticks, ticks_exhausted, got, from_reserve;
    int exhausted; // the task has had its NULL
    unsigned long task_nulls, task_pages;
    void *stash;
} rscpu[NCPU];
static size_t rs_min;
static unsigned long rs_broken;

static void rs_hook(void)
{
    struct rs_cpu *s = &rscpu[cpu_id()];
    s->ticks++;
    if (READ_ONCE(s->exhausted))
        s->ticks_exhausted++;
    if (s->n == RS_HOLD) { // give them all back, checked
        while (s->n) {
            uint64_t *p = s->page[--s->n];
            if (p[0] != stamp_of(p, 3) || p[PAGE_SIZE / 8 - 1] != ~p[0])
                rs_broken++;
            free_pages(p, 0);
        }
        return;
    }
    uint64_t *p = alloc_pages(GFP_ATOMIC | __GFP_NOWARN, 0);
    if (p == NULL)
        return;
    s->got++;
    if (nr_free_pages() < rs_min)
        s->from_reserve++;
    p[0] = stamp_of(p, 3);
    p[PAGE_SIZE / 8 - 1] = ~p[0];
    s->page[s->n++] = p;
}

static void rs_task(void *arg)
{
    (void)arg;
    struct rs_cpu *s = &rscpu[cpu_id()];
    while (time_left() || READ_ONCE(s->ticks_exhausted) < MIN_TICKS) {
        void **p = alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0);
        if (p == NULL) {
            s->task_nulls++;
            WRITE_ONCE(s->exhausted, 1);
            cpu_relax();
            continue;
        }
        p[0] = s->stash;
        s->stash = p;
        s->task_pages++;
    }
}

KTEST(irq_atomic, ticks_get_the_reserve_while_tasks_get_null)
{
    size_t before = settle();
    struct buddy_watermarks w;
    buddy_get_watermarks(&w);
    rs_min = w.min;
    rs_broken = 0;
    memset(rscpu, 0, sizeof(rscpu));
    unsigned hz = timer_hz();
    timer_set_hz(MAX(hz, 1000U));
    tick_hook = rs_hook;
    start_clock();
    run_on_all_cpus(rs_task, NULL);
    hook_off();
    timer_set_hz(hz);
    size_t ticks_hold = 0;
    for (int c = 0; c < ncpu_online(); c++) {
        struct rs_cpu *s = &rscpu[c];
        EXPECT_GT(t, s->task_nulls, 0UL);   // task code got NULL, cleanly
        EXPECT_GT(t, s->from_reserve, 0UL); // this cpu's ticks lived on the reserve
        EXPECT_GE(t, s->ticks_exhausted, MIN_TICKS);
        ticks_hold += s->n;
    }
    // The tasks never ate the reserve: a GFP_KERNEL page is taken only with
    // min more free, and the ticks' own allocs and frees leave free pages
    // plus what the ticks hold unchanged; so that sum is min or more.
    EXPECT_GE(t, nr_free_pages() + ticks_hold, w.min);
    for (int c = 0; c < ncpu_online(); c++) {
        struct rs_cpu *s = &rscpu[c];
        while (s->n) {
            uint64_t *p = s->page[--s->n];
            if (p[0] != stamp_of(p, 3) || p[PAGE_SIZE / 8 - 1] != ~p[0])
                rs_broken++;
            free_pages(p, 0);
        }
        while (s->stash) {
            void **p = s->stash;
            s->stash = p[0];
            free_pages(p, 0);
        }
    }
    EXPECT_EQ(t, rs_broken, 0UL);
    EXPECT_EQ(t, slab_validate_all(), 0);
    EXPECT_EQ(t, settle(), before);
    EXPECT_EQ(t, buddy_validate(), 0);
}

// ---- 4. A prefilled sheaf carries the ticks through no memory at all ------
//
// Task code prefills a sheaf, then takes every frame and every free object
// of the cache, until an alloc gets NULL; then this cpu's ticks take the
// sheaf's whole count, one object a tick, and must get every one.

#define SH_COUNT 64
static struct {
    struct kmem_cache *c;
    struct slab_sheaf *sheaf;
    void *got[SH_COUNT];
    unsigned long n, nulls, ordinary; // from the sheaf; NULLs from it; plain allocs that worked
    int cpu, armed;
} shf;

static void shf_hook(void)
{
    if (cpu_id() != shf.cpu || !READ_ONCE(shf.armed) || shf.n + shf.nulls == SH_COUNT)
        return;
    void *q = kmem_cache_alloc(shf.c, GFP_ATOMIC | __GFP_NOWARN);
    if (q != NULL) { // memory came back meanwhile (another cache's arrays): keep it gone
        shf.ordinary++;
        kmem_cache_free(shf.c, q);
    }
    void *p = kmem_cache_alloc_from_sheaf(shf.c, GFP_ATOMIC, shf.sheaf);
    if (p == NULL)
        shf.nulls++;
    else
        WRITE_ONCE(shf.got[shf.n++], p);
}

// Every free object of c, chained through their first words, and every
// frame, until neither can be had (an alloc that fails reclaims, which
// frees frames: take those too).
static void *take_everything(struct kmem_cache *c, void **stash)
{
    void **objs = NULL, **p, *more;
    do {
        while ((p = kmem_cache_alloc(c, GFP_ALL)) != NULL) {
            p[0] = objs;
            objs = p;
        }
        more = stash_all();
        if (more) { // chain the new stash behind the old
            void **end = more;
            while (end[0])
                end = end[0];
            end[0] = *stash;
            *stash = more;
        }
    } while (more);
    return objs;
}

KTEST(irq_atomic, prefilled_sheaf_serves_ticks_with_no_memory)
{
    size_t before = settle();
    memset(&shf, 0, sizeof(shf));
    shf.c = kmem_cache_create("irq-sheaf", 256, 0, 0, NULL);
    ASSERT_NE(t, shf.c, NULL);
    shf.sheaf = kmem_cache_prefill_sheaf(shf.c, GFP_KERNEL, SH_COUNT);
    ASSERT_NE(t, shf.sheaf, NULL);
    void *stash = NULL;
    void **objs = take_everything(shf.c, &stash);
    EXPECT_EQ(t, kmem_cache_alloc(shf.c, GFP_ATOMIC | __GFP_NOWARN), NULL); // it is all gone
    unsigned hz = timer_hz();
    timer_set_hz(MAX(hz, 1000U));
    push_off(); // the ticks run on this cpu: stay on it
    shf.cpu = cpu_id();
    pop_off();
    tick_hook = shf_hook;
    WRITE_ONCE(shf.armed, 1);
    while (READ_ONCE(shf.n) + READ_ONCE(shf.nulls) < SH_COUNT)
        cpu_relax();
    hook_off();
    timer_set_hz(hz);
    EXPECT_EQ(t, shf.nulls, 0UL);
    EXPECT_EQ(t, shf.n, (unsigned long)SH_COUNT);
    EXPECT_EQ(t, kmem_cache_sheaf_size(shf.sheaf), 0);
    printk("# %lu plain GFP_ATOMIC allocs in those ticks worked\n", shf.ordinary);
    int bad = 0;
    for (unsigned long i = 0; i < shf.n; i++)
        for (unsigned long j = 0; j < i; j++)
            bad += shf.got[i] == shf.got[j];
    EXPECT_EQ(t, bad, 0);
    kmem_cache_free_bulk(shf.c, shf.n, shf.got);
    kmem_cache_return_sheaf(shf.c, GFP_KERNEL, shf.sheaf);
    while (objs) {
        void **p = objs;
        objs = p[0];
        kmem_cache_free(shf.c, p);
    }
    unstash(stash);
    EXPECT_EQ(t, kmem_cache_destroy(shf.c), 0);
    EXPECT_EQ(t, slab_validate_all(), 0);
    EXPECT_EQ(t, settle(), before);
}
