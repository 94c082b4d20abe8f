// A buddy zone whose first and last frames are not aligned to the largest
// block. The kernel's zone is whatever RAM the device tree reports, so its
// edges can fall anywhere; the host build can put them anywhere on purpose.
// Every frame must be usable, every block naturally aligned, and nothing may
// merge past either edge. Host only: it re-initialises the buddy allocator
// over a part of the host "RAM", then sets the runner's zone and slab layer
// up again.
#include <errno.h>
#include <string.h>

#include "host.h"
#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"

// Every free frame, below the zone's min watermark too (__GFP_MEMALLOC),
// with no failure message: for tests that take them all on purpose.
#define GFP_ALL (GFP_KERNEL | __GFP_MEMALLOC | __GFP_NOWARN)

// Take every block of `order` the zone has; each must lie inside the zone,
// aligned to its size. Returns how many, all given back.
// The runner's zone and slab layer back, as main made them, and its
// reclaim hook (old), after a test that made a zone of its own.
static void runners_zone_back(struct ktest *t, reclaim_hook_t old)
{
    host_ram_init(host_mem_bytes);
    EXPECT_EQ(t, slab_init(PAGE_SIZE, 64), 0);
    buddy_set_reclaim_hook(old);
}

static unsigned long take_all(struct ktest *t, unsigned order, uintptr_t lo, uintptr_t hi)
{
    void *list = NULL, *p;
    unsigned long n = 0;
    while ((p = alloc_pages(GFP_ALL, order)) != NULL) {
        uintptr_t a = (uintptr_t)p, bytes = PAGE_SIZE << order;
        if (a < lo || a + bytes > hi || (a & (bytes - 1)))
            ktest_fail(t, __FILE__, __LINE__, "order %u block %p outside [%p, %p) or unaligned",
                       order, p, (void *)lo, (void *)hi);
        *(void **)p = list;
        list = p;
        n++;
    }
    while (list) {
        p = *(void **)list;
        free_pages(list, order);
        list = p;
    }
    return n;
}

KTEST(buddy_zone, unaligned_edges)
{
    static const struct {
        unsigned lead, tail; // frames cut off the aligned region at each end
    } cases[] = {{1, 1}, {3, 5}, {17, 4095}, {4095, 1}, {1234, 777}, {2048, 2048}};
    const size_t span = 32UL << 20;
    ASSERT_GE(t, host_mem_bytes, span);
    reclaim_hook_t old = buddy_set_reclaim_hook(NULL); // no slab layer on this zone
    uintptr_t base = host_ram_init(host_mem_bytes);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uintptr_t lo = base + cases[i].lead * PAGE_SIZE;
        uintptr_t hi = base + span - cases[i].tail * PAGE_SIZE;
        ASSERT_EQ(t, buddy_init(lo, hi - lo, NULL, 0), 0);
        size_t free0 = nr_free_pages();
        EXPECT_EQ(t, free0, nr_managed_pages());
        EXPECT_EQ(t, buddy_validate(), 0);
        // mem_map takes the first frames it needs; every other frame is usable.
        size_t map = (((hi - lo) / PAGE_SIZE) * sizeof(struct page) + PAGE_SIZE - 1) / PAGE_SIZE;
        EXPECT_EQ(t, free0 + map, (hi - lo) / PAGE_SIZE);
        EXPECT_EQ(t, take_all(t, 0, lo, hi), free0);
        for (unsigned o = 1; o <= MAX_ORDER; o++)
            take_all(t, o, lo, hi);        // in the zone and aligned, or a report
        EXPECT_EQ(t, buddy_validate(), 0); // no block runs past the zone's end
        EXPECT_EQ(t, nr_free_pages(), free0);
    }
    runners_zone_back(t, old);
}

// A zone that grows (librvslab.so's heap): mem_map lives apart from RAM and
// is zero-filled; buddy_grow adds frames at the end, which become RAM
// (pfn_valid) and merge with the old last block; the grow hook runs when a
// request still fails after reclaim, and only then.
static int grows;

static size_t grow_8m(size_t n)
{
    (void)n;
    grows++;
    return buddy_grow(8UL << 20) == 0 ? (8UL << 20) / PAGE_SIZE : 0;
}

KTEST(buddy_zone, grows_at_the_end)
{
    const size_t block = PAGE_SIZE << MAX_ORDER; // 16 MiB
    ASSERT_GE(t, host_mem_bytes, 3 * block);
    reclaim_hook_t old = buddy_set_reclaim_hook(NULL);
    uintptr_t base = host_ram_init(host_mem_bytes);
    struct page *map = (struct page *)base; // mem_map for 16 MiB of RAM: 128 KiB
    memset(map, 0, (block / PAGE_SIZE) * sizeof(struct page));
    uintptr_t ram = base + block; // aligned to the largest block
    ASSERT_EQ(t, buddy_init_at(ram, block / 2, map), 0);
    EXPECT_EQ(t, nr_free_pages(), block / 2 / PAGE_SIZE);
    EXPECT_EQ(t, virt_to_page((void *)(ram + block / 2)), NULL); // not RAM yet
    EXPECT_EQ(t, alloc_pages(GFP_KERNEL, MAX_ORDER), NULL);      // no hook: no growth
    EXPECT_EQ(t, buddy_grow(PAGE_SIZE + 1), -EINVAL);
    grows = 0;
    grow_hook_t prev = buddy_set_grow_hook(grow_8m);
    void *half = alloc_pages(GFP_KERNEL, MAX_ORDER - 1); // the first 8 MiB: no growth needed
    EXPECT_EQ(t, grows, 0);
    void *more = alloc_pages(GFP_KERNEL, MAX_ORDER - 1); // the next 8 MiB come from growth
    EXPECT_EQ(t, grows, 1);
    ASSERT(t, half && more);
    EXPECT_EQ(t, (uintptr_t)more, ram + block / 2);
    EXPECT(t, virt_to_page(more) != NULL && virt_to_page((void *)(ram + block)) == NULL);
    free_pages(half, MAX_ORDER - 1);
    free_pages(more, MAX_ORDER - 1);
    EXPECT_EQ(t, buddy_blocks_free(MAX_ORDER), 1); // merged across the old end
    EXPECT_EQ(t, nr_managed_pages(), block / PAGE_SIZE);
    EXPECT_EQ(t, buddy_validate(), 0);
    buddy_set_grow_hook(prev);
    runners_zone_back(t, old);
}

// Exact requests of one size pack end to end: n frames that are not a
// power of two take a block of the next power, and the next request of
// that size starts in the tail the last one gave back. Without that, every
// request leaves a tail no request of its size fits (25 frames fill 78%,
// 2500 61%).
KTEST(buddy_zone, exact_requests_pack)
{
    const size_t block = PAGE_SIZE << MAX_ORDER; // 16 MiB
    static const size_t sizes[] = {3, 25, 100, 700, 2500};
    ASSERT_GE(t, host_mem_bytes, 2 * block);
    reclaim_hook_t old = buddy_set_reclaim_hook(NULL);
    uintptr_t base = host_ram_init(host_mem_bytes);
    struct page *map = (struct page *)base;
    memset(map, 0, (block / PAGE_SIZE) * sizeof(struct page));
    ASSERT_EQ(t, buddy_init_at(base + block, block, map), 0);
    size_t free0 = nr_free_pages();
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        size_t n = sizes[i], got = 0;
        void *list = NULL, *p;
        while ((p = alloc_frames(GFP_ALL, n)) != NULL) {
            *(void **)p = list;
            list = p;
            got++;
        }
        EXPECT_EQ(t, buddy_validate(), 0);
        if (got * 20 < free0 / n * 19) // at least 95% of the blocks that fit
            ktest_fail(t, __FILE__, __LINE__, "%zu blocks of %zu frames in %zu free frames", got, n,
                       free0);
        while (list) {
            p = *(void **)list;
            free_frames(list, n);
            list = p;
        }
        EXPECT_EQ(t, nr_free_pages(), free0);
        EXPECT_EQ(t, buddy_blocks_free(MAX_ORDER), 1); // all of it merged again
    }
    runners_zone_back(t, old);
}

// Giving memory back: once dirty free blocks of the purge order gather the
// threshold, a free calls the hook; buddy_purge passes each dirty block of
// its order and up to discard once, with the zone lock free, and puts it
// back clean; a clean block is taken last and is dirty again once used.
static size_t discarded, discards;
static bool lock_free_in_discard = true;

static void count_discard(unsigned long pfn, size_t n)
{
    (void)pfn;
    discarded += n;
    discards++;
    // The zone lock is not held: another request may run meanwhile.
    void *p = alloc_pages(GFP_KERNEL, 0);
    lock_free_in_discard &= p != NULL;
    free_pages(p, 0);
}

static int purge_calls;

static void purge_now(void)
{
    purge_calls++;
    buddy_purge(4, SIZE_MAX, false, count_discard);
}

// A zone of its own for the purge tests: one clean 16 MiB block, the purge
// hook set to run at hook_at dirty frames, the counts zeroed.
static int purge_zone(size_t hook_at)
{
    const size_t block = PAGE_SIZE << MAX_ORDER;
    uintptr_t base = host_ram_init(host_mem_bytes);
    struct page *map = (struct page *)base;
    memset(map, 0, (2 * block / PAGE_SIZE) * sizeof(struct page));
    int err = buddy_init_at(base + block, block, map);
    buddy_set_purge_hook(purge_now, 4, hook_at);
    purge_calls = 0;
    discarded = discards = 0;
    return err;
}

KTEST(buddy_zone, purge_gives_back_big_free_blocks)
{
    const size_t block = PAGE_SIZE << MAX_ORDER;
    reclaim_hook_t old = buddy_set_reclaim_hook(NULL);
    ASSERT_EQ(t, purge_zone(256), 0); // the hook at 1 MiB of 64 KiB blocks and up
    void *a = alloc_pages(GFP_KERNEL, MAX_ORDER - 2),
         *b = alloc_pages(GFP_KERNEL, MAX_ORDER - 2); // 4 + 4 MiB
    ASSERT(t, a && b);
    memset(a, 1, block / 4);
    free_pages(a, MAX_ORDER - 2); // 4 MiB dirty: over the threshold
    EXPECT_EQ(t, purge_calls, 1);
    EXPECT_EQ(t, discarded, block / 4 / PAGE_SIZE);
    EXPECT(t, lock_free_in_discard);
    EXPECT_EQ(t, buddy_validate(), 0);
    free_pages(b, MAX_ORDER - 2); // merges with clean neighbours: dirty again
    EXPECT_EQ(t, purge_calls, 2);
    EXPECT_EQ(t, buddy_validate(), 0);
    EXPECT_EQ(t, buddy_blocks_free(MAX_ORDER), 1); // one clean 16 MiB block again
    // A used frame back in a clean block makes all of it dirty: it is given
    // back whole again (cheap: the rest is not resident). Merging stays
    // simple; clean only says what purging would gain.
    size_t before = discarded;
    void *c = alloc_pages(GFP_KERNEL, 0); // from the clean block: the halves split off stay clean
    ASSERT_NE(t, c, NULL);
    EXPECT_EQ(t, purge_calls, 2);
    free_pages(c, 0);
    EXPECT_EQ(t, purge_calls, 3);
    EXPECT_EQ(t, discarded - before, block / PAGE_SIZE);
    EXPECT_EQ(t, buddy_purge(0, SIZE_MAX, false, count_discard), 0); // nothing dirty is left
    EXPECT_EQ(t, buddy_validate(), 0);
    buddy_set_purge_hook(NULL, 0, 0);
    runners_zone_back(t, old);
}

static void count_only(unsigned long pfn, size_t n)
{
    (void)pfn;
    discarded += n;
    discards++;
}

// An idle purge gives back only what no one touched since the last one: the
// first marks each dirty block, the second discards those still marked. A
// block taken and freed again between them is new, and waits for the next.
// A purge with a limit takes the biggest blocks first and stops there.
KTEST(buddy_zone, purge_idle_blocks_and_limit)
{
    reclaim_hook_t old = buddy_set_reclaim_hook(NULL);
    ASSERT_EQ(t, purge_zone(SIZE_MAX), 0); // a hook that never runs: purges by hand
    const unsigned o = MAX_ORDER - 3;      // 2 MiB blocks, none of them buddies of another
    void *a = alloc_pages(GFP_KERNEL, o), *gap1 = alloc_pages(GFP_KERNEL, o);
    void *b = alloc_pages(GFP_KERNEL, o), *gap2 = alloc_pages(GFP_KERNEL, o);
    ASSERT(t, a && b && gap1 && gap2);
    free_pages(a, o);
    free_pages(b, o);
    EXPECT_EQ(t, buddy_purge(4, SIZE_MAX, true, count_only), 0); // marked, not discarded
    void *again = alloc_pages(GFP_KERNEL, o); // the hottest dirty block: b, touched again
    EXPECT_EQ(t, again, b);
    free_pages(again, o);
    EXPECT_EQ(t, buddy_purge(4, SIZE_MAX, true, count_only), 1UL << o); // a only
    EXPECT_EQ(t, discards, 1);
    EXPECT_EQ(t, page_is_free(a), true);
    EXPECT_EQ(t, buddy_purge(4, SIZE_MAX, true, count_only), 1UL << o); // b, idle now
    EXPECT_EQ(t, discards, 2);
    EXPECT_EQ(t, buddy_validate(), 0);
    // With a limit: the biggest dirty block first, then no more.
    free_pages(gap1, o); // merges with a: a dirty 4 MiB block
    void *small = alloc_pages(GFP_KERNEL, 4);
    memset(small, 1, PAGE_SIZE << 4);
    free_pages(small, 4);
    discarded = discards = 0;
    EXPECT_EQ(t, buddy_purge(4, 1, false, count_only), 2UL << o);
    EXPECT_EQ(t, discards, 1);
    EXPECT_EQ(t, buddy_validate(), 0);
    free_pages(gap2, o);
    buddy_set_purge_hook(NULL, 0, 0);
    runners_zone_back(t, old);
}
