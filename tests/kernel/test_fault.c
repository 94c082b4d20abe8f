// Running out of memory at every possible point: fail_page_alloc (the frame
// allocator) and failslab (the slab layer) make one chosen request fail, and
// the callers must see NULL exactly there, give back what they hold, and
// leave no page, cache or half-built slab behind. Portable.
#include <string.h>

#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"

KTEST_PARAM(fault_seed, 0, ~0UL, "seed of fault.random_page_failures");

static size_t settle(void)
{
    slab_reclaim(GFP_KERNEL);
    return nr_free_pages();
}

// A workload with page requests of every kind the slab layer makes: creating
// caches (the struct kmem_cache, the per-CPU arrays), growing an off-slab
// cache (frames, then a descriptor from kmalloc) and a debug one, kmalloc of
// several classes and one above them all. Counts the NULLs it is given and
// frees everything it got.
static unsigned workload(struct ktest *t)
{
    static const size_t ksizes[] = {24, 200, 3000, 20000, 70000, KMALLOC_MAX_SIZE + 1};
    enum { N = 40 };
    void *a_objs[N], *b_objs[N], *k_objs[ARRAY_SIZE(ksizes)];
    unsigned nulls = 0;
    struct kmem_cache *a = kmem_cache_create("t_fault_off", 700, 0, 0, NULL);
    struct kmem_cache *b =
        kmem_cache_create("t_fault_dbg", 40, 0, SLAB_RED_ZONE | SLAB_POISON, NULL);
    nulls += !a + !b;
    for (int i = 0; i < N; i++) {
        a_objs[i] = a ? kmem_cache_alloc(a, GFP_KERNEL) : NULL;
        b_objs[i] = b ? kmem_cache_alloc(b, GFP_KERNEL) : NULL;
        nulls += (a && !a_objs[i]) + (b && !b_objs[i]);
        if (a_objs[i])
            memset(a_objs[i], i, 700);
    }
    for (size_t k = 0; k < ARRAY_SIZE(ksizes); k++) {
        k_objs[k] = kmalloc(ksizes[k], GFP_KERNEL);
        nulls += !k_objs[k];
    }
    for (int i = 0; i < N; i++) {
        if (a_objs[i])
            kmem_cache_free(a, a_objs[i]);
        if (b_objs[i])
            kmem_cache_free(b, b_objs[i]);
    }
    for (size_t k = 0; k < ARRAY_SIZE(ksizes); k++)
        kfree(k_objs[k]);
    if (a)
        EXPECT_EQ(t, kmem_cache_destroy(a), 0);
    if (b)
        EXPECT_EQ(t, kmem_cache_destroy(b), 0);
    return nulls;
}

// The workload's largest request, kmalloc(8 MiB + 1, GFP_KERNEL), takes a 16 MiB block.
static const char *too_small(void)
{
    slab_reclaim(GFP_KERNEL);
    return buddy_blocks_free(MAX_ORDER) == 0
               ? "needs a free 16 MiB block for kmalloc above 8 MiB: too little RAM (MEM=)"
               : NULL;
}

// For N = 1 .. (every page request the workload makes) + 1: fail request N.
KTEST(fault, every_page_request)
{
    if (too_small())
        KTEST_SKIP(t, too_small());
    size_t before = settle();
    unsigned caches = slab_nr_caches();
    uint64_t reports = slab_error_count();
    fault_fail_nth(&fail_page_alloc, ~0UL); // count, never fail
    EXPECT_EQ(t, workload(t), 0);
    unsigned long requests = fail_page_alloc.calls;
    fault_disarm(&fail_page_alloc);
    ASSERT_GE(t, requests, 10);
    printk("# workload makes %lu page requests\n", requests);
    EXPECT_EQ(t, settle(), before);
    for (unsigned long n = 1; n <= requests + 1; n++) {
        struct buddy_stats b0, b1;
        buddy_get_stats(&b0);
        fault_fail_nth(&fail_page_alloc, n);
        unsigned nulls = workload(t);
        unsigned long injected = fail_page_alloc.injected;
        fault_disarm(&fail_page_alloc);
        buddy_get_stats(&b1);
        EXPECT_EQ(t, injected, n <= requests);
        // The failure ran reclaim, as a real one does (inside cache_grow,
        // or inside the allocation of an off-slab descriptor), and surfaced
        // as one NULL at most: objects the reclaim found may absorb it.
        EXPECT_EQ(t, b1.reclaims - b0.reclaims, injected);
        EXPECT_LE(t, nulls, injected);
        size_t after = settle();
        unsigned nc = slab_nr_caches();
        int bad = slab_validate_all();
        if (after != before || nc != caches || bad != 0 || nulls > injected) {
            printk("# failing request %lu: %zu pages lost, %d caches left, %d problems\n", n,
                   before - after, (int)(nc - caches), bad);
            EXPECT_EQ(t, after, before);
            EXPECT_EQ(t, nc, caches);
            EXPECT_EQ(t, bad, 0);
            break;
        }
    }
    EXPECT_EQ(t, slab_error_count(), reports);
    EXPECT_EQ(t, buddy_validate(), 0);
}

// The same at a seeded rate: many failures per run, still nothing lost.
KTEST(fault, random_page_failures)
{
    if (too_small())
        KTEST_SKIP(t, too_small());
    size_t before = settle();
    uint64_t seed = ktest_arg_ul("fault_seed", 7);
    for (int run = 0; run < 10; run++) {
        fault_fail_random(&fail_page_alloc, 200000, seed + run); // 20%
        unsigned nulls = workload(t);
        unsigned long injected = fail_page_alloc.injected;
        fault_disarm(&fail_page_alloc);
        EXPECT_LE(t, nulls, injected);
        EXPECT_EQ(t, settle(), before);
    }
    EXPECT_EQ(t, slab_validate_all(), 0);
}

// failslab: fails allocations from caches marked SLAB_FAILSLAB, and no others.
KTEST(fault, failslab_nth_and_random)
{
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("t_failslab", 64, 0, SLAB_FAILSLAB, NULL);
    ASSERT_NE(t, c, NULL);
    void *objs[64];
    fault_fail_nth(&failslab, 3);
    for (int i = 0; i < 5; i++)
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
    void *k = kmalloc(64, GFP_KERNEL); // not marked: never fails
    fault_disarm(&failslab);
    EXPECT_NE(t, k, NULL);
    kfree(k);
    EXPECT(t, objs[0] && objs[1] && !objs[2] && objs[3] && objs[4]);
    for (int i = 0; i < 5; i++)
        kmem_cache_free(c, objs[i]);
    fault_fail_random(&failslab, 500000, 11);
    int nulls = 0;
    for (int i = 0; i < 64; i++)
        nulls += (objs[i] = kmem_cache_alloc(c, GFP_KERNEL)) == NULL;
    unsigned long injected = failslab.injected;
    fault_disarm(&failslab);
    EXPECT_EQ(t, nulls, injected);
    EXPECT(t, nulls > 10 && nulls < 54);
    for (int i = 0; i < 64; i++)
        kmem_cache_free(c, objs[i]);
    EXPECT_EQ(t, slab_validate(c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, settle(), before);
}
