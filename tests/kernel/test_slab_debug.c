// Self-tests of the slab debug options (mm/slab_debug.c): each kind of bad
// use done on purpose, with the exact number of reports it must cause (as
// Linux's slub KUnit tests count them), then slab_validate finding nothing
// and every page back. Portable (kernel and host); white-box where a test
// must reach into a slab (mm/slab_internal.h).
#include <errno.h>
#include <string.h>

#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"
#include "mm/slab_internal.h"

#define DBG (SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_CONSISTENCY)

static size_t settle(void)
{
    slab_reclaim(GFP_KERNEL);
    return nr_free_pages();
}

// What every test starts from and checks at the end.
struct start {
    size_t pages;
    uint64_t reports;
    unsigned caches;
};

static struct start begin(void)
{
    return (struct start){settle(), slab_error_count(), slab_nr_caches()};
}

static uint64_t reports_since(const struct start *st)
{
    return slab_error_count() - st->reports;
}

// Destroy c, then: nothing wrong anywhere, nothing lost.
static void finish(struct ktest *t, struct kmem_cache *c, const struct start *st)
{
    EXPECT_EQ(t, slab_validate(c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
    EXPECT_EQ(t, slab_validate_all(), 0);
    EXPECT_EQ(t, slab_nr_caches(), st->caches);
    EXPECT_EQ(t, settle(), st->pages);
}

static uint64_t errors_of(struct kmem_cache *c)
{
    struct kmem_cache_info in;
    kmem_cache_get_info(c, &in);
    return in.errors;
}

KTEST(slab_debug, oob_write_right_1_byte)
{
    struct start st = begin();
    struct kmem_cache *c = kmem_cache_create("t_dbg_oob", 37, 0, DBG, NULL);
    ASSERT_NE(t, c, NULL);
    uint8_t *p = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    memset(p, 0x11, 37); // the whole object is fine
    p[37] = 0x42;        // one past the end
    kmem_cache_free(c, p);
    EXPECT_EQ(t, reports_since(&st), 1);
    EXPECT_EQ(t, errors_of(c), 1);
    EXPECT_EQ(t, slab_validate(c), 0);            // repaired
    uint8_t *q = kmem_cache_alloc(c, GFP_KERNEL); // the same object (LIFO), fine again
    EXPECT_EQ(t, q, p);
    kmem_cache_free(c, q);
    EXPECT_EQ(t, reports_since(&st), 1);
    finish(t, c, &st);
}

KTEST(slab_debug, oob_write_left_1_byte)
{
    struct start st = begin();
    struct kmem_cache *c = kmem_cache_create("t_dbg_left", 64, 0, DBG, NULL);
    ASSERT_NE(t, c, NULL);
    uint8_t *p = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    p[-1] = 0x42;
    kmem_cache_free(c, p);
    EXPECT_EQ(t, reports_since(&st), 1);
    finish(t, c, &st);
}

// A freed object written at its first word: found by the next allocation
// of it, once; the caller gets it back with the poison restored.
KTEST(slab_debug, use_after_free_first_word)
{
    struct start st = begin();
    struct kmem_cache *c = kmem_cache_create("t_dbg_uaf", 48, 0, DBG, NULL);
    ASSERT_NE(t, c, NULL);
    uint8_t *p = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    kmem_cache_free(c, p);
    EXPECT(t, p[0] == 0x6b && p[46] == 0x6b && p[47] == 0xa5); // poisoned
    *(uint64_t *)p = 0;                                        // use after free
    EXPECT_EQ(t, reports_since(&st), 0);
    uint8_t *q = kmem_cache_alloc(c, GFP_KERNEL);
    EXPECT_EQ(t, q, p);
    EXPECT_EQ(t, reports_since(&st), 1);
    EXPECT_EQ(t, q[0], 0x6b); // repaired
    kmem_cache_free(c, q);
    EXPECT_EQ(t, reports_since(&st), 1);
    finish(t, c, &st);
}

// Mid-object, found by slab_validate (which reports, counts and repairs).
KTEST(slab_debug, use_after_free_mid_object)
{
    struct start st = begin();
    struct kmem_cache *c = kmem_cache_create("t_dbg_uaf2", 200, 0, DBG, NULL);
    ASSERT_NE(t, c, NULL);
    uint8_t *p = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    kmem_cache_free(c, p);
    p[100] = 0;
    p[101] = 0;
    EXPECT_EQ(t, slab_validate(c), 1);
    EXPECT_EQ(t, reports_since(&st), 1);
    EXPECT_EQ(t, slab_validate(c), 0); // repaired
    uint8_t *q = kmem_cache_alloc(c, GFP_KERNEL);
    kmem_cache_free(c, q);
    EXPECT_EQ(t, reports_since(&st), 1);
    finish(t, c, &st);
}

KTEST(slab_debug, double_free)
{
    struct start st = begin();
    struct kmem_cache *c = kmem_cache_create("t_dbg_df", 64, 0, DBG, NULL);
    ASSERT_NE(t, c, NULL);
    void *p = kmem_cache_alloc(c, GFP_KERNEL), *keep = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT(t, p && keep);
    kmem_cache_free(c, p);
    kmem_cache_free(c, p);
    EXPECT_EQ(t, reports_since(&st), 1);
    kfree(p);
    EXPECT_EQ(t, reports_since(&st), 2);
    struct kmem_cache_info in;
    kmem_cache_get_info(c, &in);
    EXPECT_EQ(t, in.active_objs, 1); // keep; p not counted twice
    kmem_cache_free(c, keep);
    EXPECT_EQ(t, reports_since(&st), 2);
    finish(t, c, &st);
}

KTEST(slab_debug, foreign_wrong_cache_interior)
{
    struct start st = begin();
    struct kmem_cache *a = kmem_cache_create("t_dbg_a", 64, 0, DBG, NULL);
    struct kmem_cache *b = kmem_cache_create("t_dbg_b", 64, 0, DBG, NULL);
    ASSERT(t, a && b);
    uint8_t *p = kmem_cache_alloc(a, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    int local;
    kmem_cache_free(a, &local); // foreign: the stack
    EXPECT_EQ(t, reports_since(&st), 1);
    kfree(&local);
    EXPECT_EQ(t, reports_since(&st), 2);
    kmem_cache_free(b, p); // wrong cache
    EXPECT_EQ(t, reports_since(&st), 3);
    EXPECT_EQ(t, errors_of(b), 1);
    kfree(p + 8); // interior pointer
    EXPECT_EQ(t, reports_since(&st), 4);
    kmem_cache_free(a, p - 1); // in the left red zone
    EXPECT_EQ(t, reports_since(&st), 5);
    EXPECT_EQ(t, errors_of(a), 3); // the foreign free named a too
    kmem_cache_free(a, p);         // still live, still fine
    EXPECT_EQ(t, reports_since(&st), 5);
    EXPECT_EQ(t, kmem_cache_destroy(b), 0);
    finish(t, a, &st);
}

// Z keeps the alignment asked for; objects may be written in full.
KTEST(slab_debug, red_zones_keep_alignment)
{
    static const size_t aligns[] = {0, 8, 16, 64, 256, 4096};
    for (size_t k = 0; k < ARRAY_SIZE(aligns); k++) {
        struct start st = begin();
        struct kmem_cache *c = kmem_cache_create("t_dbg_align", 100, aligns[k], DBG, NULL);
        ASSERT_NE(t, c, NULL);
        struct kmem_cache_info in;
        kmem_cache_get_info(c, &in);
        size_t a = aligns[k] ? aligns[k] : 8;
        EXPECT_EQ(t, in.red_left, ALIGN_UP(8, a));
        EXPECT_GE(t, in.size, 100 + 8 + in.red_left + 32);
        void *p[20];
        for (int i = 0; i < 20; i++) {
            p[i] = kmem_cache_alloc(c, GFP_KERNEL);
            ASSERT_NE(t, p[i], NULL);
            EXPECT_EQ(t, (uintptr_t)p[i] % a, 0);
            memset(p[i], i, 100);
        }
        for (int i = 0; i < 20; i++)
            kmem_cache_free(c, p[i]);
        EXPECT_EQ(t, reports_since(&st), 0);
        finish(t, c, &st);
    }
}

// U: the last alloc and free name the caller (this function) and the cpu.
KTEST(slab_debug, store_user_records_caller)
{
    struct start st = begin();
    struct kmem_cache *c = kmem_cache_create("t_dbg_user", 24, 0, SLAB_STORE_USER, NULL);
    ASSERT_NE(t, c, NULL);
    uint8_t *p = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    struct slab_track *tr = (struct slab_track *)(p + c->track_off);
    uintptr_t fn = (uintptr_t)ktest_slab_debug_store_user_records_caller;
    EXPECT_LT(t, (uintptr_t)tr[0].addr - fn, 4096); // a return address inside this function
    EXPECT_EQ(t, tr[0].cpu, cpu_id());
    EXPECT_EQ(t, tr[1].cpu, -1); // never freed
    kmem_cache_free(c, p);
    EXPECT_LT(t, (uintptr_t)tr[1].addr - fn, 4096);
    EXPECT_GT(t, tr[1].seq, tr[0].seq);
    void *k = kmalloc(3000, GFP_KERNEL); // kmalloc passes its caller's address, not its own
    kfree(k);
    EXPECT_EQ(t, reports_since(&st), 0);
    finish(t, c, &st);
}

// P with a ctor: dropped (Linux's rule), the objects stay constructed.
static void ctor_fill(void *p)
{
    memset(p, 0x5c, 32);
}

KTEST(slab_debug, ctor_cache_not_poisoned)
{
    struct start st = begin();
    struct kmem_cache *c = kmem_cache_create("t_dbg_ctor", 32, 0, DBG, ctor_fill);
    ASSERT_NE(t, c, NULL);
    struct kmem_cache_info in;
    kmem_cache_get_info(c, &in);
    EXPECT(t, !(in.flags & SLAB_POISON) && (in.flags & SLAB_RED_ZONE));
    uint8_t *p = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    EXPECT(t, p[0] == 0x5c && p[31] == 0x5c);
    kmem_cache_free(c, p);
    p = kmem_cache_alloc(c, GFP_KERNEL);
    EXPECT(t, p[0] == 0x5c && p[31] == 0x5c); // still constructed
    p[32] = 1;                                // red zones still on
    kmem_cache_free(c, p);
    EXPECT_EQ(t, reports_since(&st), 1);
    finish(t, c, &st);
}

// Every cpu frees the same object at the same instant: the check and the
// mark happen under the cache lock, so exactly one free wins. Fewer rounds
// on many cpus: each loser prints a report, and the console is one line.
struct race {
    struct kmem_cache *c;
    void *obj; // atomic: the one being freed again
    int rounds, round, arrived;
};

static void race_free(void *arg)
{
    struct race *r = arg;
    for (int k = 0; k < r->rounds; k++) {
        // A start barrier per round: the boot cpu allocates, everyone frees.
        if (cpu_id() == 0) {
            while (__atomic_load_n(&r->arrived, __ATOMIC_ACQUIRE) != (ncpu_online() - 1) * k)
                cpu_relax();
            r->obj = kmem_cache_alloc(r->c, GFP_KERNEL);
            __atomic_store_n(&r->round, k + 1, __ATOMIC_RELEASE);
        } else {
            while (__atomic_load_n(&r->round, __ATOMIC_ACQUIRE) != k + 1)
                cpu_relax();
        }
        kmem_cache_free(r->c, r->obj);
        if (cpu_id() != 0)
            __atomic_add_fetch(&r->arrived, 1, __ATOMIC_RELEASE);
    }
}

KTEST(slab_debug, concurrent_double_free)
{
    struct start st = begin();
    static struct race r;
    int losers = ncpu_online() - 1;
    r = (struct race){kmem_cache_create("t_dbg_race", 64, 0, SLAB_CONSISTENCY, NULL), NULL,
                      losers ? MIN(20, MAX(3, 160 / losers)) : 20, 0, 0};
    ASSERT_NE(t, r.c, NULL);
    run_on_all_cpus(race_free, &r);
    EXPECT_EQ(t, reports_since(&st), r.rounds * losers);
    struct kmem_cache_info in;
    kmem_cache_get_info(r.c, &in);
    EXPECT_EQ(t, in.active_objs, 0);
    finish(t, r.c, &st);
}

// A stray write into a slab's free chain: the bad index is caught before it
// is used, the slab is quarantined (one report), and allocation goes on from
// other slabs; no object is handed out twice or outside the cache.
KTEST(slab_debug, corrupted_free_chain_quarantined)
{
    struct start st = begin();
    // SLAB_FAILSLAB alone (failslab disarmed): the locked path, no zones.
    struct kmem_cache *c = kmem_cache_create("t_dbg_chain", 64, 0, SLAB_FAILSLAB, NULL);
    ASSERT_NE(t, c, NULL);
    uint8_t *x = kmem_cache_alloc(c, GFP_KERNEL), *y = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT(t, x && y);
    struct slab *s = virt_to_page(x)->slab;
    ASSERT(t, s == virt_to_page(y)->slab && s->free < c->num);
    unsigned ix = obj_to_index(c, s, x);
    *slab_bufctl(c, s, s->free) = (bufctl_t)ix;   // a link back to a live object: a cycle
    uint8_t *z = kmem_cache_alloc(c, GFP_KERNEL); // the object at the head is still good
    ASSERT_NE(t, z, NULL);
    EXPECT_EQ(t, reports_since(&st), 0);
    uint8_t *w = kmem_cache_alloc(c, GFP_KERNEL); // next would be x again: caught
    ASSERT_NE(t, w, NULL);
    EXPECT_EQ(t, reports_since(&st), 1);
    EXPECT(t, w != x && w != y && w != z && kmem_cache_of(w) == c);
    EXPECT_NE(t, virt_to_page(w)->slab, s);
    EXPECT_EQ(t, slab_validate(c), 0);
    struct slab *s2 = virt_to_page(w)->slab;
    s2->free = 5000; // out of range outright
    void *v = kmem_cache_alloc(c, GFP_KERNEL);
    EXPECT_EQ(t, reports_since(&st), 2);
    EXPECT(t, v != NULL && virt_to_page(v)->slab != s2);
    EXPECT_EQ(t, slab_validate(c), 0);
    kmem_cache_free(c, x);
    kmem_cache_free(c, y);
    kmem_cache_free(c, z);
    kmem_cache_free(c, w);
    kmem_cache_free(c, v);
    EXPECT_EQ(t, reports_since(&st), 2);
    finish(t, c, &st); // quarantined slabs go back at destroy
}

// The same stray write in a plain cache (no debug option: no markers): the
// link out of range is caught before use, the slab is quarantined, and
// the objects that were live when it happened are freed later like any
// other, with no report.
KTEST(slab_debug, corrupted_chain_in_a_plain_cache)
{
    struct start st = begin();
    struct kmem_cache *c = kmem_cache_create("t_dbg_plain_chain", 64, 0, 0, NULL);
    ASSERT_NE(t, c, NULL);
    struct kmem_cache_info in;
    kmem_cache_get_info(c, &in);
    if (in.flags & SLAB_DEBUG_FLAGS) {
        kmem_cache_destroy(c);
        KTEST_SKIP(t, "slab_debug= gave this cache debug options: it is not a plain cache");
    }
    enum { N = 200 };
    static void *objs[N];
    void *x = kmem_cache_alloc(c, GFP_KERNEL); // one refill: the rest of the batch is in the array
    ASSERT_NE(t, x, NULL);
    for (int i = 0; i < N; i++) // objects of x's slab, given back onto its chain by shrink
        ASSERT_NE(t, (objs[i] = kmem_cache_alloc(c, GFP_KERNEL)), NULL);
    for (int i = 0; i < N; i++)
        kmem_cache_free(c, objs[i]);
    kmem_cache_shrink(c);
    struct slab *s = virt_to_page(x)->slab;
    ASSERT_LT(t, s->free, c->num);      // the slab has free objects on its chain
    *slab_bufctl(c, s, s->free) = 9999; // a link out of range
    for (int i = 0; i < N; i++)         // a refill meets the bad link
        ASSERT_NE(t, (objs[i] = kmem_cache_alloc(c, GFP_KERNEL)), NULL);
    EXPECT_EQ(t, reports_since(&st), 1);
    EXPECT_EQ(t, strcmp(slab_last_report(), "corrupted free chain (slab metadata overwritten)"), 0);
    for (int i = 0; i < N; i++) {
        EXPECT_NE(t, objs[i], x);
        kmem_cache_free(c, objs[i]);
    }
    kmem_cache_free(c, x); // live when the chain broke: a good free
    EXPECT_EQ(t, reports_since(&st), 1);
    finish(t, c, &st); // quarantined slabs go back at destroy
}

// A caller's stale free racing the release of the slab (a debug cache:
// only it can tell a stale free from a good one): reported, never a crash,
// nothing corrupted. One cpu frees and shrinks in a loop; the others free
// the same pointer again while that happens. A round ends when some other
// cpu has made its stale free (or the first cpu could finish before the
// others start, and nothing would be tested).
static struct stale {
    struct kmem_cache *c;
    void *obj;               // the one being freed again, published with round
    int rounds, round, done; // round, done: atomic
    int frees;               // atomic: stale frees made
} stale;

static void stale_cpu(void *arg)
{
    (void)arg;
    if (cpu_id() == 0) {
        for (int r = 1; r <= stale.rounds; r++) {
            void *p = kmem_cache_alloc(stale.c, GFP_KERNEL);
            if (p == NULL)
                continue;
            kmem_cache_free(stale.c, p);
            stale.obj = p; // now stale
            __atomic_store_n(&stale.round, r, __ATOMIC_RELEASE);
            kmem_cache_shrink(stale.c);
            while (__atomic_load_n(&stale.frees, __ATOMIC_ACQUIRE) < r)
                cpu_relax();
        }
        __atomic_store_n(&stale.done, 1, __ATOMIC_RELEASE);
        return;
    }
    int last = 0;
    while (!__atomic_load_n(&stale.done, __ATOMIC_ACQUIRE)) {
        int r = __atomic_load_n(&stale.round, __ATOMIC_ACQUIRE);
        if (r != last) {
            kfree(stale.obj); // always wrong: freed already, maybe released already
            __atomic_add_fetch(&stale.frees, 1, __ATOMIC_RELEASE);
            last = r;
        }
        cpu_relax();
    }
}

KTEST(slab_debug, stale_free_racing_release)
{
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
    KTEST_SKIP(t, "stages a caller's race on purpose: ThreadSanitizer rightly reports it");
#endif
#endif
    struct start st = begin();
    if (ncpu_online() < 2)
        KTEST_SKIP(t, "needs 2 cpus");
    stale.c = kmem_cache_create("t_dbg_stale", 96, 0, SLAB_CONSISTENCY, NULL);
    ASSERT_NE(t, stale.c, NULL);
    stale.obj = NULL;
    stale.rounds = 20;
    stale.round = stale.done = stale.frees = 0;
    run_on_all_cpus(stale_cpu, NULL);
    EXPECT_GE(t, reports_since(&st), 1); // every stale free reported, none taken
    struct kmem_cache_info in;
    kmem_cache_get_info(stale.c, &in);
    EXPECT_EQ(t, in.active_objs, 0);
    EXPECT_EQ(t, slab_validate(stale.c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(stale.c), 0);
    EXPECT_EQ(t, slab_validate_all(), 0);
    EXPECT_EQ(t, settle(), st.pages);
}

// slab_validate finds what is wrong (and the tests' zeros mean something).
KTEST(slab_debug, validate_finds_bad_counts)
{
    struct start st = begin();
    struct kmem_cache *c = kmem_cache_create("t_dbg_val", 64, 0, SLAB_FAILSLAB, NULL);
    ASSERT_NE(t, c, NULL);
    void *p = kmem_cache_alloc(c, GFP_KERNEL);
    ASSERT_NE(t, p, NULL);
    EXPECT_EQ(t, slab_validate(c), 0);
    c->node->free_objects++;
    EXPECT_GE(t, slab_validate(c), 1);
    c->node->free_objects--;
    struct slab *s = virt_to_page(p)->slab;
    bufctl_t keep = *slab_bufctl(c, s, s->free);
    *slab_bufctl(c, s, s->free) = 9999; // a broken chain
    EXPECT_GE(t, slab_validate(c), 1);
    *slab_bufctl(c, s, s->free) = keep;
    EXPECT_EQ(t, slab_validate(c), 0);
    kmem_cache_free(c, p);
    EXPECT_EQ(t, reports_since(&st), 0);
    finish(t, c, &st);
}

// slab_debug= from the command line reaches the caches it names.
KTEST(slab_debug, boot_option_parsing)
{
    struct start st = begin();
    ASSERT_EQ(t, slab_debug_setup("ktest slab_debug=zp,t_bootdbg*,other"), 0);
    struct kmem_cache *a = kmem_cache_create("t_bootdbg_1", 40, 0, 0, NULL);
    struct kmem_cache *b = kmem_cache_create("t_nodebug", 40, 0, 0, NULL);
    EXPECT_EQ(t, slab_debug_setup("slab_debug=FQ"), -EINVAL); // nothing changed
    struct kmem_cache *d = kmem_cache_create("other", 40, 0, 0, NULL);
    EXPECT_EQ(t, slab_debug_setup("slab_panic_on_report=1"), 0);
    EXPECT(t, slab_panic_on_report);
    slab_debug_setup(ktest_args); // back to what the system booted with
    ASSERT(t, a && b && d);
    struct kmem_cache_info ia, ib, id;
    kmem_cache_get_info(a, &ia);
    kmem_cache_get_info(b, &ib);
    kmem_cache_get_info(d, &id);
    EXPECT_EQ(t, ia.flags & SLAB_DEBUG_FLAGS, SLAB_RED_ZONE | SLAB_POISON);
    EXPECT_EQ(t, id.flags & SLAB_DEBUG_FLAGS, SLAB_RED_ZONE | SLAB_POISON);
    EXPECT_EQ(t, ib.flags & SLAB_DEBUG_FLAGS, 0); // made while only t_bootdbg*,other were named
    EXPECT_EQ(t, kmem_cache_destroy(b), 0);
    EXPECT_EQ(t, kmem_cache_destroy(d), 0);
    EXPECT_EQ(t, reports_since(&st), 0);
    finish(t, a, &st);
}
