// kmalloc_lazy_classes, the host library's mode: slab_init makes only the
// classes the slab layer takes its own objects from; every other class is
// made at its first kmalloc, exactly once however many cpus ask for it at
// the same moment, and a class that cannot be made is a NULL from kmalloc
// with nothing lost. Host only: each test sets up a zone and a slab layer
// in lazy mode, then puts the runner's (eager) ones back.
#include <string.h>

#include "host.h"
#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"
#include "mm/slab_internal.h"

#define GFP_ALL (GFP_KERNEL | __GFP_MEMALLOC | __GFP_NOWARN)

static reclaim_hook_t lazy_layer(struct ktest *t)
{
    reclaim_hook_t old = buddy_set_reclaim_hook(NULL);
    kmalloc_lazy_classes = true;
    host_ram_init(host_mem_bytes);
    EXPECT_EQ(t, slab_init(PAGE_SIZE, 64), 0);
    buddy_set_reclaim_hook(slab_shrink);
    return old;
}

static void runners_layer_back(struct ktest *t, reclaim_hook_t old)
{
    kmalloc_lazy_classes = false;
    buddy_set_reclaim_hook(NULL);
    host_ram_init(host_mem_bytes);
    EXPECT_EQ(t, slab_init(PAGE_SIZE, 64), 0);
    buddy_set_reclaim_hook(old);
}

KTEST(kmalloc_lazy, made_at_first_use)
{
    reclaim_hook_t old = lazy_layer(t);
    unsigned caches = slab_nr_caches();
    // Made at once: where arrays live (a line up to the longest array) and
    // where off-slab descriptors come from; no other power of two.
    for (size_t n = 8; n <= KMALLOC_MAX_SIZE; n *= 2)
        EXPECT_EQ(t, kmalloc_cache(n) != NULL, n >= 64 && n <= 1024);
    EXPECT_NE(t, kmalloc_cache(sizeof(struct slab)), NULL);
    EXPECT_EQ(t, kmalloc_cache(72), NULL);    // not yet
    EXPECT_EQ(t, kmalloc_cache(20000), NULL); // off-slab, through kmalloc_slow
    void *a = kmalloc(70, GFP_KERNEL), *b = kmalloc(72, GFP_KERNEL);
    ASSERT(t, a && b);
    struct kmem_cache *c = kmalloc_cache(72);
    ASSERT_NE(t, c, NULL);
    EXPECT_EQ(t, kmem_cache_of(a), c); // one class, one cache, made once
    EXPECT_EQ(t, kmem_cache_of(b), c);
    EXPECT_EQ(t, slab_nr_caches(), caches + 1);
    void *z = kzalloc(100, GFP_KERNEL); // the __GFP_ZERO path makes its class too
    ASSERT_NE(t, z, NULL);
    EXPECT_EQ(t, ((char *)z)[99], 0);
    EXPECT_EQ(t, kmem_cache_of(z), kmalloc_cache(100));
    void *big = kmalloc(20000, GFP_KERNEL);
    ASSERT_NE(t, big, NULL);
    memset(big, 1, 20000);
    EXPECT_EQ(t, kmem_cache_of(big), kmalloc_cache(20000));
    void *al = kmalloc_aligned(72, 1024, GFP_KERNEL); // the first class aligned enough
    ASSERT_NE(t, al, NULL);
    EXPECT_EQ(t, (uintptr_t)al % 1024, 0);
    EXPECT_EQ(t, slab_nr_caches(), caches + 3); // 72, 100, 20000; al's, kmalloc-1k, was there
    void *p4k = kmalloc(4096, GFP_KERNEL);      // a power of two made at first use
    ASSERT_NE(t, p4k, NULL);
    EXPECT_EQ(t, kmem_cache_of(p4k), kmalloc_cache(4096));
    EXPECT_EQ(t, slab_nr_caches(), caches + 4);
    kfree(p4k);
    kfree(a);
    kfree(b);
    kfree(z);
    kfree(big);
    kfree(al);
    EXPECT_EQ(t, slab_validate_all(), 0);
    runners_layer_back(t, old);
}

// No memory for the class's struct kmem_cache: kmalloc says NULL, no cache
// is left half made, and the next try, with memory back, makes it.
KTEST(kmalloc_lazy, no_memory_then_made)
{
    reclaim_hook_t old = lazy_layer(t);
    void *list = NULL, *p;
    while ((p = alloc_pages(GFP_ALL, 0)) != NULL) {
        *(void **)p = list;
        list = p;
    }
    // The cache of caches' free structs, taken by caches of our own.
    struct kmem_cache *mine[64];
    int n = 0;
    char name[16] = "t_lazy_00";
    while (n < 64) {
        name[7] = (char)('0' + n / 10);
        name[8] = (char)('0' + n % 10);
        if ((mine[n] = kmem_cache_create(name, 32, 0, 0, NULL)) == NULL)
            break;
        n++;
    }
    ASSERT_LT(t, n, 64);
    unsigned caches = slab_nr_caches();
    EXPECT_EQ(t, kmalloc(3000, GFP_KERNEL | __GFP_NOWARN), NULL);
    EXPECT_EQ(t, kmalloc_cache(3000), NULL);
    EXPECT_EQ(t, slab_nr_caches(), caches);
    for (int i = 0; i < n; i++)
        EXPECT_EQ(t, kmem_cache_destroy(mine[i]), 0);
    while (list) {
        p = *(void **)list;
        free_pages(list, 0);
        list = p;
    }
    void *q = kmalloc(3000, GFP_KERNEL);
    ASSERT_NE(t, q, NULL);
    EXPECT_EQ(t, kmem_cache_of(q), kmalloc_cache(3000));
    EXPECT_EQ(t, slab_nr_caches(), caches - n + 1);
    kfree(q);
    EXPECT_EQ(t, slab_validate_all(), 0);
    runners_layer_back(t, old);
}

// Every cpu asks for every size up to the largest class in the same order,
// so they race for each class: each must come out as one cache, and every
// block from the cache the tables name.
static int race_misses[NCPU];

static void race_classes(void *arg)
{
    (void)arg;
    int cpu = cpu_id();
    for (size_t n = 8; n <= KMALLOC_MAX_CACHE_SIZE; n += 8) {
        void *p = kmalloc(n, GFP_KERNEL);
        race_misses[cpu] += p == NULL || kmem_cache_of(p) != kmalloc_cache(n);
        kfree(p);
    }
}

KTEST(kmalloc_lazy, racing_cpus_make_one_cache)
{
    reclaim_hook_t old = lazy_layer(t);
    unsigned caches = slab_nr_caches(), unmade = 0;
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++)
        unmade += kmalloc_cache_index(i) == NULL;
    ASSERT_GE(t, unmade, 60U);
    memset(race_misses, 0, sizeof(race_misses));
    run_on_all_cpus(race_classes, NULL);
    EXPECT_EQ(t, slab_nr_caches(), caches + unmade);
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++)
        EXPECT_NE(t, kmalloc_cache_index(i), NULL);
    for (int cpu = 0; cpu < NCPU; cpu++)
        EXPECT_EQ(t, race_misses[cpu], 0);
    EXPECT_EQ(t, slab_validate_all(), 0);
    runners_layer_back(t, old);
}
