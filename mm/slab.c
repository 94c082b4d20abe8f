// The slab allocator: caches of equal-sized objects, after Bonwick's design
// and Linux's classic mm/slab.c.
//
// A cache owns slabs (2^order frames cut into `num` objects) on three lists:
// full, partial, free. In front of the lists sits one array_cache per cpu, a
// small stack of free object pointers: kmem_cache_alloc pops, kmem_cache_free
// pushes, and only when the stack runs empty (refill) or full (flush) are
// `batchcount` objects moved to or from the slab lists under the cache lock.
// This file holds those object paths; a cache's geometry, creation and
// destruction are in slab_common.c, the debug options in slab_debug.c.
//
// Locks, in the order they nest:
//   chain_lock (the list of caches) -> ac->lock (one per cpu per cache)
//     -> c->lock (the slab lists of one cache) -> the buddy zone lock.
// No slab lock is held while asking the buddy allocator for frames: when it
// runs short it calls slab_reclaim (its reclaim hook), which takes all of them.
//
// Why a lock on a per-CPU array at all? Reclaim, shrink and destroy must empty
// other cpus' arrays. Linux sends each cpu an IPI to drain its own; we take the
// array's lock instead. The owner finds it free on all but the rarest calls,
// so the fast path pays one uncontended amoswap and one release store; there
// is no IPI machinery to write, and the same code is right on the host, where
// cpus are threads (and, in the malloc preload library, may share an index).
// Interrupts are off on the cpu while it holds any of these locks.

#include "slab_internal.h"

#include <errno.h>
#include <string.h>

#include "../lib/sanitizer.h"
#include "buddy.h"

// Slow paths stay out of line, so the fast paths save few registers.
#define NOINLINE __attribute__((noinline))

uint64_t slab_nr_reports;   // reports of bad use since slab_init
struct fault_attr failslab; // fails allocations from SLAB_FAILSLAB caches when armed

void (*slab_release_hook)(struct kmem_cache *c, void *base, unsigned order);

// The slab of an object the slab layer handed out or holds (no range check).
static inline struct slab *obj_slab(const void *obj)
{
    return pfn_to_page((uintptr_t)obj >> PAGE_SHIFT)->slab;
}

static unsigned int slab_pages(const struct kmem_cache *c)
{
    return 1U << c->order;
}

// ---- Reports of bad frees: say what and where, count, change nothing ----

void slab_report_bad(struct kmem_cache *c)
{
    __atomic_add_fetch(&slab_nr_reports, 1, __ATOMIC_RELAXED);
    if (c)
        __atomic_add_fetch(&c->errors, 1, __ATOMIC_RELAXED);
}

uint64_t slab_error_count(void)
{
    return __atomic_load_n(&slab_nr_reports, __ATOMIC_RELAXED);
}

// Check that obj is a live object handed out by the slab layer (of cache
// `want`, if given). Returns its cache and slab and index, or NULL after a
// report. O(1): struct page names the cache and slab, the bufctl its state.
static void report_destroyed(struct kmem_cache *c, const char *who)
{
    report_begin(NULL, "use of a destroyed cache");
    report_line("%s(%p): cache \"%.*s\" was destroyed", who, (void *)c, KMEM_NAME_LEN - 1, c->name);
    report_end(NULL, "ignored");
}

// Reports are multi-line (slab_debug.c: report_begin .. report_end), one
// printk per line, and each counts once.
static struct kmem_cache *obj_lookup(struct kmem_cache *want, const void *obj, const char *who,
                                     struct slab **sp, unsigned int *ip)
{
    struct page *pg = virt_to_page(obj);
    if (pg == NULL || !(page_flags(pg) & PG_slab)) {
        report_begin(want, "free of a pointer the slab layer never handed out");
        report_line("%s(%s%s%p): %p is not in any slab%s", who, want ? want->name : "",
                    want ? ", " : "", obj, obj, pg ? " (a page of RAM not owned by slab)" : "");
        report_end(want, "ignored");
        return NULL;
    }
    struct kmem_cache *c = pg->slab_cache;
    struct slab *s = pg->slab;
    if (want && want->magic != KMEM_CACHE_MAGIC) {
        report_destroyed(want, who);
        return NULL;
    }
    if (want && c != want) {
        report_begin(want, "free into the wrong cache");
        report_line("%s(%s, %p): the object belongs to cache %s", who, want->name, obj, c->name);
        report_end(want, "ignored");
        return NULL;
    }
    unsigned int i = (const char *)obj >= s->s_mem ? obj_to_index(c, s, obj) : c->num;
    if (i >= c->num || index_to_obj(c, s, i) != obj) {
        report_begin(c, i < c->num ? "pointer into an object" : "pointer into slab metadata");
        if (i < c->num) {
            report_line("%s(%p): offset %zu into object %u at %p", who, obj,
                        (size_t)((const char *)obj - (char *)index_to_obj(c, s, i)), i,
                        index_to_obj(c, s, i));
            report_object(c, s, i);
        } else {
            report_line("%s(%p): the slab's descriptor, a red zone or its unused tail", who, obj);
        }
        report_end(c, "ignored");
        return NULL;
    }
    // A debug cache's frees check the state under the cache lock
    // (debug_on_free), where no racing free can slip between check and mark.
    if ((c->flags & SLAB_SLOW_FLAGS) && strcmp(who, "ksize") != 0) {
        *sp = s;
        *ip = i;
        return c;
    }
    bufctl_t st = s->bufctl[i];
    if (st != BUFCTL_ACTIVE) {
        bool uaf = strcmp(who, "ksize") == 0;
        report_begin(c, uaf ? "use after free (ksize of a free object)" : "double free");
        report_line("%s(%p): object %u is %s", who, obj, i,
                    st == BUFCTL_CACHED       ? "already free, in a per-CPU array"
                    : st == BUFCTL_QUARANTINE ? "quarantined (never handed out)"
                                              : "already free, in its slab's free list");
        report_object(c, s, i);
        report_end(c, "ignored");
        return NULL;
    }
    *sp = s;
    *ip = i;
    return c;
}

struct kmem_cache *kmem_cache_of(const void *obj)
{
    struct page *pg = virt_to_page(obj);
    return pg && (page_flags(pg) & PG_slab) ? pg->slab_cache : NULL;
}

// ---- Slabs: make one, move objects between slabs and arrays, free some ----

// Make one slab and put it on the free list. Called with no lock held, since
// alloc_pages may call slab_reclaim; another cpu may grow at the same time.
static NOINLINE bool cache_grow(struct kmem_cache *c)
{
    unsigned long flags = irq_save();
    spin_lock(&c->lock);
    c->lock_count++;
    unsigned int colour = c->colour_next;
    if (++c->colour_next >= c->colour)
        c->colour_next = 0;
    spin_unlock(&c->lock);
    irq_restore(flags);

    // alloc_pages, not alloc_frames: a block of 2^order frames is aligned to
    // its size, which gives alignments beyond a page for free.
    char *base = alloc_pages(c->order);
    if (base == NULL)
        return false;
    char *at = base + colour * c->colour_off;
    struct slab *s = (struct slab *)at;
    if (c->off_slab) {
        s = kmem_cache_alloc(c->slab_desc_cache);
        if (s == NULL) {
            free_pages(base, c->order);
            return false;
        }
    }
    s->s_mem = at + c->mgmt;
    s->colouroff = (uint32_t)(s->s_mem - base);
    s->inuse = 0;
    s->free = 0;
    for (unsigned int i = 0; i < c->num; i++)
        s->bufctl[i] = (bufctl_t)(i + 1 < c->num ? i + 1 : BUFCTL_END);
    // page_flags/set_page_flags: the buddy allocator reads the flags of
    // frames it does not own (is my buddy free?) while merging on another cpu.
    struct page *pg = virt_to_page(base);
    for (unsigned int k = 0; k < slab_pages(c); k++) {
        set_page_flags(&pg[k], page_flags(&pg[k]) | PG_slab);
        pg[k].slab_cache = c;
        pg[k].slab = s;
    }
    if (c->ctor) // once per object, now: objects are handed out constructed
        for (unsigned int i = 0; i < c->num; i++)
            c->ctor(index_to_obj(c, s, i));
    if (c->flags & SLAB_DEBUG_FLAGS)
        debug_init_slab(c, s); // red zones and poison; no ASan poison: the checks read them
    else if (c != &cache_cache)
        mem_poison(s->s_mem, (size_t)c->num * c->size); // free objects are off limits

    flags = irq_save();
    spin_lock(&c->lock);
    c->lock_count++;
    list_add_tail(&s->list, &c->slabs_free);
    c->nr_free_slabs++;
    c->nr_slabs++;
    c->free_objects += c->num;
    c->grows++;
    spin_unlock(&c->lock);
    irq_restore(flags);
    return true;
}

// Give back slabs already taken off their lists. No lock held: off-slab
// descriptors go back through kmem_cache_free of another cache.
NOINLINE size_t slabs_release(struct kmem_cache *c, struct list_head *release)
{
    size_t pages = 0;
    while (!list_empty(release)) {
        struct slab *s = list_first_entry(release, struct slab, list);
        char *base = s->s_mem - s->colouroff;
        list_del(&s->list);
        struct page *pg = virt_to_page(base);
        for (unsigned int k = 0; k < slab_pages(c); k++) { // forget the slab first
            set_page_flags(&pg[k], page_flags(&pg[k]) & ~(uint32_t)PG_slab);
            pg[k].slab_cache = NULL;
            pg[k].slab = NULL;
        }
        if (slab_release_hook)
            slab_release_hook(c, base, c->order);
        if (c->off_slab)
            kmem_cache_free(c->slab_desc_cache, s);
        free_pages(base, c->order);
        pages += slab_pages(c);
    }
    return pages;
}

// Quarantine a slab whose free chain is corrupt: a stray write reached its
// bufctl array (on-slab, it lies just below object 0). The chain cannot be
// trusted, and neither can telling free objects from live ones by their
// bufctl (the write may have hit a live one's marker), so rather than risk
// handing an object out twice every object not known to be out is marked
// BUFCTL_QUARANTINE and never handed out; the slab counts as full. Frees of
// its live objects still work. Destroy does not count quarantined objects as
// live, so the slab's pages go back then. c->lock held.
static NOINLINE void slab_quarantine(struct kmem_cache *c, struct slab *s, unsigned int bad)
{
    unsigned int lost = 0;
    for (unsigned int i = 0; i < c->num; i++) {
        if (s->bufctl[i] != BUFCTL_ACTIVE && s->bufctl[i] != BUFCTL_CACHED &&
            s->bufctl[i] != BUFCTL_QUARANTINE) {
            s->bufctl[i] = BUFCTL_QUARANTINE;
            lost++;
        }
    }
    report_begin(c, "corrupted free chain (slab metadata overwritten)");
    report_line("slab %p (objects at %p): free chain %s %u: not a free object (0..%u)",
                (void *)(s->s_mem - s->colouroff), (void *)s->s_mem,
                bad == s->free ? "starts at" : "links to", bad, c->num - 1);
    report_line("%u free objects quarantined; the slab is never used for allocation again", lost);
    report_end(c, "quarantined");
    c->free_objects -= c->num - s->inuse;
    c->quarantined += lost;
    s->inuse = (uint16_t)c->num;
    s->free = BUFCTL_END;
}

// Take s's first free object, with the index checked before it is used: a
// free chain in range and acyclic never hands out memory outside the slab
// nor an object twice (a revisited index carries ACTIVE/CACHED, not a link).
// False after quarantining s. c->lock held; the caller marks bufctl[*ip].
static inline bool slab_pop(struct kmem_cache *c, struct slab *s, unsigned int *ip)
{
    unsigned int i = s->free;
    if (unlikely(i >= c->num)) {
        slab_quarantine(c, s, i);
        return false;
    }
    bufctl_t next = s->bufctl[i];
    if (unlikely(next >= c->num && next != BUFCTL_END)) {
        slab_quarantine(c, s, next);
        return false;
    }
    s->free = next;
    s->inuse++;
    c->free_objects--;
    *ip = i;
    return true;
}

// Fill an empty array with up to batchcount objects from the slab lists,
// fullest slabs first. ac->lock held. Returns the number moved.
static NOINLINE unsigned int cache_refill(struct kmem_cache *c, struct array_cache *ac)
{
    unsigned int want = ac->batchcount, got = 0;
    spin_lock(&c->lock);
    c->lock_count++;
    while (got < want) {
        struct list_head *l = &c->slabs_partial;
        if (list_empty(l)) {
            l = &c->slabs_free;
            if (list_empty(l))
                break;
            c->nr_free_slabs--;
        }
        struct slab *s = list_first_entry(l, struct slab, list);
        while (s->inuse < c->num && got < want) {
            unsigned int i;
            if (!slab_pop(c, s, &i))
                break; // quarantined: s now counts as full
            s->bufctl[i] = BUFCTL_CACHED;
            ac->entry[ac->avail++] = index_to_obj(c, s, i);
            got++;
        }
        list_move(&s->list, s->inuse == c->num ? &c->slabs_full : &c->slabs_partial);
    }
    spin_unlock(&c->lock);
    ac->refills += got > 0;
    return got;
}

// Put n objects back into their slabs. A slab that becomes empty goes on the
// free list, or onto `release` once the cache keeps free_limit empty slabs.
static void free_block_locked(struct kmem_cache *c, void **objs, unsigned int n,
                              struct list_head *release)
{
    for (unsigned int k = 0; k < n; k++) {
        struct slab *s = obj_slab(objs[k]);
        unsigned int i = obj_to_index(c, s, objs[k]);
        s->bufctl[i] = s->free;
        s->free = (bufctl_t)i;
        s->inuse--;
        c->free_objects++;
        list_del(&s->list);
        if (s->inuse > 0) {
            list_add_tail(&s->list, &c->slabs_partial);
        } else if (c->nr_free_slabs < c->free_limit) {
            list_add(&s->list, &c->slabs_free);
            c->nr_free_slabs++;
        } else {
            list_add(&s->list, release);
            c->nr_slabs--;
            c->free_objects -= c->num;
            c->reaped++;
        }
    }
}

static void free_block(struct kmem_cache *c, void **objs, unsigned int n, struct list_head *release)
{
    spin_lock(&c->lock);
    c->lock_count++;
    free_block_locked(c, objs, n, release);
    spin_unlock(&c->lock);
}

// The array is full: move its oldest batchcount objects (the coldest) back.
static NOINLINE void cache_flusharray(struct kmem_cache *c, struct array_cache *ac,
                                      struct list_head *release)
{
    unsigned int n = ac->batchcount;
    free_block(c, ac->entry, n, release);
    ac->avail -= n;
    memmove(ac->entry, ac->entry + n, ac->avail * sizeof(void *));
    ac->flushes++;
}

// Empty one array (any cpu's) into the slab lists.
static void drain_array(struct kmem_cache *c, struct array_cache *ac, struct list_head *release)
{
    unsigned long flags = irq_save();
    spin_lock(&ac->lock);
    if (ac->avail) {
        free_block(c, ac->entry, ac->avail, release);
        ac->avail = 0;
    }
    spin_unlock(&ac->lock);
    irq_restore(flags);
}

// Drain every array, then take every empty slab off the free list.
void cache_drain(struct kmem_cache *c, struct list_head *release)
{
    for (int cpu = 0; cpu < NCPU; cpu++)
        drain_array(c, c->array[cpu], release);
    unsigned long flags = irq_save();
    spin_lock(&c->lock);
    c->lock_count++;
    while (!list_empty(&c->slabs_free)) {
        list_move(c->slabs_free.next, release);
        c->nr_free_slabs--;
        c->nr_slabs--;
        c->free_objects -= c->num;
        c->reaped++;
    }
    spin_unlock(&c->lock);
    irq_restore(flags);
}

// ---- The fast paths ----

// ---- The debug path ----
//
// Caches with a debug option (or the failslab mark, or destroyed) leave the
// fast path at one unlikely() branch and come here. They bypass the per-CPU
// arrays, as SLUB debug does: an object parked in an array is out of sight
// of the checks (its poison could be checked only when some cpu takes it
// again, a double free of it only when the array drains) and of
// slab_validate. Here every alloc and free works on the slab lists under the
// cache lock, so each is checked, and check-then-mark is atomic: two cpus
// freeing one object at the same instant are serialized and the second is
// reported. It is slow, and meant to be.

static NOINLINE void *debug_alloc(struct kmem_cache *c, const void *caller)
{
    if (c->magic != KMEM_CACHE_MAGIC) {
        report_destroyed(c, "kmem_cache_alloc");
        return NULL;
    }
    if ((c->flags & SLAB_FAILSLAB) && should_fail(&failslab))
        return NULL;
    for (;;) {
        unsigned long flags = irq_save();
        spin_lock(&c->lock);
        c->lock_count++;
        struct slab *s = NULL;
        unsigned int i = 0;
        while (s == NULL && !(list_empty(&c->slabs_partial) && list_empty(&c->slabs_free))) {
            struct list_head *l =
                list_empty(&c->slabs_partial) ? &c->slabs_free : &c->slabs_partial;
            s = list_first_entry(l, struct slab, list);
            if (l == &c->slabs_free)
                c->nr_free_slabs--;
            bool ok = slab_pop(c, s, &i);
            list_move(&s->list, s->inuse == c->num ? &c->slabs_full : &c->slabs_partial);
            if (!ok)
                s = NULL; // quarantined; try the next slab
        }
        if (s) {
            s->bufctl[i] = BUFCTL_ACTIVE;
            c->dbg_allocs++;
            debug_on_alloc(c, s, i, caller);
        }
        spin_unlock(&c->lock);
        irq_restore(flags);
        if (s)
            return index_to_obj(c, s, i);
        if (!cache_grow(c)) // no lock held
            return NULL;
    }
}

static NOINLINE void debug_free(struct kmem_cache *c, void *obj, struct slab *s, unsigned int i,
                                const void *caller)
{
    struct list_head release;
    INIT_LIST_HEAD(&release);
    unsigned long flags = irq_save();
    spin_lock(&c->lock);
    c->lock_count++;
    if (debug_on_free(c, s, i, caller)) { // false: reported, not freed
        free_block_locked(c, &obj, 1, &release);
        c->dbg_frees++;
    }
    spin_unlock(&c->lock);
    irq_restore(flags);
    slabs_release(c, &release);
}

// ---- The fast paths ----

static inline __attribute__((always_inline)) void *slab_alloc(struct kmem_cache *c,
                                                              const void *caller)
{
    if (unlikely(c->flags & SLAB_SLOW_FLAGS))
        return debug_alloc(c, caller);
    void *obj;
    for (;;) {
        unsigned long flags = irq_save();
        struct array_cache *ac = c->array[cpu_id()];
        spin_lock(&ac->lock);
        if (likely(ac->avail > 0) || cache_refill(c, ac)) {
            obj = ac->entry[--ac->avail];
            struct slab *s = obj_slab(obj);
            s->bufctl[obj_to_index(c, s, obj)] = BUFCTL_ACTIVE;
            ac->allocs++;
            spin_unlock(&ac->lock);
            irq_restore(flags);
            break;
        }
        spin_unlock(&ac->lock);
        irq_restore(flags);
        if (!cache_grow(c)) // no lock held; then try the array again
            return NULL;
    }
    mem_unpoison(obj, c->size);
    return obj;
}

static NOINLINE void *null_cache(const char *who)
{
    report_begin(NULL, "NULL cache");
    report_line("%s(NULL)", who);
    report_end(NULL, "ignored");
    return NULL;
}

void *kmem_cache_alloc(struct kmem_cache *c)
{
    if (unlikely(c == NULL))
        return null_cache("kmem_cache_alloc");
    return slab_alloc(c, __builtin_return_address(0));
}

void *slab_alloc_caller(struct kmem_cache *c, const void *caller)
{
    return slab_alloc(c, caller);
}

// Free a checked object: push it on this cpu's array, flushing first if full.
static inline __attribute__((always_inline)) void
cache_free(struct kmem_cache *c, void *obj, struct slab *s, unsigned int i, const void *caller)
{
    if (unlikely(c->flags & SLAB_SLOW_FLAGS)) {
        debug_free(c, obj, s, i, caller);
        return;
    }
    struct list_head release;
    INIT_LIST_HEAD(&release);
    if (c != &cache_cache) // freed caches stay readable: a destroyed one is recognised
        mem_poison(obj, c->size);
    unsigned long flags = irq_save();
    struct array_cache *ac = c->array[cpu_id()];
    spin_lock(&ac->lock);
    if (unlikely(ac->avail == ac->limit))
        cache_flusharray(c, ac, &release);
    s->bufctl[i] = BUFCTL_CACHED;
    ac->entry[ac->avail++] = obj;
    ac->frees++;
    spin_unlock(&ac->lock);
    irq_restore(flags);
    if (unlikely(!list_empty(&release)))
        slabs_release(c, &release);
}

void kmem_cache_free(struct kmem_cache *c, void *obj)
{
    struct slab *s;
    unsigned int i;
    if (unlikely(c == NULL)) {
        null_cache("kmem_cache_free");
        return;
    }
    if (obj && obj_lookup(c, obj, "kmem_cache_free", &s, &i))
        cache_free(c, obj, s, i, __builtin_return_address(0));
}

void slab_free_caller(void *obj, const char *who, const void *caller)
{
    struct slab *s;
    unsigned int i;
    struct kmem_cache *c = obj_lookup(NULL, obj, who, &s, &i);
    if (c)
        cache_free(c, obj, s, i, caller);
}

void slab_free_any(void *obj, const char *who)
{
    slab_free_caller(obj, who, __builtin_return_address(0));
}

size_t slab_obj_size(const void *obj)
{
    struct slab *s;
    unsigned int i;
    struct kmem_cache *c = obj_lookup(NULL, obj, "ksize", &s, &i);
    return c ? c->object_size : 0;
}

// ---- Shrink ----

// The public functions other than alloc and free check their cache: NULL,
// or destroyed. A destroyed cache is recognised by its cleared magic for as
// long as its struct kmem_cache is not reused (see kmem_cache_destroy).
bool cache_ok(struct kmem_cache *c, const char *who)
{
    if (c == NULL) {
        null_cache(who);
        return false;
    }
    if (c->magic != KMEM_CACHE_MAGIC) {
        report_destroyed(c, who);
        return false;
    }
    return true;
}

size_t kmem_cache_shrink(struct kmem_cache *c)
{
    if (!cache_ok(c, "kmem_cache_shrink"))
        return 0;
    struct list_head release;
    INIT_LIST_HEAD(&release);
    cache_drain(c, &release);
    return slabs_release(c, &release);
}
