// Model-based fuzzing of the slab layer. Each input is a program of
// create / alloc / kmalloc / free / bulk alloc and free / shrink / destroy /
// reclaim / reap / bad-free operations on a fresh buddy zone and a fresh slab_init. A model keeps
// every live object (address, size, owner, fill byte) and every cache (size, align, ctor, live
// count), and each step is checked against it:
//   - kmem_cache_create fails exactly for bad arguments and duplicate names;
//   - objects are aligned as asked, come back constructed when the cache has a
//     ctor, and keep their bytes until freed (so no two ever overlap);
//   - ksize covers the request; the cache's active count is the model's;
//   - shrink returns exactly the pages it says; destroy refuses live caches;
//   - every bad free the cache promises to catch is reported exactly once
//     and changes nothing: by default a foreign pointer, a frame of another
//     cache, and a double free of the object on top of the per-CPU array;
//     with slab_debug=F (half the inputs, by the first byte) also any double
//     free and an interior pointer;
//   - at the end, after freeing all and slab_reclaim, every page is back
//     (but those of caches' own structs: half the inputs, by the first
//     byte's second bit, run with kmalloc_lazy_classes, which keeps the
//     classes made on the way).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"

#define RAM_SIZE    (32UL << 20)
#define NCACHES     6
#define NOBJS       256
#define NFREED      32
#define CTOR_BYTE   0xc5
#define MAX_OBJ     9000 // cache objects up to this
#define MAX_KMALLOC 70000

struct mcache {
    struct kmem_cache *c;
    size_t size, align;
    bool ctor;
    int live;
    char name[16];
};

struct mobj {
    uint8_t *p;
    int cache; // index in caches, or -1 for kmalloc
    size_t size;
    uint8_t fill;
};

static struct mcache caches[NCACHES];
static struct mobj objs[NOBJS];
static int nobjs;
// Addresses freed since the last allocation: candidates for double frees.
// Any allocation may reuse one, for a caller or for the slab layer itself (a
// slab descriptor, a struct kmem_cache), and a free of a live object is no
// bad free, so each allocating operation forgets them (forget_freed), and so
// does a destroy (it may make the cache of caches' array: an allocation).
static void *freed[NFREED];
static int nfreed;
static uint64_t expected_reports;
static int name_seq;

static const uint8_t *in;
static size_t in_len;

#define check(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_slab: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static unsigned next(void)
{
    if (in_len == 0)
        return 0;
    in_len--;
    return *in++;
}

static unsigned next16(void)
{
    return next() | next() << 8;
}

static void ctor(void *p)
{
    // The cache's size is not passed in: mark the first 8 bytes, enough to
    // tell a constructed object (the model checks the same 8 bytes).
    memset(p, CTOR_BYTE, 8);
}

static bool constructed(const uint8_t *p)
{
    for (int k = 0; k < 8; k++)
        if (p[k] != CTOR_BYTE)
            return false;
    return true;
}

static size_t cache_info_active(struct kmem_cache *c)
{
    struct kmem_cache_info info;
    kmem_cache_get_info(c, &info);
    size_t bytes = PAGE_SIZE << info.order;
    check(info.mgmt + (size_t)info.num * info.size + info.waste == bytes);
    check(info.active_objs + info.cached_objs <= info.total_objs);
    return info.active_objs;
}

static bool is_live(const void *p)
{
    for (int i = 0; i < nobjs; i++)
        if (objs[i].p == p)
            return true;
    return false;
}

static bool full_checks; // this input runs with slab_debug=F
static void *on_top;     // freed just now: on top of its cache's array (NULL: none known)

static void remember_freed(void *p)
{
    freed[nfreed++ % NFREED] = p;
    on_top = p;
}

static void forget_freed(void)
{
    nfreed = 0;
    on_top = NULL;
}

static void op_create(void)
{
    int k = next() % NCACHES;
    if (caches[k].c)
        return;
    size_t size = next16() % (MAX_OBJ + 1);
    unsigned a = next();
    size_t align = (a & 0x80) ? 3 : (a & 0x40) ? 0 : 1UL << (a % 15); // 3: invalid
    bool with_ctor = next() & 1, dup = false;
    unsigned d = next(); // debug options: Z P U F from the low bits, when bit 7 is set
    unsigned long flags = (d & 0x80) ? (d & 0xf) * SLAB_RED_ZONE : 0;
    char name[16];
    int other = next() % NCACHES;
    if (caches[other].c && (a & 0x20)) { // reuse a live name: must fail
        memcpy(name, caches[other].name, sizeof(name));
        dup = true;
    } else {
        snprintf(name, sizeof(name), "f%d", name_seq++);
    }
    if (with_ctor && size < 8)
        size = 8;
    forget_freed();
    struct kmem_cache *c = kmem_cache_create(name, size, align, flags, with_ctor ? ctor : NULL);
    bool valid = size > 0 && align != 3 && !dup;
    check((c != NULL) == valid);
    if (!c)
        return;
    caches[k] = (struct mcache){c, size, align, with_ctor, 0, {0}};
    memcpy(caches[k].name, name, sizeof(name));
    struct kmem_cache_info info;
    kmem_cache_get_info(c, &info);
    check(info.object_size == size && info.align >= align && info.size >= size);
    check(strcmp(info.name, name) == 0);
}

static void add_obj(uint8_t *p, int cache, size_t size, size_t align)
{
    check(((uintptr_t)p % (align ? align : 8)) == 0 && (uintptr_t)p % 8 == 0);
    check(ksize(p) >= size);
    check(!is_live(p));
    uint8_t fill = (uint8_t)(nobjs * 37 + 11);
    memset(p, fill, size);
    objs[nobjs++] = (struct mobj){p, cache, size, fill};
}

static void op_cache_alloc(void)
{
    int k = next() % NCACHES;
    if (!caches[k].c || nobjs == NOBJS)
        return;
    forget_freed();
    uint8_t *p = kmem_cache_alloc(caches[k].c, GFP_KERNEL);
    if (p == NULL) // out of memory is allowed; nothing else
        return;
    if (caches[k].ctor)
        check(constructed(p));
    caches[k].live++;
    add_obj(p, k, caches[k].size, caches[k].align);
}

static void op_kmalloc(void)
{
    if (nobjs == NOBJS)
        return;
    size_t size = (next16() | (next() & 1) << 16) % (MAX_KMALLOC + 1);
    unsigned a = next();
    size_t align = (a & 0x80) ? 1UL << (a % 17) : 0;
    forget_freed();
    uint8_t *p = align ? kmalloc_aligned(size, align, GFP_KERNEL) : kmalloc(size, GFP_KERNEL);
    if (size == 0) {
        check(p == NULL);
        return;
    }
    if (p)
        add_obj(p, -1, size, align);
}

static void op_free(void)
{
    if (nobjs == 0)
        return;
    int i = next() % nobjs;
    struct mobj o = objs[i];
    for (size_t k = 0; k < o.size; k++)
        check(o.p[k] == o.fill);
    objs[i] = objs[--nobjs];
    uint64_t e0 = slab_error_count();
    if (o.cache >= 0) {
        if (caches[o.cache].ctor) // give it back constructed (Bonwick's contract)
            ctor(o.p);
        kmem_cache_free(caches[o.cache].c, o.p);
        caches[o.cache].live--;
    } else {
        kfree(o.p);
    }
    check(slab_error_count() == e0);
    remember_freed(o.p);
}

// Bulk: all or nothing, and the objects are the model's like any others.
static void op_bulk_alloc(void)
{
    static void *p[64];
    int k = next() % NCACHES;
    size_t n = 1 + next() % 64;
    n = MIN(n, (size_t)(NOBJS - nobjs));
    if (!caches[k].c || n == 0)
        return;
    forget_freed();
    int r = kmem_cache_alloc_bulk(caches[k].c, GFP_KERNEL, n, p);
    check(r == (int)n || r == 0);
    if (r == 0) { // out of memory: nothing taken
        check(cache_info_active(caches[k].c) == (size_t)caches[k].live);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (caches[k].ctor)
            check(constructed(p[i]));
        caches[k].live++;
        add_obj(p[i], k, caches[k].size, caches[k].align);
    }
}

// Up to 64 live objects of one cache (or of kmalloc: kfree_bulk), freed in one call.
static void op_bulk_free(void)
{
    static void *p[64];
    int k = (int)(next() % (NCACHES + 1)) - 1; // -1: kmalloc's blocks
    size_t want = 1 + next() % 64, n = 0;
    if (k >= 0 && !caches[k].c)
        return;
    for (int i = 0; i < nobjs && n < want;) {
        struct mobj o = objs[i];
        if (o.cache != k) {
            i++;
            continue;
        }
        for (size_t b = 0; b < o.size; b++)
            check(o.p[b] == o.fill);
        if (k >= 0 && caches[k].ctor)
            ctor(o.p);
        p[n++] = o.p;
        objs[i] = objs[--nobjs];
    }
    if (n == 0)
        return;
    uint64_t e0 = slab_error_count();
    if (k >= 0) {
        kmem_cache_free_bulk(caches[k].c, n, p);
        caches[k].live -= (int)n;
    } else {
        kfree_bulk(n, p);
    }
    check(slab_error_count() == e0);
    for (size_t i = 0; i < n; i++)
        remember_freed(p[i]); // the last one is on top of its array
}

static void op_shrink(void)
{
    on_top = NULL; // drained
    int k = next() % NCACHES;
    if (!caches[k].c)
        return;
    size_t before = nr_free_pages();
    size_t pages = kmem_cache_shrink(caches[k].c);
    check(nr_free_pages() - before == pages);
    check(cache_info_active(caches[k].c) == (size_t)caches[k].live);
}

static void op_destroy(void)
{
    // Destroy frees the cache's struct into the cache of caches, whose array
    // on this cpu may be made right then (arrays come on first use): an
    // allocation from a kmalloc class, which may reuse a freed address.
    forget_freed();
    int k = next() % NCACHES;
    if (!caches[k].c)
        return;
    int r = kmem_cache_destroy(caches[k].c);
    check(r == (caches[k].live ? -EBUSY : 0));
    if (r == 0)
        caches[k].c = NULL;
}

static void expect_report(void (*bad)(void *, void *), void *a, void *b)
{
    uint64_t e0 = slab_error_count();
    bad(a, b);
    expected_reports++;
    check(slab_error_count() == e0 + 1);
}

static void bad_kfree(void *p, void *unused)
{
    (void)unused;
    kfree(p);
}

static void bad_cache_free(void *c, void *p)
{
    kmem_cache_free(c, p);
}

static void op_bad_free(void)
{
    unsigned kind = next() % 5;
    static uint64_t not_heap;
    if (kind == 0 && nfreed > 0 && full_checks) { // double free
        expect_report(bad_kfree, freed[next() % MIN(nfreed, NFREED)], NULL);
    } else if (kind == 4 && on_top) { // double free of the object freed last
        expect_report(bad_kfree, on_top, NULL);
    } else if (kind == 1 && nobjs > 0 && full_checks) { // interior pointer
        struct mobj *o = &objs[next() % nobjs];
        if (o->size > 1)
            expect_report(bad_kfree, o->p + 1 + next16() % (o->size - 1), NULL);
    } else if (kind == 2 && nobjs > 0) { // wrong cache
        struct mobj *o = &objs[next() % nobjs];
        int k = next() % NCACHES;
        if (caches[k].c && k != o->cache)
            expect_report(bad_cache_free, caches[k].c, o->p);
    } else if (kind == 3) { // not heap at all
        expect_report(bad_kfree, &not_heap, NULL);
    }
}

static void op_reclaim(void)
{
    on_top = NULL;
    slab_reclaim(GFP_KERNEL);
    check(slab_validate_all() == 0);
}

// A reaper round on this cpu (the only one): idle arrays give back some
// objects, barns and free lists what was not needed since the last round.
// Live objects stay the callers' (their bytes are checked when freed).
static void op_reap(void)
{
    on_top = NULL;
    check(slab_reap(true));
    check(slab_validate_all() == 0);
}

// One input byte picks the next operation; allocs and frees come twice as often.
static void (*const ops[])(void) = {
    op_create,  op_cache_alloc, op_cache_alloc, op_kmalloc,    op_free,      op_free, op_shrink,
    op_destroy, op_bad_free,    op_reclaim,     op_bulk_alloc, op_bulk_free, op_reap};

static void run(void)
{
    while (in_len > 0)
        ops[next() % ARRAY_SIZE(ops)]();
}

// slab_init running out of memory at each of its page requests must fail
// cleanly: -ENOMEM, every page back, and a later slab_init works.
static void slab_init_fails_cleanly(void)
{
    host_quiet = true;
    for (unsigned long n = 1;; n++) {
        host_ram_init(RAM_SIZE);
        size_t start = nr_free_pages();
        fault_fail_nth(&fail_page_alloc, n);
        int r = slab_init(PAGE_SIZE, 64);
        unsigned long injected = fail_page_alloc.injected;
        fault_disarm(&fail_page_alloc);
        if (r == 0) { // it made n - 1 requests (6: per-CPU arrays come later, on first use)
            check(injected == 0 && n > 5);
            return;
        }
        check(r == -ENOMEM && injected == 1);
        check(nr_free_pages() == start);
        check(buddy_validate() == 0);
        check(kmem_cache_create("after", 32, 0, 0, NULL) == NULL); // the layer is down
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    slab_init_fails_cleanly();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    host_quiet = true;
    full_checks = size > 0 && (data[0] & 1);
    kmalloc_lazy_classes = size > 0 && (data[0] & 2); // the host library's mode
    check(slab_debug_setup(full_checks ? "slab_debug=F" : "") == 0);
    host_ram_init(RAM_SIZE); // a fresh zone, and then a fresh slab layer on it
    check(slab_init(PAGE_SIZE, 64) == 0);
    slab_reclaim(GFP_KERNEL);
    // Lazily made kmalloc classes keep their structs: counted apart.
    size_t start = nr_free_pages() + slab_meta_pages();
    memset(caches, 0, sizeof(caches));
    nobjs = 0;
    forget_freed();
    expected_reports = 0;
    in = data;
    in_len = size;
    run();
    while (nobjs > 0) { // free everything left, checking it
        in_len = 0;
        op_free();
    }
    for (int k = 0; k < NCACHES; k++)
        if (caches[k].c)
            check(kmem_cache_destroy(caches[k].c) == 0);
    check(slab_error_count() == expected_reports);
    check(slab_validate_all() == 0);
    slab_reclaim(GFP_KERNEL);
    check(nr_free_pages() + slab_meta_pages() == start);
    check(buddy_validate() == 0);
    return 0;
}
