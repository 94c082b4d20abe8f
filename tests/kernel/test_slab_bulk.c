// Self-tests of the bulk API and prefilled sheaves (mm/slab_bulk.c).
// Portable: kernel and host build alike.
#include <errno.h>
#include <string.h>

#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"
#include "mm/slab_internal.h" // kmem_cache_of

#define MANY 600 // more than any array holds: bulks cross refills and flushes

static size_t settle(void)
{
    slab_reclaim(GFP_KERNEL);
    return nr_free_pages();
}

static size_t live_objects(struct kmem_cache *c)
{
    struct kmem_cache_info in;
    kmem_cache_get_info(c, &in);
    return in.active_objs; // with callers: not in the slabs, not in any array
}

// n objects, each of c, each distinct; each gets a stamp, checked later.
static int check_objects(struct ktest *t, struct kmem_cache *c, void **p, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad += kmem_cache_of(p[i]) != c;
        for (size_t j = 0; j < i; j++)
            bad += p[j] == p[i];
        memset(p[i], (int)(i & 0xff), 64);
    }
    for (size_t i = 0; i < n; i++)
        bad += ((unsigned char *)p[i])[63] != (unsigned char)(i & 0xff);
    EXPECT_EQ(t, bad, 0);
    return bad;
}

KTEST(slab_bulk, alloc_and_free_every_count)
{
    static void *p[MANY];
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("bulk-64", 64, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    static const size_t counts[] = {1, 2, 7, 64, 119, 120, 121, 250, MANY};
    for (size_t k = 0; k < ARRAY_SIZE(counts); k++) {
        size_t n = counts[k];
        ASSERT_EQ(t, kmem_cache_alloc_bulk(c, GFP_KERNEL, n, p), (int)n);
        EXPECT_EQ(t, live_objects(c), n);
        check_objects(t, c, p, n);
        kmem_cache_free_bulk(c, n, p);
        EXPECT_EQ(t, live_objects(c), 0);
    }
    EXPECT_EQ(t, kmem_cache_alloc_bulk(c, GFP_KERNEL, 0, p), 0);
    ASSERT_EQ(t, kmem_cache_alloc_bulk(c, GFP_KERNEL | __GFP_ZERO, 10, p), 10);
    int nonzero = 0;
    for (int i = 0; i < 10; i++)
        for (int b = 0; b < 64; b++)
            nonzero += ((unsigned char *)p[i])[b] != 0;
    EXPECT_EQ(t, nonzero, 0);
    kmem_cache_free_bulk(NULL, 10, p); // each object's own cache
    EXPECT_EQ(t, live_objects(c), 0);
    EXPECT_EQ(t, slab_validate(c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, settle(), before);
}

// No memory for the whole count: 0, and nothing taken -- the objects it
// found before it ran out went back, and none is lost.
KTEST(slab_bulk, all_or_nothing)
{
    static void *p[MANY];
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("bulk-all", 200, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    ASSERT_EQ(t, kmem_cache_alloc_bulk(c, GFP_KERNEL, 30, p), 30); // some slabs and array
    kmem_cache_free_bulk(c, 30, p);
    struct kmem_cache_info in0, in1;
    kmem_cache_get_info(c, &in0);
    fault_fail_random(&fail_page_alloc, 1000000, 1); // every frame request fails
    int got = kmem_cache_alloc_bulk(c, GFP_KERNEL | __GFP_NOWARN, MANY, p);
    fault_disarm(&fail_page_alloc);
    EXPECT_EQ(t, got, 0);
    kmem_cache_get_info(c, &in1);
    // The failed grow reclaimed (empty slabs may be gone); nothing is held.
    EXPECT_EQ(t, in0.active_objs, 0);
    EXPECT_EQ(t, in1.active_objs, 0);
    EXPECT_EQ(t, slab_validate(c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, settle(), before);
}

// A bad object in the middle of a bulk free is reported, the others freed.
KTEST(slab_bulk, free_checks_each_object)
{
    static void *p[40];
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("bulk-chk", 96, 0, 0, NULL);
    struct kmem_cache *other = kmem_cache_create("bulk-other", 96, 0, 0, NULL);
    ASSERT(t, c && other);
    ASSERT_EQ(t, kmem_cache_alloc_bulk(c, GFP_KERNEL, 40, p), 40);
    void *foreign = kmem_cache_alloc(other, GFP_KERNEL), *mine = p[20];
    ASSERT_NE(t, foreign, NULL);
    p[20] = foreign;
    uint64_t e0 = slab_error_count();
    kmem_cache_free_bulk(c, 40, p);
    EXPECT_EQ(t, slab_error_count() - e0, 1);
    EXPECT_EQ(t, live_objects(c), 1); // mine, not freed
    EXPECT_EQ(t, live_objects(other), 1);
    void *twice[3] = {mine, mine, NULL};
    kmem_cache_free_bulk(c, 3, twice); // the second is a double free; NULL is ignored
    EXPECT_EQ(t, slab_error_count() - e0, 2);
    EXPECT_EQ(t, live_objects(c), 0);
    kmem_cache_free(other, foreign);
    EXPECT_EQ(t, slab_validate(c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(other), 0);
    EXPECT_EQ(t, settle(), before);
}

// kfree_bulk: kmalloc blocks of many sizes, large ones and NULLs among
// them, all freed.
KTEST(slab_bulk, kfree_bulk_mixed)
{
    static void *p[300];
    size_t before = settle();
    for (size_t i = 0; i < ARRAY_SIZE(p); i++) {
        size_t size = i % 50 == 0 ? 40000 : (i / 30) * 100 + 8; // runs of one size
        p[i] = i % 37 == 5 ? NULL : kmalloc(size, GFP_KERNEL);
        if (i % 37 != 5)
            ASSERT_NE(t, p[i], NULL);
    }
    uint64_t e0 = slab_error_count();
    kfree_bulk(ARRAY_SIZE(p), p);
    EXPECT_EQ(t, slab_error_count(), e0);
    EXPECT_EQ(t, slab_validate_all(), 0);
    EXPECT_EQ(t, settle(), before);
}

// A prefilled sheaf: count objects taken ahead; they come out of it even
// when no frame can be had; refilled past its capacity, it is replaced by
// a bigger one that keeps what it held.
KTEST(slab_bulk, prefilled_sheaf)
{
    static void *got[80];
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("sheaf-128", 128, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    struct slab_sheaf *sh = kmem_cache_prefill_sheaf(c, GFP_KERNEL, 50);
    ASSERT_NE(t, sh, NULL);
    EXPECT_EQ(t, kmem_cache_sheaf_size(sh), 50);
    EXPECT_EQ(t, live_objects(c), 50);
    EXPECT_EQ(t, kmem_cache_refill_sheaf(c, GFP_KERNEL, &sh, 30), 0); // holds more already
    EXPECT_EQ(t, kmem_cache_refill_sheaf(c, GFP_KERNEL, &sh, 80), 0); // past its capacity
    EXPECT_EQ(t, kmem_cache_sheaf_size(sh), 80);
    fault_fail_random(&fail_page_alloc, 1000000, 2); // no frame for anyone now
    for (int i = 0; i < 80; i++)
        got[i] = kmem_cache_alloc_from_sheaf(c, GFP_ATOMIC, sh);
    void *none = kmem_cache_alloc_from_sheaf(c, GFP_ATOMIC, sh);
    int refill = kmem_cache_refill_sheaf(c, GFP_KERNEL | __GFP_NOWARN, &sh, 1000);
    fault_disarm(&fail_page_alloc);
    EXPECT_EQ(t, none, NULL); // empty
    EXPECT_EQ(t, refill, -ENOMEM);
    EXPECT_EQ(t, kmem_cache_sheaf_size(sh), 0);
    int bad = 0;
    for (int i = 0; i < 80; i++) {
        bad += got[i] == NULL || kmem_cache_of(got[i]) != c;
        for (int j = 0; j < i; j++)
            bad += got[j] == got[i];
    }
    EXPECT_EQ(t, bad, 0);
    kmem_cache_free_bulk(c, 80, got);
    struct kmem_cache *other = kmem_cache_create("sheaf-other", 128, 0, 0, NULL);
    ASSERT_NE(t, other, NULL);
    EXPECT_EQ(t, kmem_cache_alloc_from_sheaf(other, GFP_KERNEL, sh), NULL); // not its sheaf
    EXPECT_EQ(t, kmem_cache_refill_sheaf(c, GFP_KERNEL, &sh, 5), 0);
    EXPECT_EQ(t, live_objects(c), 5);
    kmem_cache_return_sheaf(c, GFP_KERNEL, sh); // its objects go back with it
    EXPECT_EQ(t, live_objects(c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(other), 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, settle(), before);
}
