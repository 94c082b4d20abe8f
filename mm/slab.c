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
// An array has no lock. Its cpu touches it inside its per-CPU section
// (local_lock_irqsave: interrupts off in the kernel), so an interrupt
// handler that allocates never finds it half-changed; no other cpu touches
// it at all: shrink, reclaim and destroy ask each cpu to empty its own, by
// cross-call (drain_local), as Linux's drain_cpu_caches does. The interrupt
// rules and the lock order are in lib/platform.h.
//
// The fast paths (kmem_cache_alloc, kmem_cache_free, and kmalloc and kfree
// in kmalloc.c) are leaf functions: everything rare is a tail call, and a
// cache that must always take the slow path (debug options, failslab,
// destroyed) has arrays of limit 0, so the fast path tests no flag. So does
// a cpu that has no array of a cache yet: arrays are made on first use
// (array_install), and reclaim gives them back (drop_local).

#include "slab_internal.h"

#include <errno.h>
#include <string.h>

#include "buddy.h"

// Slow paths stay out of line, so the fast paths save few registers.
#define NOINLINE __attribute__((noinline))

uint64_t slab_nr_reports;           // reports of bad use since slab_init
struct fault_attr failslab;         // fails allocations from SLAB_FAILSLAB caches when armed
struct array_cache slab_no_array;   // every cpu's array of a cache without arrays
struct array_cache slab_lazy_array; // a cpu's array of a plain cache, not made yet

void (*slab_release_hook)(struct kmem_cache *c, void *base, unsigned order);

// The slab of an object the slab layer handed out or holds (no range check):
// its slab is on a list or in use, so nothing changes the field meanwhile.
static inline struct slab *obj_slab(const void *obj)
{
    return pfn_to_page((uintptr_t)obj >> PAGE_SHIFT)->slab;
}

// What a caller's pointer names may be stale: its slab may be given back at
// this instant (the buddy allocator then writes the word `slab` shares with
// `lru`), or grown anew over the same frames. That is the caller's bug, and
// a race by nature; each value is read once and checked, never trusted.
static struct slab *slab_of_untrusted(struct page *pg)
{
    return *(struct slab *volatile *)&pg->slab;
}

// ... and that slab's descriptor may be freed by now (an off-slab one is a
// kmalloc object). The kernel's memory stays mapped, so the read is safe;
// ASan, on the host, is told it is meant.
static __attribute__((no_sanitize_address)) char *s_mem_untrusted(const struct slab *s)
{
    return *(char *const volatile *)&s->s_mem;
}

static unsigned int slab_pages(const struct kmem_cache *c)
{
    return 1U << c->order;
}

static bool slow_cache(const struct kmem_cache *c)
{
    return (c->flags & SLAB_SLOW_FLAGS) != 0;
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

static void report_destroyed(struct kmem_cache *c, const char *who)
{
    report_begin(NULL, "use of a destroyed cache");
    report_line("%s(%p): cache \"%.*s\" was destroyed", who, (void *)c, KMEM_NAME_LEN - 1, c->name);
    report_end(NULL, "ignored");
}

static NOINLINE void *null_cache(const char *who)
{
    report_begin(NULL, "NULL cache");
    report_line("%s(NULL)", who);
    report_end(NULL, "ignored");
    return NULL;
}

// Check that obj is an object handed out by the slab layer (of cache
// `want`, if given), at an object's first byte. Returns its cache and slab
// and index, or NULL after a report. O(1): struct page names the cache and
// slab. In a debug cache the object's state is checked too, but later, by
// debug_on_free under the cache lock (no racing free can slip between check
// and mark); ksize checks it here. Reports are multi-line (slab_debug.c:
// report_begin .. report_end), one printk per line, and each counts once.
static struct kmem_cache *obj_lookup(struct kmem_cache *want, const void *obj, const char *who,
                                     struct slab **sp, unsigned int *ip)
{
    // A frame's cache and slab are read once each, without the cache lock: a
    // caller's stale pointer may race with slab_doom, which clears them.
    struct page *pg = virt_to_page(obj);
    struct kmem_cache *c = pg ? READ_ONCE(pg->slab_cache) : NULL;
    struct slab *s = pg ? slab_of_untrusted(pg) : NULL;
    if (pg == NULL || !(page_flags(pg) & PG_slab) || c == NULL || s == NULL) {
        report_begin(want, "free of a pointer the slab layer never handed out");
        report_line("%s(%s%s%p): %p is not in any slab%s", who, want ? want->name : "",
                    want ? ", " : "", obj, obj, pg ? " (a page of RAM not owned by slab)" : "");
        report_end(want, "ignored");
        return NULL;
    }
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
    char *mem = s_mem_untrusted(s);
    size_t off = (size_t)((const char *)obj - mem);
    unsigned int i =
        (const char *)obj >= mem ? (unsigned int)((off * c->reciprocal) >> 32) : c->num;
    if (i >= c->num || mem + (size_t)i * c->size != obj) {
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
    if (slow_cache(c) && strcmp(who, "ksize") == 0 && *slab_bufctl(c, s, i) != BUFCTL_ACTIVE) {
        report_begin(c, "use after free (ksize of a free object)");
        report_line("ksize(%p): object %u is %s", obj, i,
                    *slab_bufctl(c, s, i) == BUFCTL_QUARANTINE ? "quarantined (never handed out)"
                                                               : "free, in its slab's free list");
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
    return pg && (page_flags(pg) & PG_slab) ? READ_ONCE(pg->slab_cache) : NULL;
}

// ---- Slabs: make one, move objects between slabs and arrays, free some ----

// Make one slab, not yet on any list: the caller takes objects from it
// first, then links it (slab_link). Called with no lock held and in no
// section, since alloc_pages may call slab_reclaim; another cpu may grow at
// the same time.
static NOINLINE struct slab *cache_grow(struct kmem_cache *c, gfp_t gfp, const void *caller)
{
    gfp = gfp_check_context(gfp, caller); // growing may wait: judged as the caller's request
    spin_lock(&c->node->list_lock);
    c->lock_count++;
    // LAB geometry.colour_next: begin
    unsigned int colour = c->node->colour_next;
    if (++c->node->colour_next >= c->colour)
        c->node->colour_next = 0;
    // LAB geometry.colour_next: end
    spin_unlock(&c->node->list_lock);

    // alloc_pages, not alloc_frames: a block of 2^order frames is aligned to
    // its size, which gives alignments beyond a page for free.
    char *base = alloc_pages(gfp & ~__GFP_ZERO, c->order);
    if (base == NULL)
        return NULL;
    char *at = base + colour * c->colour_off;
    struct slab *s = (struct slab *)at;
    if (c->off_slab) {
        // Straight from the lists, as slabs_release gives it back: making a
        // cpu's array may grow a slab, whose descriptor must not need an
        // array of its own cache made first.
        s = alloc_no_array(c->slab_desc_cache, gfp & ~__GFP_ZERO, caller);
        if (s == NULL) {
            free_pages(base, c->order);
            return NULL;
        }
    }
    s->s_mem = at + c->mgmt;
    s->colouroff = (uint32_t)(s->s_mem - base);
    s->inuse = 0;
    // page_flags/set_page_flags: the buddy allocator reads the flags of
    // frames it does not own (is my buddy free?) while merging on another cpu.
    struct page *pg = virt_to_page(base);
    for (unsigned int k = 0; k < slab_pages(c); k++) {
        set_page_flags(&pg[k], page_flags(&pg[k]) | PG_slab);
        WRITE_ONCE(pg[k].slab_cache, c);
        WRITE_ONCE(pg[k].slab, (void *)s);
        WRITE_ONCE(pg[k].s_mem, s->s_mem);
    }
    if (c->ctor) // once per object, now: objects are handed out constructed
        for (unsigned int i = 0; i < c->num; i++)
            c->ctor(index_to_obj(c, s, i));
    if (c->flags & SLAB_DEBUG_FLAGS)
        debug_init_slab(c, s); // red zones and poison; no ASan poison: the checks read them
    else if (c != &cache_cache)
        mem_poison(s->s_mem, (size_t)c->num * c->size); // free objects are off limits
    // A plain cache's free chain is written into the objects, so it starts
    // empty and every object fresh. A marked cache's chain is made whole now:
    // its bufctl words say which objects are out.
    if (slow_cache(c)) {
        s->free = 0;
        s->fresh = c->num;
        for (unsigned int i = 0; i < c->num; i++)
            set_bufctl(c, s, i, i + 1 < c->num ? i + 1 : BUFCTL_END);
    } else {
        s->free = BUFCTL_END;
        s->fresh = 0;
    }
    return s;
}

// A new slab joins its cache (counted) and goes on the list its use says.
// Objects already taken from it (slab_pop) were counted off free_objects.
// c->node->list_lock held.
static void slab_link(struct kmem_cache *c, struct slab *s)
{
    c->node->nr_slabs++;
    c->node->free_objects += c->num;
    c->grows++;
    c->node->slabs_needed++;
    // A slab made again after a free gave one back: the cache churns. One
    // more empty slab may stay from now on, up to free_limit_max, until the
    // reaper sets the limit to the working set again.
    if (c->node->gave_back > 0) {
        c->node->gave_back--;
        if (c->free_limit < c->free_limit_max)
            c->free_limit++;
    }
    if (s->inuse == 0) {
        list_add(&s->list, &c->node->slabs_free);
        c->node->nr_free_slabs++;
    } else {
        list_add(&s->list, s->inuse == c->num ? &c->node->slabs_full : &c->node->slabs_partial);
    }
}

// A slab leaves the free list to be used again: the reaper's working set
// counts it. c->node->list_lock held.
static void free_slab_taken(struct kmem_cache_node *n)
{
    n->nr_free_slabs--;
    n->slabs_needed++;
    n->low_free_slabs = MIN(n->low_free_slabs, n->nr_free_slabs);
}

static void free_block_locked(struct kmem_cache *c, void **objs, unsigned int n,
                              struct list_head *release);
static void debug_free(struct kmem_cache *c, void *obj, struct slab *s, unsigned int i,
                       const void *caller);

// An object straight back to its slab, not through an array: no per-CPU
// section is entered (in a debug cache, checked as any free).
static void free_to_slab(struct kmem_cache *c, void *obj)
{
    if (slow_cache(c)) {
        struct slab *s = obj_slab(obj);
        debug_free(c, obj, s, obj_to_index(c, s, obj), __builtin_return_address(0));
        return;
    }
    spin_lock(&c->node->list_lock);
    c->lock_count++;
    free_block_locked(c, &obj, 1, NULL);
    spin_unlock(&c->node->list_lock);
}

// An empty slab leaves its cache for `release`: its frames stop naming it
// now, under the cache lock, so a stale free that takes the lock later
// (debug_free) sees it gone before slabs_release frees anything. c->node->list_lock held.
void slab_doom(struct kmem_cache *c, struct slab *s, struct list_head *release)
{
    list_move(&s->list, release);
    struct page *pg = virt_to_page(s->s_mem - s->colouroff);
    for (unsigned int k = 0; k < slab_pages(c); k++) {
        set_page_flags(&pg[k], page_flags(&pg[k]) & ~(uint32_t)PG_slab);
        WRITE_ONCE(pg[k].slab_cache, NULL);
        WRITE_ONCE(pg[k].slab, NULL);
        WRITE_ONCE(pg[k].s_mem, NULL);
    }
}

// Up to n empty slabs, the coldest first, leave the free list for
// `release` (slabs_release frees them). c->node->list_lock held.
void free_slabs_doom(struct kmem_cache *c, unsigned int n, struct list_head *release)
{
    struct kmem_cache_node *node = c->node;
    for (unsigned int k = 0; k < n && !list_empty(&node->slabs_free); k++) {
        slab_doom(c, list_entry(node->slabs_free.prev, struct slab, list), release);
        node->nr_free_slabs--;
        node->nr_slabs--;
        node->free_objects -= c->num;
        c->reaped++;
    }
    node->low_free_slabs = MIN(node->low_free_slabs, node->nr_free_slabs);
}

// Give back slabs already doomed (slab_doom). Enters no per-CPU section
// and so may run with chain_lock held (slab_reclaim): an off-slab
// descriptor goes back to its slab in the descriptor cache directly.
NOINLINE size_t slabs_release(struct kmem_cache *c, struct list_head *release)
{
    size_t pages = 0;
    while (!list_empty(release)) {
        struct slab *s = list_first_entry(release, struct slab, list);
        char *base = s->s_mem - s->colouroff;
        list_del(&s->list);
        if (slab_release_hook)
            slab_release_hook(c, base, c->order);
        if (c->off_slab)
            free_to_slab(c->slab_desc_cache, s);
        free_pages(base, c->order);
        pages += slab_pages(c);
    }
    return pages;
}

// Quarantine a slab whose free chain is corrupt: a stray write reached a
// free object's bufctl (a write after free, in a plain cache). The chain cannot be
// trusted, so its free objects are given up: the slab counts them as out
// (it is full) and c->quarantined remembers them; it is never allocated
// from again except for objects freed into it later, which start a new,
// good chain. A debug cache marks the lost objects, so a free of one is a
// double free. Destroy does not count quarantined objects as live, so the
// slab's pages go back then. c->node->list_lock held.
static NOINLINE void slab_quarantine(struct kmem_cache *c, struct slab *s, unsigned int bad)
{
    unsigned int lost = c->num - s->inuse;
    if (slow_cache(c))
        for (unsigned int i = 0; i < c->num; i++)
            if (*slab_bufctl(c, s, i) != BUFCTL_ACTIVE)
                *slab_bufctl(c, s, i) = BUFCTL_QUARANTINE;
    report_begin(c, "corrupted free chain (slab metadata overwritten)");
    report_line("slab %p (objects at %p): free chain %s %u: not a free object (0..%u)",
                (void *)(s->s_mem - s->colouroff), (void *)s->s_mem,
                bad == s->free ? "starts at" : "links to", bad, c->num - 1);
    report_line("%u free objects quarantined; the slab is never used for allocation again", lost);
    report_end(c, "quarantined");
    c->node->free_objects -= lost;
    c->quarantined += lost;
    s->inuse = c->num;
    s->free = BUFCTL_END;
    s->fresh = c->num;
}

// Take s's first free object, with the index checked before it is used: a
// free chain in range never hands out memory outside the slab. In a debug
// cache a live object carries BUFCTL_ACTIVE, not a link, so a chain that
// loops back to one is caught too. Only marked caches come here: their
// slabs have no fresh objects. False after quarantining s. c->node->list_lock held.
static inline bool slab_pop(struct kmem_cache *c, struct slab *s, unsigned int *ip)
{
    unsigned int i = s->free;
    if (unlikely(i >= c->num)) {
        slab_quarantine(c, s, i);
        return false;
    }
    bufctl_t next = *slab_bufctl(c, s, i);
    if (unlikely(next >= c->num && next != BUFCTL_END)) {
        slab_quarantine(c, s, next);
        return false;
    }
    s->free = next;
    s->inuse++;
    c->node->free_objects--;
    *ip = i;
    return true;
}

// Move up to `want` free objects of slab s into ac: down its free chain
// (objects freed before, likely still cached), then its fresh ones, which
// are only counted off: their memory is not touched. Each link is checked
// before it is used, as slab_pop does: a link out of range quarantines the
// slab, and nothing outside it is handed out. (Caches without arrays, the
// debug ones, never come here.) c->node->list_lock held.
static unsigned int take_from_slab(struct kmem_cache *c, struct slab *s, struct array_cache *ac,
                                   unsigned int want)
{
    unsigned int num = c->num, i = s->free, got = 0, off = c->bufctl_off;
    void **to = &ac->entry[ac->avail];
    while (got < want && i < num) {
        char *obj = index_to_obj(c, s, i);
        to[got++] = obj;
        i = *(bufctl_t *)(obj + off);
    }
    if (i == BUFCTL_END)
        while (got < want && s->fresh < num)
            to[got++] = index_to_obj(c, s, s->fresh++);
    s->free = i;
    s->inuse += got;
    c->node->free_objects -= got;
    ac_set_avail(ac, ac->avail + got);
    if (unlikely(i >= num && i != BUFCTL_END))
        slab_quarantine(c, s, i);
    return got;
}

// Fill an empty array with up to batchcount objects from the slab lists,
// partial slabs first. Returns the number moved. Inline: it is most of a
// refill, which the kernel's budget counts (alloc_no_array has a copy).
static inline __attribute__((always_inline)) unsigned int cache_refill(struct kmem_cache *c,
                                                                       struct array_cache *ac)
{
    unsigned int want = ac->batchcount, got = 0;
    spin_lock(&c->node->list_lock);
    c->lock_count++;
    while (got < want) {
        struct list_head *l = &c->node->slabs_partial;
        if (list_empty(l)) {
            l = &c->node->slabs_free;
            if (list_empty(l))
                break;
            free_slab_taken(c->node);
        }
        struct slab *s = list_first_entry(l, struct slab, list);
        got += take_from_slab(c, s, ac, want - got);
        list_move(&s->list, s->inuse == c->num ? &c->node->slabs_full : &c->node->slabs_partial);
    }
    c->refills += got > 0;
    spin_unlock(&c->node->list_lock);
    return got;
}

// An empty slab goes on the free list or, once the cache keeps free_limit
// empty slabs, onto `release` (NULL: keep every one; the caller frees
// them). c->node->list_lock held.
static void slab_now_empty(struct kmem_cache *c, struct slab *s, struct list_head *release)
{
    if (release == NULL || c->node->nr_free_slabs < c->free_limit) {
        list_move(&s->list, &c->node->slabs_free);
        c->node->nr_free_slabs++;
    } else {
        slab_doom(c, s, release);
        c->node->nr_slabs--;
        c->node->free_objects -= c->num;
        c->node->gave_back++;
        c->reaped++;
    }
}

// Put n objects back into their slabs: each on the front of its slab's free
// chain. A slab moves list only when it becomes empty or stops being full.
// c->node->list_lock held.
static void free_block_locked(struct kmem_cache *c, void **objs, unsigned int n,
                              struct list_head *release)
{
    unsigned int full = c->num, off = c->bufctl_off;
    for (unsigned int k = 0; k < n; k++) {
        char *obj = objs[k];
        struct slab *s = obj_slab(obj);
        bufctl_t *b = (bufctl_t *)(obj + off); // slab_bufctl, from the object in hand
        mem_unpoison(b, sizeof(*b));
        *b = s->free;
        s->free = obj_to_index(c, s, obj);
        unsigned int inuse = --s->inuse;
        if (unlikely(inuse == 0))
            slab_now_empty(c, s, release);
        else if (unlikely(inuse == full - 1))
            list_move_tail(&s->list, &c->node->slabs_partial);
    }
    c->node->free_objects += n;
}

// The array is full: move its oldest batchcount objects (the coldest) back.
static void cache_flusharray(struct kmem_cache *c, struct array_cache *ac,
                             struct list_head *release)
{
    // LAB array.flush: begin
    unsigned int n = MIN(ac->batchcount, ac->avail);
    spin_lock(&c->node->list_lock);
    c->lock_count++;
    c->flushes++;
    free_block_locked(c, ac->entry, n, release);
    spin_unlock(&c->node->list_lock);
    // The rest slide down, a word at a time (picolibc's memmove goes by bytes).
    unsigned long rest = ac->avail - n;
    for (unsigned long k = 0; k < rest; k++)
        ac->entry[k] = ac->entry[k + n];
    ac_set_avail(ac, rest);
    // LAB array.flush: end
}

// This cpu's array of c and its spare emptied into the slab lists (counted
// as one acquisition of the list lock, which the caller holds).
static void empty_pair_locked(struct kmem_cache *c, struct array_cache *ac)
{
    struct array_cache *sp = ac->spare;
    c->lock_count++;
    free_block_locked(c, ac->entry, ac->avail, NULL);
    if (sp)
        free_block_locked(c, sp->entry, sp->avail, NULL);
}

// A cross-call function (so: on the array's own cpu, in its section): empty
// this cpu's array of cache c into the slab lists. Empty slabs stay on the
// free list; the caller frees them.
void drain_local(void *cache)
{
    struct kmem_cache *c = cache;
    struct array_cache *ac = c->array[cpu_id()], *sp = ac->spare;
    if (ac->avail == 0 && (sp == NULL || sp->avail == 0))
        return;
    spin_lock(&c->node->list_lock);
    empty_pair_locked(c, ac);
    spin_unlock(&c->node->list_lock);
    ac_set_avail(ac, 0);
    if (sp)
        ac_set_avail(sp, 0);
}

// A cross-call function, or the cpu itself in its section: empty this
// cpu's array of c into the slab lists and give the array back; the cpu is
// on slab_lazy_array again and makes a new array when it next needs one.
// (slab_reclaim, and a cpu going offline.)
void drop_local(void *cache)
{
    struct kmem_cache *c = cache;
    int cpu = cpu_id();
    struct array_cache *ac = c->array[cpu];
    if (ac->limit == 0) // none made, or a cache without arrays
        return;
    spin_lock(&c->node->list_lock);
    empty_pair_locked(c, ac);
    // under the lock: kmem_cache_get_info reads arrays under it
    WRITE_ONCE(c->array[cpu], &slab_lazy_array);
    spin_unlock(&c->node->list_lock);
    array_free_pair(ac);
}

// An array back to the kmalloc class it came from, as it came: straight to
// its slab (free_to_slab), not through any per-CPU array.
void array_free(struct array_cache *ac)
{
    struct kmem_cache *home = kmem_cache_of(ac);
    if (!slow_cache(home))
        mem_poison(ac, home->size); // free objects are off limits (ASan)
    free_to_slab(home, ac);
}

void array_free_pair(struct array_cache *ac)
{
    if (ac->spare)
        array_free(ac->spare);
    array_free(ac);
}

// Swap this cpu's array of c with its spare (in the section). The spare
// points to the current array before it becomes the current one, so a
// reader of other cpus' arrays (where_free) finds both through
// c->array[cpu] at every moment. Returns the new current array.
static struct array_cache *swap_spare(struct kmem_cache *c, int cpu, struct array_cache *ac)
{
    struct array_cache *sp = ac->spare;
    WRITE_ONCE(sp->spare, ac);
    WRITE_ONCE(c->array[cpu], sp);
    WRITE_ONCE(ac->spare, NULL);
    return sp;
}

// The reaper's visit to this cpu's array of c (slab_reap.c; we are in the
// section). An array that its cpu's slow paths touched since the last visit
// is only marked untouched. An untouched one gives back its spare's objects
// (Bonwick's previous magazine: the colder of the two), or, with the spare
// empty, the current array's coldest batchcount; an untouched pair with
// nothing in it is given back itself. So a cpu that stopped using the
// cache holds none of it a few visits later, and one that still uses it
// loses at most a sheaf, which costs it a refill or two. Slabs it empties
// stay on the free list, for the node trim.
void reap_local(struct kmem_cache *c)
{
    struct array_cache *ac = c->array[cpu_id()], *sp = ac->spare;
    if (ac->limit == 0) // none made, or a cache without arrays
        return;
    if (ac->touched) {
        ac->touched = 0;
        return;
    }
    if (sp && sp->avail > 0) {
        spin_lock(&c->node->list_lock);
        c->lock_count++;
        c->flushes++;
        __atomic_add_fetch(&c->reap_objs, sp->avail, __ATOMIC_RELAXED);
        free_block_locked(c, sp->entry, sp->avail, NULL);
        spin_unlock(&c->node->list_lock);
        ac_set_avail(sp, 0);
    } else if (ac->avail > 0) {
        __atomic_add_fetch(&c->reap_objs, MIN(ac->batchcount, ac->avail), __ATOMIC_RELAXED);
        cache_flusharray(c, ac, NULL);
    } else {
        drop_local(c);
    }
}

// ---- The barn: whole sheaves traded between cpus ----

static void sheaf_push(struct array_cache **top, unsigned int *nr, struct array_cache *sh)
{
    WRITE_ONCE(sh->spare, *top);
    WRITE_ONCE(*top, sh);
    (*nr)++;
}

static struct array_cache *sheaf_pop(struct array_cache **top, unsigned int *nr)
{
    struct array_cache *sh = *top;
    WRITE_ONCE(*top, sh->spare);
    (*nr)--;
    return sh;
}

// This cpu's array ac of c and its spare are both empty (we are in the
// section): trade ac for a full sheaf from the barn. ac goes to the barn's
// empty stack, or becomes the spare if there is none, or -- the barn has
// all the empty sheaves it keeps -- to *surplus, for the caller to free
// out of the section. Returns the current array, which is still empty if
// the barn had no full sheaf.
static NOINLINE struct array_cache *
barn_get_full(struct kmem_cache *c, int cpu, struct array_cache *ac, struct array_cache **surplus)
{
    struct barn *b = &c->node->barn;
    struct array_cache *sp = ac->spare;
    spin_lock(&b->lock);
    c->barn_locks++;
    if (b->full) {
        struct array_cache *full = sheaf_pop(&b->full, &b->nr_full);
        b->low_full = MIN(b->low_full, b->nr_full);
        WRITE_ONCE(full->spare, sp ? sp : ac);
        WRITE_ONCE(c->array[cpu], full); // where_free finds ac through full until ac moves on
        WRITE_ONCE(ac->spare, NULL);
        if (sp && b->nr_empty < c->barn_max)
            sheaf_push(&b->empty, &b->nr_empty, ac);
        else if (sp)
            *surplus = ac;
        c->barn_gets++;
        ac = full;
    }
    spin_unlock(&b->lock);
    return ac;
}

// The mirror for a free: ac is full and its spare is not empty (or there
// is none). Trade ac for an empty sheaf, if the barn has one and room for a
// full one. Else the spare goes to the barn, for a cpu that allocates, and
// the caller flushes ac: that is how sheaves start to travel from a cpu
// that frees to one that allocates, which trades its empty ones back.
// Returns the current array, which is still full if no trade was made.
static NOINLINE struct array_cache *barn_put_full(struct kmem_cache *c, int cpu,
                                                  struct array_cache *ac)
{
    struct barn *b = &c->node->barn;
    struct array_cache *sp = ac->spare;
    spin_lock(&b->lock);
    c->barn_locks++;
    if (b->nr_full < c->barn_max) {
        if (b->empty) {
            struct array_cache *empty = sheaf_pop(&b->empty, &b->nr_empty);
            b->low_empty = MIN(b->low_empty, b->nr_empty);
            WRITE_ONCE(empty->spare, sp);
            WRITE_ONCE(c->array[cpu], empty);
            sheaf_push(&b->full, &b->nr_full, ac);
            c->barn_puts++;
            ac = empty;
        } else if (sp) {
            WRITE_ONCE(ac->spare, NULL);
            sheaf_push(&b->full, &b->nr_full, sp);
            c->barn_puts++;
        }
    }
    spin_unlock(&b->lock);
    return ac;
}

// Sheaves out of the barn: every one (all), or as many full and as many
// empty ones as it held at its low point since the last trim -- those no
// cpu needed (the reaper). The objects of the full ones go back to their
// slabs, every sheaf back to kmalloc. The sheaves leave the barn under its
// lock; taking the list lock after that waits for any reader of the cpus'
// arrays (kmem_cache_get_info) that may still hold one of them from before
// it was traded, so none is freed under a reader. Any context, no lock held.
void barn_trim(struct kmem_cache *c, bool all)
{
    struct barn *b = &c->node->barn;
    struct array_cache *full = NULL, *empty = NULL;
    unsigned int nf = 0, ne = 0;
    spin_lock(&b->lock);
    c->barn_locks++;
    unsigned int want_full = all ? b->nr_full : b->low_full;
    unsigned int want_empty = all ? b->nr_empty : b->low_empty;
    while (b->full && nf < want_full) // cache_free_slow reads b->empty without the lock
        sheaf_push(&full, &nf, sheaf_pop(&b->full, &b->nr_full));
    while (b->empty && ne < want_empty)
        sheaf_push(&empty, &ne, sheaf_pop(&b->empty, &b->nr_empty));
    b->low_full = b->nr_full; // the next interval's low points start here
    b->low_empty = b->nr_empty;
    spin_unlock(&b->lock);
    if (full == NULL && empty == NULL)
        return;
    spin_lock(&c->node->list_lock);
    c->lock_count++;
    for (struct array_cache *sh = full; sh; sh = sh->spare)
        free_block_locked(c, sh->entry, sh->avail, NULL);
    spin_unlock(&c->node->list_lock);
    for (struct array_cache *stack[2] = {full, empty}, **top = stack; top < stack + 2; top++)
        while (*top) {
            struct array_cache *sh = *top;
            *top = sh->spare;
            array_free(sh);
        }
}

void barn_shrink(struct kmem_cache *c)
{
    barn_trim(c, true);
}

// Drain every cpu's array (each cpu its own) and the barn, then take every
// empty slab off the free list. No lock held (a cross-call).
void cache_drain(struct kmem_cache *c, struct list_head *release)
{
    on_each_cpu(drain_local, c);
    barn_shrink(c);
    spin_lock(&c->node->list_lock);
    c->lock_count++;
    free_slabs_doom(c, UINT32_MAX, release);
    spin_unlock(&c->node->list_lock);
}

// ---- Arrays made on first use ----

// One object straight from c's slab lists, not through any per-CPU array:
// the memory of an array itself (array_make), and the object of a cpu
// whose array could not be made. A cache without arrays hands it out
// checked, down its debug path. NULL only if no memory is left after the
// buddy allocator's reclaim.
NOINLINE void *alloc_no_array(struct kmem_cache *c, gfp_t gfp, const void *caller)
{
    if (slow_cache(c))
        return slab_alloc_slow(c, gfp, caller);
    union { // an array of one, on the stack: the refill code fills it
        struct array_cache ac;
        char room[sizeof(struct array_cache) + sizeof(void *)];
    } one = {.ac = {.limit = 1, .batchcount = 1}};
    struct array_cache *ac = &one.ac;
    if (cache_refill(c, ac) == 0) {
        struct slab *s = cache_grow(c, gfp, caller); // no lock held, no section: may reclaim
        if (s != NULL) {
            spin_lock(&c->node->list_lock);
            c->lock_count++;
            take_from_slab(c, s, ac, 1);
            slab_link(c, s);
            c->refills++;
            spin_unlock(&c->node->list_lock);
        } else if (cache_refill(c, ac) == 0) { // the reclaim may have filled the lists
            return NULL;
        }
    }
    void *obj = ac->entry[0];
    mem_unpoison(obj, c->size);
    return obj;
}

// This cpu has no array of plain cache c (slab_lazy_array): make one out
// of the section (it takes memory, which may grow a slab and reclaim) and
// put it in. True when the cpu has a real array now -- or slab_no_array, if
// the cache was destroyed meanwhile; false if none could be made.
static bool array_install(struct kmem_cache *c, gfp_t gfp)
{
    struct array_cache *ac = array_make(c, gfp); // no spare yet: the first full array makes it
    unsigned long flags = local_lock_irqsave();
    int cpu = cpu_id();
    bool lazy = c->array[cpu] == &slab_lazy_array;
    if (lazy && ac != NULL) {
        spin_lock(&c->node->list_lock); // kmem_cache_get_info reads other cpus' arrays under it
        c->lock_count++;
        WRITE_ONCE(c->array[cpu], ac);
        spin_unlock(&c->node->list_lock);
        ac = NULL;
        lazy = false;
    }
    local_unlock_irqrestore(flags);
    if (ac != NULL)
        array_free_pair(ac); // not needed after all
    return !lazy;
}

// This cpu's array of c is full and it has no spare (its first time full,
// or the spare went to the barn), and the barn has no empty sheaf to trade
// for: make a spare, out of the section and without waiting (a free never
// waits), and put it in unless the cpu has one again or lost its array
// meanwhile. Back in the section (*flags) either way; true if it was put in.
static NOINLINE bool spare_install(struct kmem_cache *c, unsigned long *flags)
{
    local_unlock_irqrestore(*flags);
    struct array_cache *sp = array_make(c, GFP_ATOMIC | __GFP_NOWARN);
    *flags = local_lock_irqsave();
    if (sp == NULL)
        return false;
    struct array_cache *ac = c->array[cpu_id()];
    if (ac->limit != 0 && ac->spare == NULL) {
        WRITE_ONCE(ac->spare, sp);
        return true;
    }
    local_unlock_irqrestore(*flags); // not needed after all: freed out of the section
    array_free(sp);
    *flags = local_lock_irqsave();
    return false;
}

// The first alloc from c on this cpu (since it started, or gave its arrays
// back): with an array made, the fast path again (a refill now); without
// one, an object straight from the lists.
static void *alloc_first(struct kmem_cache *c, gfp_t gfp, const void *caller)
{
    gfp = gfp_check_context(gfp, caller);
    if (array_install(c, gfp))
        return slab_alloc(c, gfp, caller);
    return alloc_no_array(c, gfp, caller);
}

// The same for a free: into the new array, or straight to its slab.
// A free never waits: its array is made GFP_ATOMIC, and without one the
// object goes straight to its slab.
static void free_first(struct kmem_cache *c, void *obj, const void *caller)
{
    if (array_install(c, GFP_ATOMIC | __GFP_NOWARN)) {
        slab_free(c, obj, caller);
        return;
    }
#ifdef RVSLAB_ASAN
    if (c != &cache_cache)
        mem_poison(obj, c->size);
#endif
    free_to_slab(c, obj);
}

// The slow paths found ac, this cpu's array of c, of limit 0 (we are in
// the section): the two cases, kept apart. Tail calls, out of line, so the
// refill and the flush keep their own code tight.
static NOINLINE void *alloc_without_array(struct kmem_cache *c, struct array_cache *ac,
                                          unsigned long flags, gfp_t gfp, const void *caller)
{
    local_unlock_irqrestore(flags);
    if (ac == &slab_no_array)
        return slab_alloc_slow(c, gfp, caller); // debug, failslab or destroyed: checked
    return alloc_first(c, gfp, caller);         // a plain cache: never the debug path
}

static NOINLINE void free_without_array(struct kmem_cache *c, struct array_cache *ac, void *obj,
                                        unsigned long flags, const void *caller)
{
    local_unlock_irqrestore(flags);
    if (ac == &slab_no_array)
        slab_free_bad(c, obj, "free", caller); // checked, then the debug path
    else
        free_first(c, obj, caller);
}

// ---- The slow paths of alloc and free ----

// The array is empty (we are in the section): refill it from the slab
// lists, or from a new slab. The new slab goes straight into this cpu's
// array before it joins the lists, as Linux's refill does, so no other cpu
// can take it (or reclaim give it back) before its grower had an object.
NOINLINE void *cache_alloc_refill(struct kmem_cache *c, gfp_t gfp, unsigned long flags,
                                  const void *caller)
{
    struct array_cache *ac = c->array[cpu_id()];
    if (ac->limit == 0) // no array: the cache has none, or this cpu's is not made yet
        return alloc_without_array(c, ac, flags, gfp, CALLER(caller));
    struct array_cache *surplus = NULL;
    if (ac->spare && ac->spare->avail > 0) // the spare has objects: no lock, no list
        ac = swap_spare(c, cpu_id(), ac);
    else
        ac = barn_get_full(c, cpu_id(), ac, &surplus); // a whole sheaf, under the barn lock
    ac->touched = 1;                                   // for the reaper: this cpu uses the cache
    // LAB array.refill: begin
    bool grow_failed = false;
    while (ac->avail == 0 && cache_refill(c, ac) == 0) {
        // No memory even after the buddy allocator's reclaim -- which
        // emptied every cpu's array into the slab lists, so the free
        // objects other cpus held were on the lists for the refill just
        // tried. Only when that found nothing either is NULL the truth.
        if (grow_failed) {
            local_unlock_irqrestore(flags);
            if (surplus)
                array_free(surplus);
            return NULL;
        }
        local_unlock_irqrestore(flags); // growing may reclaim: that drains every cpu
        struct slab *s = cache_grow(c, gfp, CALLER(caller));
        flags = local_lock_irqsave();
        ac = c->array[cpu_id()];
        if (unlikely(ac->limit == 0)) {
            // Reclaim gave this cpu's array back meanwhile (or the cache
            // was destroyed under us): the new slab joins the lists, and
            // the object comes straight from them.
            local_unlock_irqrestore(flags);
            if (s != NULL) {
                spin_lock(&c->node->list_lock);
                c->lock_count++;
                slab_link(c, s);
                spin_unlock(&c->node->list_lock);
            }
            if (surplus)
                array_free(surplus);
            return alloc_no_array(c, gfp, CALLER(caller));
        }
        if (s == NULL) {
            grow_failed = true;
            continue;
        }
        spin_lock(&c->node->list_lock);
        c->lock_count++;
        unsigned int room = (unsigned int)(ac->limit - ac->avail);
        take_from_slab(c, s, ac, MIN(ac->batchcount, room));
        slab_link(c, s);
        c->refills++;
        spin_unlock(&c->node->list_lock);
    }
    unsigned long avail = ac->avail - 1;
    void *obj = ac->entry[avail];
    ac_set_avail(ac, avail);
    local_unlock_irqrestore(flags);
    if (surplus)
        array_free(surplus);
    mem_unpoison(obj, c->size);
    return obj;
    // LAB array.refill: end
}

NOINLINE void *slab_alloc_wait(struct kmem_cache *c, gfp_t gfp, const void *caller)
{
    return slab_alloc_in(c, local_lock_irqsave(), gfp, CALLER(caller));
}

NOINLINE void slab_free_wait(struct kmem_cache *c, void *obj, const void *caller)
{
    slab_free_in(c, obj, local_lock_irqsave(), CALLER(caller));
}

static void report_double_top(struct kmem_cache *c, void *obj, const void *caller)
{
    report_begin(c, "double free");
    report_line("free(%p): the object is already free: on top of cpu %d's array", obj, cpu_id());
    report_line("freed by %p", caller);
    report_end(c, "ignored");
}

// The array is full, or the cache has none (we are in the section).
NOINLINE void cache_free_slow(struct kmem_cache *c, void *obj, unsigned long flags,
                              const void *caller)
{
    struct array_cache *ac = c->array[cpu_id()];
    if (ac->limit == 0) // no array: the cache has none, or this cpu's is not made yet
        return free_without_array(c, ac, obj, flags, CALLER(caller));
    if (ac->avail > 0 && ac->entry[ac->avail - 1] == obj) {
        local_unlock_irqrestore(flags);
        report_double_top(c, obj, CALLER(caller));
        return;
    }
    if (ac->spare == NULL && !READ_ONCE(c->node->barn.empty)) {
        bool made = spare_install(c, &flags); // leaves the section for a while
        ac = c->array[cpu_id()];
        if (made || ac->limit == 0 || ac->avail < ac->limit)
            return slab_free_in(c, obj, flags, caller); // again: a spare to swap with, or room
    }
    if (ac->spare && ac->spare->avail == 0) // the spare is empty: no lock, no list
        ac = swap_spare(c, cpu_id(), ac);
    else
        ac = barn_put_full(c, cpu_id(), ac); // a whole sheaf, under the barn lock
    ac->touched = 1;                         // for the reaper: this cpu uses the cache
    if (ac->avail == 0) {
#ifdef RVSLAB_ASAN
        if (c != &cache_cache)
            mem_poison(obj, c->size);
#endif
        ac->entry[0] = obj;
        ac_set_avail(ac, 1);
        local_unlock_irqrestore(flags);
        return;
    }
    // LAB array.free_slow: begin
    struct list_head release;
    INIT_LIST_HEAD(&release);
    cache_flusharray(c, ac, &release);
#ifdef RVSLAB_ASAN
    if (c != &cache_cache)
        mem_poison(obj, c->size);
#endif
    ac->entry[ac->avail] = obj;
    ac_set_avail(ac, ac->avail + 1);
    local_unlock_irqrestore(flags);
    if (!list_empty(&release))
        slabs_release(c, &release); // out of the section: it frees frames
    // LAB array.free_slow: end
}

// The object freed is the one on top of this cpu's array: freed twice.
NOINLINE void cache_free_double(struct kmem_cache *c, void *obj, unsigned long flags,
                                const void *caller)
{
    local_unlock_irqrestore(flags);
    report_double_top(c, obj, CALLER(caller));
}

// ---- The debug path ----
//
// Caches with a debug option (or the failslab mark, or destroyed) have no
// per-CPU arrays, as SLUB debug does: an object parked in an array is out
// of sight of the checks (its poison could be checked only when some cpu
// takes it again, a double free of it only when the array drains) and of
// slab_validate. Here every alloc and free works on the slab lists under
// the cache lock, so each is checked, and check-then-mark is atomic: two
// cpus freeing one object at the same instant are serialized and the second
// is reported. It is slow, and meant to be.

// One object out of slab s, marked and checked. c->node->list_lock held.
static void debug_take(struct kmem_cache *c, struct slab *s, unsigned int i, const void *caller)
{
    *slab_bufctl(c, s, i) = BUFCTL_ACTIVE; // a marked cache: the bufctl is past the object
    c->dbg_allocs++;
    debug_on_alloc(c, s, i, caller);
}

// One object from the slab lists, partial slabs first; NULL if none.
static void *debug_take_any(struct kmem_cache *c, const void *caller)
{
    struct slab *s = NULL;
    unsigned int i = 0;
    spin_lock(&c->node->list_lock);
    c->lock_count++;
    while (s == NULL &&
           !(list_empty(&c->node->slabs_partial) && list_empty(&c->node->slabs_free))) {
        struct list_head *l =
            list_empty(&c->node->slabs_partial) ? &c->node->slabs_free : &c->node->slabs_partial;
        s = list_first_entry(l, struct slab, list);
        if (l == &c->node->slabs_free)
            free_slab_taken(c->node);
        bool ok = slab_pop(c, s, &i);
        list_move(&s->list, s->inuse == c->num ? &c->node->slabs_full : &c->node->slabs_partial);
        if (!ok)
            s = NULL; // quarantined; try the next slab
    }
    if (s)
        debug_take(c, s, i, caller);
    spin_unlock(&c->node->list_lock);
    return s ? index_to_obj(c, s, i) : NULL;
}

NOINLINE void *slab_alloc_slow(struct kmem_cache *c, gfp_t gfp, const void *caller)
{
    gfp = gfp_check_context(gfp, caller); // every alloc of a debug cache is checked
    if (c->magic != KMEM_CACHE_MAGIC) {
        report_destroyed(c, "kmem_cache_alloc");
        return NULL;
    }
    if ((c->flags & SLAB_FAILSLAB) && should_fail(&failslab))
        return NULL;
    void *obj = debug_take_any(c, caller);
    if (obj)
        return obj;
    struct slab *s;
    unsigned int i = 0;
    if ((s = cache_grow(c, gfp, caller)) == NULL) // no lock held
        return debug_take_any(c, caller);         // another cpu may have freed one meanwhile
    spin_lock(&c->node->list_lock);
    c->lock_count++;
    slab_pop(c, s, &i); // a fresh chain: cannot fail
    debug_take(c, s, i, caller);
    slab_link(c, s);
    spin_unlock(&c->node->list_lock);
    return index_to_obj(c, s, i);
}

static void debug_free(struct kmem_cache *c, void *obj, struct slab *s, unsigned int i,
                       const void *caller)
{
    struct list_head release;
    INIT_LIST_HEAD(&release);
    spin_lock(&c->node->list_lock);
    c->lock_count++;
    struct page *pg = virt_to_page(obj);
    if (READ_ONCE(pg->slab_cache) != c || slab_of_untrusted(pg) != s) {
        // Released since obj_lookup looked: every object of it was free.
        report_begin(c, "double free");
        report_line("free(%p): its slab was given back meanwhile: the object was free", obj);
        report_end(c, "ignored");
    } else if (debug_on_free(c, s, i, caller)) { // false: reported, not freed
        free_block_locked(c, &obj, 1, &release);
        c->dbg_frees++;
    }
    spin_unlock(&c->node->list_lock);
    slabs_release(c, &release);
}

// A free the fast path would not take: a NULL or destroyed cache, a pointer
// not in a frame of the cache named, or any free into a cache without
// arrays. Checked in full; the good ones go down the debug path.
NOINLINE void slab_free_bad(struct kmem_cache *c, const void *obj, const char *who,
                            const void *caller)
{
    struct slab *s;
    unsigned int i;
    if (obj == NULL)
        return;
    struct kmem_cache *found = obj_lookup(c, obj, who, &s, &i);
    if (found == NULL)
        return;
    if (slow_cache(found))
        debug_free(found, (void *)obj, s, i, caller);
    else
        slab_free(found, (void *)obj, caller);
}

size_t slab_obj_size(const void *obj)
{
    struct slab *s;
    unsigned int i;
    struct kmem_cache *c = obj_lookup(NULL, obj, "ksize", &s, &i);
    return c ? c->object_size : 0;
}

// ---- What the public fast paths (slab_fast.c) hand over ----

// kmem_cache_alloc with a NULL cache: reported. Tail-called.
NOINLINE void *kmem_cache_alloc_null(void)
{
    return null_cache("kmem_cache_alloc");
}

// kmem_cache_alloc with __GFP_ZERO. Tail-called, so the return address is
// the fast path's caller's.
NOINLINE void *kmem_cache_alloc_zero(struct kmem_cache *c, gfp_t gfp)
{
    void *obj = slab_alloc(c, gfp & ~__GFP_ZERO, __builtin_return_address(0));
    if (obj)
        memset(obj, 0, c->object_size);
    return obj;
}

NOINLINE void kmem_cache_free_bad(struct kmem_cache *c, void *obj)
{
    const void *caller = __builtin_return_address(0); // tail-called by kmem_cache_free
    if (c == NULL) {
        null_cache("kmem_cache_free");
        return;
    }
    slab_free_bad(c, obj, "kmem_cache_free", caller);
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
