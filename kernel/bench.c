// The in-kernel benchmarks: what the allocators cost, counted in
// retired instructions, and how alloc/free scales across harts.
//
// bootargs (kernel/main.c hands us the word after "bench="):
//   bench            every part, for QEMU -icount shift=0,sleep=off: instret is
//                    then an exact instruction count that repeats bit for bit
//   bench=wall       only the scaling part, timed by the time CSR: for
//                    multi-threaded TCG (no -icount), where instret is host time
//   bench=quick      every part at a tiny size, to prove it runs (make test)
//   bench=trace      only the hot pair between two marker calls, for
//                    bench/hotpath.py's per-function instruction breakdown
// key=value: iters=N (loop count of a single-hart case), rounds=N (batches
// per hart in a scaling run), maxcpus=N (most harts a scaling run uses).
//
// Counting rules (README, "Benchmarks"): instret is one counter
// for all harts and it counts OpenSBI too, so a single-hart case runs on the
// boot hart while the others sleep in wfi (their idle loop), nothing inside a
// timed region prints or calls SBI, and an empty loop's count is subtracted.
//
// Output: markdown tables for people, and "@bench" lines (key=value) that
// bench/kernel_report.py turns into bench/results/kernel.md and a plot.
#include <stdio.h>
#include <string.h>

#include "../arch/riscv/cpu.h"
#include "../arch/riscv/fdt.h"
#include "../arch/riscv/power.h"
#include "../arch/riscv/riscv.h"
#include "../arch/riscv/sbi.h"
#include "../arch/riscv/smp.h"
#include "../arch/riscv/timer.h"
#include "../lib/ktest.h"
#include "../lib/spinlock.h"
#include "../mm/buddy.h"
#include "../mm/page.h"
#include "../mm/slab.h"

#define NOINLINE __attribute__((noinline))
// Make the compiler believe p is used, so an alloc/free pair is not folded.
#define KEEP(p) asm volatile("" : : "r"(p) : "memory")

static inline uint64_t rdinstret(void)
{
    return csr_read(instret);
}

KTEST_PARAM(iters, 1, 100000000, "loop count of a single-hart bench case");
KTEST_PARAM(rounds, 1, 10000000, "batches per hart in a bench scaling run");
KTEST_PARAM(maxcpus, 1, NCPU, "most harts a bench scaling run uses");
KTEST_PARAM(budget_pct, 1, 1000, "bench=budget: every limit scaled to this percent");
KTEST_PARAM(cycle, 0, 1, "bench=trace: 1 traces the refill/flush cycle");

static bool quick, wall;
static unsigned long iters;    // loop count of a single-hart case
static struct kmem_cache *c64; // the 64-byte cache the slab cases use
static int failed;             // an allocation failed: the numbers are void

// Instruction counts are printed with one decimal, from integers (the
// kernel's printf has no floating point): x10 per op, rounded.
#define TENTHS(v) (unsigned long)((v) / 10), (unsigned long)((v) % 10)

static uint64_t per_op_x10(uint64_t total, uint64_t ops)
{
    return ops ? (total * 10 + ops / 2) / ops : 0;
}

// ---- Single-hart cases --------------------------------------------------
//
// Each loop does n iterations of one case; count() runs it once to warm up
// (arrays filled, slabs grown: the steady state is what we measure) and
// once between two instret reads.

static NOINLINE void loop_empty(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        KEEP(i);
}

static NOINLINE void loop_cache_hot(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        void *p = kmem_cache_alloc(c64, GFP_KERNEL);
        KEEP(p);
        kmem_cache_free(c64, p);
    }
}

// One refill/flush cycle: take more objects than the array holds, then give
// them all back, so every cycle crosses both batch boundaries.
static void *cycle_objs[1024];
static unsigned cycle_len;

static NOINLINE void loop_cache_cycle(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        for (unsigned j = 0; j < cycle_len; j++)
            cycle_objs[j] = kmem_cache_alloc(c64, GFP_KERNEL);
        for (unsigned j = 0; j < cycle_len; j++)
            kmem_cache_free(c64, cycle_objs[j]);
    }
}

// 64 objects at a time by the bulk API (by single calls: loop_cache_cycle
// with a cycle of 64).
#define BULK 64

static NOINLINE void loop_bulk(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        if (kmem_cache_alloc_bulk(c64, GFP_KERNEL, BULK, cycle_objs) != BULK)
            failed = 1;
        kmem_cache_free_bulk(c64, BULK, cycle_objs);
    }
}

static NOINLINE void loop_cycle_empty(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        for (unsigned j = 0; j < cycle_len; j++)
            cycle_objs[j] = (void *)(uintptr_t)j;
        for (unsigned j = 0; j < cycle_len; j++)
            KEEP(cycle_objs[j]);
    }
}

static size_t kmalloc_size;
static NOINLINE void loop_kmalloc(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        void *p = kmalloc(kmalloc_size, GFP_KERNEL);
        KEEP(p);
        kfree(p);
    }
}

// The buddy cases' counts must not depend on what the free lists happen to
// hold (the kernel image's size moves that): with the head of free_area[o]
// a block whose buddy is in use, an alloc of order o takes it without a
// split and its free puts it back without a merge, every time. Allocate
// order-o blocks until one has its buddy in use, free that one (it goes to
// the head of its list) and hold the rest in held[] until the case is done.
// At most two tries: if the first was split off, the second is its buddy.
#define STEADY_MAX 8
static int buddy_steady(unsigned int o, void **held)
{
    int n = 0;
    while (n < STEADY_MAX) {
        void *p = alloc_pages(GFP_KERNEL, o);
        if (p == NULL)
            break;
        struct page *b = virt_to_page((void *)((uintptr_t)p ^ (PAGE_SIZE << o)));
        if (b == NULL || !(page_flags(b) & PG_buddy)) {
            free_pages(p, o);
            break;
        }
        held[n++] = p;
    }
    return n;
}

static void buddy_unsteady(unsigned int o, void **held, int n)
{
    while (n > 0)
        free_pages(held[--n], o);
}

static unsigned page_order;
static NOINLINE void loop_pages(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        void *p = alloc_pages(GFP_KERNEL, page_order);
        KEEP(p);
        free_pages(p, page_order);
    }
}

static NOINLINE void loop_frames5(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        void *p = alloc_frames(GFP_KERNEL, 5);
        KEEP(p);
        free_frames(p, 5);
    }
}

// The pieces of the per-CPU fast path on their own, for the breakdown.
static struct spinlock bench_lock = SPINLOCK_INIT("bench");
static NOINLINE void loop_irq(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        unsigned long f = local_lock_irqsave();
        KEEP(f);
        local_unlock_irqrestore(f);
    }
}

static NOINLINE void loop_cpu_id(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        int id = cpu_id();
        KEEP(id);
    }
}

static NOINLINE void loop_lock(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++) {
        spin_lock(&bench_lock);
        spin_unlock(&bench_lock);
    }
}

// Interrupts taken by all cpus so far: ticks and IPIs. A counted region
// must see none (the tick is paused while the bench counts): an interrupt
// would add its handler's instructions to the count.
static uint64_t interrupts_taken(void)
{
    uint64_t n = 0;
    for (int c = 0; c < ncpu_online(); c++)
        n += __atomic_load_n(&cpus[c].ticks, __ATOMIC_RELAXED) +
             __atomic_load_n(&cpus[c].ipis, __ATOMIC_RELAXED);
    return n;
}

static uint64_t ticks_taken(void)
{
    uint64_t n = 0;
    for (int c = 0; c < ncpu_online(); c++)
        n += __atomic_load_n(&cpus[c].ticks, __ATOMIC_RELAXED);
    return n;
}

static uint64_t count(void (*loop)(unsigned long), unsigned long n)
{
    loop(n / 8 + 1);
    uint64_t irqs = interrupts_taken();
    uint64_t t0 = rdinstret();
    loop(n);
    uint64_t t = rdinstret() - t0;
    if (interrupts_taken() != irqs) {
        printk("bench: an interrupt came during a counted loop: its count is void\n");
        failed = 1;
    }
    return t;
}

static uint64_t baseline; // instructions of loop_empty(iters)

// Instructions per iteration of loop(n), less the empty loop's; x10.
static uint64_t measure(void (*loop)(unsigned long), unsigned long n, uint64_t base)
{
    uint64_t t = count(loop, n);
    return per_op_x10(t > base ? t - base : 0, n);
}

// This run's counts by name, for the budget check (bench=budget).
static struct result_kv {
    char name[24];
    uint64_t x10;
} results[32];
static int nresults;

static void keep(const char *name, uint64_t x10)
{
    if (nresults < (int)ARRAY_SIZE(results)) {
        snprintf(results[nresults].name, sizeof(results[0].name), "%s", name);
        results[nresults++].x10 = x10;
    }
}

static bool result_of(const char *name, uint64_t *x10)
{
    for (int i = 0; i < nresults; i++)
        if (strcmp(results[i].name, name) == 0)
            return *x10 = results[i].x10, true;
    return false;
}

static void row(const char *name, const char *what, uint64_t x10)
{
    printk("| %s | %s | %lu.%lu |\n", name, what, TENTHS(x10));
    printk("@bench single case=%s insns_x10=%lu\n", name, (unsigned long)x10);
    keep(name, x10);
}

// A live object of the size being timed, held across the loop: the design
// guide's rule, so no allocator retires a slab or page on every free.
static void *hold(size_t size)
{
    void *p = kmalloc(size, GFP_KERNEL);
    if (!p)
        failed = 1;
    return p;
}

static void single_hart(void)
{
    struct kmem_cache_info ci;
    kmem_cache_get_info(c64, &ci);
    baseline = count(loop_empty, iters);

    printk("\n### Instructions per operation (one hart; the others in wfi)\n\n");
    printk("Retired instructions (rdinstret under -icount) per alloc+free pair, the loop's\n"
           "own %lu.%lu per iteration subtracted.\n\n",
           TENTHS(per_op_x10(baseline, iters)));
    printk("| case | what | instructions/op |\n|---|---|---:|\n");

    void *live = kmem_cache_alloc(c64, GFP_KERNEL);
    row("cache-hot-64", "kmem_cache_alloc+free, 64 B, per-CPU array",
        measure(loop_cache_hot, iters, baseline));

    // From an empty array, the warm-up cycle ends with it full (limit), and
    // then every cycle pops limit, refills one batch, pushes limit, flushes
    // one batch: one refill and one flush per cycle. (From another fill
    // level a cycle can cross each boundary twice.)
    cycle_len = MIN(ci.limit + ci.batchcount, ARRAY_SIZE(cycle_objs));
    unsigned long cycles = iters / cycle_len + 1;
    uint64_t cbase = count(loop_cycle_empty, cycles);
    kmem_cache_shrink(c64);
    uint64_t ct = count(loop_cache_cycle, cycles);
    char what[96];
    snprintf(what, sizeof(what), "the same, %u allocs then %u frees (limit %u + batch %u)",
             cycle_len, cycle_len, ci.limit, ci.batchcount);
    row("cache-cycle-64", what, per_op_x10(ct > cbase ? ct - cbase : 0, cycles * cycle_len));
    unsigned long batches = iters / BULK + 1;
    unsigned full_cycle = cycle_len;
    cycle_len = BULK;
    uint64_t singles = count(loop_cache_cycle, batches), sbase = count(loop_cycle_empty, batches);
    uint64_t bulk = count(loop_bulk, batches);
    singles = singles > sbase ? singles - sbase : 0; // the calls alone, as the cycle's row
    cycle_len = full_cycle;
    row("singles-64x64", "64 kmem_cache_alloc, then 64 kmem_cache_free",
        per_op_x10(singles, batches * BULK));
    row("bulk-64x64", "kmem_cache_alloc_bulk(64), then kmem_cache_free_bulk(64)",
        per_op_x10(bulk, batches * BULK));
    kmem_cache_free(c64, live);

    static const size_t sizes[] = {8, 64, 512, 4096, 65536};
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        char name[32];
        kmalloc_size = sizes[i];
        void *keep = hold(kmalloc_size), *held[STEADY_MAX];
        unsigned int o = 0; // a buddy request above the classes: its order
        while (sizes[i] > KMALLOC_MAX_CACHE_SIZE && (PAGE_SIZE << o) < sizes[i])
            o++;
        int n = o ? buddy_steady(o, held) : 0; // a buddy request: see buddy_steady
        snprintf(name, sizeof(name), "kmalloc-%zu", sizes[i]);
        snprintf(what, sizeof(what), "kmalloc(%zu, GFP_KERNEL)+kfree", sizes[i]);
        row(name, what, measure(loop_kmalloc, iters, baseline));
        buddy_unsteady(o, held, n);
        kfree(keep);
    }
    for (unsigned o = 0; o <= 3; o += 3) {
        char name[32];
        void *held[STEADY_MAX];
        int n = buddy_steady(o, held);
        page_order = o;
        snprintf(name, sizeof(name), "pages-order%u", o);
        snprintf(what, sizeof(what), "alloc_pages(GFP_KERNEL, %u)+free_pages, buddy", o);
        row(name, what, measure(loop_pages, iters, baseline));
        buddy_unsteady(o, held, n);
    }
    void *held[STEADY_MAX];
    int n = buddy_steady(3, held); // alloc_frames(GFP_KERNEL, 5) takes an order-3 block
    row("frames-5", "alloc_frames(GFP_KERNEL, 5)+free_frames: split, give back 3",
        measure(loop_frames5, iters, baseline));
    buddy_unsteady(3, held, n);

    // The fast path's platform and lock primitives, each alone in a loop
    // (bench/hotpath.py traces the whole pair).
    printk("\n### The hot pair's primitives, each on its own\n\n");
    printk("| piece | instructions | times per pair |\n|---|---:|---:|\n");
    uint64_t irq = measure(loop_irq, iters, baseline), id = measure(loop_cpu_id, iters, baseline),
             lk = measure(loop_lock, iters, baseline);
    printk("| local_lock_irqsave + local_unlock_irqrestore (the per-CPU section) | %lu.%lu | 2 |\n",
           TENTHS(irq));
    printk("| cpu_id | %lu.%lu | 2 |\n", TENTHS(id));
    printk("| spin_lock + spin_unlock (uncontended; push_off/pop_off included) | %lu.%lu | "
           "0 (2 per refill or flush) |\n",
           TENTHS(lk));
    printk("@bench piece name=irq insns_x10=%lu\n@bench piece name=cpu_id insns_x10=%lu\n"
           "@bench piece name=lock insns_x10=%lu\n",
           (unsigned long)irq, (unsigned long)id, (unsigned long)lk);

    // Lock traffic on one hart, per 1000 operations (an alloc or a free each).
    struct kmem_cache_info before, after;
    kmem_cache_get_info(c64, &before);
    loop_cache_hot(500);
    kmem_cache_get_info(c64, &after);
    uint64_t hot_locks = after.lock_acquisitions - before.lock_acquisitions;
    unsigned long nc = 1000 / (2 * cycle_len) + 1;
    kmem_cache_get_info(c64, &before);
    loop_cache_cycle(nc);
    kmem_cache_get_info(c64, &after);
    uint64_t cyc_ops = nc * 2 * cycle_len;
    uint64_t cyc_locks =
        per_op_x10((after.lock_acquisitions - before.lock_acquisitions) * 1000, cyc_ops);
    uint64_t cyc_barn = per_op_x10((after.barn_locks - before.barn_locks) * 1000, cyc_ops);
    keep("cycle-locks", cyc_locks);
    printk("@bench locks pattern=hot harts=1 per1000_x10=%lu\n", (unsigned long)(hot_locks * 10));
    printk("@bench locks pattern=cycle harts=1 per1000_x10=%lu barn_x10=%lu\n",
           (unsigned long)cyc_locks, (unsigned long)cyc_barn);
    printk("\n### Lock acquisitions per 1000 operations (an alloc or a free each)\n\n");
    printk("The cache lock guards the slab lists; the barn lock, a cache's store of whole\n"
           "sheaves, is taken to trade one.\n\n");
    printk("| pattern | harts | cache lock / 1000 ops | barn lock / 1000 ops |\n"
           "|---|---:|---:|---:|\n");
    printk("| hot pair (64 B) | 1 | %lu | 0 |\n", (unsigned long)hot_locks);
    printk("| refill/flush cycle (%u objects) | 1 | %lu.%lu | %lu.%lu |\n", cycle_len,
           TENTHS(cyc_locks), TENTHS(cyc_barn));
}

// ---- Several harts ----------------------------------------------------------
//
// A run uses the first k cpus: on_each_cpu calls every online cpu, and those
// with cpu_id() >= k return at once (back to wfi). Waiting is done in wfi,
// not by spinning: under -icount one hart runs at a time and a spinning hart
// would burn, and count, its whole time slice; so a waiter sleeps and whoever
// changes what it waits for wakes it with an IPI. The IPIs are SBI calls,
// counted: that is what a cross-hart handoff costs here.

enum pattern { OWN, RING, PRODCON };

#define BATCH 32 // objects per batch and per handoff: under half an array (limit 120, batch 60)

static struct mailbox { // hart i hands a batch to hart (i+1) % k here
    void *obj[BATCH];
    int put, taken; // batches put in / taken out, so far
} __attribute__((aligned(64))) box[NCPU];

static struct run {
    int k;
    enum pattern pat;
    unsigned long rounds;
    int arrived, go, done;
    uint64_t t0, t1; // instret (or time, wall mode) at the start and the end
} run;
static int sleeping[NCPU];

// Sleep until *p >= want. Interrupts off between the last look and wfi, so
// an IPI sent after the look is still pending when wfi starts, and ends it
// (it is taken, and cleared, when interrupts come back on).
static void wait_ge(int *p, int want)
{
    int me = cpu_id();
    for (int spin = 0; spin < 32; spin++) { // short waits: cheaper than an IPI
        if (__atomic_load_n(p, __ATOMIC_ACQUIRE) >= want)
            return;
        cpu_relax();
    }
    for (;;) {
        unsigned long flags = irq_save();
        __atomic_store_n(&sleeping[me], 1, __ATOMIC_SEQ_CST);
        bool done = __atomic_load_n(p, __ATOMIC_SEQ_CST) >= want;
        if (!done)
            wfi();
        irq_restore(flags);
        if (done)
            break;
    }
    __atomic_store_n(&sleeping[me], 0, __ATOMIC_RELAXED);
}

// Store v into *p (seq_cst: pairs with wait_ge's flag-then-check) and wake cpu.
static void set_wake(int *p, int v, int cpu)
{
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
    if (cpu != cpu_id() && __atomic_load_n(&sleeping[cpu], __ATOMIC_SEQ_CST))
        sbi_send_ipi_to(cpus[cpu].hartid);
}

static uint64_t now(void)
{
    return wall ? r_time() : rdinstret();
}

static void alloc_batch(void **obj)
{
    for (int j = 0; j < BATCH; j++)
        if (!(obj[j] = kmem_cache_alloc(c64, GFP_KERNEL)))
            __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
}

static void free_batch(void **obj)
{
    for (int j = 0; j < BATCH; j++)
        kmem_cache_free(c64, obj[j]);
}

static void work(int me, int k)
{
    void *mine[BATCH];
    int next = (me + 1) % k, prev = (me + k - 1) % k;
    for (int r = 0; r < (int)run.rounds; r++) {
        switch (run.pat) {
        case OWN: // alloc a batch, free it: all on this hart's array
            alloc_batch(mine);
            free_batch(mine);
            break;
        case RING: // hand each batch to the next hart, which frees it
            wait_ge(&box[next].taken, r);
            alloc_batch(box[next].obj);
            set_wake(&box[next].put, r + 1, next);
            wait_ge(&box[me].put, r + 1);
            free_batch(box[me].obj);
            set_wake(&box[me].taken, r + 1, prev);
            break;
        case PRODCON:     // even harts only allocate, odd harts only free
            if (k == 1) { // one hart is both
                alloc_batch(mine);
                free_batch(mine);
            } else if (me % 2 == 0) {
                wait_ge(&box[next].taken, r);
                alloc_batch(box[next].obj);
                set_wake(&box[next].put, r + 1, next);
            } else if (me % 2 == 1) {
                wait_ge(&box[me].put, r + 1);
                free_batch(box[me].obj);
                set_wake(&box[me].taken, r + 1, prev);
            }
            break;
        }
    }
}

static void run_on_cpu(void *arg)
{
    (void)arg;
    int me = cpu_id(), k = run.k;
    if (me >= k)
        return;
    // Start together: the last to arrive reads the counter and wakes the rest.
    if (__atomic_add_fetch(&run.arrived, 1, __ATOMIC_SEQ_CST) == k) {
        run.t0 = now();
        for (int c = 0; c < k; c++)
            set_wake(&run.go, 1, c);
    } else {
        wait_ge(&run.go, 1);
    }
    work(me, k);
    // The last to finish reads the counter; the others sleep until then, so
    // no one spins (and counts) inside the timed region.
    if (__atomic_add_fetch(&run.done, 1, __ATOMIC_SEQ_CST) == k) {
        run.t1 = now();
        for (int c = 0; c < k; c++)
            set_wake(&run.done, k + 1, c);
    } else {
        wait_ge(&run.done, k + 1);
    }
}

struct result {
    uint64_t delta; // instructions, or time ticks
    uint64_t pairs; // alloc+free pairs done
    uint64_t locks; // cache-lock acquisitions during the run
    uint64_t barn;  // barn-lock acquisitions
};

static struct result run_harts(int k, enum pattern pat, unsigned long rounds)
{
    struct kmem_cache_info before, after;
    memset(box, 0, sizeof(box));
    run = (struct run){.k = k, .pat = pat, .rounds = rounds};
    // Every run starts from empty arrays: where an array's fill level sits
    // against limit and batchcount decides whether a batch of 64 refills and
    // flushes every round (fill 61..63 of 120 does), and it must not depend
    // on the run before.
    kmem_cache_shrink(c64);
    kmem_cache_get_info(c64, &before);
    run_on_all_cpus(run_on_cpu, NULL);
    kmem_cache_get_info(c64, &after);
    int producers = pat == PRODCON && k > 1 ? k / 2 : k;
    return (struct result){run.t1 - run.t0, (uint64_t)producers * rounds * BATCH,
                           after.lock_acquisitions - before.lock_acquisitions,
                           after.barn_locks - before.barn_locks};
}

static const int hart_counts[] = {1, 2, 4, 8};

// Pairs per second, x1000 (so Mpairs/s with three decimals).
static uint64_t kpairs_s(struct result r)
{
    return r.delta ? r.pairs * fdt_info.timebase_hz / r.delta / 1000 : 0;
}

static void print_ratio(uint64_t v, uint64_t base)
{
    uint64_t r = base ? (v * 100 + base / 2) / base : 0;
    printk(" %lu.%03lu | %lu.%02lu |", (unsigned long)(v / 1000), (unsigned long)(v % 1000),
           (unsigned long)(r / 100), (unsigned long)(r % 100));
}

static void scaling(unsigned long rounds, int maxk)
{
    run_harts(maxk, RING, 2); // every hart has run the code and touched the cache
    if (!wall) {
        // Producer/consumer lock traffic: cpu 0 allocates, cpu 1 frees.
        if (maxk >= 2) {
            struct result r = run_harts(2, PRODCON, rounds);
            uint64_t x10 = per_op_x10(r.locks * 1000, 2 * r.pairs);
            uint64_t b10 = per_op_x10(r.barn * 1000, 2 * r.pairs);
            printk("| producer/consumer (cpu 0 allocs, cpu 1 frees) | 2 | %lu.%lu | %lu.%lu |\n",
                   TENTHS(x10), TENTHS(b10));
            printk("@bench locks pattern=prodcon harts=2 per1000_x10=%lu barn_x10=%lu\n",
                   (unsigned long)x10, (unsigned long)b10);
        }
        printk("\n### Instructions per alloc+free pair with k harts busy (-icount)\n\n");
        printk("All harts' instructions over all harts' pairs (instret is one counter), so a\n"
               "spin on a contended lock shows up as extra instructions. Patterns, in batches\n"
               "of %d: own = each hart frees what it allocated; ring = each batch is freed by\n"
               "the next hart; prodcon = even harts allocate, odd harts free (1 hart: both).\n"
               "Cross-hart handoffs wait in wfi and wake by SBI IPI, counted.\n\n",
               BATCH);
        printk("| harts | own | ring | prodcon | cache-lock acquisitions / 1000 ops "
               "(own / ring / prodcon) | barn-lock, prodcon |\n|---:|---:|---:|---:|---|---:|\n");
    } else {
        printk("\n### Throughput vs harts (multi-threaded TCG, wall clock from the time CSR)\n\n");
        printk("Million alloc+free pairs per second, all harts together, and the ratio to one\n"
               "hart. Patterns as in the -icount table. Wall-clock scaling is bounded by the\n"
               "host's cores: past that many harts, QEMU's vCPU threads share them.\n\n");
        printk("| harts | own: Mpairs/s | own: ratio | ring: Mpairs/s | ring: ratio | "
               "prodcon: Mpairs/s | prodcon: ratio |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    }
    struct result base[3];
    for (size_t i = 0; i < ARRAY_SIZE(hart_counts) && hart_counts[i] <= maxk; i++) {
        int k = hart_counts[i];
        struct result r[3];
        for (int p = OWN; p <= PRODCON; p++)
            r[p] = run_harts(k, (enum pattern)p, rounds);
        if (k == 1)
            memcpy(base, r, sizeof(base));
        if (!wall) {
            uint64_t in[3], lk[3];
            for (int p = 0; p < 3; p++) {
                in[p] = per_op_x10(r[p].delta, r[p].pairs);
                lk[p] = per_op_x10(r[p].locks * 1000, 2 * r[p].pairs);
            }
            uint64_t barn = per_op_x10(r[PRODCON].barn * 1000, 2 * r[PRODCON].pairs);
            static const char *const names[] = {"own", "ring", "prodcon"};
            char key[32];
            for (int p = 0; p < 3; p++) {
                snprintf(key, sizeof(key), "%s-%d", names[p], k);
                keep(key, in[p]);
            }
            snprintf(key, sizeof(key), "prodcon-locks-%d", k);
            keep(key, lk[PRODCON]);
            printk("| %d | %lu.%lu | %lu.%lu | %lu.%lu | %lu.%lu / %lu.%lu / %lu.%lu | %lu.%lu |\n",
                   k, TENTHS(in[0]), TENTHS(in[1]), TENTHS(in[2]), TENTHS(lk[0]), TENTHS(lk[1]),
                   TENTHS(lk[2]), TENTHS(barn));
            printk("@bench icount harts=%d own_x10=%lu ring_x10=%lu prodcon_x10=%lu "
                   "own_locks_x10=%lu ring_locks_x10=%lu prodcon_locks_x10=%lu "
                   "prodcon_barn_x10=%lu\n",
                   k, (unsigned long)in[0], (unsigned long)in[1], (unsigned long)in[2],
                   (unsigned long)lk[0], (unsigned long)lk[1], (unsigned long)lk[2],
                   (unsigned long)barn);
        } else {
            printk("| %d |", k);
            for (int p = 0; p < 3; p++)
                print_ratio(kpairs_s(r[p]), kpairs_s(base[p]));
            printk("\n@bench wall harts=%d own_kpairs_s=%lu ring_kpairs_s=%lu "
                   "prodcon_kpairs_s=%lu\n",
                   k, (unsigned long)kpairs_s(r[0]), (unsigned long)kpairs_s(r[1]),
                   (unsigned long)kpairs_s(r[2]));
        }
    }
}

// bench=trace: the hot pair, n times between two marker calls, for
// bench/hotpath.py, which runs QEMU with one instruction per block and
// -d exec and counts the traced instructions per function in between.
NOINLINE void bench_trace_start(void)
{
    asm volatile("" ::: "memory");
}

NOINLINE void bench_trace_end(void)
{
    asm volatile("" ::: "memory");
}

// bench=trace cycle=1: the refill/flush cycle instead, n cycles.
static void trace_hot(unsigned long n)
{
    if (ktest_arg_ul("cycle", 0)) {
        struct kmem_cache_info ci;
        kmem_cache_get_info(c64, &ci);
        cycle_len = MIN(ci.limit + ci.batchcount, ARRAY_SIZE(cycle_objs));
        kmem_cache_shrink(c64); // from empty: one refill and one flush per cycle
        loop_cache_cycle(2);
        bench_trace_start();
        loop_cache_cycle(n);
        bench_trace_end();
        printk("@bench trace pairs=%lu\n", n * cycle_len);
        return;
    }
    loop_cache_hot(n); // warm: the array holds objects
    bench_trace_start();
    loop_cache_hot(n);
    bench_trace_end();
    printk("@bench trace pairs=%lu\n", n);
}

// ---- Budgets --------------------------------------------------------------
//
// What make test enforces (bench=budget, under -icount): counts are exact
// and repeat, so a budget is a count, never a time. The goals are targets;
// the hot pairs' limits are what this code does today, so any change that
// adds an instruction to them fails make test until its budget is raised on
// purpose; the cycle, which meets its goal, has the goal as its limit. The README ("Where the time
// goes") says why the goals are not reached with the checks the fast path keeps.
static const struct budget {
    const char *name;
    uint64_t limit_x10, goal_x10; // instructions per alloc+free pair, x10
} budgets[] = {
    {"cache-hot-64", 510, 300},   // kmem_cache_alloc + kmem_cache_free, array hit
    {"kmalloc-64", 550, 400},     // kmalloc(64, GFP_KERNEL) + kfree
    {"cache-cycle-64", 600, 600}, // the refill/flush cycle, 180 objects: the goal as the limit
};
#define RATIO_LIMIT_PCT   110 // k harts within 1.1x of one hart (own and ring)
#define PRODCON_LIMIT_PCT 120 // producer/consumer within 1.2x of own, at each hart count
#define LOCKS_LIMIT_X10   20  // cache-lock acquisitions per 1000 ops: cycle and prodcon

// budget_pct=N scales every limit (the harness self-check runs 99: it must
// fail, or the check could not fail at all).
static bool check_budgets(int maxk)
{
    bool ok = true;
    uint64_t pct_scale = ktest_arg_ul("budget_pct", 100);
    printk("\n### Budgets (make test enforces the limits)\n\n");
    printk("| case | instructions/pair | limit | goal | |\n|---|---:|---:|---:|---|\n");
    for (size_t i = 0; i < ARRAY_SIZE(budgets); i++) {
        const struct budget *b = &budgets[i];
        uint64_t v, limit = b->limit_x10 * pct_scale / 100;
        bool have = result_of(b->name, &v), pass = have && v <= limit;
        ok = ok && pass;
        printk("| %s | %lu.%lu | %lu.%lu | %lu.%lu | %s |\n", b->name, TENTHS(have ? v : 0),
               TENTHS(limit), TENTHS(b->goal_x10),
               !have              ? "NOT MEASURED"
               : !pass            ? "OVER BUDGET"
               : v <= b->goal_x10 ? "ok"
                                  : "ok (above goal)");
        printk("@bench budget case=%s insns_x10=%lu limit_x10=%lu goal_x10=%lu %s\n", b->name,
               (unsigned long)(have ? v : 0), (unsigned long)limit, (unsigned long)b->goal_x10,
               pass ? "ok" : "over");
    }
    static const char *const patterns[] = {"own", "ring"};
    for (size_t p = 0; p < ARRAY_SIZE(patterns); p++) {
        char one[24], many[24];
        uint64_t v1, vk;
        snprintf(one, sizeof(one), "%s-1", patterns[p]);
        snprintf(many, sizeof(many), "%s-%d", patterns[p], maxk);
        bool have = result_of(one, &v1) && result_of(many, &vk);
        uint64_t pct = have && v1 ? (vk * 100 + v1 / 2) / v1 : 0;
        bool pass = have && pct <= RATIO_LIMIT_PCT * pct_scale / 100;
        ok = ok && pass;
        printk("| %s, %d harts vs 1 | %lu.%02lux | %d.%02dx | %d.%02dx | %s |\n", patterns[p], maxk,
               (unsigned long)(pct / 100), (unsigned long)(pct % 100), RATIO_LIMIT_PCT / 100,
               RATIO_LIMIT_PCT % 100, RATIO_LIMIT_PCT / 100, RATIO_LIMIT_PCT % 100,
               !have  ? "NOT MEASURED"
               : pass ? "ok"
                      : "OVER BUDGET");
        printk("@bench budget case=%s-ratio harts=%d pct=%lu limit_pct=%d %s\n", patterns[p], maxk,
               (unsigned long)pct, RATIO_LIMIT_PCT, pass ? "ok" : "over");
    }
    for (size_t i = 1; i < ARRAY_SIZE(hart_counts) && hart_counts[i] <= maxk; i++) {
        int k = hart_counts[i];
        char own[24], pc[24], pcl[32];
        uint64_t vo, vp, vl;
        snprintf(own, sizeof(own), "own-%d", k);
        snprintf(pc, sizeof(pc), "prodcon-%d", k);
        snprintf(pcl, sizeof(pcl), "prodcon-locks-%d", k);
        bool have = result_of(own, &vo) && result_of(pc, &vp) && result_of(pcl, &vl);
        uint64_t pct = have && vo ? (vp * 100 + vo / 2) / vo : 0;
        bool pass = have && pct <= PRODCON_LIMIT_PCT * pct_scale / 100 &&
                    vl <= LOCKS_LIMIT_X10 * pct_scale / 100;
        ok = ok && pass;
        printk("| prodcon vs own, %d harts; cache locks/1000 | %lu.%02lux; %lu.%lu | %d.%02dx; "
               "%d.%d | | %s |\n",
               k, (unsigned long)(pct / 100), (unsigned long)(pct % 100), TENTHS(have ? vl : 0),
               PRODCON_LIMIT_PCT / 100, PRODCON_LIMIT_PCT % 100, LOCKS_LIMIT_X10 / 10,
               LOCKS_LIMIT_X10 % 10,
               !have  ? "NOT MEASURED"
               : pass ? "ok"
                      : "OVER BUDGET");
        printk("@bench budget case=prodcon-ratio harts=%d pct=%lu limit_pct=%d locks_x10=%lu "
               "limit_x10=%d %s\n",
               k, (unsigned long)pct, PRODCON_LIMIT_PCT, (unsigned long)(have ? vl : 0),
               LOCKS_LIMIT_X10, pass ? "ok" : "over");
    }
    uint64_t cl;
    bool have = result_of("cycle-locks", &cl),
         pass = have && cl <= LOCKS_LIMIT_X10 * pct_scale / 100;
    ok = ok && pass;
    printk("| refill/flush cycle: cache locks/1000 | %lu.%lu | %d.%d | | %s |\n",
           TENTHS(have ? cl : 0), LOCKS_LIMIT_X10 / 10, LOCKS_LIMIT_X10 % 10,
           !have  ? "NOT MEASURED"
           : pass ? "ok"
                  : "OVER BUDGET");
    printk("@bench budget case=cycle-locks locks_x10=%lu limit_x10=%d %s\n",
           (unsigned long)(have ? cl : 0), LOCKS_LIMIT_X10, pass ? "ok" : "over");
    printk("bench: budgets %s\n", ok ? "met" : "EXCEEDED");
    return ok;
}

int bench_main(const char *arg)
{
    quick = arg && strcmp(arg, "quick") == 0;
    wall = arg && strcmp(arg, "wall") == 0;
    bool trace = arg && strcmp(arg, "trace") == 0;
    bool budget = arg && strcmp(arg, "budget") == 0;
    if (arg && !quick && !wall && !trace && !budget) {
        printk("bench: unknown \"%s\"; known: bench, bench=wall, bench=quick, bench=trace, "
               "bench=budget\n",
               arg);
        return EXIT_BAD_BOOTARGS;
    }
    iters = ktest_arg_ul("iters", quick ? 200 : 20000);
    unsigned long rounds = ktest_arg_ul("rounds", quick ? 4 : wall ? 4000 : budget ? 200 : 1000);
    int maxk = (int)MIN(ktest_arg_ul("maxcpus", NCPU), (unsigned long)ncpu_online());
    // Under -icount rdinstret counts instructions; without it, host time.
    printk("@bench config mode=%s iters=%lu rounds=%lu cpus=%d batch=%d\n",
           quick  ? "quick"
           : wall ? "wall"
                  : "icount",
           iters, rounds, ncpu_online(), BATCH);

    c64 = kmem_cache_create("bench-64", 64, 0, 0, NULL);
    if (!c64)
        return EXIT_TESTS_FAILED;
    if (trace) {
        trace_hot(ktest_arg_ul("iters", 100));
        return kmem_cache_destroy(c64) ? EXIT_TESTS_FAILED : EXIT_OK;
    }
    bool over = false;
    if (!wall) { // the counted parts, with the tick paused (see count())
        timer_pause_all();
        uint64_t ticks0 = ticks_taken();
        single_hart();
        scaling(rounds, maxk);
        uint64_t ticks = ticks_taken() - ticks0;
        timer_resume_all();
        printk("@bench ticks_during_counted_parts=%lu\n", (unsigned long)ticks);
        if (budget)
            over = !check_budgets(maxk);
    }
    if (wall || quick) { // quick mode runs the wall-clock part too
        wall = true;
        scaling(rounds, maxk);
    }
    printk("\n");
    int busy = kmem_cache_destroy(c64); // every object came back
    if (busy)
        printk("bench: objects of bench-64 still live\n");
    if (failed)
        printk("bench: an allocation failed or an interrupt came: the numbers above are void\n");
    return busy || failed || over ? EXIT_TESTS_FAILED : EXIT_OK;
}
