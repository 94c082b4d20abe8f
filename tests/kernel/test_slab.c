// Self-tests of the slab caches. Portable: they run in the kernel and in the
// host build (tests/host, under ASan/UBSan and TSan), using only lib/ and mm/.
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/ktest.h"
#include "lib/spinlock.h"
#include "mm/buddy.h"
#include "mm/slab.h"
#include "mm/slab_internal.h" // struct slab and bufctl_t: the geometry tests weigh them

// Every free frame, below the zone's min watermark too (__GFP_MEMALLOC),
// with no failure message: for tests that take them all on purpose.
#define GFP_ALL (GFP_KERNEL | __GFP_MEMALLOC | __GFP_NOWARN)

#define CANARY 0x736c616263616e79ULL // "slabcany"

// Empty every per-CPU array and free slab, then count free frames: the
// state every test starts from and must return to.
static size_t settle(void)
{
    slab_reclaim(GFP_KERNEL);
    return nr_free_pages();
}

static struct kmem_cache_info info_of(struct kmem_cache *c)
{
    struct kmem_cache_info in;
    kmem_cache_get_info(c, &in);
    return in;
}

// A cache with debug options (slab_debug= on the command line can give them
// to every cache) has red zones between objects and no per-CPU arrays, so
// tests of the plain layout and of batching do not apply to it.
static bool debugged(struct kmem_cache *c)
{
    return (info_of(c).flags & SLAB_DEBUG_FLAGS) != 0;
}

// A test of the per-CPU arrays on a cache slab_debug turned into a debug
// cache (which has none): the cache goes, and the test skips with why.
#define SKIP_IF_DEBUGGED(t, c, why)                                                                \
    do {                                                                                           \
        if (debugged(c)) {                                                                         \
            kmem_cache_destroy(c);                                                                 \
            KTEST_SKIP(t, why);                                                                    \
        }                                                                                          \
    } while (0)

static uint8_t pattern(uintptr_t obj, size_t k)
{
    return (uint8_t)((obj >> 3) * 31 + k * 7 + 1);
}

static void fill(void *obj, size_t n)
{
    for (size_t k = 0; k < n; k++)
        ((uint8_t *)obj)[k] = pattern((uintptr_t)obj, k);
}

static bool intact(const void *obj, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (((const uint8_t *)obj)[k] != pattern((uintptr_t)obj, k))
            return false;
    return true;
}

KTEST(slab, init_rejects_bad_args)
{
    EXPECT_EQ(t, slab_init(PAGE_SIZE * 2, 64), -EINVAL);
    EXPECT_EQ(t, slab_init(PAGE_SIZE, 48), -EINVAL);
    EXPECT_EQ(t, slab_init(PAGE_SIZE, 0), -EINVAL);
    EXPECT_EQ(t, slab_init(PAGE_SIZE, PAGE_SIZE * 2), -EINVAL);
    void *p = kmalloc(100, GFP_KERNEL); // and nothing was reset
    EXPECT_NE(t, p, NULL);
    kfree(p);
}

KTEST(slab, create_rejects_bad_args)
{
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("t_dup", 32, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    EXPECT_EQ(t, kmem_cache_create("t_dup", 64, 0, 0, NULL), NULL);
    EXPECT_EQ(t, slab_last_error(), -EEXIST);
    EXPECT_EQ(t, kmem_cache_create("kmalloc-64", 64, 0, 0, NULL), NULL);
    EXPECT_EQ(t, slab_last_error(), -EEXIST);
    EXPECT_EQ(t, kmem_cache_create(NULL, 32, 0, 0, NULL), NULL);
    EXPECT_EQ(t, slab_last_error(), -EINVAL);
    EXPECT_EQ(t, kmem_cache_create("a_name_that_is_far_too_long_for_a_cache", 32, 0, 0, NULL),
              NULL);
    EXPECT_EQ(t, slab_last_error(), -ENAMETOOLONG);
    EXPECT_EQ(t, kmem_cache_create("t_zero", 0, 0, 0, NULL), NULL);
    EXPECT_EQ(t, slab_last_error(), -EINVAL);
    EXPECT_EQ(t, kmem_cache_create("t_align3", 32, 3, 0, NULL), NULL);
    EXPECT_EQ(t, slab_last_error(), -EINVAL);
    EXPECT_EQ(t, kmem_cache_create("t_huge", KMALLOC_MAX_SIZE + 1, 0, 0, NULL), NULL);
    EXPECT_EQ(t, slab_last_error(), -E2BIG);
    EXPECT_EQ(t, kmem_cache_create("t_hugealign", 8, KMALLOC_MAX_SIZE * 2, 0, NULL), NULL);
    EXPECT_EQ(t, slab_last_error(), -E2BIG);
    EXPECT_EQ(t, kmem_cache_create("t_flags", 8, 0, 1UL << 30, NULL), NULL);
    EXPECT_EQ(t, slab_last_error(), -EINVAL);
    EXPECT_EQ(t, kmem_cache_destroy(kmalloc_cache(64)), -EPERM); // kmalloc's own: kept
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    c = kmem_cache_create("t_dup", 64, 0, 0, NULL); // the name is free again
    EXPECT_NE(t, c, NULL);
    if (c)
        EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, settle(), before); // failed creates left nothing behind
}

struct test_proc {
    int pid;
    char name[20];
    struct test_proc *parent;
} __attribute__((aligned(64)));

static int proc_ctor_calls;

static void proc_ctor(void *p)
{
    struct test_proc *tp = p;
    tp->pid = -1;
    __atomic_add_fetch(&proc_ctor_calls, 1, __ATOMIC_RELAXED);
}

KTEST(slab, kmem_cache_macro)
{
    struct kmem_cache *c = KMEM_CACHE(test_proc, 0, proc_ctor);
    ASSERT_NE(t, c, NULL);
    struct kmem_cache_info in = info_of(c);
    EXPECT_EQ(t, strcmp(in.name, "test_proc"), 0);
    EXPECT_EQ(t, in.object_size, sizeof(struct test_proc));
    EXPECT_EQ(t, in.align, 64);
    struct test_proc *p = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    EXPECT_EQ(t, (uintptr_t)p % 64, 0);
    EXPECT_EQ(t, p->pid, -1); // constructed
    kmem_cache_free(c, p);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
}

// The constructor runs once for each object laid out in a new slab, never on
// the way through the per-CPU arrays: objects come back constructed.
static int ctor_calls;

static void pattern_ctor(void *obj)
{
    __atomic_add_fetch(&ctor_calls, 1, __ATOMIC_RELAXED);
    memset(obj, 0xc7, 48);
}

KTEST(slab, ctor_once_per_object)
{
    ctor_calls = 0;
    struct kmem_cache *c = kmem_cache_create("t_ctor", 48, 0, 0, pattern_ctor);
    ASSERT_NE(t, c, NULL);
    unsigned num = info_of(c).num;
    enum { MAXN = 2048 };
    static void *objs[MAXN];
    unsigned n = MIN(3 * num + 5, (unsigned)MAXN);
    for (unsigned i = 0; i < n; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        ASSERT_NE(t, objs[i], NULL);
        uint8_t *b = objs[i];
        EXPECT(t, b[0] == 0xc7 && b[47] == 0xc7);
    }
    struct kmem_cache_info in = info_of(c);
    EXPECT_EQ(t, ctor_calls, in.grows * in.num); // every object laid out, once
    EXPECT_EQ(t, ctor_calls, in.total_objs);
    int calls = ctor_calls;
    kmem_cache_free(c, objs[n - 1]);
    void *again = kmem_cache_alloc(c, GFP_KERNEL); // LIFO: the same object, not constructed anew
    EXPECT_EQ(t, again, objs[n - 1]);
    EXPECT_EQ(t, ctor_calls, calls);
    for (unsigned i = 0; i < n; i++)
        kmem_cache_free(c, objs[i]);
    in = info_of(c);
    EXPECT_EQ(t, ctor_calls, in.grows * in.num);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
}

// Every object gets its own bytes: fill all, then check all, then free half
// in a shuffled order, reallocate, and check the survivors again.
KTEST(slab, patterns_no_overlap)
{
    enum { N = 1500, SZ = 40 };
    static uint8_t *objs[N];
    struct kmem_cache *c = kmem_cache_create("t_pattern", SZ, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    for (int i = 0; i < N; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        ASSERT_NE(t, objs[i], NULL);
        struct page *pg = virt_to_page(objs[i]);
        EXPECT(t, pg && (page_flags(pg) & PG_slab) && pg->slab_cache == c);
        fill(objs[i], SZ);
    }
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += !intact(objs[i], SZ);
    EXPECT_EQ(t, bad, 0);
    uint64_t rng = 42;
    for (int i = N - 1; i > 0; i--) { // shuffle
        int j = ktest_rand(&rng) % (i + 1);
        uint8_t *x = objs[i];
        objs[i] = objs[j];
        objs[j] = x;
    }
    for (int i = 0; i < N / 2; i++)
        kmem_cache_free(c, objs[i]);
    for (int i = 0; i < N / 2; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        ASSERT_NE(t, objs[i], NULL);
        fill(objs[i], SZ);
    }
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += !intact(objs[i], SZ);
    EXPECT_EQ(t, bad, 0);
    EXPECT_EQ(t, info_of(c).active_objs, N);
    for (int i = 0; i < N; i++)
        kmem_cache_free(c, objs[i]);
    EXPECT_EQ(t, info_of(c).active_objs, 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
}

// The share of what a slab costs (its frames and an off-slab descriptor's
// object) that holds objects' strides, in tenths of a percent.
static size_t used_permille(const struct kmem_cache_info *in)
{
    return (size_t)in->num * in->size * 1000 / ((PAGE_SIZE << in->order) + in->desc_bytes);
}

// Does 2^order frames, laid out either way, waste under 1/8? (What the
// cache's geometry weighs; struct slab is its descriptor.)
static bool order_would_do(const struct kmem_cache_info *in, unsigned order)
{
    size_t bytes = PAGE_SIZE << order, on = ALIGN_UP(sizeof(struct slab), in->align);
    size_t num_on = bytes > on ? (bytes - on) / in->size : 0, num_off = bytes / in->size;
    struct kmem_cache_info d;
    kmem_cache_get_info(kmalloc_cache(sizeof(struct slab)), &d);
    bool on_ok = num_on && (bytes - num_on * in->size) * 8 < bytes;
    bool off_ok = num_off && (bytes + d.size - num_off * in->size) * 8 < bytes + d.size;
    return on_ok || off_ok;
}

// Every stride from 8 bytes to 16 KiB with every alignment from 8 to 4096
// (a cache's geometry depends on nothing else): the parts of a slab add up,
// at least 7/8 of what it costs holds objects, and no smaller order would
// have done. A few real caches agree with kmem_cache_layout. The worst case
// per alignment is printed.
KTEST(slab, geometry_every_size_and_align)
{
    int bad = 0;
    printk("# align  worst stride  used   largest order  off-slab\n");
    for (size_t align = 8; align <= PAGE_SIZE; align *= 2) {
        size_t worst = 1000, worst_size = 0, off = 0, n = 0;
        unsigned max_order = 0;
        for (size_t size = 8; size <= 16384; size += 8) {
            struct kmem_cache_info in;
            if (kmem_cache_layout(size, align, 0, NULL, &in) != 0) {
                bad++;
                continue;
            }
            size_t bytes = PAGE_SIZE << in.order, u = used_permille(&in);
            int b = in.mgmt + (size_t)in.num * in.size + in.waste != bytes;
            b += in.size != ALIGN_UP(size, align) || u < 875;
            for (unsigned o = 0; o < in.order; o++)
                b += order_would_do(&in, o);
            if (b && bad < 5)
                printk("# size %zu align %zu: order %u num %u waste %zu desc %zu used %zu.%zu%%\n",
                       size, align, in.order, in.num, in.waste, in.desc_bytes, u / 10, u % 10);
            bad += b;
            if (u < worst)
                worst = u, worst_size = in.size;
            max_order = MAX(max_order, in.order);
            off += in.off_slab;
            n++;
        }
        printk("# %5zu  %12zu  %zu.%zu%%  %13u  %zu of %zu\n", align, worst_size, worst / 10,
               worst % 10, max_order, off, n);
    }
    EXPECT_EQ(t, bad, 0);
    static const size_t sizes[] = {8, 24, 100, 700, 3000, 5000, 12000};
    for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
        struct kmem_cache *c = kmem_cache_create("t_geom", sizes[k], 0, 0, NULL);
        ASSERT_NE(t, c, NULL);
        struct kmem_cache_info real = info_of(c), est;
        EXPECT_EQ(t, kmem_cache_layout(sizes[k], 0, 0, NULL, &est), 0);
        if (!(real.flags & SLAB_DEBUG_FLAGS)) // slab_debug= changes real caches only
            EXPECT(t, real.order == est.order && real.num == est.num && real.size == est.size &&
                          real.off_slab == est.off_slab && real.waste == est.waste);
        EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    }
    struct kmem_cache_info in;
    EXPECT_EQ(t, kmem_cache_layout(0, 0, 0, NULL, &in), -EINVAL);
    EXPECT_EQ(t, kmem_cache_layout(8, 3, 0, NULL, &in), -EINVAL);
    EXPECT_EQ(t, kmem_cache_layout(KMALLOC_MAX_SIZE + 1, 0, 0, NULL, &in), -EINVAL);
}

static void nop_ctor(void *p)
{
    (void)p;
}

// A cache with a constructor keeps its free objects constructed, so the
// free chain's link takes a word past each object (as SLUB's free pointer
// does): 7/8 still holds from 64-byte objects up. Printed for a few sizes.
KTEST(slab, geometry_with_a_ctor)
{
    static const size_t sizes[] = {8, 32, 64, 100, 256, 1000, 4096};
    for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
        struct kmem_cache_info in;
        ASSERT_EQ(t, kmem_cache_layout(sizes[k], 0, 0, nop_ctor, &in), 0);
        size_t u =
            (size_t)in.num * in.object_size * 1000 / ((PAGE_SIZE << in.order) + in.desc_bytes);
        printk("# ctor, %4zu-byte objects: stride %zu, %u a slab, %zu.%zu%% used\n", sizes[k],
               in.size, in.num, u / 10, u % 10);
        EXPECT_GE(t, in.size, sizes[k] + sizeof(bufctl_t));
        if (sizes[k] >= 64)
            EXPECT_GE(t, u, 875);
    }
}

// Consecutive new slabs put their first object colour_off bytes further in,
// wrapping after `colour` slabs. Slabs are aligned to their size (buddy
// blocks), so the slab of an object is its address rounded down.
static void check_colours(struct ktest *t, const char *name, size_t size)
{
    struct kmem_cache *c = kmem_cache_create(name, size, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    struct kmem_cache_info in = info_of(c);
    ASSERT_GE(t, in.colour, 3);
    enum { MAXS = 40 };
    uintptr_t base[MAXS], first[MAXS];
    unsigned nslabs = MIN(2 * in.colour + 1, (unsigned)MAXS), seen = 0;
    size_t slab_bytes = PAGE_SIZE << in.order, n = (size_t)nslabs * in.num;
    static void *objs[4096];
    ASSERT_LE(t, n, ARRAY_SIZE(objs));
    for (size_t i = 0; i < n; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        ASSERT_NE(t, objs[i], NULL);
        uintptr_t b = (uintptr_t)objs[i] & ~(slab_bytes - 1), off = (uintptr_t)objs[i] - b;
        unsigned k = 0;
        while (k < seen && base[k] != b)
            k++;
        if (k == seen) { // a new slab: slabs appear in the order they were made
            ASSERT_LT(t, seen, MAXS);
            base[seen] = b;
            first[seen++] = off;
        }
        first[k] = MIN(first[k], off);
    }
    EXPECT_EQ(t, seen, nslabs);
    for (unsigned k = 0; k < seen; k++)
        EXPECT_EQ(t, first[k] - in.mgmt, (k % in.colour) * in.colour_off);
    printk("# %s: %u colours of %u bytes; slab %u starts at %zu\n", name, in.colour, in.colour_off,
           seen - 1, (size_t)first[seen - 1]);
    for (size_t i = 0; i < n; i++)
        kmem_cache_free(c, objs[i]);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
}

KTEST(slab, colour_cycles_and_wraps)
{
    // An off-slab layout is chosen only when the descriptor would cost an
    // object, so its tail is under a line: one colour. These two are on-slab.
    check_colours(t, "t_colour_o1", 700); // order 1: 11 objects of 704, 448 bytes left
    check_colours(t, "t_colour_o0", 416); // order 0: 9 objects, 312 bytes left
}

// Every object aligned as asked, for align 1 .. 4 pages, small and big objects.
KTEST(slab, alignment_1_to_16k)
{
    static const size_t sizes[] = {1, 24, 200, 600, 5000};
    static void *objs[1024];
    size_t before = settle();
    for (size_t align = 1; align <= 4 * PAGE_SIZE; align *= 2) {
        for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
            char name[32];
            snprintf(name, sizeof(name), "t_al_%zu_%zu", align, sizes[s]);
            struct kmem_cache *c = kmem_cache_create(name, sizes[s], align, 0, NULL);
            ASSERT_NE(t, c, NULL);
            struct kmem_cache_info in = info_of(c);
            size_t n = MIN(2 * (size_t)in.num + 3, ARRAY_SIZE(objs));
            int misaligned = 0;
            for (size_t i = 0; i < n; i++) {
                objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
                ASSERT_NE(t, objs[i], NULL);
                misaligned += (uintptr_t)objs[i] % align != 0 || (uintptr_t)objs[i] % 8 != 0;
                fill(objs[i], sizes[s]);
            }
            EXPECT_EQ(t, misaligned, 0);
            EXPECT(t, in.align >= align && in.size % in.align == 0);
            for (size_t i = 0; i < n; i++) {
                EXPECT(t, intact(objs[i], sizes[s]));
                kmem_cache_free(c, objs[i]);
            }
            EXPECT_EQ(t, kmem_cache_destroy(c), 0);
        }
    }
    EXPECT_EQ(t, settle(), before);
}

// kfree and kmem_cache_free find the cache and slab through struct page: no
// walk over the slab lists, however many slabs there are.
KTEST(slab, kfree_finds_cache_through_struct_page)
{
    enum { N = 4000 };
    static void *objs[N];
    struct kmem_cache *c = kmem_cache_create("t_o1", 64, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    for (int i = 0; i < N; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        ASSERT_NE(t, objs[i], NULL);
        struct page *pg = virt_to_page(objs[i]);
        EXPECT(t, pg && (page_flags(pg) & PG_slab) && pg->slab_cache == c && pg->slab != NULL);
    }
    struct kmem_cache_info in = info_of(c);
    EXPECT_GE(t, in.total_slabs, N / in.num);
    for (int i = 0; i < N; i++) {
        if (i % 2)
            kfree(objs[i]);
        else
            kmem_cache_free(c, objs[i]);
    }
    struct kmem_cache_info out = info_of(c);
    EXPECT_EQ(t, out.list_scans, in.list_scans); // none
    EXPECT_EQ(t, out.active_objs, 0);
    EXPECT_EQ(t, out.errors, 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
}

// When a slab's frames go back to the buddy allocator, the slab is on none
// of its cache's lists and its struct pages no longer name it.
static struct kmem_cache *watched;
static int released, release_bad;
static size_t released_pages;

static void release_watch(struct kmem_cache *c, void *base, unsigned order)
{
    if (c != watched)
        return;
    released++;
    released_pages += 1UL << order;
    struct page *pg = virt_to_page(base);
    for (size_t k = 0; k < (1UL << order); k++)
        if ((page_flags(&pg[k]) & PG_slab) || pg[k].slab_cache || pg[k].slab)
            release_bad++;
    if (slab_on_lists(c, base))
        release_bad++;
}

static void check_release(struct ktest *t, const char *name, size_t size)
{
    enum { N = 1000 };
    static void *objs[N];
    watched = kmem_cache_create(name, size, 0, 0, NULL);
    ASSERT_NE(t, watched, NULL);
    released = release_bad = 0;
    released_pages = 0;
    slab_release_hook = release_watch;
    size_t n = MIN((size_t)N, 12 * (size_t)info_of(watched).num);
    for (size_t i = 0; i < n; i++)
        ASSERT_NE(t, (objs[i] = kmem_cache_alloc(watched, GFP_KERNEL)), NULL);
    for (size_t i = 0; i < n; i++) // some slabs go back here (beyond free_limit)
        kmem_cache_free(watched, objs[i]);
    size_t free_before = nr_free_pages();
    size_t shrunk = kmem_cache_shrink(watched); // and the rest here
    EXPECT_EQ(t, nr_free_pages() - free_before, shrunk);
    slab_release_hook = NULL;
    struct kmem_cache_info in = info_of(watched);
    EXPECT_EQ(t, in.total_slabs, 0);
    EXPECT_EQ(t, (uint64_t)released, in.grows);
    EXPECT_EQ(t, released_pages, in.grows << in.order);
    EXPECT_EQ(t, release_bad, 0);
    EXPECT_EQ(t, kmem_cache_destroy(watched), 0);
}

KTEST(slab, slab_unlinked_before_release)
{
    check_release(t, "t_rel_on", 256);   // on-slab descriptor
    check_release(t, "t_rel_off", 1000); // off-slab descriptor
}

KTEST(slab, destroy_refuses_live_objects)
{
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("t_busy", 100, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    void *a = kmem_cache_alloc(c, GFP_KERNEL), *b = kmem_cache_alloc(c, GFP_KERNEL),
         *d = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT(t, a && b && d);
    EXPECT_EQ(t, kmem_cache_destroy(c), -EBUSY);
    EXPECT_EQ(t, info_of(c).active_objs, 3);
    fill(a, 100);
    void *e = kmem_cache_alloc(c, GFP_KERNEL); // still a working cache
    EXPECT_NE(t, e, NULL);
    EXPECT(t, intact(a, 100));
    kmem_cache_free(c, a);
    kmem_cache_free(c, b);
    kmem_cache_free(c, e);
    EXPECT_EQ(t, kmem_cache_destroy(c), -EBUSY); // d is still out
    kmem_cache_free(c, d);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, settle(), before);
}

// Nothing handed out twice: 2*num fresh objects of c are all different
// from `live` and hold what was written into them.
static void no_duplicates(struct ktest *t, struct kmem_cache *c, void *live)
{
    enum { MAXN = 1024 };
    static void *objs[MAXN];
    unsigned n = MIN(2 * info_of(c).num, (unsigned)MAXN), dup = 0;
    for (unsigned i = 0; i < n; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        ASSERT_NE(t, objs[i], NULL);
        dup += objs[i] == live;
        *(uint64_t *)objs[i] = CANARY ^ i;
    }
    for (unsigned i = 0; i < n; i++)
        dup += *(uint64_t *)objs[i] != (CANARY ^ i);
    EXPECT_EQ(t, dup, 0);
    for (unsigned i = 0; i < n; i++)
        kmem_cache_free(c, objs[i]);
}

// What every cache checks (what Linux checks with its freelist hardening):
// a pointer in no slab, a frame of another cache, the object on top of this
// cpu's array freed again. Each is reported exactly once and changes nothing.
KTEST(slab, bad_frees_reported_once)
{
    struct kmem_cache *a = kmem_cache_create("t_bad_a", 64, 0, 0, NULL);
    struct kmem_cache *b = kmem_cache_create("t_bad_b", 64, 0, 0, NULL);
    ASSERT(t, a && b);
    void *x = kmem_cache_alloc(a, GFP_KERNEL), *y = kmem_cache_alloc(a, GFP_KERNEL),
         *z = kmem_cache_alloc(a, GFP_KERNEL);
    ASSERT(t, x && y && z);
    struct buddy_stats bs0, bs1;
    buddy_get_stats(&bs0);
    uint64_t e0 = slab_error_count();
    int local;
    void *page = alloc_pages(GFP_KERNEL, 0);
    ASSERT_NE(t, page, NULL);

    kmem_cache_free(b, x); // wrong cache
    EXPECT_EQ(t, slab_error_count() - e0, 1);
    kfree(&local); // not from the slab layer (stack)
    EXPECT_EQ(t, slab_error_count() - e0, 2);
    kfree(page); // a buddy page
    EXPECT_EQ(t, slab_error_count() - e0, 3);
    kmem_cache_free(a, &local);
    EXPECT_EQ(t, slab_error_count() - e0, 4);
    kmem_cache_free(a, z);
    kmem_cache_free(a, z); // double free, z on top of this cpu's array
    EXPECT_EQ(t, slab_error_count() - e0, 5);
    kfree(x);
    kfree(x); // the same through kfree
    EXPECT_EQ(t, slab_error_count() - e0, 6);
    EXPECT_EQ(t, info_of(a).errors, 3); // a's: the double frees and the stack pointer
    EXPECT_EQ(t, info_of(b).errors, 1);

    buddy_get_stats(&bs1);
    EXPECT_EQ(t, bs1.bad_frees, bs0.bad_frees); // nothing reached the buddy allocator
    EXPECT_EQ(t, free_pages(page, 0), 0);
    EXPECT_EQ(t, info_of(a).active_objs, 1); // y
    EXPECT_EQ(t, info_of(b).active_objs, 0);
    no_duplicates(t, a, y);
    kmem_cache_free(a, y);
    EXPECT_EQ(t, slab_error_count() - e0, 6);
    EXPECT_EQ(t, slab_validate(a), 0);
    EXPECT_EQ(t, kmem_cache_destroy(a), 0);
    EXPECT_EQ(t, kmem_cache_destroy(b), 0);
}

// With SLAB_CONSISTENCY (slab_debug=F) a cache checks every free in full:
// besides the above, a pointer into an object or into the slab's own
// descriptor, an object never handed out, and a double free of an object
// already back in its slab.
KTEST(slab, consistency_checks_every_free)
{
    struct kmem_cache *a = kmem_cache_create("t_bad_f", 64, 0, SLAB_CONSISTENCY, NULL);
    ASSERT_NE(t, a, NULL);
    void *x = kmem_cache_alloc(a, GFP_KERNEL), *y = kmem_cache_alloc(a, GFP_KERNEL);
    ASSERT(t, x && y && virt_to_page(x)->slab == virt_to_page(y)->slab);
    struct kmem_cache_info in = info_of(a);
    uint64_t e0 = slab_error_count();
    char *lo = (char *)MIN((uintptr_t)x, (uintptr_t)y),
         *hi = (char *)MAX((uintptr_t)x, (uintptr_t)y);

    kfree((char *)x + 8); // interior pointer
    EXPECT_EQ(t, slab_error_count() - e0, 1);
    kfree((void *)((uintptr_t)x & ~(PAGE_SIZE - 1))); // the slab's own descriptor
    EXPECT_EQ(t, slab_error_count() - e0, 2);
    void *never = hi + in.size; // the next object: still free in the slab
    ASSERT_EQ(t, virt_to_page(never)->slab, virt_to_page(x)->slab);
    kmem_cache_free(a, never);
    EXPECT_EQ(t, slab_error_count() - e0, 3);
    kmem_cache_free(a, lo);
    kmem_cache_free(a, hi);
    kmem_cache_free(a, lo); // double free, lo back in its slab
    EXPECT_EQ(t, slab_error_count() - e0, 4);
    EXPECT_EQ(t, info_of(a).errors, 4);
    EXPECT_EQ(t, info_of(a).active_objs, 0);
    no_duplicates(t, a, NULL);
    EXPECT_EQ(t, slab_error_count() - e0, 4);
    EXPECT_EQ(t, slab_validate(a), 0);
    EXPECT_EQ(t, kmem_cache_destroy(a), 0);
}

// Freed objects stay in empty slabs only up to free_limit; the rest of the
// pages go back to the buddy allocator without anyone calling shrink.
KTEST(slab, free_limit_returns_pages)
{
    enum { N = 3000 };
    static void *objs[N];
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("t_limit", 256, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    for (int i = 0; i < N; i++)
        ASSERT_NE(t, (objs[i] = kmem_cache_alloc(c, GFP_KERNEL)), NULL);
    for (int i = 0; i < N; i++)
        kmem_cache_free(c, objs[i]);
    struct kmem_cache_info in = info_of(c);
    EXPECT_LE(t, in.free_slabs, in.free_limit);
    EXPECT_GT(t, in.reaped, 0);
    // What is left: free slabs kept, and slabs holding cached objects: this
    // cpu's array and spare, and the full sheaves the barn keeps.
    EXPECT_LE(t, in.barn_full, in.barn_max);
    EXPECT_LE(t, in.total_slabs, in.free_limit + (2 + in.barn_max) * in.limit / in.num + 3);
    EXPECT_EQ(t, in.active_objs, 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, settle(), before);
}

// All cpus allocate from one cache and free each other's objects.
#define SMP_PER   400
#define SMP_SLOTS 64
#define SMP_WORDS 8 // 64-byte objects, all words checked

struct smp_ctx {
    struct ktest *t;
    struct kmem_cache *c;
    int ncpu;
    uint64_t *objs[NCPU][SMP_PER];
    uint64_t *slots[SMP_SLOTS];
    int iters;
};

static void stamp(uint64_t *o, int cpu)
{
    for (int w = 0; w < SMP_WORDS; w++)
        o[w] = (CANARY ^ (uintptr_t)o) + w + ((uint64_t)cpu << 56);
}

static bool stamped(const uint64_t *o, int *cpu)
{
    *cpu = (int)((o[0] - (CANARY ^ (uintptr_t)o)) >> 56);
    for (int w = 0; w < SMP_WORDS; w++)
        if (o[w] != (CANARY ^ (uintptr_t)o) + w + ((uint64_t)*cpu << 56))
            return false;
    return true;
}

static void smp_alloc(void *arg)
{
    struct smp_ctx *x = arg;
    int me = cpu_id();
    for (int i = 0; i < SMP_PER; i++) {
        x->objs[me][i] = kmem_cache_alloc(x->c, GFP_KERNEL);
        if (x->objs[me][i] == NULL) {
            ktest_fail(x->t, __FILE__, __LINE__, "alloc failed");
            return;
        }
        stamp(x->objs[me][i], me);
    }
}

static void smp_free_neighbour(void *arg)
{
    struct smp_ctx *x = arg;
    int from = (cpu_id() + 1) % x->ncpu, who;
    for (int i = 0; i < SMP_PER; i++) {
        uint64_t *o = x->objs[from][i];
        if (o == NULL)
            continue;
        if (!stamped(o, &who) || who != from)
            ktest_fail(x->t, __FILE__, __LINE__, "object %p of cpu %d overwritten", (void *)o,
                       from);
        kmem_cache_free(x->c, o);
    }
}

// Pass objects between cpus through shared slots while all of them run.
static void smp_exchange(void *arg)
{
    struct smp_ctx *x = arg;
    int me = cpu_id(), who;
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (me + 1);
    for (int it = 0; it < x->iters; it++) {
        uint64_t r = ktest_rand(&rng);
        uint64_t *o = NULL;
        if (r & 1) {
            o = kmem_cache_alloc(x->c, GFP_KERNEL);
            if (o == NULL) {
                ktest_fail(x->t, __FILE__, __LINE__, "alloc failed");
                return;
            }
            stamp(o, me);
        }
        o = __atomic_exchange_n(&x->slots[(r >> 8) % SMP_SLOTS], o, __ATOMIC_ACQ_REL);
        if (o) {
            if (!stamped(o, &who))
                ktest_fail(x->t, __FILE__, __LINE__, "object %p overwritten", (void *)o);
            kmem_cache_free(x->c, o);
        }
    }
}

KTEST(slab, all_cpus_free_each_others_objects)
{
    static struct smp_ctx x;
    size_t before = settle();
    memset(&x, 0, sizeof(x));
    x.t = t;
    x.ncpu = ncpu_online();
    x.iters = 20000;
    x.c = kmem_cache_create("t_smp", SMP_WORDS * 8, 0, 0, NULL);
    ASSERT_NE(t, x.c, NULL);
    run_on_all_cpus(smp_alloc, &x);
    EXPECT_EQ(t, info_of(x.c).active_objs, (size_t)x.ncpu * SMP_PER);
    run_on_all_cpus(smp_free_neighbour, &x);
    EXPECT_EQ(t, info_of(x.c).active_objs, 0);
    run_on_all_cpus(smp_exchange, &x);
    int who;
    for (int s = 0; s < SMP_SLOTS; s++)
        if (x.slots[s]) {
            EXPECT(t, stamped(x.slots[s], &who));
            kmem_cache_free(x.c, x.slots[s]);
        }
    struct kmem_cache_info in = info_of(x.c);
    EXPECT_EQ(t, in.active_objs, 0);
    EXPECT_EQ(t, in.errors, 0);
    EXPECT_EQ(t, slab_validate(x.c), 0);
    printk("# %d cpus: %llu refills, %llu flushes, %llu cache-lock takes\n", x.ncpu,
           (unsigned long long)in.refills, (unsigned long long)in.flushes,
           (unsigned long long)in.lock_acquisitions);
    EXPECT_EQ(t, kmem_cache_destroy(x.c), 0);
    EXPECT_EQ(t, settle(), before);
}

// Per-CPU arrays and empty slabs hold pages; when the buddy allocator runs
// dry it calls slab_reclaim and gets them back.
KTEST(slab, buddy_oom_reclaims_slab_pages)
{
    enum { N = 2000 };
    static void *objs[N];
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("t_oom", 512, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    for (int i = 0; i < N; i++)
        ASSERT_NE(t, (objs[i] = kmem_cache_alloc(c, GFP_KERNEL)), NULL);
    for (int i = 0; i < N; i++)
        kmem_cache_free(c, objs[i]);
    ASSERT_GT(t, info_of(c).total_slabs, 0); // cached objects and kept empty slabs
    struct buddy_stats s0, s1;
    buddy_get_stats(&s0);
    void *stash = NULL, *p;
    while ((p = alloc_pages(GFP_ALL, 0)) != NULL) { // take every frame
        *(void **)p = stash;
        stash = p;
    }
    buddy_get_stats(&s1);
    EXPECT_GT(t, s1.reclaims, s0.reclaims);
    EXPECT_EQ(t, info_of(c).total_slabs, 0); // the hook took them all
    while (stash) {
        p = *(void **)stash;
        free_pages(stash, 0);
        stash = p;
    }
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, settle(), before);
}

// Memory may run out while the caller holds a spin lock. Waiting for other
// cpus then is not allowed (lib/platform.h, rule 4): its request is
// GFP_ATOMIC, and slab_reclaim takes back what this cpu holds and every
// empty slab, without a cross-call.
KTEST(slab, reclaim_with_a_lock_held)
{
    static struct spinlock lk = SPINLOCK_INIT("t_reclaim_lock");
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("t_rlock", 200, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    enum { N = 100 };
    void *p[N];
    for (int i = 0; i < N; i++)
        ASSERT_NE(t, (p[i] = kmem_cache_alloc(c, GFP_KERNEL)), NULL);
    for (int i = 0; i < N; i++)
        kmem_cache_free(c, p[i]); // into this cpu's array and back to empty slabs
    spin_lock(&lk);
    size_t got = slab_reclaim(GFP_ATOMIC);
    spin_unlock(&lk);
    EXPECT_GT(t, got, 0);
    struct kmem_cache_info in = info_of(c);
    EXPECT_EQ(t, in.cached_objs, 0);
    EXPECT_EQ(t, in.total_slabs, 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, settle(), before);
}

// Memory is gone, and the free objects of a cache sit in another cpu's array
// (their slabs hold live objects too, so emptying that array frees no
// page). An allocation on this cpu must still find them: NULL only when no
// free object exists anywhere and the buddy allocator has nothing, even
// after reclaim. Each cpu takes a turn as the one allocating (up to 8 cpus).
enum { STRAND_GIVE = 50 }; // under any array's limit: freed, they all stay in it
static struct strand {
    struct ktest *t;
    struct kmem_cache *c;
    int taker, strander;
    void *give[STRAND_GIVE], *live[STRAND_GIVE];
    unsigned long got;
} sd;

// The first two steps are cross-calls (cheap: the other cpus sleep); the
// last runs as a task, as it may have to wait for reclaim's cross-calls.
static void strand_alloc(void *arg) // on the taker: objects for both roles
{
    (void)arg;
    for (int i = 0; i < STRAND_GIVE; i++) {
        sd.give[i] = kmem_cache_alloc(sd.c, GFP_KERNEL); // interleaved: every slab keeps a live one
        sd.live[i] = kmem_cache_alloc(sd.c, GFP_KERNEL);
        if (!sd.give[i] || !sd.live[i])
            ktest_fail(sd.t, __FILE__, __LINE__, "allocation failed with memory free");
    }
}

static void strand_free(void *arg) // on the strander: into its own array
{
    (void)arg;
    for (int i = 0; i < STRAND_GIVE; i++)
        kmem_cache_free(sd.c, sd.give[i]);
}

static void strand_take(void *arg) // on the taker: until NULL, then all back
{
    (void)arg;
    if (cpu_id() != sd.taker)
        return;
    void *list = NULL, *p;
    while ((p = kmem_cache_alloc(sd.c, GFP_KERNEL)) != NULL) { // chained through the objects
        *(void **)p = list;
        list = p;
        sd.got++;
    }
    while (list) {
        p = *(void **)list;
        kmem_cache_free(sd.c, list);
        list = p;
    }
}

// Past 8 cpus, 9 turns spread over them (0, n/8, 2n/8, ... and the last):
// 32 vcpus on a 2-core host make each turn slow, from 0.5 s to 4 s.
static int next_turn(int k, int n)
{
    int step = n > 8 ? n / 8 : 1;
    if (k + step < n)
        return k + step;
    return k == n - 1 ? n : n - 1;
}

KTEST(slab, no_false_null_with_objects_stranded_on_another_cpu)
{
    size_t before = settle();
    int n = ncpu_online();
    for (int k = 0; k < n; k = next_turn(k, n)) {
        memset(&sd, 0, sizeof(sd));
        sd.t = t;
        sd.taker = k;
        sd.strander = (k + 1) % n;
        sd.c = kmem_cache_create("t_strand", 64, 0, 0, NULL);
        ASSERT_NE(t, sd.c, NULL);
        smp_call_function_single(sd.taker, strand_alloc, NULL);
        // No memory left (reclaim ran): the biggest blocks first, so that
        // taking all of it is a few hundred calls, not one per frame, and
        // few of them fail (each failure runs reclaim on every cpu).
        void **stash = NULL, **p;
        for (int order = MAX_ORDER; order >= 0; order--)
            while ((order == 0 || nr_free_pages() >= (1ul << order)) &&
                   (p = alloc_pages(GFP_ALL, order)) != NULL) {
                p[0] = stash;
                p[1] = (void *)(uintptr_t)order;
                stash = p;
            }
        smp_call_function_single(sd.strander, strand_free, NULL);
        struct kmem_cache_info in = info_of(sd.c);
        size_t free_objs = in.total_objs - in.active_objs; // in slabs and in arrays
        run_on_all_cpus(strand_take, NULL);
        if (sd.got < free_objs)
            ktest_fail(t, __FILE__, __LINE__,
                       "cpu %d got NULL after %lu objects while %zu were free (%zu in arrays)", k,
                       sd.got, free_objs, in.cached_objs);
        while (stash) {
            p = stash[0];
            free_pages(stash, (unsigned)(uintptr_t)stash[1]);
            stash = p;
        }
        for (int i = 0; i < STRAND_GIVE; i++)
            kmem_cache_free(sd.c, sd.live[i]);
        EXPECT_EQ(t, slab_validate(sd.c), 0);
        EXPECT_EQ(t, kmem_cache_destroy(sd.c), 0);
    }
    EXPECT_EQ(t, settle(), before);
}

// Honest counters: active = held by the caller; lock use falls with batching.
KTEST(slab, stats_and_slabinfo)
{
    struct kmem_cache *c = kmem_cache_create("t_stats", 32, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    SKIP_IF_DEBUGGED(t, c, "slab_debug is on: debug caches have no per-CPU batching");
    enum { HOLD = 200, ROUNDS = 50 };
    static void *objs[HOLD];
    struct kmem_cache_info in0 = info_of(c);
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < HOLD; i++)
            ASSERT_NE(t, (objs[i] = kmem_cache_alloc(c, GFP_KERNEL)), NULL);
        for (int i = 0; i < HOLD; i++)
            kmem_cache_free(c, objs[i]);
    }
    for (int i = 0; i < 37; i++)
        ASSERT_NE(t, (objs[i] = kmem_cache_alloc(c, GFP_KERNEL)), NULL);
    struct kmem_cache_info in = info_of(c);
    EXPECT_EQ(t, in.active_objs, 37);
    EXPECT(t, in.refills > in0.refills && in.flushes > in0.flushes);
    size_t free_in_slabs = in.total_objs - in.active_objs - in.cached_objs;
    EXPECT_LE(t, in.cached_objs, 2 * in.limit); // this cpu's array and its spare
    EXPECT_EQ(t, in.active_slabs + in.free_slabs, in.total_slabs);
    EXPECT_GE(t, free_in_slabs, (size_t)in.free_slabs * in.num);
    uint64_t ops = 2 * HOLD * ROUNDS + 37;
    uint64_t per1000 = (in.lock_acquisitions - in0.lock_acquisitions) * 1000 / ops;
    printk("# cache lock taken %llu times per 1000 ops (batch %u)\n", (unsigned long long)per1000,
           in.batchcount);
    EXPECT_LT(t, per1000, 1000 / in.batchcount * 2);
    slabinfo();
    for (int i = 0; i < 37; i++)
        kmem_cache_free(c, objs[i]);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
}

// The whole cycle: caches made and destroyed, objects of every size on every
// cpu, all freed: after slab_reclaim not one page is missing.
static void reclaim_worker(void *arg)
{
    struct ktest *t = arg;
    static const size_t sizes[] = {8, 24, 96, 150, 500, 3000, 9000, 70000};
    void *held[64];
    uint64_t rng = 77 + cpu_id();
    for (int i = 0; i < 64; i++) {
        size_t sz = sizes[ktest_rand(&rng) % ARRAY_SIZE(sizes)];
        held[i] = kmalloc(sz, GFP_KERNEL);
        if (held[i] == NULL)
            ktest_fail(t, __FILE__, __LINE__, "kmalloc(%zu, GFP_KERNEL) failed", sz);
    }
    for (int i = 0; i < 64; i++)
        kfree(held[i]);
}

KTEST(slab, reclaim_returns_every_page)
{
    size_t before = settle();
    struct kmem_cache *c1 = kmem_cache_create("t_cyc1", 72, 0, SLAB_HWCACHE_ALIGN, NULL);
    struct kmem_cache *c2 = kmem_cache_create("t_cyc2", 2000, 0, 0, NULL);
    ASSERT(t, c1 && c2);
    void *a[100], *b[100];
    for (int i = 0; i < 100; i++) {
        a[i] = kmem_cache_alloc(c1, GFP_KERNEL);
        b[i] = kmem_cache_alloc(c2, GFP_KERNEL);
        ASSERT(t, a[i] && b[i]);
    }
    run_on_all_cpus(reclaim_worker, t);
    EXPECT_LT(t, nr_free_pages(), before);
    for (int i = 0; i < 100; i++) {
        kmem_cache_free(c1, a[i]);
        kmem_cache_free(c2, b[i]);
    }
    EXPECT_EQ(t, kmem_cache_destroy(c1), 0);
    EXPECT_EQ(t, kmem_cache_destroy(c2), 0);
    size_t got = slab_reclaim(GFP_KERNEL);
    EXPECT_GT(t, got, 0);
    EXPECT_EQ(t, nr_free_pages(), before);
    EXPECT_EQ(t, buddy_validate(), 0);
}

// Per-CPU arrays are made on a cpu's first alloc or free of a cache, and
// reclaim (or slab_cpu_offline, for one cpu) gives them back with their
// objects. Each cpu here first frees an object another cpu allocated (its
// first use is a free), then allocates and frees one of its own; the odd
// cpus then go "offline".
struct lazy_run {
    struct ktest *t;
    struct kmem_cache *c;
    void *first[NCPU]; // allocated on the caller's cpu, freed first by cpu i
};

static void lazy_worker(void *arg)
{
    struct lazy_run *x = arg;
    int me = cpu_id();
    kmem_cache_free(x->c, x->first[me]);
    void *p = kmem_cache_alloc(x->c, GFP_KERNEL);
    if (p == NULL)
        ktest_fail(x->t, __FILE__, __LINE__, "kmem_cache_alloc failed");
    kmem_cache_free(x->c, p);
    if (me % 2)
        slab_cpu_offline();
}

// The per-CPU array of one cpu (the array lab's test): the first alloc
// makes the array and refills it with batchcount objects; allocs and frees
// then take no lock and are last in, first out; a free that finds the
// array full swaps it with the empty spare, and only one that finds both
// full sends the array's oldest batchcount objects back to the slabs and
// keeps the newest, still in order.
KTEST(slab, array_refill_and_flush_batches)
{
    static void *objs[512];
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("t_array", 64, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    SKIP_IF_DEBUGGED(t, c, "slab_debug is on: debug caches have no per-CPU arrays");
    struct kmem_cache_info in = info_of(c);
    unsigned limit = in.limit, batch = in.batchcount;
    ASSERT(t, limit >= 2 && batch >= 1 && batch <= limit && 2 * limit < ARRAY_SIZE(objs));
    ASSERT_GE(t, in.num, batch); // one new slab fills the first refill

    void *x = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(t, x, NULL);
    in = info_of(c);
    EXPECT_EQ(t, in.arrays, 1);
    EXPECT_EQ(t, in.refills, 1);
    EXPECT_EQ(t, in.cached_objs, batch - 1);
    EXPECT_EQ(t, in.active_objs, 1);

    // Hot: a free then an alloc gives the same object back, with no lock.
    uint64_t locks = in.lock_acquisitions;
    for (int i = 0; i < 100; i++) {
        kmem_cache_free(c, x);
        void *y = kmem_cache_alloc(c, GFP_KERNEL);
        if (y != x) {
            ktest_fail(t, __FILE__, __LINE__, "alloc after free gave %p, not %p", y, x);
            x = y;
            break;
        }
    }
    in = info_of(c);
    EXPECT_EQ(t, in.lock_acquisitions, locks);
    EXPECT_EQ(t, in.cached_objs, batch - 1);

    // The array empties, then the next alloc refills it.
    size_t n = 0;
    objs[n++] = x;
    for (unsigned i = 0; i < batch - 1; i++)
        objs[n++] = kmem_cache_alloc(c, GFP_KERNEL);
    in = info_of(c);
    EXPECT_EQ(t, in.cached_objs, 0);
    EXPECT_EQ(t, in.refills, 1);
    objs[n++] = kmem_cache_alloc(c, GFP_KERNEL);
    in = info_of(c);
    EXPECT_EQ(t, in.refills, 2);
    EXPECT(t, in.cached_objs > 0 && in.cached_objs < batch);
    while (n < 2 * (size_t)limit + 1) {
        objs[n] = kmem_cache_alloc(c, GFP_KERNEL);
        ASSERT_NE(t, objs[n], NULL);
        n++;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            ASSERT_NE(t, objs[i], objs[j]);

    // An empty array and spare (shrink drains them), then limit frees fill
    // the array; the next finds it full and the spare empty: they swap, with
    // no lock and no flush. Only the free after 2 * limit, both full,
    // flushes the current array's oldest batch.
    kmem_cache_shrink(c);
    EXPECT_EQ(t, info_of(c).cached_objs, 0);
    uint64_t locks0 = info_of(c).lock_acquisitions;
    for (size_t i = 0; i <= limit; i++)
        kmem_cache_free(c, objs[i]);
    in = info_of(c);
    EXPECT_EQ(t, in.cached_objs, limit + 1);
    EXPECT_EQ(t, in.flushes, 0);
    EXPECT_EQ(t, in.lock_acquisitions, locks0); // the swap took no lock
    for (size_t i = limit + 1; i < 2 * (size_t)limit; i++)
        kmem_cache_free(c, objs[i]);
    EXPECT_EQ(t, info_of(c).flushes, 0);
    kmem_cache_free(c, objs[2 * limit]);
    in = info_of(c);
    EXPECT_EQ(t, in.flushes, 1);
    EXPECT_EQ(t, in.cached_objs, 2 * limit - batch + 1);
    EXPECT_EQ(t, in.active_objs, 0);
    // What stayed: the current array's newest limit - batch + 1, popped
    // newest first, then the spare's limit, newest first.
    size_t kept = limit - batch + 1, wrong = 0;
    uint64_t refills = in.refills;
    for (size_t k = 0; k < kept; k++)
        wrong += kmem_cache_alloc(c, GFP_KERNEL) != objs[2 * limit - k];
    for (size_t k = 0; k < limit; k++)
        wrong += kmem_cache_alloc(c, GFP_KERNEL) != objs[limit - 1 - k];
    EXPECT_EQ(t, wrong, 0);
    in = info_of(c);
    EXPECT_EQ(t, in.cached_objs, 0);
    EXPECT_EQ(t, in.refills, refills); // all from the array and its spare
    for (size_t k = 0; k < limit; k++)
        kmem_cache_free(c, objs[k]);
    for (size_t k = 0; k < kept; k++)
        kmem_cache_free(c, objs[2 * limit - k]);
    EXPECT_EQ(t, slab_validate(c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, settle(), before);
}

KTEST(slab, arrays_made_on_first_use)
{
    static struct lazy_run x;
    size_t before = settle();
    struct kmem_cache *c = kmem_cache_create("t_lazy", 96, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    SKIP_IF_DEBUGGED(t, c, "slab_debug is on: debug caches have no per-CPU arrays");
    struct kmem_cache_info in = info_of(c);
    EXPECT_EQ(t, in.arrays, 0); // none until a cpu uses the cache
    EXPECT_GT(t, in.limit, 0);
    x = (struct lazy_run){.t = t, .c = c};
    int n = ncpu_online();
    for (int i = 0; i < n; i++)
        ASSERT_NE(t, (x.first[i] = kmem_cache_alloc(c, GFP_KERNEL)), NULL);
    EXPECT_EQ(t, info_of(c).arrays, 1); // the caller's
    run_on_all_cpus(lazy_worker, &x);
    in = info_of(c);
    EXPECT_EQ(t, in.arrays, (unsigned)(n + 1) / 2); // the odd cpus gave theirs back
    EXPECT_EQ(t, in.active_objs, 0);
    EXPECT_GT(t, in.cached_objs, 0);
    EXPECT_EQ(t, slab_validate(c), 0);
    slab_reclaim(GFP_KERNEL); // every array back, objects and all
    in = info_of(c);
    EXPECT_EQ(t, in.arrays, 0);
    EXPECT_EQ(t, in.cached_objs, 0);
    EXPECT_EQ(t, in.total_objs, 0);
    void *p = kmem_cache_alloc(c, GFP_KERNEL); // made again
    ASSERT_NE(t, p, NULL);
    EXPECT_EQ(t, info_of(c).arrays, 1);
    kmem_cache_free(c, p);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, settle(), before);
}

// Every cache's slab lists and lock are in a struct kmem_cache_node of the
// node cache, packed: whatever takes every cache lock at once (the host
// library around fork) then writes a few pages, not one per cache.
KTEST(slab, nodes_packed_together)
{
    uintptr_t pages[KMALLOC_NR_CLASSES];
    unsigned distinct = 0, made = 0;
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++) {
        struct kmem_cache *c = kmalloc_cache_index(i);
        if (c == NULL)
            continue;
        made++;
        EXPECT(t, spin_is_locked(&c->node->list_lock) == false);
        uintptr_t pg = (uintptr_t)c->node / PAGE_SIZE;
        unsigned k = 0;
        while (k < distinct && pages[k] != pg)
            k++;
        if (k == distinct)
            pages[distinct++] = pg;
    }
    unsigned per_page = PAGE_SIZE / 128; // a node is under two cache lines
    EXPECT_GE(t, made, 8U);
    EXPECT_LE(t, distinct, (made + per_page - 1) / per_page + 2);
}
