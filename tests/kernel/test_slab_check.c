// Self-tests of checked frees (mm/slab_check.c): kfree_checked reports a
// pointer into an object and a double free however many frees came between
// and wherever the first free put the object (this cpu's array, or its
// slab once the arrays were drained), and never hands the object out
// twice; a live block whose bytes happen to hold the key is freed without
// a report; kmalloc_check_live tells a freed block from a live one; a slab_debug=H
// cache catches the same on its debug path. Portable: the host runs them
// too. Each block is of a size no other code here uses (200 bytes), so the
// cpu's array is the test's alone.
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lib/ktest.h"
#include "lib/sanitizer.h"
#include "mm/buddy.h"
#include "mm/slab.h"
#include "mm/slab_internal.h" // object_start

#define SIZE 200

static uint64_t errors_before;

static uint64_t reports(void)
{
    return slab_error_count() - errors_before;
}

static bool last_is(const char *title)
{
    return strcmp(slab_last_report(), title) == 0;
}

// A freed block's key word; its bytes are off limits to callers (ASan), and
// this read is meant.
static __attribute__((no_sanitize_address)) uint32_t key_word(const void *p)
{
    return ((const volatile uint32_t *)p)[1];
}

static void *fresh(void)
{
    return kmalloc_fresh(kmalloc(SIZE, GFP_KERNEL));
}

KTEST(slab_check, double_free_with_frees_between)
{
    errors_before = slab_error_count();
    void *a = fresh(), *b = fresh();
    ASSERT(t, a && b);
    kfree_checked(a);
    kfree_checked(b);
    EXPECT_EQ(t, reports(), 0);
    kfree_checked(a); // b is on top of the array: only the key finds a
    EXPECT_EQ(t, reports(), 1);
    EXPECT(t, last_is("double free"));
    void *x = fresh(), *y = fresh(), *z = fresh();
    ASSERT(t, x && y && z);
    EXPECT(t, x != y && y != z && x != z); // a is handed out once, not twice
    kfree_checked(x);
    kfree_checked(y);
    kfree_checked(z);
    EXPECT_EQ(t, reports(), 1);
}

// a back on its slab's free list: b, from the same slab, keeps the slab.
KTEST(slab_check, double_free_after_the_arrays_drained)
{
    errors_before = slab_error_count();
    void *got[32], *a = NULL, *b = NULL;
    int n = 0;
    while (n < 32 && b == NULL && (got[n] = fresh()) != NULL) {
        for (int k = 0; k < n && b == NULL; k++)
            if (((uintptr_t)got[k] >> PAGE_SHIFT) == ((uintptr_t)got[n] >> PAGE_SHIFT)) {
                a = got[k];
                b = got[n];
            }
        n++;
    }
    ASSERT_NE(t, b, NULL);
    for (int k = 0; k < n; k++)
        if (got[k] != b)
            kfree_checked(got[k]);
    kmem_cache_shrink(kmalloc_cache(SIZE)); // the array drained: a is on its slab's free list
    EXPECT_EQ(t, reports(), 0);
    kfree_checked(a);
    EXPECT_EQ(t, reports(), 1);
    EXPECT(t, last_is("double free"));
    kfree_checked(b);
    EXPECT_EQ(t, reports(), 1);
}

// The first free put a in a full sheaf that went to the barn (this cpu
// freed more than its two sheaves hold): the search looks there too.
KTEST(slab_check, double_free_of_a_block_in_the_barn)
{
    enum { N = 400 };
    static void *got[N];
    slab_reclaim(GFP_KERNEL); // no sheaves on this cpu, an empty barn
    errors_before = slab_error_count();
    struct kmem_cache_info in;
    kmem_cache_get_info(kmalloc_cache(SIZE), &in);
    if (in.limit == 0)
        KTEST_SKIP(t, "slab_debug is on: the class has no sheaves (its debug path checks frees)");
    int n = (int)MIN((size_t)N, 3 * (size_t)in.limit + 1);
    for (int i = 0; i < n; i++)
        ASSERT_NE(t, (got[i] = fresh()), NULL);
    for (int i = 0; i < n; i++)
        kfree_checked(got[i]);
    kmem_cache_get_info(kmalloc_cache(SIZE), &in);
    ASSERT_GT(t, in.barn_full, 0);
    EXPECT_EQ(t, reports(), 0);
    kfree_checked(got[0]); // the oldest sheaf, in the barn
    EXPECT_EQ(t, reports(), 1);
    EXPECT(t, last_is("double free"));
    int twice = 0;
    for (int i = 0; i < n; i++) {
        ASSERT_NE(t, (got[i] = fresh()), NULL);
        for (int j = 0; j < i; j++)
            twice += got[j] == got[i];
    }
    EXPECT_EQ(t, twice, 0); // a block is handed out once
    for (int i = 0; i < n; i++)
        kfree_checked(got[i]);
    EXPECT_EQ(t, reports(), 1);
}

KTEST(slab_check, pointer_into_an_object)
{
    errors_before = slab_error_count();
    char *p = fresh();
    ASSERT_NE(t, p, NULL);
    kfree_checked(p + 16);
    EXPECT_EQ(t, reports(), 1);
    EXPECT(t, last_is("pointer into an object"));
    char *q = fresh(); // p + 16 was not taken as a free block
    EXPECT(t, q != p + 16);
    kfree_checked(q);
    kfree_checked(p); // p itself is still live, and frees cleanly
    EXPECT_EQ(t, reports(), 1);
}

// A live block holding, by chance, the very key its free would write: the
// search finds it in no array and no free list, so the free goes ahead.
KTEST(slab_check, a_live_block_that_looks_freed)
{
    errors_before = slab_error_count();
    void *a = fresh();
    ASSERT_NE(t, a, NULL);
    kfree_checked(a);
    uint32_t key = key_word(a);
    uint32_t *b = fresh(); // the top of this cpu's array: a again, on a plain cache
    ASSERT_NE(t, b, NULL);
    EXPECT_EQ(t, b[1], 0); // kmalloc_fresh cleared it
    b[1] = key;
    kfree_checked(b);
    EXPECT_EQ(t, reports(), 0);
    void *c = fresh(), *d = fresh();
    ASSERT(t, c && d);
    EXPECT(t, c != d);
    kfree_checked(c);
    kfree_checked(d);
    EXPECT_EQ(t, reports(), 0);
}

KTEST(slab_check, live_or_freed)
{
    errors_before = slab_error_count();
    void *a = fresh(), *b = fresh();
    ASSERT(t, a && b);
    EXPECT(t, kmalloc_check_live(a, "realloc"));
    kfree_checked(a);
    EXPECT_EQ(t, reports(), 0);
    EXPECT(t, !kmalloc_check_live(a, "realloc"));
    EXPECT_EQ(t, reports(), 1);
    kfree_checked(b);
}

// krealloc frees the old block the checked way: freeing it again is caught.
KTEST(slab_check, krealloc_then_free_the_old_block)
{
    errors_before = slab_error_count();
    void *a = fresh();
    ASSERT_NE(t, a, NULL);
    void *b = krealloc(a, 4 * SIZE, GFP_KERNEL); // another class: moved
    ASSERT(t, b != NULL && b != a);
    kfree_checked(a);
    EXPECT_EQ(t, reports(), 1);
    EXPECT(t, last_is("double free"));
    kfree_checked(b);
    EXPECT_EQ(t, reports(), 1);
}

// A block krealloc moves into comes without a freed-object key, however
// few bytes it copies over it: else its owner's free would look like a
// double free (and search, and race with other cpus' arrays).
KTEST(slab_check, krealloc_into_a_freed_block)
{
    errors_before = slab_error_count();
    void *a = kmalloc(8, GFP_KERNEL);
    ASSERT_NE(t, a, NULL);
    kfree_checked(a); // on top of kmalloc-8's array, its key set
    uint32_t key = key_word(a);
    void *p = fresh();
    ASSERT_NE(t, p, NULL);
    uint32_t *q = krealloc(p, 3, GFP_KERNEL); // a quarter of the block or less: moved to kmalloc-8
    ASSERT(t, q != NULL && (void *)q != p);
    if ((void *)q == a) // nothing else took it meanwhile
        EXPECT_NE(t, q[1], key);
    kfree_checked(q);
    EXPECT_EQ(t, reports(), 0);
}

// slab_debug=H: a cache whose every free is checked on its debug path.
KTEST(slab_check, slab_debug_h)
{
    errors_before = slab_error_count();
    ASSERT_EQ(t, slab_debug_setup("slab_debug=H,t_check_h"), 0);
    struct kmem_cache *c = kmem_cache_create("t_check_h", 48, 0, 0, NULL);
    slab_debug_setup(ktest_args); // back to what the system booted with
    ASSERT_NE(t, c, NULL);
    struct kmem_cache_info in;
    kmem_cache_get_info(c, &in);
    EXPECT_EQ(t, in.flags & SLAB_DEBUG_FLAGS, SLAB_FREE_CHECKS);
    void *a = kmem_cache_alloc(c, GFP_KERNEL), *b = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT(t, a && b);
    kmem_cache_free(c, a);
    kmem_cache_free(c, b);
    kmem_cache_free(c, a);
    EXPECT_EQ(t, reports(), 1);
    EXPECT(t, last_is("double free"));
    char *p = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    kmem_cache_free(c, p + 8);
    EXPECT_EQ(t, reports(), 2);
    EXPECT(t, last_is("pointer into an object"));
    EXPECT_EQ(t, kmem_cache_destroy(c), -EBUSY); // p is still out
    kmem_cache_free(c, p);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, reports(), 2);
}

// object_start, the test every checked free makes, against the arithmetic
// it replaces: the bytes around every object's start and past both ends of
// a slab, and offsets spread over the rest, for sizes odd and even, small
// and large, powers of two and not.
KTEST(slab_check, object_start_is_exact)
{
    static const size_t sizes[] = {8,   24,   40,   56,   72,   100,  104,  192,  200,
                                   520, 1000, 1024, 2056, 3000, 4000, 4096, 5000, 12000};
    for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
        struct kmem_cache *c = kmem_cache_create("t_objstart", sizes[k], 0, 0, NULL);
        ASSERT_NE(t, c, NULL);
        char *o = kmem_cache_alloc(c, GFP_KERNEL);
        ASSERT_NE(t, o, NULL);
        const struct slab *s = READ_ONCE(pfn_to_page((uintptr_t)o >> PAGE_SHIFT)->slab);
        ASSERT_NE(t, s, NULL);
        // A plain cache's span is its objects'; a debug cache's (slab_debug=)
        // is 0, and no pointer is an object the checked free takes.
        size_t span = c->checked_span, bad = 0;
        EXPECT_EQ(t, span, (c->flags & SLAB_SLOW_FLAGS) ? 0 : (size_t)c->num * c->size);
        // Around every object's start (and the span's ends), and 4096
        // offsets spread over the rest.
        uint64_t rng = sizes[k];
        for (long j = 0; j <= (long)c->num + 1; j++)
            for (long d = -9; d <= 9; d++) {
                long off = (j - 1) * (long)c->size + d;
                bool want = off >= 0 && off < (long)span && off % (long)c->size == 0;
                bad += object_start(c, s->s_mem, s->s_mem + off) != want;
            }
        for (int r = 0; r < 4096; r++) {
            long off = (long)(ktest_rand(&rng) % (span + 128)) - 64;
            bool want = off >= 0 && off < (long)span && off % (long)c->size == 0;
            bad += object_start(c, s->s_mem, s->s_mem + off) != want;
        }
        EXPECT_EQ(t, bad, (size_t)0);
        kmem_cache_free(c, o);
        EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    }
}
