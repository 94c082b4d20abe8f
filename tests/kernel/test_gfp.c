// Self-tests of allocation contexts (mm/gfp.h): the zone's watermarks and
// which request may go how far below them, a may-wait request in atomic
// context reported once per call site and served as GFP_ATOMIC, and the
// zeroing and overflow-checked entries. Portable: the host runs them too.
#include <stdint.h>
#include <string.h>

#include "lib/ktest.h"
#include "lib/spinlock.h"
#include "mm/buddy.h"
#include "mm/slab.h"

#define GFP_ALL (GFP_KERNEL | __GFP_MEMALLOC | __GFP_NOWARN) // every free frame may go

static size_t settle(void)
{
    slab_reclaim(GFP_KERNEL);
    return nr_free_pages();
}

// Frames taken one at a time, chained through their first word.
static void *held;
static size_t nheld;

static size_t take_until_null(gfp_t gfp)
{
    size_t n = 0;
    void *p;
    while ((p = alloc_pages(gfp | __GFP_NOWARN, 0)) != NULL) {
        *(void **)p = held;
        held = p;
        n++;
    }
    nheld += n;
    return n;
}

static void give_back(void)
{
    while (held) {
        void *next = *(void **)held;
        free_pages(held, 0);
        held = next;
    }
    nheld = 0;
}

static size_t isqrt(size_t v)
{
    size_t r = 0;
    while ((r + 1) * (r + 1) <= v)
        r++;
    return r;
}

// min is sqrt(16 x KiB of RAM) KiB, 128 KiB to 64 MiB, at most 1/16 of the
// zone; low and high 5/4 and 3/2 of it; GFP_ATOMIC keeps a quarter.
KTEST(gfp, watermarks_follow_the_rule)
{
    struct buddy_watermarks w;
    buddy_get_watermarks(&w);
    size_t kib = nr_managed_pages() * (PAGE_SIZE / 1024);
    size_t min_kib = MIN(MAX(isqrt(16 * kib), (size_t)128), (size_t)65536);
    EXPECT_EQ(t, w.min, MIN(min_kib / (PAGE_SIZE / 1024), nr_managed_pages() / 16));
    EXPECT_GT(t, w.min, (size_t)0);
    EXPECT_EQ(t, w.low, w.min + w.min / 4);
    EXPECT_EQ(t, w.high, w.min + w.min / 2);
    EXPECT_EQ(t, w.atomic, w.min / 4);
}

// Memory taken frame by frame: GFP_KERNEL stops with exactly min frames
// free (after its reclaim found nothing more), GFP_NOWAIT there too;
// GFP_ATOMIC goes on down to a quarter of min; __GFP_MEMALLOC to none.
KTEST(gfp, each_request_stops_at_its_watermark)
{
    size_t before = settle();
    struct buddy_watermarks w;
    buddy_get_watermarks(&w);
    ASSERT_GT(t, before, w.min + 16);
    take_until_null(GFP_KERNEL);
    EXPECT_EQ(t, nr_free_pages(), w.min);
    EXPECT_EQ(t, take_until_null(GFP_NOWAIT), (size_t)0);
    EXPECT_EQ(t, nr_free_pages(), w.min);
    EXPECT_EQ(t, take_until_null(GFP_ATOMIC), w.min - w.atomic);
    EXPECT_EQ(t, nr_free_pages(), w.atomic);
    EXPECT_EQ(t, alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0), NULL);
    EXPECT_EQ(t, take_until_null(__GFP_MEMALLOC), w.atomic);
    EXPECT_EQ(t, nr_free_pages(), (size_t)0);
    EXPECT_EQ(t, nheld, before);
    give_back();
    EXPECT_EQ(t, settle(), before);
    EXPECT_EQ(t, buddy_validate(), 0);
}

static struct spinlock ctx_lock = SPINLOCK_INIT("t_gfp");

static void *pages_kernel(void) // one call site, called three times
{
    return alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0);
}

// Under a spin lock a GFP_KERNEL request may not wait: each is counted,
// the site is reported once, and it is served as GFP_ATOMIC -- so it gets
// a frame from the reserve that GFP_KERNEL itself may not touch, and its
// reclaim (slab_reclaim) stays on this cpu instead of cross-calling, which
// would panic here.
KTEST(gfp, kernel_request_under_spin_lock_is_reported_once_and_served_atomic)
{
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("t_gfp_ctx", 40, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    unsigned long r0 = gfp_context_reports(), s0 = gfp_context_sites();
    take_until_null(GFP_KERNEL); // down to min: only a reserve request gets more
    EXPECT_EQ(t, pages_kernel(), NULL);
    EXPECT_EQ(t, gfp_context_reports(), r0); // not atomic context: no report

    void *p[3];
    spin_lock(&ctx_lock);
    for (int i = 0; i < 3; i++)
        p[i] = pages_kernel();
    void *obj = kmem_cache_alloc(c, GFP_KERNEL); // a new cache: its array is made, a slab grown
    size_t got = slab_reclaim(GFP_KERNEL);
    spin_unlock(&ctx_lock);
    (void)got;

    for (int i = 0; i < 3; i++)
        EXPECT_NE(t, p[i], NULL);
    EXPECT_NE(t, obj, NULL);
    EXPECT_EQ(t, gfp_context_reports() - r0, 5UL); // 3 pages, the object, reclaim
    EXPECT_EQ(t, gfp_context_sites() - s0, 3UL);   // pages_kernel, kmem_cache_alloc, this test
    for (int i = 0; i < 3; i++)
        if (p[i])
            free_pages(p[i], 0);
    kmem_cache_free(c, obj);
    give_back();
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, settle(), before);
    EXPECT_EQ(t, buddy_validate(), 0);
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

// __GFP_ZERO zeroes what the array hands out again (the object just freed,
// full of a pattern), in every kind of block: small and mid classes, whole
// frames, a cache's object, pages, and krealloc's new tail.
KTEST(gfp, zero_means_zeroed)
{
    static const size_t sizes[] = {8, 100, 1024, 5000, 40000};
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        char *p = kmalloc(sizes[i], GFP_KERNEL);
        ASSERT_NE(t, p, NULL);
        memset(p, 0xa5, sizes[i]);
        kfree(p);
        char *q = kzalloc(sizes[i], GFP_KERNEL);
        ASSERT_NE(t, q, NULL);
        EXPECT(t, all_zero(q, ksize(q)));
        kfree(q);
    }
    struct kmem_cache *c = kmem_cache_create("t_gfp_zero", 200, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    char *o = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(t, o, NULL);
    memset(o, 0x5a, 200);
    kmem_cache_free(c, o);
    o = kmem_cache_zalloc(c, GFP_KERNEL);
    ASSERT_NE(t, o, NULL);
    EXPECT(t, all_zero(o, 200));
    kmem_cache_free(c, o);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);

    char *pg = alloc_pages(GFP_KERNEL, 1);
    ASSERT_NE(t, pg, NULL);
    memset(pg, 0x33, 2 * PAGE_SIZE);
    free_pages(pg, 1);
    pg = alloc_pages(GFP_KERNEL | __GFP_ZERO, 1);
    ASSERT_NE(t, pg, NULL);
    EXPECT(t, all_zero(pg, 2 * PAGE_SIZE));
    free_pages(pg, 1);

    char *r = kmalloc(64, GFP_KERNEL);
    ASSERT_NE(t, r, NULL);
    memset(r, 0x77, 64);
    r = krealloc(r, 3000, GFP_KERNEL | __GFP_ZERO);
    ASSERT_NE(t, r, NULL);
    EXPECT_EQ(t, (unsigned char)r[63], 0x77); // the old bytes kept
    EXPECT(t, all_zero(r + 64, 3000 - 64));
    kfree(r);
}

// kmalloc_array and kcalloc refuse a product that does not fit, taking
// nothing; in range, kcalloc zeroes.
KTEST(gfp, array_sizes_are_checked)
{
    size_t before = settle();
    EXPECT_EQ(t, kmalloc_array(SIZE_MAX / 2 + 1, 2, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kcalloc(SIZE_MAX / 8, 16, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kcalloc((size_t)1 << 33, (size_t)1 << 31, GFP_KERNEL), NULL);
    EXPECT_EQ(t, settle(), before);
    uint32_t *a = kmalloc_array(100, sizeof(uint32_t), GFP_KERNEL);
    ASSERT_NE(t, a, NULL);
    EXPECT_GE(t, ksize(a), 100 * sizeof(uint32_t));
    memset(a, 0xff, 400);
    kfree(a);
    uint32_t *z = kcalloc(100, sizeof(uint32_t), GFP_KERNEL);
    ASSERT_NE(t, z, NULL);
    EXPECT(t, all_zero(z, 400));
    kfree(z);
}
