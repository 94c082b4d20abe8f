// Self-tests of the reaper (mm/slab_reap.c), called directly so that each
// round comes exactly where the test says: an untouched per-CPU array
// gives back a batch a round, the barn and the free list keep what the
// cache needed in the last interval and no more, and a cpu that stops
// using a cache holds none of it a few rounds later. The tick's own calls
// are tested in test_reap_tick.c. Portable: kernel and host build.
#include <string.h>

#include "lib/ktest.h"
#include "mm/slab.h"
#include "mm/slab_internal.h" // this cpu's array, the barn's counts

static struct kmem_cache_info info_of(struct kmem_cache *c)
{
    struct kmem_cache_info in;
    kmem_cache_get_info(c, &in);
    return in;
}

// A plain cache (with sheaves); NULL and the test skipped if slab_debug=
// made it a debug cache, which has none.
static struct kmem_cache *plain_cache(struct ktest *t, const char *name, size_t size)
{
    struct kmem_cache *c = kmem_cache_create(name, size, 0, 0, NULL);
    if (c != NULL && info_of(c).limit == 0) {
        kmem_cache_destroy(c);
        t->skip_reason = "slab_debug is on: debug caches have no sheaves";
        return NULL;
    }
    return c;
}

#define PLAIN_CACHE(t, c, name, size)                                                              \
    do {                                                                                           \
        (c) = plain_cache(t, name, size);                                                          \
        if ((t)->skip_reason)                                                                      \
            return;                                                                                \
        ASSERT_NE(t, (c), NULL);                                                                   \
    } while (0)

// Objects in this cpu's array of c and in its spare. Nothing else touches
// them: the cache is the test's own, and no tick reaps during ktest.
static unsigned long held_here(struct kmem_cache *c, unsigned long *spare)
{
    unsigned long flags = local_lock_irqsave();
    struct array_cache *ac = c->array[cpu_id()];
    unsigned long sp = ac->spare ? ac->spare->avail : 0, n = ac->avail + sp;
    local_unlock_irqrestore(flags);
    if (spare)
        *spare = sp;
    return n;
}

// What one untouched round takes from this cpu's pair: the spare's
// objects, or with none there a batch of the current array's.
static unsigned long one_round(struct kmem_cache *c, unsigned batch)
{
    unsigned long sp, n = held_here(c, &sp);
    return sp > 0 ? sp : MIN(n, (unsigned long)batch);
}

static bool array_here(struct kmem_cache *c)
{
    unsigned long flags = local_lock_irqsave();
    bool made = c->array[cpu_id()]->limit != 0;
    local_unlock_irqrestore(flags);
    return made;
}

// n objects out and back, on this cpu.
static bool cycle(struct kmem_cache *c, void **p, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if ((p[i] = kmem_cache_alloc(c, GFP_KERNEL)) == NULL) {
            while (i > 0)
                kmem_cache_free(c, p[--i]);
            return false;
        }
    for (unsigned i = 0; i < n; i++)
        kmem_cache_free(c, p[i]);
    return true;
}

#define MANY 400

KTEST(reap, untouched_array_gives_back_a_batch_a_round)
{
    struct kmem_cache *c;
    PLAIN_CACHE(t, c, "t_reap_arr", 64);
    static void *p[MANY];
    struct kmem_cache_info in = info_of(c);
    ASSERT_EQ(t, cycle(c, p, 2 * in.limit), true); // refills and flushes: the slow paths ran
    unsigned long held = held_here(c, NULL);
    ASSERT_GT(t, held, (unsigned long)in.batchcount); // more than one round's worth

    ASSERT_EQ(t, slab_reap(true), true); // touched since the last round: left alone
    EXPECT_EQ(t, held_here(c, NULL), held);
    unsigned long gone = one_round(c, in.batchcount);
    ASSERT_GT(t, gone, 0UL);
    ASSERT_EQ(t, slab_reap(true), true); // untouched: the spare's objects, or a batch
    EXPECT_EQ(t, held_here(c, NULL), held - gone);
    held -= gone;

    // The fast path alone does not count as a touch (it writes no mark):
    // a cpu that allocates and frees in pairs loses some, and a refill
    // gets them back.
    void *o = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(t, o, NULL);
    kmem_cache_free(c, o);
    gone = one_round(c, in.batchcount);
    ASSERT_GT(t, gone, 0UL);
    ASSERT_EQ(t, slab_reap(true), true);
    EXPECT_EQ(t, held_here(c, NULL), held - gone);

    // A refill is a touch: the next round leaves the array alone.
    ASSERT_EQ(t, cycle(c, p, (unsigned)held_here(c, NULL) + 1), true);
    held = held_here(c, NULL);
    ASSERT_EQ(t, slab_reap(true), true);
    EXPECT_EQ(t, held_here(c, NULL), held);

    // Idle from here: the pair empties a batch at a time and is given
    // back, within the rounds that takes and no more.
    unsigned rounds = 0, bound = (unsigned)(held + in.batchcount - 1) / in.batchcount + 2;
    while (array_here(c) && rounds < bound) {
        ASSERT_EQ(t, slab_reap(true), true);
        rounds++;
    }
    EXPECT_EQ(t, array_here(c), false);
    EXPECT_GE(t, rounds, 2U); // a batch a round, not all at once
    EXPECT_EQ(t, held_here(c, NULL), 0UL);
    EXPECT_EQ(t, slab_validate(c), 0);
    kmem_cache_destroy(c);
}

KTEST(reap, barn_keeps_what_was_traded_in_the_interval)
{
    struct kmem_cache *c;
    PLAIN_CACHE(t, c, "t_reap_barn", 64);
    static void *p[MANY * 4];
    struct kmem_cache_info in = info_of(c);
    ASSERT_GE(t, in.barn_max, 2U);
    // Enough objects out that freeing them fills both sheaves and then
    // the barn's full stack.
    unsigned n = in.limit * (2 + in.barn_max);
    ASSERT_LE(t, n, (unsigned)ARRAY_SIZE(p));
    ASSERT_EQ(t, cycle(c, p, n), true);
    unsigned full = info_of(c).barn_full;
    ASSERT_GE(t, full, 2U);

    ASSERT_EQ(t, slab_reap(true), true); // the first round only sets the low points
    EXPECT_EQ(t, info_of(c).barn_full, full);

    // Take one full sheaf's worth and more (one trade with the barn), and
    // give it back: the low point was full - 1.
    struct kmem_cache_info before = info_of(c);
    unsigned take = (unsigned)held_here(c, NULL) + in.limit;
    ASSERT_EQ(t, cycle(c, p, take), true);
    struct kmem_cache_info after = info_of(c);
    EXPECT_GE(t, after.barn_gets, before.barn_gets + 1);
    unsigned now = after.barn_full;
    ASSERT_EQ(t, slab_reap(true), true); // gives back the sheaves no cpu needed
    in = info_of(c);
    EXPECT_LT(t, in.barn_full, now);
    EXPECT_GE(t, in.barn_full, 1U); // the one traded is the working set

    for (int r = 0; r < 2; r++) // idle: nothing needed, nothing kept
        ASSERT_EQ(t, slab_reap(true), true);
    in = info_of(c);
    EXPECT_EQ(t, in.barn_full, 0U);
    EXPECT_EQ(t, in.barn_empty, 0U);
    EXPECT_EQ(t, in.barn_objs, (size_t)0);
    EXPECT_EQ(t, slab_validate(c), 0);
    kmem_cache_destroy(c);
}

// Large objects, cycled through in hundreds: with a fixed few pages of
// empty slabs kept, every cycle makes and frees slabs; with the reaper
// between cycles, the free list keeps the cycle's working set and the
// cycles make none. Idle, the cache then holds nothing.
KTEST(reap, free_list_follows_the_working_set)
{
    struct kmem_cache *c;
    PLAIN_CACHE(t, c, "t_reap_big", 4000);
    static void *p[MANY];
    struct kmem_cache_info in = info_of(c);
    unsigned fixed = in.free_limit;                     // kmem_cache_create's amount
    ASSERT_LT(t, (size_t)fixed * in.num, (size_t)MANY); // too few for the cycle
    uint64_t grows[5];
    for (int k = 0; k < 5; k++) {
        uint64_t g0 = info_of(c).grows;
        ASSERT_EQ(t, cycle(c, p, MANY), true);
        grows[k] = info_of(c).grows - g0;
        if (k >= 1)
            ASSERT_EQ(t, slab_reap(true), true); // between cycles 1..4
    }
    printk("# slabs made per cycle: %llu %llu %llu %llu %llu\n", (unsigned long long)grows[0],
           (unsigned long long)grows[1], (unsigned long long)grows[2], (unsigned long long)grows[3],
           (unsigned long long)grows[4]);
    EXPECT_GT(t, grows[1], (uint64_t)0); // no reaper between cycles 0 and 1: regrown
    EXPECT_EQ(t, grows[3], (uint64_t)0); // the working set kept
    EXPECT_EQ(t, grows[4], (uint64_t)0);
    in = info_of(c);
    EXPECT_GT(t, in.free_limit, (unsigned)(MANY / 2 / in.num)); // raised to what the cycle needed

    unsigned rounds = 0;
    while (info_of(c).total_slabs > 0 && rounds < 12) {
        ASSERT_EQ(t, slab_reap(true), true);
        rounds++;
    }
    in = info_of(c);
    EXPECT_EQ(t, in.total_slabs, (size_t)0); // idle: every slab went back
    EXPECT_EQ(t, in.cached_objs, (size_t)0);
    EXPECT_EQ(t, in.free_limit, fixed); // nothing needed in the last interval
    EXPECT_EQ(t, slab_validate(c), 0);
    kmem_cache_destroy(c);
}

// With no reaper between cycles, the cache learns from its own churn: each
// slab made in place of one a free gave back lets one more empty slab stay,
// up to 64 pages' worth. The third cycle makes fewer slabs than the second.
KTEST(reap, regrowth_raises_free_limit)
{
    struct kmem_cache *c;
    PLAIN_CACHE(t, c, "t_reap_churn", 4000);
    static void *p[MANY];
    struct kmem_cache_info in = info_of(c);
    unsigned fixed = in.free_limit;
    ASSERT_LT(t, (size_t)fixed * in.num, (size_t)MANY / 2);
    uint64_t grows[3];
    for (int k = 0; k < 3; k++) {
        uint64_t g0 = info_of(c).grows;
        ASSERT_EQ(t, cycle(c, p, MANY), true);
        grows[k] = info_of(c).grows - g0;
    }
    in = info_of(c);
    printk("# slabs made per cycle: %llu %llu %llu; free_limit %u (was %u)\n",
           (unsigned long long)grows[0], (unsigned long long)grows[1], (unsigned long long)grows[2],
           in.free_limit, fixed);
    EXPECT_GT(t, in.free_limit, fixed);
    EXPECT_LE(t, (size_t)in.free_limit << in.order, (size_t)64);
    EXPECT_LT(t, grows[2], grows[1]);
    EXPECT_LE(t, in.free_slabs, in.free_limit);
    EXPECT_EQ(t, slab_validate(c), 0);
    kmem_cache_destroy(c);
}

// Every cpu uses the cache, then stops: a few rounds later no cpu holds
// an object of it, and its slabs are back with the buddy allocator.
static struct kmem_cache *all_c;
static int all_failed;

static void all_use(void *arg)
{
    (void)arg;
    static void *ps[NCPU][MANY];
    if (!cycle(all_c, ps[cpu_id()], MANY))
        __atomic_add_fetch(&all_failed, 1, __ATOMIC_RELAXED);
}

static void all_reap(void *arg)
{
    (void)arg;
    slab_reap(true);
}

KTEST(reap, every_cpu_stops_and_holds_nothing)
{
    PLAIN_CACHE(t, all_c, "t_reap_all", 128);
    all_failed = 0;
    run_on_all_cpus(all_use, NULL);
    ASSERT_EQ(t, all_failed, 0);
    struct kmem_cache_info in = info_of(all_c);
    EXPECT_GT(t, in.cached_objs, (size_t)0);
    EXPECT_GE(t, in.arrays, 1U);
    unsigned rounds = 0;
    uint64_t r0 = slab_reap_rounds();
    do {
        run_on_all_cpus(all_reap, NULL);
        in = info_of(all_c);
    } while ((in.arrays > 0 || in.total_slabs > 0) && ++rounds < 16);
    EXPECT_EQ(t, in.arrays, 0U);
    EXPECT_EQ(t, in.cached_objs, (size_t)0);
    EXPECT_EQ(t, in.total_slabs, (size_t)0);
    EXPECT_GE(t, slab_reap_rounds(), r0 + 2);
    EXPECT_EQ(t, slab_validate(all_c), 0);
    kmem_cache_destroy(all_c);
}
