// Self-tests of kmalloc: size classes, alignment, large allocations, bad
// frees, all cpus. Portable: kernel and host build alike.
#include <errno.h>
#include <string.h>

#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"

#define CANARY 0x6b6d616c6c6f6321ULL // "kmalloc!"

static size_t settle(void)
{
    slab_reclaim(GFP_KERNEL);
    return nr_free_pages();
}

static size_t natural_align(size_t size)
{
    return size & -size;
}

static unsigned expected_limit(size_t size)
{
    if (size > 128 * 1024)
        return 1;
    if (size >= PAGE_SIZE) // about 64 KiB a sheaf, at least 8
        return 64 * 1024 / size > 8 ? (unsigned)(64 * 1024 / size) : 8;
    return size > 1024 ? 24 : size > 256 ? 54 : 120;
}

// A slab costs its frames plus an off-slab descriptor's object; the share of
// that in objects, in tenths of a percent.
static size_t used_permille(const struct kmem_cache_info *in)
{
    size_t cost = (PAGE_SIZE << in->order) + in->desc_bytes;
    return (size_t)in->num * in->size * 1000 / cost;
}

// The class sizes, read once from the caches (kmem_cache_get_info locks).
static size_t class_sizes[KMALLOC_NR_CLASSES];

static void read_class_sizes(void)
{
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++) {
        struct kmem_cache_info in;
        kmem_cache_get_info(kmalloc_cache_index(i), &in);
        class_sizes[i] = in.object_size;
    }
}

// Every class: sizes 8..64 by 8, then eight steps per power of two, so no
// request of 64 bytes or more wastes over 1/8 of its block to rounding; at
// least 7/8 of what each slab costs holds objects; colours from the tail,
// Linux's array limits. The table is printed.
KTEST(slab_kmalloc, class_geometry)
{
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++) {
        struct kmem_cache_info in;
        kmem_cache_get_info(kmalloc_cache_index(i), &in);
        if (in.flags & SLAB_DEBUG_FLAGS) // red zones and records widen the stride
            KTEST_SKIP(t, "slab_debug is on: the classes have the debug layout");
    }
    printk("# class          order  num  used  colours  desc\n");
    size_t prev = 0;
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++) {
        struct kmem_cache *c = kmalloc_cache_index(i);
        ASSERT_NE(t, c, NULL);
        struct kmem_cache_info in;
        kmem_cache_get_info(c, &in);
        size_t bytes = PAGE_SIZE << in.order, step = in.size - prev;
        EXPECT_GT(t, in.size, prev);
        if (prev < 64)
            EXPECT_EQ(t, step, 8);
        else // the worst request, prev + 1, wastes step - 1 bytes of in.size
            EXPECT_LE(t, (step - 1) * 8, in.size);
        EXPECT_EQ(t, in.size, in.object_size);
        EXPECT_EQ(t, in.align, natural_align(in.size));
        EXPECT_GE(t, in.num, 1);
        EXPECT_EQ(t, in.mgmt + (size_t)in.num * in.size + in.waste, bytes);
        EXPECT_EQ(t, in.off_slab, in.mgmt == 0);
        EXPECT_EQ(t, in.off_slab, in.desc_bytes > 0);
        EXPECT_GE(t, used_permille(&in), 875);
        EXPECT_EQ(t, in.colour_off, MAX((size_t)64, in.align));
        EXPECT_EQ(t, in.colour, in.waste / in.colour_off + 1);
        EXPECT_EQ(t, in.limit, expected_limit(in.size));
        EXPECT_EQ(t, in.batchcount, (in.limit + 1) / 2);
        size_t u = used_permille(&in);
        printk("# %-14s %5u %4u %3zu.%zu%% %6u  %s\n", in.name, in.order, in.num, u / 10, u % 10,
               in.colour, in.off_slab ? "off-slab" : "on-slab");
        prev = in.size;
    }
    EXPECT_EQ(t, prev, KMALLOC_MAX_CACHE_SIZE);
}

// kmalloc(n, GFP_KERNEL) takes the smallest class holding n, aligned to that class; above
// the classes, exactly the frames n needs.
static int check_size(struct ktest *t, size_t n)
{
    int bad = 0;
    size_t want = 0;
    for (int i = 0; i < KMALLOC_NR_CLASSES && want == 0; i++)
        if (class_sizes[i] >= n)
            want = class_sizes[i];
    if (want == 0)
        want = ALIGN_UP(n, PAGE_SIZE);
    char *p = kmalloc(n, GFP_KERNEL);
    if (p == NULL) {
        ktest_fail(t, __FILE__, __LINE__, "kmalloc(%zu, GFP_KERNEL) failed", n);
        return 1;
    }
    bad += ksize(p) != want;
    bad += n >= 64 && (want - n) * 8 > want; // rounding wastes at most 1/8
    bad += (uintptr_t)p % MIN(natural_align(want), (size_t)PAGE_SIZE) != 0;
    bad += n <= KMALLOC_MAX_CACHE_SIZE ? kmalloc_cache(n) == NULL : kmalloc_cache(n) != NULL;
    p[0] = 1;
    p[n - 1] = 2;
    kfree(p);
    if (bad)
        ktest_fail(t, __FILE__, __LINE__, "kmalloc(%zu, GFP_KERNEL): ksize %zu, want %zu, at %p", n,
                   ksize(p), want, (void *)p);
    return bad;
}

// An 8 MiB block (order 11): a machine with little RAM has none, or too
// few, and then the tests that need them skip.
static bool big_blocks_free(size_t n)
{
    slab_reclaim(GFP_KERNEL);
    return buddy_blocks_free(11) >= n;
}
#define NO_ROOM "too little RAM (MEM=) for 8 MiB kmalloc blocks: no free 8 MiB block"

KTEST(slab_kmalloc, smallest_class_and_alignment)
{
    read_class_sizes();
    int bad = 0;
    for (size_t n = 1; n <= KMALLOC_MAX_CACHE_SIZE + 2 * PAGE_SIZE; n++)
        bad += check_size(t, n);
    for (size_t p = 64 << 10; p <= KMALLOC_MAX_SIZE; p *= 2) {
        if (p >= KMALLOC_MAX_SIZE / 2 && !big_blocks_free(1)) // p + 1 needs an 8 MiB block
            break;
        bad += check_size(t, p - 1) + check_size(t, p) + check_size(t, p + 1);
    }
    EXPECT_EQ(t, bad, 0);
    slab_reclaim(GFP_KERNEL);
    EXPECT_EQ(t, kmalloc(0, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kmalloc_cache(0), NULL);
    EXPECT_EQ(t, kmalloc_cache(KMALLOC_MAX_CACHE_SIZE + 1), NULL);
    kfree(NULL); // does nothing
    EXPECT_EQ(t, ksize(NULL), 0);
}

// kmalloc_aligned: every power of two from 1 byte to 8 MiB; past what a
// class can give, a naturally aligned block of frames.
KTEST(slab_kmalloc, aligned_up_to_largest_class)
{
    if (!big_blocks_free(1))
        KTEST_SKIP(t, NO_ROOM);
    static const size_t sizes[] = {1, 40, 100, 700, 5000, 70000};
    size_t before = settle();
    uint64_t e0 = slab_error_count();
    for (size_t align = 1; align <= KMALLOC_MAX_SIZE; align *= 2) {
        for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
            char *p = kmalloc_aligned(sizes[s], align, GFP_KERNEL);
            ASSERT_NE(t, p, NULL);
            EXPECT_EQ(t, (uintptr_t)p % align, 0);
            EXPECT_GE(t, ksize(p), sizes[s]);
            p[0] = 1;
            p[sizes[s] - 1] = 2;
            kfree(p);
        }
        slab_reclaim(GFP_KERNEL);
    }
    EXPECT_EQ(t, kmalloc_aligned(10, 3, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kmalloc_aligned(10, 0, GFP_KERNEL), NULL);
    EXPECT_EQ(t, kmalloc_aligned(10, KMALLOC_MAX_SIZE * 2, GFP_KERNEL), NULL);
    EXPECT_EQ(t, slab_error_count(), e0);
    EXPECT_EQ(t, settle(), before);
}

// Every class: fill as many objects as a few slabs hold, check, free.
KTEST(slab_kmalloc, every_class_patterns)
{
    static uint64_t *objs[64];
    size_t before = settle();
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++) {
        struct kmem_cache_info in;
        kmem_cache_get_info(kmalloc_cache_index(i), &in);
        size_t n = MIN((size_t)64, 2 * (size_t)in.num + 1), words = MIN(in.size, (size_t)512) / 8;
        for (size_t k = 0; k < n; k++) {
            objs[k] = kmalloc(in.size, GFP_KERNEL);
            ASSERT_NE(t, objs[k], NULL);
            for (size_t w = 0; w < words; w++) // the start, and the last word
                objs[k][w] = CANARY ^ (uintptr_t)objs[k] ^ w;
            objs[k][in.size / 8 - 1] = CANARY ^ (uintptr_t)objs[k] ^ (in.size / 8 - 1);
        }
        int bad = 0;
        for (size_t k = 0; k < n; k++) {
            for (size_t w = 0; w < words; w++)
                bad += objs[k][w] != (CANARY ^ (uintptr_t)objs[k] ^ w);
            bad += objs[k][in.size / 8 - 1] != (CANARY ^ (uintptr_t)objs[k] ^ (in.size / 8 - 1));
            kfree(objs[k]);
        }
        EXPECT_EQ(t, bad, 0);
        slab_reclaim(GFP_KERNEL);
    }
    EXPECT_EQ(t, settle(), before);
}

// A block of frames (above the classes) freed twice is a double free, and says so.
KTEST(slab_kmalloc, large_double_free_named)
{
    size_t before = settle();
    void *p = kmalloc(KMALLOC_MAX_CACHE_SIZE + 1, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    kfree(p);
    uint64_t e0 = slab_error_count();
    kfree(p);
    EXPECT_EQ(t, slab_error_count() - e0, 1);
    EXPECT_EQ(t, strcmp(slab_last_report(), "double free"), 0);
    EXPECT_EQ(t, settle(), before);
}

// Above the classes: exactly the frames asked for, straight from the buddy
// allocator, PG_large on the head; up to the largest block.
static void check_large(struct ktest *t, size_t n)
{
    size_t before = settle(), frames = ALIGN_UP(n, PAGE_SIZE) / PAGE_SIZE;
    char *p = kmalloc(n, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    struct page *pg = virt_to_page(p);
    EXPECT_EQ(t, (uintptr_t)p % PAGE_SIZE, 0);
    EXPECT_EQ(t, (page_flags(pg) & (PG_large | PG_head)), (PG_large | PG_head));
    EXPECT(t, !(page_flags(pg) & PG_slab));
    EXPECT_EQ(t, pg->nr_frames, frames);
    EXPECT_EQ(t, ksize(p), frames * PAGE_SIZE);
    EXPECT_EQ(t, nr_free_pages(), before - frames);
    p[0] = 1;
    p[n - 1] = 2;
    uint64_t e0 = slab_error_count();
    kfree(p + PAGE_SIZE); // interior: reported, nothing freed
    kfree(p + 8);
    EXPECT_EQ(t, slab_error_count() - e0, 2);
    EXPECT_EQ(t, nr_free_pages(), before - frames);
    kfree(p);
    EXPECT_EQ(t, nr_free_pages(), before);
    kfree(p); // double free of a large block
    EXPECT_EQ(t, slab_error_count() - e0, 3);
    EXPECT_EQ(t, settle(), before);
    EXPECT_EQ(t, buddy_validate(), 0);
}

KTEST(slab_kmalloc, large_from_buddy)
{
    EXPECT_EQ(t, kmalloc((1UL << MAX_ORDER) * PAGE_SIZE + 1, GFP_KERNEL),
              NULL); // above the largest block
    EXPECT_EQ(t, kmalloc((size_t)-1, GFP_KERNEL), NULL);
    check_large(t, KMALLOC_MAX_CACHE_SIZE + 1); // 9 frames, not 16
    check_large(t, 5 * PAGE_SIZE * 3);
    size_t counts[MAX_ORDER + 1];
    slab_reclaim(GFP_KERNEL);
    buddy_free_counts(counts);
    if (counts[MAX_ORDER] == 0) // no 16 MiB block free here
        KTEST_SKIP(t, "no free block of MAX_ORDER for a kmalloc above 8 MiB");
    check_large(t, KMALLOC_MAX_SIZE + 1);
}

// kmalloc_exact_frames off (the host library's choice): a block of frames
// is a whole power-of-two block, krealloc keeps it one, and it all goes back.
KTEST(slab_kmalloc, large_whole_blocks)
{
    size_t before = settle();
    kmalloc_exact_frames = false;
    uint8_t *p = kmalloc(15 * PAGE_SIZE, GFP_KERNEL);
    uint8_t *q = NULL;
    if (p == NULL)
        goto out;
    EXPECT_EQ(t, virt_to_page(p)->nr_frames, 16);
    EXPECT_EQ(t, ksize(p), 16 * PAGE_SIZE);
    EXPECT_EQ(t, nr_free_pages(), before - 16);
    for (size_t i = 0; i < 7 * PAGE_SIZE; i++)
        p[i] = (uint8_t)(i % 251);
    EXPECT_EQ(t, krealloc(p, 9 * PAGE_SIZE, GFP_KERNEL), p); // still more than half
    EXPECT_EQ(t, nr_free_pages(), before - 16);
    EXPECT_EQ(t, krealloc(p, 7 * PAGE_SIZE, GFP_KERNEL), p); // the top half goes back
    EXPECT_EQ(t, ksize(p), 8 * PAGE_SIZE);
    EXPECT_EQ(t, nr_free_pages(), before - 8);
    q = krealloc(p, 17 * PAGE_SIZE, GFP_KERNEL); // in place or not: 32 frames
    if (q == NULL)
        goto out;
    p = q;
    EXPECT_EQ(t, ksize(p), 32 * PAGE_SIZE);
    EXPECT_EQ(t, nr_free_pages(), before - 32);
    int bad = 0;
    for (size_t i = 0; i < 7 * PAGE_SIZE; i++)
        bad += p[i] != (uint8_t)(i % 251);
    EXPECT_EQ(t, bad, 0);
out:
    kfree(p);
    kmalloc_exact_frames = true;
    EXPECT(t, p != NULL);
    EXPECT_EQ(t, settle(), before);
    EXPECT_EQ(t, buddy_validate(), 0);
}

// All cpus: random sizes, objects passed between cpus and freed by others.
#define SLOTS 128

struct kctx {
    struct ktest *t;
    uint64_t *slots[SLOTS];
    int iters;
};

static void stamp(uint64_t *p, size_t n)
{
    p[0] = CANARY ^ (uintptr_t)p;
    p[1] = n;
    for (size_t w = 2; w < n / 8; w++)
        p[w] = (uintptr_t)p + w;
}

static bool stamped(const uint64_t *p)
{
    if (p[0] != (CANARY ^ (uintptr_t)p) || p[1] > ksize(p))
        return false;
    for (size_t w = 2; w < p[1] / 8; w++)
        if (p[w] != (uintptr_t)p + w)
            return false;
    return true;
}

static void kmalloc_worker(void *arg)
{
    struct kctx *x = arg;
    uint64_t rng = 1234567 * (cpu_id() + 1);
    for (int it = 0; it < x->iters; it++) {
        uint64_t r = ktest_rand(&rng);
        size_t n = 16 + (r >> 16) % ((r & 0xf00) ? 300 : 5000);
        uint64_t *p = NULL;
        if (r & 1) {
            p = kmalloc(n, GFP_KERNEL);
            if (p == NULL) {
                ktest_fail(x->t, __FILE__, __LINE__, "kmalloc(%zu, GFP_KERNEL) failed", n);
                return;
            }
            stamp(p, n);
        }
        p = __atomic_exchange_n(&x->slots[(r >> 40) % SLOTS], p, __ATOMIC_ACQ_REL);
        if (p) {
            if (!stamped(p))
                ktest_fail(x->t, __FILE__, __LINE__, "object %p overwritten", (void *)p);
            kfree(p);
        }
    }
}

KTEST(slab_kmalloc, all_cpus_random_sizes)
{
    static struct kctx x;
    size_t before = settle();
    uint64_t e0 = slab_error_count();
    memset(&x, 0, sizeof(x));
    x.t = t;
    x.iters = 20000;
    run_on_all_cpus(kmalloc_worker, &x);
    for (int s = 0; s < SLOTS; s++)
        if (x.slots[s]) {
            EXPECT(t, stamped(x.slots[s]));
            kfree(x.slots[s]);
        }
    EXPECT_EQ(t, slab_error_count(), e0);
    EXPECT_EQ(t, settle(), before);
}

// krealloc keeps the bytes; a slab object stays put while it fits, a block
// of frames grows in place over free frames, so growing one step at a time
// seldom copies; krealloc(NULL) allocates and size 0 frees.
KTEST(slab_kmalloc, krealloc_keeps_bytes)
{
    size_t before = settle();
    uint8_t *p = krealloc(NULL, 10, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    EXPECT_EQ(t, ksize(p), 16);
    int moves = 0, bad = 0;
    size_t have = 10;
    for (size_t i = 0; i < have; i++)
        p[i] = (uint8_t)i;
    for (size_t size = 11; size <= 200 * 1024; size += size < 4096 ? 37 : 4096) {
        uint8_t *q = krealloc(p, size, GFP_KERNEL);
        ASSERT_NE(t, q, NULL);
        for (size_t i = 0; i < have; i++)
            bad += q[i] != (uint8_t)i;
        moves += q != p;
        for (size_t i = have; i < size; i++)
            q[i] = (uint8_t)i;
        p = q;
        have = size;
    }
    EXPECT_EQ(t, bad, 0);
    printk("# %d moves growing 10 B to 200 KiB (classes to 32 KiB, then frames in place)\n", moves);
    EXPECT_LE(t, moves, 60); // about one per class crossed up to 32 KiB, few past it
    uint8_t *q = krealloc(p, 100, GFP_KERNEL); // far smaller: a smaller class takes it
    ASSERT_NE(t, q, NULL);
    EXPECT(t, q != p && ksize(q) == 104);
    for (size_t i = 0; i < 100; i++)
        bad += q[i] != (uint8_t)i;
    EXPECT_EQ(t, bad, 0);
    EXPECT_EQ(t, krealloc(q, 0, GFP_KERNEL), NULL); // freed
    EXPECT_EQ(t, settle(), before);
}
