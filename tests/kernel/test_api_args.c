// Bad arguments to every public function of the slab layer: each gives a
// clear error (a return value, a report or a printk saying why) and changes
// nothing -- the same caches, the same free pages. Portable.
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"

struct state {
    size_t pages;
    unsigned caches;
    uint64_t reports;
};

static struct state now(void)
{
    slab_reclaim(GFP_KERNEL);
    return (struct state){nr_free_pages(), slab_nr_caches(), slab_error_count()};
}

#define EXPECT_UNCHANGED(t, st, new_reports)                                                       \
    do {                                                                                           \
        struct state n_ = now();                                                                   \
        EXPECT_EQ(t, n_.pages, (st).pages);                                                        \
        EXPECT_EQ(t, n_.caches, (st).caches);                                                      \
        EXPECT_EQ(t, n_.reports - (st).reports, (new_reports));                                    \
    } while (0)

static void expect_create_fails(struct ktest *t, const char *name, size_t size, size_t align,
                                unsigned long flags, int err)
{
    struct state st = now();
    EXPECT_EQ(t, kmem_cache_create(name, size, align, flags, NULL), NULL);
    EXPECT_EQ(t, slab_last_error(), err);
    EXPECT_UNCHANGED(t, st, 0); // an error return, not a report
}

KTEST(api_args, kmem_cache_create)
{
    struct kmem_cache *c = kmem_cache_create("t_args_dup", 32, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    expect_create_fails(t, "t_args_dup", 32, 0, 0, -EEXIST);
    expect_create_fails(t, NULL, 32, 0, 0, -EINVAL);
    expect_create_fails(t, "", 32, 0, 0, -ENAMETOOLONG);
    expect_create_fails(t, "exactly_thirty_two_characters_xx", 32, 0, 0, -ENAMETOOLONG);
    expect_create_fails(t, "t_args", 0, 0, 0, -EINVAL);
    expect_create_fails(t, "t_args", SIZE_MAX, 0, 0, -E2BIG);
    expect_create_fails(t, "t_args", KMALLOC_MAX_SIZE + 1, 0, 0, -E2BIG);
    expect_create_fails(t, "t_args", 32, 3, 0, -EINVAL);
    expect_create_fails(t, "t_args", 32, 48, 0, -EINVAL);
    expect_create_fails(t, "t_args", 32, KMALLOC_MAX_SIZE * 2, 0, -E2BIG);
    expect_create_fails(t, "t_args", 32, SIZE_MAX, 0, -EINVAL);
    expect_create_fails(t, "t_args", 32, 0, 1UL << 20, -EINVAL); // internal flag
    expect_create_fails(t, "t_args", 32, 0, 1UL << 40, -EINVAL);
    // Too big once red zones are added: no slab order holds it.
    expect_create_fails(t, "t_args", KMALLOC_MAX_SIZE, KMALLOC_MAX_SIZE, SLAB_RED_ZONE, -E2BIG);
    // slabinfo splits its columns at spaces: a name is one printable word.
    expect_create_fails(t, "two words", 32, 0, 0, -EINVAL);
    expect_create_fails(t, "tab\there", 32, 0, 0, -EINVAL);
    expect_create_fails(t, "bell\a", 32, 0, 0, -EINVAL);
    expect_create_fails(t, "caf\xc3\xa9", 32, 0, 0, -EINVAL);
    EXPECT_LT(t, slab_last_error(), 0);
    struct kmem_cache *ok = kmem_cache_create("thirty_one_characters_xxxxxxxxx", 32, 0, 0, NULL);
    EXPECT_NE(t, ok, NULL);
    EXPECT_EQ(t, slab_last_error(), 0); // a create that works clears the last error
    if (ok)
        EXPECT_EQ(t, kmem_cache_destroy(ok), 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
}

KTEST(api_args, null_cache)
{
    struct state st = now();
    void *p = kmalloc(64, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    EXPECT_EQ(t, kmem_cache_alloc(NULL, GFP_KERNEL), NULL);
    kmem_cache_free(NULL, p); // reported; p stays live
    EXPECT_EQ(t, kmem_cache_shrink(NULL), 0);
    EXPECT_EQ(t, kmem_cache_destroy(NULL), -EINVAL);
    EXPECT_EQ(t, slab_validate(NULL), -EINVAL); // printed, not a report
    struct kmem_cache_info in;
    kmem_cache_get_info(NULL, &in);
    EXPECT_EQ(t, in.total_objs, 0);
    EXPECT_EQ(t, ksize(p), 64); // still live
    kfree(p);
    EXPECT_UNCHANGED(t, st, 4);
}

// A destroyed cache is caught while its struct kmem_cache is not reused (no
// kmem_cache_create or reclaim in between): see kmem_cache_destroy.
KTEST(api_args, destroyed_cache)
{
    struct state st = now();
    struct kmem_cache *c = kmem_cache_create("t_args_gone", 64, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    void *p = kmem_cache_alloc(c, GFP_KERNEL);
    kmem_cache_free(c, p);
    void *k = kmalloc(64, GFP_KERNEL);
    ASSERT_NE(t, k, NULL);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    uint64_t r0 = slab_error_count();
    EXPECT_EQ(t, kmem_cache_alloc(c, GFP_KERNEL), NULL);
    EXPECT_EQ(t, slab_error_count() - r0, 1);
    kmem_cache_free(c, k); // k is kmalloc's and stays live
    EXPECT_EQ(t, slab_error_count() - r0, 2);
    kmem_cache_free(c, p); // p went with the cache
    EXPECT_EQ(t, slab_error_count() - r0, 3);
    EXPECT_EQ(t, kmem_cache_shrink(c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), -EINVAL);
    EXPECT_EQ(t, slab_error_count() - r0, 5);
    EXPECT_EQ(t, slab_validate(c), -EINVAL);
    EXPECT_EQ(t, ksize(k), 64);
    kfree(k);
    EXPECT_UNCHANGED(t, st, 5);
}

KTEST(api_args, kmalloc_family)
{
    struct state st = now();
    int local;
    EXPECT_EQ(t, kmalloc(0, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kmalloc(SIZE_MAX, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kmalloc(SIZE_MAX / 2, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kmalloc(((size_t)PAGE_SIZE << MAX_ORDER) + 1, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kmalloc_aligned(64, 0, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kmalloc_aligned(64, 3, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kmalloc_aligned(64, KMALLOC_MAX_SIZE * 2, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kmalloc_aligned(0, 64, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kmalloc_aligned(((size_t)PAGE_SIZE << MAX_ORDER) + 1, 2 * PAGE_SIZE, GFP_KERNEL),
              NULL);
    EXPECT_EQ(t, kmalloc_aligned(SIZE_MAX, 8, GFP_KERNEL), NULL);
    kfree(NULL);
    EXPECT_EQ(t, ksize(NULL), 0);
    EXPECT_UNCHANGED(t, st, 0);
    kfree(&local);                  // foreign
    EXPECT_EQ(t, ksize(&local), 0); // foreign
    void *p = kmalloc(100, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    kfree(p);
    // ksize of a freed object: only a debug cache knows an object's state.
    struct kmem_cache_info in;
    kmem_cache_get_info(kmalloc_cache(100), &in);
    bool debug = in.flags & SLAB_DEBUG_FLAGS;
    EXPECT_EQ(t, ksize(p), debug ? 0 : 104); // kmalloc-104
    EXPECT_UNCHANGED(t, st, debug ? 3 : 2);
}

KTEST(api_args, buddy_and_setup)
{
    struct state st = now();
    EXPECT_EQ(t, alloc_pages(GFP_KERNEL, MAX_ORDER + 1), NULL);
    EXPECT_EQ(t, alloc_frames(GFP_KERNEL, 0), NULL);
    EXPECT_EQ(t, alloc_frames(GFP_KERNEL, (1UL << MAX_ORDER) + 1), NULL);
    EXPECT_EQ(t, slab_debug_setup("slab_debug=ZX"), -EINVAL);
    EXPECT_EQ(t, slab_init(PAGE_SIZE, 3), -EINVAL);
    EXPECT_EQ(t, buddy_validate(), 0);
    EXPECT_UNCHANGED(t, st, 0);
}
