// Threaded stress of the slab layer, for ThreadSanitizer (and ASan): every
// cpu (a thread on the host) allocates, passes objects to other cpus through
// shared slots and frees what it receives, while some of them drain every
// cache (slab_reclaim, kmem_cache_shrink), read the statistics, validate
// everything (slab_validate_all: no object in two arrays or free in its slab
// too), run reaper rounds (slab_reap), and create and destroy caches of their own. Objects carry
// canaries; an object from a cache with a constructor must always come back constructed.
//
//   ktest-tsan --cpus 8 slab_stress     (iterations: stress_iters=N)
#include <stdio.h>
#include <string.h>

#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"

KTEST_PARAM(stress_iters, 1, 1000000000, "operations per cpu in slab_stress");

#define NSLOTS    256
#define CANARY    0x7374726573732121ULL // "stress!!"
#define CTOR_MARK 0xc0257c0257c0257cULL

enum { K_CTOR, K_MID, K_BIG, K_KMALLOC, NKINDS };

struct obj {         // the start of every object
    uint64_t canary; // CANARY ^ address
    uint32_t kind, size;
};

struct stress {
    struct ktest *t;
    struct kmem_cache *caches[3];
    struct obj *slots[NSLOTS];
    unsigned long iters;
    int private_fails;
};

static const size_t cache_size[3] = {48, 200, 3000};

static void mark_ctor(void *p)
{
    ((uint64_t *)p)[cache_size[K_CTOR] / 8 - 1] = CTOR_MARK;
}

static void check_and_free(struct stress *x, struct obj *o)
{
    if (o->canary != (CANARY ^ (uintptr_t)o) || o->kind >= NKINDS) {
        ktest_fail(x->t, __FILE__, __LINE__, "object %p: header overwritten", (void *)o);
        return; // leak it rather than free garbage
    }
    const uint8_t *b = (const uint8_t *)(o + 1);
    for (size_t k = 0; k + sizeof(*o) < MIN(o->size, 256U) - 8; k++)
        if (b[k] != (uint8_t)((uintptr_t)o + k)) {
            ktest_fail(x->t, __FILE__, __LINE__, "object %p: byte %zu overwritten", (void *)o, k);
            break;
        }
    o->canary = 0;
    if (o->kind == K_KMALLOC)
        kfree(o);
    else
        kmem_cache_free(x->caches[o->kind], o);
}

static struct obj *make(struct stress *x, uint64_t r)
{
    unsigned kind = r % NKINDS;
    size_t size = kind == K_KMALLOC ? 16 + (r >> 20) % 2000 : cache_size[kind];
    struct obj *o = kind == K_KMALLOC ? kmalloc(size, GFP_KERNEL)
                                      : kmem_cache_alloc(x->caches[kind], GFP_KERNEL);
    if (o == NULL) {
        ktest_fail(x->t, __FILE__, __LINE__, "allocation of kind %u failed", kind);
        return NULL;
    }
    if (kind == K_CTOR && ((uint64_t *)o)[size / 8 - 1] != CTOR_MARK)
        ktest_fail(x->t, __FILE__, __LINE__, "object %p not constructed", (void *)o);
    o->canary = CANARY ^ (uintptr_t)o;
    o->kind = kind;
    o->size = (uint32_t)size;
    uint8_t *b = (uint8_t *)(o + 1);
    for (size_t k = 0; k + sizeof(*o) < MIN(size, (size_t)256) - 8; k++) // spare the ctor mark
        b[k] = (uint8_t)((uintptr_t)o + k);
    return o;
}

// A cache of one's own, used and destroyed while others reclaim.
static void private_cache(struct stress *x, int me, unsigned long it)
{
    char name[32];
    snprintf(name, sizeof(name), "t_priv_%d_%lu", me, it);
    struct kmem_cache *c = kmem_cache_create(name, 64 + 8 * me, 0, 0, NULL);
    if (c == NULL) {
        __atomic_add_fetch(&x->private_fails, 1, __ATOMIC_RELAXED);
        return;
    }
    void *p[20];
    for (int i = 0; i < 20; i++)
        p[i] = kmem_cache_alloc(c, GFP_KERNEL);
    for (int i = 0; i < 20; i++)
        kmem_cache_free(c, p[i]);
    if (kmem_cache_destroy(c) != 0)
        __atomic_add_fetch(&x->private_fails, 1, __ATOMIC_RELAXED);
}

static void stress_worker(void *arg)
{
    struct stress *x = arg;
    int me = cpu_id();
    uint64_t rng = 0x5eed0000ULL + 7919 * (uint64_t)(me + 1);
    for (unsigned long it = 0; it < x->iters; it++) {
        uint64_t r = ktest_rand(&rng);
        unsigned op = r % 1000;
        if (op < 450) { // make one, put it in a slot, free what was there
            struct obj *o = make(x, r >> 10);
            if (o == NULL)
                return;
            o = __atomic_exchange_n(&x->slots[(r >> 40) % NSLOTS], o, __ATOMIC_ACQ_REL);
            if (o)
                check_and_free(x, o);
        } else if (op < 990) { // take one from a slot and free it
            struct obj *o =
                __atomic_exchange_n(&x->slots[(r >> 40) % NSLOTS], NULL, __ATOMIC_ACQ_REL);
            if (o)
                check_and_free(x, o);
        } else if (op < 993) {
            slab_reclaim(GFP_KERNEL);
        } else if (op < 996) {
            kmem_cache_shrink(x->caches[(r >> 12) % 3]);
        } else if (op < 997) {
            struct kmem_cache_info in;
            kmem_cache_get_info(x->caches[(r >> 12) % 3], &in);
            if (in.active_objs + in.cached_objs > in.total_objs)
                ktest_fail(x->t, __FILE__, __LINE__, "%s: counts do not add up", in.name);
        } else if (op < 998) { // while the others run: no object in two arrays, ...
            int bad = slab_validate_all();
            if (bad)
                ktest_fail(x->t, __FILE__, __LINE__, "slab_validate_all: %d problems", bad);
        } else if (op < 999) { // a reaper round: this cpu's idle arrays, maybe the nodes
            slab_reap(true);
        } else {
            private_cache(x, me, it);
        }
    }
}

KTEST(slab_stress, all_cpus_alloc_free_reclaim)
{
    static struct stress x;
    slab_reclaim(GFP_KERNEL);
    size_t before = nr_free_pages();
    uint64_t e0 = slab_error_count();
    memset(&x, 0, sizeof(x));
    x.t = t;
    x.iters = ktest_arg_ul("stress_iters", 100000);
    x.caches[K_CTOR] = kmem_cache_create("t_st_ctor", cache_size[K_CTOR], 0, 0, mark_ctor);
    x.caches[K_MID] = kmem_cache_create("t_st_mid", cache_size[K_MID], 0, 0, NULL);
    x.caches[K_BIG] = kmem_cache_create("t_st_big", cache_size[K_BIG], 0, 0, NULL);
    ASSERT(t, x.caches[0] && x.caches[1] && x.caches[2]);
    run_on_all_cpus(stress_worker, &x);
    for (int s = 0; s < NSLOTS; s++)
        if (x.slots[s])
            check_and_free(&x, x.slots[s]);
    EXPECT_EQ(t, x.private_fails, 0);
    for (int k = 0; k < 3; k++) {
        struct kmem_cache_info in;
        kmem_cache_get_info(x.caches[k], &in);
        EXPECT_EQ(t, in.active_objs, 0);
        EXPECT_EQ(t, kmem_cache_destroy(x.caches[k]), 0);
    }
    EXPECT_EQ(t, slab_error_count(), e0);
    EXPECT_EQ(t, slab_validate_all(), 0);
    slab_reclaim(GFP_KERNEL);
    EXPECT_EQ(t, nr_free_pages(), before);
    EXPECT_EQ(t, buddy_validate(), 0);
}
