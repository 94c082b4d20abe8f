// Soak: every cpu runs a seeded random mix of cache and kmalloc allocs and
// frees, objects carry canaries checked at free, and some objects change
// hands between cpus (so frees land on other cpus' arrays and slabs). At the
// end: no canary broken, no report, slab_validate clean, every page back.
//
//   ktest=soak soak_ops=1000000 soak_seed=N   (make soak; make test runs a short one)
// The seed is printed: with -icount the interleaving repeats, so a failing
// run replays exactly.
//
// soak_ops is shared out over the cpus, and each runs at least one. In the
// kernel each cpu then goes on until a tick has come while it ran (the 5000
// Hz tick is the point: interrupts in the middle of the allocators), for at
// most SOAK_TICK_OPS more: enough for any tick that is coming, as the time
// CSR runs at least as fast as the vcpu does, so a cpu that still took none
// fails. Counted in operations, not time, so a loaded host only makes it
// slower.
#include <string.h>

#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"
#ifndef RVSLAB_HOST // the kernel runs the soak with a fast tick, and checks it came
#include "arch/riscv/percpu.h"
#include "arch/riscv/timer.h"
#endif

KTEST_PARAM(soak_ops, 1, 1000000000, "operations in the soak, all cpus together");
KTEST_PARAM(soak_seed, 0, ~0UL, "the soak's random seed (printed: a failing run replays)");

#define SLOTS         64
#define XCHG          32
#define PLAIN_SZ      96
#define DEBUG_SZ      72
#define SOAK_TICK_OPS 1000000

enum { K_PLAIN, K_DEBUG, K_KMALLOC };

// Every object starts with this header, so whoever frees it can check it.
struct hdr {
    uint64_t tag; // derived from the address and a sequence number
    uint32_t size;
    uint32_t kind;
};

struct soak {
    struct kmem_cache *plain, *debug;
    uint64_t seed;
    unsigned long ops; // soak_ops
    void *xchg[XCHG];  // objects in flight between cpus
    unsigned long broken, nulls;
    unsigned long done[NCPU]; // operations each cpu ran
    bool ticked[NCPU];        // a tick came while it ran
};

static uint64_t tag_of(const void *p, uint64_t seq)
{
    return ((uintptr_t)p * 0x9e3779b97f4a7c15ULL) ^ seq;
}

// Head, tail, and for small objects every byte between.
static void stamp(void *p, size_t size, int kind, uint64_t seq)
{
    struct hdr *h = p;
    h->tag = tag_of(p, seq);
    h->size = (uint32_t)size;
    h->kind = (uint32_t)kind;
    uint8_t *b = p;
    size_t body = size <= 256 ? size - 8 : 32;
    memset(b + sizeof(*h), (uint8_t)h->tag, body - sizeof(*h));
    uint64_t tail = ~h->tag;
    memcpy(b + size - 8, &tail, 8);
}

static bool intact(const void *p)
{
    const struct hdr *h = p;
    const uint8_t *b = p;
    if (h->size < 24 || h->kind > K_KMALLOC)
        return false;
    size_t body = h->size <= 256 ? h->size - 8 : 32;
    for (size_t k = sizeof(*h); k < body; k++)
        if (b[k] != (uint8_t)h->tag)
            return false;
    uint64_t tail;
    memcpy(&tail, b + h->size - 8, 8);
    return tail == ~h->tag;
}

static void release(struct soak *s, void *p)
{
    if (!intact(p)) {
        __atomic_add_fetch(&s->broken, 1, __ATOMIC_RELAXED);
        printk("# soak: cpu %d: object %p canary broken\n", cpu_id(), p);
        return; // leak it rather than free a corrupt object
    }
    const struct hdr *h = p;
    if (h->kind == K_PLAIN)
        kmem_cache_free(s->plain, p);
    else if (h->kind == K_DEBUG)
        kmem_cache_free(s->debug, p);
    else
        kfree(p);
}

static void *get(struct soak *s, uint64_t *rng, uint64_t seq)
{
    uint64_t r = ktest_rand(rng);
    unsigned pick = r % 16;
    int kind = pick < 5 ? K_PLAIN : pick < 7 ? K_DEBUG : K_KMALLOC;
    size_t size = kind == K_PLAIN ? PLAIN_SZ : kind == K_DEBUG ? DEBUG_SZ : 24 + (r >> 8) % 1000;
    if (kind == K_KMALLOC && (r >> 20) % 64 == 0)
        size = 24 + (r >> 28) % 40000; // now and then a big one
    void *p = kind == K_PLAIN   ? kmem_cache_alloc(s->plain, GFP_KERNEL)
              : kind == K_DEBUG ? kmem_cache_alloc(s->debug, GFP_KERNEL)
                                : kmalloc(size, GFP_KERNEL);
    if (p == NULL) {
        __atomic_add_fetch(&s->nulls, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    stamp(p, size, kind, seq);
    return p;
}

// This cpu's share of n operations over ncpu cpus: they add up to n, and
// none is 0.
static unsigned long share_of(unsigned long n, int cpu, int ncpu)
{
    unsigned long k = n / (unsigned long)ncpu + ((unsigned long)cpu < n % (unsigned long)ncpu);
    return MAX(k, 1UL);
}

// This cpu's tick count, and whether it moved on from ticks0. The host has
// no tick: there the share is all there is to do.
static uint64_t ticks_here(void)
{
#ifdef RVSLAB_HOST
    return 0;
#else
    return __atomic_load_n(&cpus[cpu_id()].ticks, __ATOMIC_RELAXED);
#endif
}

static bool ticked_since(uint64_t ticks0)
{
#ifdef RVSLAB_HOST
    (void)ticks0;
    return true;
#else
    return ticks_here() != ticks0;
#endif
}

static void soak_cpu(void *arg)
{
    struct soak *s = arg;
    void *slot[SLOTS] = {0};
    int me = cpu_id();
    uint64_t rng = s->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(me + 1));
    unsigned long share = share_of(s->ops, me, ncpu_online()), op;
    uint64_t ticks0 = ticks_here();
    for (op = 0; op < share || (!ticked_since(ticks0) && op < share + SOAK_TICK_OPS); op++) {
        uint64_t r = ktest_rand(&rng);
        unsigned k = r % SLOTS;
        if ((r >> 32) % 16 == 0 && slot[k]) { // hand an object to whoever comes next
            slot[k] = __atomic_exchange_n(&s->xchg[(r >> 40) % XCHG], slot[k], __ATOMIC_ACQ_REL);
        } else if ((r >> 32) % 4096 == 1) { // mid-run: every cpu held still, everything checked
            int bad = slab_validate_all();
            if (bad)
                __atomic_add_fetch(&s->broken, (unsigned long)bad, __ATOMIC_RELAXED);
        } else if (slot[k]) {
            release(s, slot[k]);
            slot[k] = NULL;
        } else {
            slot[k] = get(s, &rng, op);
        }
    }
    s->ticked[me] = ticked_since(ticks0);
    s->done[me] = op;
    for (unsigned k = 0; k < SLOTS; k++)
        if (slot[k])
            release(s, slot[k]);
}

KTEST(soak, random_mix_all_cpus)
{
    static struct soak s;
    slab_reclaim(GFP_KERNEL);
    size_t before = nr_free_pages();
    uint64_t reports = slab_error_count();
    memset(&s, 0, sizeof(s));
    s.ops = ktest_arg_ul("soak_ops", 20000);
    s.seed = ktest_arg_ul("soak_seed", 1);
    int n = ncpu_online();
    printk("# soak: soak_seed=%llu soak_ops=%lu on %d cpus\n", (unsigned long long)s.seed, s.ops,
           n);
    s.plain = kmem_cache_create("t_soak", PLAIN_SZ, 0, 0, NULL);
    s.debug = kmem_cache_create("t_soak_dbg", DEBUG_SZ, 0, SLAB_DEBUG_FLAGS, NULL);
    ASSERT(t, s.plain && s.debug);
#ifndef RVSLAB_HOST
    unsigned hz = timer_hz();
    timer_set_hz(5000); // interrupts land all over the allocators meanwhile
#endif
    run_on_all_cpus(soak_cpu, &s);
#ifndef RVSLAB_HOST
    timer_set_hz(hz);
#endif
    unsigned long done = 0;
    for (int c = 0; c < n; c++) {
        done += s.done[c];
        if (s.done[c] < share_of(s.ops, c, n))
            ktest_fail(t, __FILE__, __LINE__, "cpu %d ran %lu of its %lu operations", c, s.done[c],
                       share_of(s.ops, c, n));
        if (!s.ticked[c])
            ktest_fail(t, __FILE__, __LINE__, "cpu %d took no tick in its %lu operations", c,
                       s.done[c]);
    }
    for (unsigned k = 0; k < XCHG; k++)
        if (s.xchg[k])
            release(&s, s.xchg[k]);
    printk("# soak: %lu ops, %lu NULLs (out of memory), %lu broken canaries\n", done, s.nulls,
           s.broken);
    EXPECT_GE(t, done, s.ops);
    EXPECT_EQ(t, s.broken, 0);
    EXPECT_EQ(t, slab_error_count(), reports);
    EXPECT_EQ(t, slab_validate_all(), 0);
    EXPECT_EQ(t, kmem_cache_destroy(s.plain), 0);
    EXPECT_EQ(t, kmem_cache_destroy(s.debug), 0);
    slab_reclaim(GFP_KERNEL);
    EXPECT_EQ(t, nr_free_pages(), before);
    EXPECT_EQ(t, buddy_validate(), 0);
}
