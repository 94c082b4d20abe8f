// Self-tests of the buddy allocator. Portable: they run in the kernel and in
// the host build (tests/host), on whatever RAM the allocator was given.
#include <errno.h>
#include <string.h>

#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"

// Every free frame, below the zone's min watermark too (__GFP_MEMALLOC),
// with no failure message: for tests that take them all on purpose.
#define GFP_ALL (GFP_KERNEL | __GFP_MEMALLOC | __GFP_NOWARN)

#define MAGIC 0x7262756464790000ULL // "rbuddy"

struct snapshot {
    size_t free;
    size_t count[MAX_ORDER + 1];
};

static void snap(struct snapshot *s)
{
    s->free = nr_free_pages();
    buddy_free_counts(s->count);
}

static bool same_as(const struct snapshot *s)
{
    struct snapshot now;
    snap(&now);
    return now.free == s->free && memcmp(now.count, s->count, sizeof(now.count)) == 0;
}

static unsigned long gcd(unsigned long a, unsigned long b)
{
    while (b) {
        unsigned long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

// Was this frame handed to us by the test as a single frame (magic inside)?
static bool ours(unsigned long pfn)
{
    struct page *p = pfn_to_page(pfn);
    if ((page_flags(p) & (PG_head | PG_slab | PG_reserved)) != PG_head || p->nr_frames != 1)
        return false;
    return *(uint64_t *)page_address(p) == (MAGIC ^ pfn);
}

// Every free frame as order 0, then all freed in a shuffled order: the free
// lists must come back exactly, blocks of MAX_ORDER included.
KTEST(buddy, alloc_all_free_shuffled)
{
    reclaim_hook_t hook = buddy_set_reclaim_hook(NULL); // keep other layers' pages still
    struct snapshot before;
    snap(&before);
    size_t got = 0;
    void *p;
    while ((p = alloc_pages(GFP_ALL, 0)) != NULL) {
        *(uint64_t *)p = MAGIC ^ ((uintptr_t)p >> PAGE_SHIFT);
        got++;
    }
    EXPECT_EQ(t, got, before.free);
    EXPECT_EQ(t, nr_free_pages(), 0);

    unsigned long n = max_pfn - min_pfn, step = n / 2 + 1;
    while (gcd(step, n) != 1)
        step++;
    size_t freed = 0;
    for (unsigned long i = 0; i < n; i++) { // i * step mod n visits every frame once
        unsigned long pfn = min_pfn + (i * step) % n;
        if (ours(pfn)) {
            EXPECT_EQ(t, free_pages(page_address(pfn_to_page(pfn)), 0), 0);
            freed++;
        }
    }
    EXPECT_EQ(t, freed, got);
    EXPECT(t, same_as(&before));
    EXPECT_EQ(t, buddy_validate(), 0);
    buddy_set_reclaim_hook(hook);
}

// A block of the largest order whose "buddy" is also free must stay at
// MAX_ORDER when freed: merging past the last list would lose it.
KTEST(buddy, max_order_merges_no_further)
{
    struct snapshot before;
    snap(&before);
    if (before.count[MAX_ORDER] < 2)
        KTEST_SKIP(t, "fewer than two free blocks of MAX_ORDER");
    void *a = alloc_pages(GFP_KERNEL, MAX_ORDER);
    ASSERT_NE(t, a, NULL);
    EXPECT_EQ(t, ((uintptr_t)a >> PAGE_SHIFT) & ((1UL << MAX_ORDER) - 1), 0);
    EXPECT_EQ(t, nr_free_pages(), before.free - (1UL << MAX_ORDER));
    EXPECT_EQ(t, free_pages(a, MAX_ORDER), 0);
    EXPECT(t, same_as(&before));
    EXPECT_EQ(t, buddy_validate(), 0);
}

// ---- Split and merge, frame by frame (the buddy lab's tests) ----
//
// Each takes every free block of the orders below DRAIN_BELOW off its list
// (allocations of exactly that order split nothing), so the next order-0
// request must split a bigger block, whose frames the test then knows.

#define DRAIN_BELOW 4
#define DRAIN_MAX   1024

static struct drained {
    void *p[DRAIN_MAX];
    unsigned order[DRAIN_MAX];
    size_t n;
} drained;

// Empty the lists of orders 0 .. DRAIN_BELOW-1. False if it would hold too
// many blocks (then nothing is held).
static bool drain_small_orders(void)
{
    size_t count[MAX_ORDER + 1];
    drained.n = 0;
    for (unsigned o = 0; o < DRAIN_BELOW; o++) {
        buddy_free_counts(count);
        for (size_t k = count[o]; k > 0; k--) {
            void *p = drained.n < DRAIN_MAX ? alloc_pages(GFP_ALL, o) : NULL;
            if (p == NULL) {
                while (drained.n > 0) {
                    drained.n--;
                    free_pages(drained.p[drained.n], drained.order[drained.n]);
                }
                return false;
            }
            drained.p[drained.n] = p;
            drained.order[drained.n++] = o;
        }
    }
    return true;
}

static void undrain(void)
{
    while (drained.n > 0) {
        drained.n--;
        free_pages(drained.p[drained.n], drained.order[drained.n]);
    }
}

// The smallest order with a free block (MAX_ORDER + 1 if none).
static unsigned smallest_free_order(const struct snapshot *s)
{
    unsigned o = 0;
    while (o <= MAX_ORDER && s->count[o] == 0)
        o++;
    return o;
}

static unsigned long pfn_of(const void *p)
{
    return (uintptr_t)p >> PAGE_SHIFT;
}

// A one-frame request with nothing below order DRAIN_BELOW splits the
// smallest free block, of order o: one block goes back on each list from
// o-1 down to 0 (the upper halves), one leaves list o, and the frame handed
// out is the block's first (the lower half is kept at every step).
KTEST(buddy, split_takes_smallest_block)
{
    reclaim_hook_t hook = buddy_set_reclaim_hook(NULL);
    struct snapshot before, after;
    if (!drain_small_orders()) {
        buddy_set_reclaim_hook(hook);
        KTEST_SKIP(t, "too many small free blocks to hold");
    }
    snap(&before);
    unsigned o = smallest_free_order(&before);
    EXPECT_GE(t, o, DRAIN_BELOW);
    struct buddy_stats st0, st1;
    buddy_get_stats(&st0);
    void *p = o <= MAX_ORDER ? alloc_pages(GFP_KERNEL, 0) : NULL;
    buddy_get_stats(&st1);
    snap(&after);
    EXPECT_NE(t, p, NULL);
    if (p != NULL && o <= MAX_ORDER) {
        EXPECT_EQ(t, pfn_of(p) & ((1UL << o) - 1), 0); // the first frame of the split block
        EXPECT_EQ(t, after.free, before.free - 1);
        for (unsigned k = 0; k <= MAX_ORDER; k++) {
            size_t want = before.count[k] + (k < o) - (k == o);
            if (after.count[k] != want)
                ktest_fail(t, __FILE__, __LINE__, "order %u: %zu free blocks, want %zu", k,
                           after.count[k], want);
        }
        EXPECT_EQ(t, st1.splits - st0.splits, o);
        EXPECT_EQ(t, buddy_validate(), 0);
        EXPECT_EQ(t, free_pages(p, 0), 0);
    }
    // That the lists come back whole after the frees is the merge's test
    // (merge_restores_free_lists): this one passes with a split alone.
    undrain();
    EXPECT_EQ(t, buddy_validate(), 0);
    buddy_set_reclaim_hook(hook);
}

// Up to n single frames, one by one, into f; how many came.
static int take_frames(void **f, int n)
{
    int got = 0;
    while (got < n && (f[got] = alloc_pages(GFP_ALL, 0)) != NULL)
        got++;
    return got;
}

// The halves a split gives back are the next blocks handed out: 16 one-frame
// requests take the split block's first 16 frames, in address order; then,
// from a fresh split, one frame, a two-frame block (pfn ^ 2) and one frame
// (pfn ^ 1). Nothing is freed before the end, so no merge is needed.
KTEST(buddy, split_halves_are_buddies)
{
    reclaim_hook_t hook = buddy_set_reclaim_hook(NULL);
    if (!drain_small_orders()) {
        buddy_set_reclaim_hook(hook);
        KTEST_SKIP(t, "too many small free blocks to hold");
    }
    void *f[16];
    int got = take_frames(f, 16);
    EXPECT_EQ(t, got, 16);
    for (int i = 1; i < got; i++)
        if (pfn_of(f[i]) != pfn_of(f[0]) + (unsigned long)i)
            ktest_fail(t, __FILE__, __LINE__, "frame %d is pfn %#lx, want %#lx (first + %d)", i,
                       pfn_of(f[i]), pfn_of(f[0]) + i, i);
    EXPECT_EQ(t, pfn_of(f[0]) & 15, 0);

    void *a = alloc_pages(GFP_KERNEL, 0), *b = alloc_pages(GFP_KERNEL, 1),
         *c = alloc_pages(GFP_KERNEL, 0);
    EXPECT(t, a != NULL && b != NULL && c != NULL);
    if (a && b && c) {
        EXPECT_EQ(t, pfn_of(b), pfn_of(a) ^ 2);
        EXPECT_EQ(t, pfn_of(c), pfn_of(a) ^ 1);
    }
    free_pages(a, 0);
    free_pages(b, 1);
    free_pages(c, 0);
    for (int i = 0; i < got; i++)
        EXPECT_EQ(t, free_pages(f[i], 0), 0);
    undrain();
    EXPECT_EQ(t, buddy_validate(), 0);
    buddy_set_reclaim_hook(hook);
}

// Frames freed in a scrambled order merge with their buddies as soon as
// both are free, and not before: two neighbours that are not buddies stay
// apart, and the last free rebuilds the block the first request split.
KTEST(buddy, merge_restores_free_lists)
{
    reclaim_hook_t hook = buddy_set_reclaim_hook(NULL);
    struct snapshot start, before, now;
    snap(&start);
    if (!drain_small_orders()) {
        buddy_set_reclaim_hook(hook);
        KTEST_SKIP(t, "too many small free blocks to hold");
    }
    snap(&before);
    unsigned o = smallest_free_order(&before);
    void *f[16];
    int got = take_frames(f, 16);
    ASSERT_EQ(t, got, 16);
    for (int i = 1; i < 16; i++) // as split_halves_are_buddies checks
        ASSERT_EQ(t, pfn_of(f[i]), pfn_of(f[0]) + (unsigned long)i);
    struct buddy_stats st0, st1;
    buddy_get_stats(&st0);
    size_t c0[MAX_ORDER + 1];
    buddy_free_counts(c0);

    // Frames 1 and 2 are neighbours but not buddies: no merge.
    EXPECT_EQ(t, free_pages(f[1], 0), 0);
    EXPECT_EQ(t, free_pages(f[2], 0), 0);
    snap(&now);
    EXPECT_EQ(t, now.count[0], c0[0] + 2);
    EXPECT_EQ(t, now.count[1], c0[1]);
    // Frame 3 is 2's buddy: they merge into (2, 3), whose buddy (0, 1) is not free.
    EXPECT_EQ(t, free_pages(f[3], 0), 0);
    snap(&now);
    EXPECT_EQ(t, now.count[0], c0[0] + 1);
    EXPECT_EQ(t, now.count[1], c0[1] + 1);
    // Frame 0: (0, 1) merges, then (0..3) with (2, 3): one block of order 2.
    EXPECT_EQ(t, free_pages(f[0], 0), 0);
    snap(&now);
    EXPECT_EQ(t, now.count[0], c0[0]);
    EXPECT_EQ(t, now.count[1], c0[1]);
    EXPECT_EQ(t, now.count[2], c0[2] + 1);
    // The other twelve, scrambled (i * 5 mod 12 visits each once).
    for (int i = 0; i < 12; i++)
        EXPECT_EQ(t, free_pages(f[4 + (i * 5) % 12], 0), 0);
    buddy_get_stats(&st1);
    EXPECT(t, same_as(&before));
    // 16 frames and the o - 4 upper halves the split left become one block.
    EXPECT_EQ(t, st1.merges - st0.merges, 16 + (o - 4) - 1);
    EXPECT_EQ(t, buddy_validate(), 0);
    undrain();
    EXPECT(t, same_as(&start));
    buddy_set_reclaim_hook(hook);
}

KTEST(buddy, too_large_returns_null)
{
    struct snapshot before;
    struct buddy_stats st0, st1;
    snap(&before);
    buddy_get_stats(&st0);
    EXPECT_EQ(t, alloc_pages(GFP_KERNEL, MAX_ORDER + 1), NULL);
    EXPECT_EQ(t, alloc_pages(GFP_KERNEL, 63), NULL);
    EXPECT_EQ(t, alloc_frames(GFP_KERNEL, (1UL << MAX_ORDER) + 1), NULL);
    EXPECT_EQ(t, alloc_frames(GFP_KERNEL, 0), NULL);
    buddy_get_stats(&st1);
    EXPECT_EQ(t, st1.failures - st0.failures, 4);
    EXPECT(t, same_as(&before));
}

// Random orders, held and freed at random, each block filled and checked.
KTEST(buddy, mixed_orders_with_patterns)
{
    enum { HELD = 64, STEPS = 600, TOP = 6 };
    void *held[HELD] = {0};
    unsigned order[HELD] = {0};
    uint64_t rng = 12345;
    struct snapshot before;
    snap(&before);
    for (int step = 0; step < STEPS; step++) {
        int i = ktest_rand(&rng) % HELD;
        if (held[i]) {
            uint64_t *w = held[i];
            size_t words = (PAGE_SIZE << order[i]) / 8;
            EXPECT(t, w[0] == (uintptr_t)w && w[words - 1] == ~(uintptr_t)w);
            EXPECT_EQ(t, free_pages(held[i], order[i]), 0);
            held[i] = NULL;
            continue;
        }
        order[i] = ktest_rand(&rng) % (TOP + 1);
        uint64_t *w = held[i] = alloc_pages(GFP_KERNEL, order[i]);
        ASSERT_NE(t, w, NULL);
        EXPECT_EQ(t, ((uintptr_t)w >> PAGE_SHIFT) & ((1UL << order[i]) - 1), 0);
        w[0] = (uintptr_t)w;
        w[(PAGE_SIZE << order[i]) / 8 - 1] = ~(uintptr_t)w;
    }
    for (int i = 0; i < HELD; i++)
        if (held[i])
            EXPECT_EQ(t, free_pages(held[i], order[i]), 0);
    EXPECT(t, same_as(&before));
    EXPECT_EQ(t, buddy_validate(), 0);
}

// alloc_frames(GFP_KERNEL, n) takes exactly n frames, for every n from 1 to 64.
KTEST(buddy, exact_frames_1_to_64)
{
    enum { N = 64 };
    void *held[N + 1];
    struct snapshot before;
    snap(&before);
    size_t taken = 0;
    for (size_t n = 1; n <= N; n++) {
        size_t free0 = nr_free_pages();
        held[n] = alloc_frames(GFP_KERNEL, n);
        ASSERT_NE(t, held[n], NULL);
        EXPECT_EQ(t, free0 - nr_free_pages(), n);
        memset(held[n], (int)n, n * PAGE_SIZE);
        taken += n;
    }
    EXPECT_EQ(t, before.free - nr_free_pages(), taken);
    for (size_t n = 1; n <= N; n++) {
        unsigned char *c = held[n];
        EXPECT(t, c[0] == (unsigned char)n && c[n * PAGE_SIZE - 1] == (unsigned char)n);
        EXPECT_EQ(t, free_frames(held[n], n), 0);
    }
    EXPECT(t, same_as(&before));
    EXPECT_EQ(t, buddy_validate(), 0);
}

struct smp_ctx {
    struct ktest *t;
    int iters;
};

static void smp_worker(void *arg)
{
    struct smp_ctx *c = arg;
    enum { HELD = 16 };
    uint64_t *held[HELD] = {0};
    unsigned order[HELD] = {0};
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (cpu_id() + 1);
    uint64_t tag = (uint64_t)cpu_id() << 56;
    for (int it = 0; it < c->iters; it++) {
        int i = ktest_rand(&rng) % HELD;
        if (held[i]) {
            size_t frames = 1UL << order[i];
            for (size_t f = 0; f < frames; f++) // one word per frame, all written below
                if (held[i][f * PAGE_SIZE / 8] != (tag | (uintptr_t)held[i] | f))
                    ktest_fail(c->t, __FILE__, __LINE__, "block %p frame %zu overwritten",
                               (void *)held[i], f);
            if (free_pages(held[i], order[i]) != 0)
                ktest_fail(c->t, __FILE__, __LINE__, "free_pages failed");
            held[i] = NULL;
            continue;
        }
        order[i] = ktest_rand(&rng) % 4;
        held[i] = alloc_pages(GFP_KERNEL, order[i]);
        if (held[i] == NULL)
            continue; // other cpus may hold memory; running out is allowed here
        for (size_t f = 0; f < (1UL << order[i]); f++)
            held[i][f * PAGE_SIZE / 8] = tag | (uintptr_t)held[i] | f;
    }
    for (int i = 0; i < HELD; i++)
        if (held[i])
            free_pages(held[i], order[i]);
}

KTEST(buddy, smp_alloc_free_all_cpus)
{
    struct snapshot before;
    snap(&before);
    struct smp_ctx c = {t, 3000};
    run_on_all_cpus(smp_worker, &c);
    EXPECT(t, same_as(&before));
    EXPECT_EQ(t, buddy_validate(), 0);
}

// Out of memory: NULL, never a panic, and the reclaim hook is asked at
// each level once, the cheap one first, until one gives enough.
static void *stash;       // frames held by the OOM test, chained through their first word
static unsigned hook_seq; // the levels the hook was called with, a digit each: FREE 1, ALL 2
static size_t hook_gives; // frames the hook gives back (up to), at level hook_gives_at
static enum reclaim_level hook_gives_at;

// Every free frame onto the stash (no hook set: nothing else gives any back).
static void stash_rest(void)
{
    void *p;
    while ((p = alloc_pages(GFP_ALL, 0)) != NULL) {
        *(void **)p = stash;
        stash = p;
    }
}

static void stash_every_frame(void)
{
    stash = NULL;
    stash_rest();
}

static void free_the_stash(void)
{
    while (stash) {
        void *next = *(void **)stash;
        free_pages(stash, 0);
        stash = next;
    }
}

static size_t test_hook(gfp_t gfp, enum reclaim_level level)
{
    (void)gfp;
    size_t n = 0;
    hook_seq = hook_seq * 10 + (level == RECLAIM_FREE ? 1 : 2);
    while (level == hook_gives_at && n < hook_gives && stash) {
        void *next = *(void **)stash;
        free_pages(stash, 0);
        stash = next;
        n++;
    }
    return n;
}

KTEST(buddy, oom_calls_reclaim_hook)
{
    reclaim_hook_t old = buddy_set_reclaim_hook(NULL);
    struct snapshot before;
    snap(&before);
    stash_every_frame();
    buddy_set_reclaim_hook(test_hook);
    hook_seq = 0;
    hook_gives = 0;
    EXPECT_EQ(t, alloc_pages(GFP_KERNEL, 0), NULL); // the hook finds nothing to give
    EXPECT_EQ(t, hook_seq, 12u);                    // empty slabs, then everything
    hook_seq = 0;
    hook_gives = 4;
    hook_gives_at = RECLAIM_FREE;
    void *p = alloc_pages(GFP_ALL, 1); // the cheap level frees 4 frames; the retry succeeds
    EXPECT_EQ(t, hook_seq, 1u);
    EXPECT_NE(t, p, NULL);
    if (p)
        free_pages(p, 1);
    hook_gives = 0; // the stash takes every frame back, the hook giving none
    stash_rest();
    hook_seq = 0;
    hook_gives = 4;
    hook_gives_at = RECLAIM_ALL;
    p = alloc_pages(GFP_ALL, 1); // only the full level frees any
    EXPECT_EQ(t, hook_seq, 12u);
    EXPECT_NE(t, p, NULL);
    if (p)
        free_pages(p, 1);
    buddy_set_reclaim_hook(old);
    free_the_stash();
    EXPECT(t, same_as(&before));
}

// A reclaim hook that itself allocates (frames, and kmalloc objects, which
// may need frames) while memory is gone: its own failed requests do not
// call it again -- one call per failed request, no recursion -- and an
// injected failure calls it too.
static int alloc_hook_calls, alloc_hook_depth, alloc_hook_max_depth;
static bool alloc_hook_got_page;

static size_t allocating_hook(gfp_t gfp, enum reclaim_level level)
{
    (void)gfp;
    alloc_hook_calls += level == RECLAIM_ALL; // each request asks once at each level
    if (++alloc_hook_depth > alloc_hook_max_depth)
        alloc_hook_max_depth = alloc_hook_depth;
    void *p = alloc_pages(GFP_KERNEL, 0); // fails: memory is gone, and it must not recurse
    void *k = kmalloc(5000, GFP_KERNEL);  // may fail too, the same way
    alloc_hook_got_page = p != NULL;
    if (p)
        free_pages(p, 0);
    kfree(k);
    alloc_hook_depth--;
    return 0;
}

KTEST(buddy, reclaim_hook_that_allocates)
{
    slab_reclaim(GFP_KERNEL); // the hook's kmalloc leaves slabs behind: compare settled states
    reclaim_hook_t old = buddy_set_reclaim_hook(NULL);
    struct snapshot before;
    snap(&before);
    stash_every_frame();
    buddy_set_reclaim_hook(allocating_hook);
    alloc_hook_calls = alloc_hook_depth = alloc_hook_max_depth = 0;
    EXPECT_EQ(t, alloc_pages(GFP_KERNEL, 0), NULL);
    EXPECT_EQ(t, alloc_hook_calls, 1);
    EXPECT_EQ(t, alloc_hook_max_depth, 1);
    EXPECT(t, !alloc_hook_got_page);
    EXPECT_EQ(t, alloc_pages(GFP_KERNEL, 2), NULL);
    EXPECT_EQ(t, alloc_hook_calls, 2);
    // Memory back: an injected failure still runs the hook, and still fails.
    free_the_stash();
    fault_fail_nth(&fail_page_alloc, 1);
    EXPECT_EQ(t, alloc_pages(GFP_KERNEL, 0), NULL);
    fault_disarm(&fail_page_alloc);
    EXPECT_EQ(t, alloc_hook_calls, 3);
    EXPECT_EQ(t, alloc_hook_max_depth, 1);
    buddy_set_reclaim_hook(old);
    slab_reclaim(GFP_KERNEL);
    EXPECT(t, same_as(&before));
}

// Each kind of bad free is refused with -EINVAL, counted once, and changes nothing.
KTEST(buddy, bad_frees_reported_state_intact)
{
    struct snapshot before;
    struct buddy_stats st0, st1;
    void *a = alloc_pages(GFP_KERNEL, 2), *b = alloc_pages(GFP_KERNEL, 0);
    ASSERT(t, a && b);
    EXPECT_EQ(t, free_pages(b, 0), 0);
    snap(&before);
    buddy_get_stats(&st0);
    char *c = a;
    EXPECT_EQ(t, free_pages(b, 0), -EINVAL);                 // double free
    EXPECT_EQ(t, free_pages(a, 1), -EINVAL);                 // wrong order
    EXPECT_EQ(t, free_pages(a, 3), -EINVAL);                 // order too big
    EXPECT_EQ(t, free_pages(c + PAGE_SIZE, 0), -EINVAL);     // interior frame
    EXPECT_EQ(t, free_pages(c + 2 * PAGE_SIZE, 1), -EINVAL); // interior, aligned for its order
    EXPECT_EQ(t, free_pages(c + PAGE_SIZE, 1), -EINVAL);     // not aligned to its order
    EXPECT_EQ(t, free_pages(c + 8, 0), -EINVAL);             // not page aligned
    EXPECT_EQ(t, free_pages(mem_map, 0), -EINVAL);           // reserved (mem_map itself)
    EXPECT_EQ(t, free_pages((void *)((max_pfn + 16) << PAGE_SHIFT), 0), -EINVAL); // outside RAM
    EXPECT_EQ(t, free_frames(a, 3), -EINVAL); // n differs from allocation
    EXPECT_EQ(t, free_frames(NULL, 3), 0);    // NULL: nothing to do, not bad
    EXPECT_EQ(t, free_pages(NULL, 2), 0);
    EXPECT_EQ(t, free_pages(a, MAX_ORDER + 1), -EINVAL); // order too large
    buddy_get_stats(&st1);
    EXPECT_EQ(t, st1.bad_frees - st0.bad_frees, 11);
    EXPECT_EQ(t, st1.frees, st0.frees);
    EXPECT(t, same_as(&before));
    EXPECT_EQ(t, buddy_validate(), 0);
    EXPECT_EQ(t, free_pages(a, 2), 0); // the real owner can still free it
}

// Fault injection: the armed request fails, the ones around it do not.
// (No reclaim hook: an injected failure runs it, and this is the buddy
// allocator alone.)
KTEST(buddy, fail_nth_request)
{
    reclaim_hook_t old = buddy_set_reclaim_hook(NULL);
    struct snapshot before;
    snap(&before);
    fault_fail_nth(&fail_page_alloc, 3);
    void *a = alloc_pages(GFP_KERNEL, 0), *b = alloc_frames(GFP_KERNEL, 3),
         *c = alloc_pages(GFP_KERNEL, 1), *d = alloc_pages(GFP_KERNEL, 0);
    EXPECT_EQ(t, fail_page_alloc.injected, 1);
    fault_disarm(&fail_page_alloc);
    EXPECT(t, a != NULL && b != NULL && c == NULL && d != NULL);
    free_pages(a, 0);
    free_frames(b, 3);
    free_pages(d, 0);
    EXPECT(t, same_as(&before));

    // Random failures replay exactly from the same seed.
    int pattern[2][64];
    for (int run = 0; run < 2; run++) {
        fault_fail_random(&fail_page_alloc, 300000, 42);
        for (int i = 0; i < 64; i++) {
            void *p = alloc_pages(GFP_KERNEL, 0);
            pattern[run][i] = p == NULL;
            if (p)
                free_pages(p, 0);
        }
        fault_disarm(&fail_page_alloc);
    }
    int fails = 0;
    for (int i = 0; i < 64; i++)
        fails += pattern[0][i];
    EXPECT_EQ(t, memcmp(pattern[0], pattern[1], sizeof(pattern[0])), 0);
    EXPECT(t, fails > 5 && fails < 40); // about 30% of 64
    EXPECT(t, same_as(&before));
    buddy_set_reclaim_hook(old);
}

// resize_frames: an allocation shrinks in place (its tail goes back) and
// grows in place over the free frames after it; a frame in use after it
// refuses the growth and changes nothing; a bad block is refused.
KTEST(buddy, resize_frames_in_place)
{
    struct snapshot before;
    snap(&before);
    char *b = alloc_pages(GFP_KERNEL, 5); // 32 frames
    ASSERT_NE(t, b, NULL);
    size_t free0 = nr_free_pages();
    EXPECT_EQ(t, resize_frames(b, 32, 16), 0); // [16, 32) back
    EXPECT_EQ(t, nr_free_pages(), free0 + 16);
    EXPECT_EQ(t, virt_to_page(b)->nr_frames, 16);
    EXPECT(t, page_is_free(b + 16 * PAGE_SIZE) && !page_is_free(b + 15 * PAGE_SIZE));
    EXPECT_EQ(t, resize_frames(b, 16, 24), 0); // over free frames
    EXPECT_EQ(t, nr_free_pages(), free0 + 8);
    memset(b, 0x3c, 24 * PAGE_SIZE); // all of it is ours
    EXPECT_EQ(t, resize_frames(b, 24, 16), 0);
    char *q =
        alloc_pages(GFP_KERNEL, 4); // most likely [16, 32) again: the freed block is reused first
    if (q == b + 16 * PAGE_SIZE) {
        EXPECT_EQ(t, resize_frames(b, 16, 17), -ENOMEM); // q is in the way
        EXPECT_EQ(t, virt_to_page(b)->nr_frames, 16);
    } else {
        printk("# the block after b went elsewhere; the refused growth was not tried\n");
    }
    free_pages(q, 4);
    EXPECT_EQ(t, resize_frames(b, 15, 20), -EINVAL); // not a block of 15 frames
    EXPECT_EQ(t, resize_frames(b + PAGE_SIZE, 1, 2), -EINVAL);
    EXPECT_EQ(t, resize_frames(b, 16, 0), -EINVAL);
    EXPECT_EQ(t, free_frames(b, 16), 0);
    EXPECT(t, same_as(&before));
    EXPECT_EQ(t, buddy_validate(), 0);
}
