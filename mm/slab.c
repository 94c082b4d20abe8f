// The slab allocator: caches of equal-sized objects, after Bonwick's design
// and Linux's classic mm/slab.c.
//
// A cache owns slabs (2^order frames cut into `num` objects) on three lists:
// full, partial, free. In front of the lists sits one array_cache per cpu, a
// small stack of free object pointers: kmem_cache_alloc pops, kmem_cache_free
// pushes, and only when the stack runs empty (refill) or full (flush) are
// `batchcount` objects moved to or from the slab lists under the cache lock.
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

#define SLAB_MIN_ALIGN 8 // every object can hold a pointer
// Slow paths stay out of line, so the fast paths save few registers.
#define NOINLINE        __attribute__((noinline))
#define FREE_SLAB_PAGES 32 // empty slabs a cache may keep, counted in pages

static struct kmem_cache cache_cache; // the cache of struct kmem_cache, itself static
struct list_head cache_chain;         // every cache, in creation order
struct spinlock chain_lock;
static size_t line_size = 64;
static enum { DOWN, PARTIAL, UP } slab_state; // PARTIAL: kmalloc caches being made
static int last_error;
static uint64_t nr_reports;

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
    __atomic_add_fetch(&nr_reports, 1, __ATOMIC_RELAXED);
    if (c)
        __atomic_add_fetch(&c->errors, 1, __ATOMIC_RELAXED);
}

uint64_t slab_error_count(void)
{
    return __atomic_load_n(&nr_reports, __ATOMIC_RELAXED);
}

// Check that obj is a live object handed out by the slab layer (of cache
// `want`, if given). Returns its cache and slab and index, or NULL after a
// report. O(1): struct page names the cache and slab, the bufctl its state.
static struct kmem_cache *obj_lookup(struct kmem_cache *want, const void *obj, const char *who,
                                     struct slab **sp, unsigned int *ip)
{
    struct page *pg = virt_to_page(obj);
    if (pg == NULL || !(page_flags(pg) & PG_slab)) {
        slab_report_bad(want);
        if (want)
            printk("slab: %s(%s, %p): not an object of the slab layer\n", who, want->name, obj);
        else
            printk("slab: %s(%p): not an object of the slab layer\n", who, obj);
        return NULL;
    }
    struct kmem_cache *c = pg->slab_cache;
    struct slab *s = pg->slab;
    if (want && c != want) {
        slab_report_bad(want);
        printk("slab: %s(%s, %p): wrong cache: the object belongs to %s\n", who, want->name, obj,
               c->name);
        return NULL;
    }
    unsigned int i = (const char *)obj >= s->s_mem ? obj_to_index(c, s, obj) : c->num;
    if (i >= c->num || index_to_obj(c, s, i) != obj) {
        slab_report_bad(c);
        if (i < c->num)
            printk("slab: %s(%p): pointer into object %u of %s (starts at %p, offset %zu)\n", who,
                   obj, i, c->name, index_to_obj(c, s, i),
                   (size_t)((const char *)obj - (char *)index_to_obj(c, s, i)));
        else
            printk("slab: %s(%p): not an object: slab header or tail of a slab of %s\n", who, obj,
                   c->name);
        return NULL;
    }
    bufctl_t st = s->bufctl[i];
    if (st != BUFCTL_ACTIVE) {
        slab_report_bad(c);
        printk("slab: %s(%p): %s: object %u of %s is already free (%s)\n", who, obj,
               strcmp(who, "ksize") ? "double free" : "use after free", i, c->name,
               st == BUFCTL_CACHED ? "in a per-CPU array" : "in its slab's free list");
        return NULL;
    }
    *sp = s;
    *ip = i;
    return c;
}

// ---- Geometry ----

// Objects, descriptor bytes and tail left over in a slab of 2^order frames.
static unsigned int estimate(const struct kmem_cache *c, unsigned int order, bool off_slab,
                             size_t *mgmt, size_t *left)
{
    size_t bytes = PAGE_SIZE << order, num, m = 0;
    if (off_slab) {
        num = MIN(bytes / c->size, (size_t)SLAB_MAX_OBJS);
    } else {
        num = (bytes - sizeof(struct slab)) / (c->size + sizeof(bufctl_t));
        num = MIN(num, (size_t)SLAB_MAX_OBJS);
        while (num > 0 &&
               ALIGN_UP(sizeof(struct slab) + num * sizeof(bufctl_t), c->align) + num * c->size >
                   bytes)
            num--;
        m = ALIGN_UP(sizeof(struct slab) + num * sizeof(bufctl_t), c->align);
    }
    *mgmt = num ? m : 0;
    *left = bytes - *mgmt - num * c->size;
    return (unsigned int)num;
}

// The smallest order whose unused tail is under 1/8 of the slab; failing
// that, the order with the smallest wasted fraction. False if none fits.
static bool choose_order(struct kmem_cache *c, bool off_slab)
{
    size_t best_bytes = 0, best_left = 0;
    for (unsigned int order = 0; order <= MAX_ORDER; order++) {
        size_t bytes = PAGE_SIZE << order, mgmt, left;
        unsigned int num = estimate(c, order, off_slab, &mgmt, &left);
        if (num == 0)
            continue;
        if (best_bytes == 0 || left * best_bytes < best_left * bytes) {
            c->order = order;
            c->num = num;
            c->mgmt = (unsigned int)mgmt;
            c->left_over = (unsigned int)left;
            best_bytes = bytes;
            best_left = left;
        }
        if (left * 8 < bytes)
            break;
    }
    return best_bytes != 0;
}

// Off-slab for objects of 1/8 page or more, so big objects do not leave most
// of a slab's first page to a small descriptor. The descriptor then comes
// from a kmalloc cache that is itself on-slab (no recursion); before kmalloc
// exists, or if the descriptor is too big, the cache stays on-slab.
static bool cache_geometry(struct kmem_cache *c)
{
    if (c->size >= PAGE_SIZE / 8 && slab_state != DOWN && choose_order(c, true)) {
        struct kmem_cache *d = kmalloc_cache(sizeof(struct slab) + c->num * sizeof(bufctl_t));
        if (d && !d->off_slab) {
            c->off_slab = true;
            c->slab_desc_cache = d;
            return true;
        }
    }
    c->off_slab = false;
    return choose_order(c, false);
}

// Per-CPU array sizes, as Linux's enable_cpucache.
static unsigned int cpu_limit(size_t size)
{
    if (size > 128 * 1024)
        return 1;
    if (size >= PAGE_SIZE)
        return 8;
    if (size > 1024)
        return 24;
    if (size > 256)
        return 54;
    return 120;
}

// One array_cache per possible cpu, in frames of their own straight from the
// frame allocator, each array starting on its own cache line. (Linux kmallocs
// them and needs a bootstrap dance for kmalloc's own caches; this is simpler
// at the cost of a page or two per cache.)
static int alloc_arrays(struct kmem_cache *c, unsigned int limit)
{
    size_t stride = ALIGN_UP(sizeof(struct array_cache) + limit * sizeof(void *), line_size);
    size_t n = (NCPU * stride + PAGE_SIZE - 1) / PAGE_SIZE;
    char *p = alloc_frames(n);
    if (p == NULL)
        return -ENOMEM;
    c->array_frames = p;
    c->array_nframes = n;
    for (int cpu = 0; cpu < NCPU; cpu++) {
        struct array_cache *ac = (struct array_cache *)(p + cpu * stride);
        memset(ac, 0, sizeof(*ac));
        spin_lock_init(&ac->lock, "array_cache");
        ac->limit = limit;
        ac->batchcount = (limit + 1) / 2;
        c->array[cpu] = ac;
    }
    return 0;
}

static int cache_setup(struct kmem_cache *c, const char *name, size_t size, size_t align,
                       unsigned long flags, void (*ctor)(void *))
{
    memset(c, 0, sizeof(*c));
    strcpy(c->name, name); // length checked by the caller
    c->object_size = size;
    c->flags = flags;
    c->ctor = ctor;
    size_t a = MAX(align, (size_t)SLAB_MIN_ALIGN);
    if (flags & SLAB_HWCACHE_ALIGN) { // a line, or a fraction of one for small objects
        size_t r = line_size;
        while (size <= r / 2 && r > SLAB_MIN_ALIGN)
            r /= 2;
        a = MAX(a, r);
    }
    c->align = a;
    c->size = (unsigned int)ALIGN_UP(size, a);
    c->reciprocal = (uint32_t)(((1ULL << 32) + c->size - 1) / c->size);
    if (!cache_geometry(c))
        return -E2BIG;
    // Colouring: slab k starts its objects (k mod colour) * colour_off bytes in,
    // so equal objects of different slabs fall on different cache lines. The
    // offsets must keep objects aligned, so the step is at least align.
    c->colour_off = (unsigned int)MAX(line_size, a);
    c->colour = c->left_over / c->colour_off + 1;
    spin_lock_init(&c->lock, "kmem_cache");
    INIT_LIST_HEAD(&c->slabs_full);
    INIT_LIST_HEAD(&c->slabs_partial);
    INIT_LIST_HEAD(&c->slabs_free);
    INIT_LIST_HEAD(&c->next);
    unsigned int limit = cpu_limit(c->size), batch = (limit + 1) / 2;
    // Keep about what Linux keeps ((1 + cpus) * batch + num objects) in empty
    // slabs, but never more than FREE_SLAB_PAGES: big slabs go straight back.
    unsigned int keep = ((1 + NCPU) * batch + 2 * c->num - 1) / c->num;
    c->free_limit = MIN(keep, (unsigned int)FREE_SLAB_PAGES >> MIN(c->order, 31U));
    return alloc_arrays(c, limit);
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
static NOINLINE size_t slabs_release(struct kmem_cache *c, struct list_head *release)
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
            unsigned int i = s->free;
            s->free = s->bufctl[i];
            s->bufctl[i] = BUFCTL_CACHED;
            s->inuse++;
            ac->entry[ac->avail++] = index_to_obj(c, s, i);
            got++;
        }
        list_move(&s->list, s->inuse == c->num ? &c->slabs_full : &c->slabs_partial);
    }
    c->free_objects -= got;
    spin_unlock(&c->lock);
    ac->refills += got > 0;
    return got;
}

// Put n objects back into their slabs. A slab that becomes empty goes on the
// free list, or onto `release` once the cache keeps free_limit empty slabs.
static void free_block(struct kmem_cache *c, void **objs, unsigned int n, struct list_head *release)
{
    spin_lock(&c->lock);
    c->lock_count++;
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
static void cache_drain(struct kmem_cache *c, struct list_head *release)
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

// Debug hook points (issue 6): taken only when c->flags has a debug bit, so
// they cost one predictable branch when debugging is off.
static void *debug_alloc_hook(struct kmem_cache *c, void *obj)
{
    (void)c;
    return obj;
}

static bool debug_free_hook(struct kmem_cache *c, void *obj)
{
    (void)c;
    (void)obj;
    return true; // false: the free was bad and has been reported
}

void *kmem_cache_alloc(struct kmem_cache *c)
{
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
    if (unlikely(c->flags & SLAB_DEBUG_FLAGS))
        obj = debug_alloc_hook(c, obj);
    return obj;
}

// Free a checked object: push it on this cpu's array, flushing first if full.
static void cache_free(struct kmem_cache *c, void *obj, struct slab *s, unsigned int i)
{
    struct list_head release;
    INIT_LIST_HEAD(&release);
    if (unlikely(c->flags & SLAB_DEBUG_FLAGS) && !debug_free_hook(c, obj))
        return;
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
    if (obj && obj_lookup(c, obj, "kmem_cache_free", &s, &i))
        cache_free(c, obj, s, i);
}

void slab_free_any(void *obj, const char *who)
{
    struct slab *s;
    unsigned int i;
    struct kmem_cache *c = obj_lookup(NULL, obj, who, &s, &i);
    if (c)
        cache_free(c, obj, s, i);
}

size_t slab_obj_size(const void *obj)
{
    struct slab *s;
    unsigned int i;
    struct kmem_cache *c = obj_lookup(NULL, obj, "ksize", &s, &i);
    return c ? c->object_size : 0;
}

// ---- Shrink, reclaim, create, destroy ----

size_t kmem_cache_shrink(struct kmem_cache *c)
{
    struct list_head release;
    INIT_LIST_HEAD(&release);
    cache_drain(c, &release);
    return slabs_release(c, &release);
}

size_t slab_reclaim(void)
{
    size_t pages = 0;
    unsigned long flags = irq_save();
    spin_lock(&chain_lock);
    // Newest first: an off-slab cache frees its descriptors into an older
    // kmalloc cache, which is then shrunk after it.
    for (struct list_head *pos = cache_chain.prev; pos != &cache_chain; pos = pos->prev)
        pages += kmem_cache_shrink(list_entry(pos, struct kmem_cache, next));
    spin_unlock(&chain_lock);
    irq_restore(flags);
    return pages;
}

static struct kmem_cache *find_cache(const char *name) // chain_lock held
{
    for (struct list_head *pos = cache_chain.next; pos != &cache_chain; pos = pos->next) {
        struct kmem_cache *c = list_entry(pos, struct kmem_cache, next);
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

static bool name_taken(const char *name)
{
    unsigned long flags = irq_save();
    spin_lock(&chain_lock);
    bool taken = find_cache(name) != NULL;
    spin_unlock(&chain_lock);
    irq_restore(flags);
    return taken;
}

static const char *bad_args(const char *name, size_t size, size_t align, unsigned long flags,
                            int *err)
{
    *err = -EINVAL;
    if (slab_state == DOWN)
        return "slab_init has not run";
    if (name == NULL)
        return "name is NULL";
    if (strlen(name) >= KMEM_NAME_LEN || name[0] == '\0') {
        *err = -ENAMETOOLONG;
        return "name empty or longer than 31 characters";
    }
    if (size == 0)
        return "size is 0";
    if (align != 0 && !IS_POWER_OF_2(align))
        return "align is not a power of two";
    if (flags & ~(SLAB_HWCACHE_ALIGN | SLAB_DEBUG_FLAGS))
        return "unknown flags";
    *err = -E2BIG;
    if (size > KMALLOC_MAX_SIZE)
        return "size above KMALLOC_MAX_SIZE (8 MiB)";
    if (align > KMALLOC_MAX_SIZE)
        return "align above KMALLOC_MAX_SIZE (8 MiB)";
    *err = -EEXIST;
    if (name_taken(name))
        return "a cache of that name exists";
    return NULL;
}

static struct kmem_cache *create(const char *name, size_t size, size_t align, unsigned long flags,
                                 void (*ctor)(void *), bool permanent)
{
    int err;
    struct kmem_cache *c = NULL;
    const char *why = bad_args(name, size, align, flags, &err);
    if (why == NULL) {
        c = kmem_cache_alloc(&cache_cache); // no lock held: this may grow or reclaim
        err = c ? cache_setup(c, name, size, align, flags, ctor) : -ENOMEM;
        why = err == -E2BIG ? "no slab order fits the object" : err ? "out of memory" : NULL;
    }
    if (why == NULL) { // link it, unless the name was taken meanwhile
        c->permanent = permanent;
        unsigned long fl = irq_save();
        spin_lock(&chain_lock);
        if (find_cache(name) == NULL)
            list_add_tail(&c->next, &cache_chain);
        else
            why = "a cache of that name exists", err = -EEXIST;
        spin_unlock(&chain_lock);
        irq_restore(fl);
    }
    if (why == NULL)
        return c;
    if (c) {
        if (c->array_frames)
            free_frames(c->array_frames, c->array_nframes);
        kmem_cache_free(&cache_cache, c);
    }
    last_error = err;
    printk("slab: kmem_cache_create(%s, %zu, %zu): %s\n", name ? name : "NULL", size, align, why);
    return NULL;
}

struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
                                     unsigned long flags, void (*ctor)(void *))
{
    return create(name, size, align, flags, ctor, false);
}

struct kmem_cache *kmem_cache_create_permanent(const char *name, size_t size, size_t align)
{
    return create(name, size, align, 0, NULL, true);
}

int slab_last_error(void)
{
    return last_error;
}

int kmem_cache_destroy(struct kmem_cache *c)
{
    if (c == NULL)
        return -EINVAL;
    if (c->permanent) {
        printk("slab: kmem_cache_destroy(%s): a cache the slab layer needs; kept\n", c->name);
        return -EPERM;
    }
    struct list_head release;
    INIT_LIST_HEAD(&release);
    // Under chain_lock, so reclaim cannot be working on the cache meanwhile.
    unsigned long flags = irq_save();
    spin_lock(&chain_lock);
    cache_drain(c, &release);
    spin_lock(&c->lock);
    size_t live = (size_t)c->nr_slabs * c->num - c->free_objects;
    spin_unlock(&c->lock);
    if (live == 0)
        list_del(&c->next);
    spin_unlock(&chain_lock);
    irq_restore(flags);
    slabs_release(c, &release);
    if (live) {
        printk("slab: kmem_cache_destroy(%s): %zu objects still live; cache kept\n", c->name, live);
        return -EBUSY;
    }
    free_frames(c->array_frames, c->array_nframes);
    kmem_cache_free(&cache_cache, c);
    return 0;
}

// ---- Start ----

int slab_init(size_t frame_size, size_t cache_line_size)
{
    if (frame_size != PAGE_SIZE) {
        printk("slab: slab_init: frame size %zu is not PAGE_SIZE (%lu)\n", frame_size, PAGE_SIZE);
        return -EINVAL;
    }
    if (!IS_POWER_OF_2(cache_line_size) || cache_line_size < 8 || cache_line_size > PAGE_SIZE) {
        printk("slab: slab_init: cache line size %zu is not a power of two in 8..%lu\n",
               cache_line_size, PAGE_SIZE);
        return -EINVAL;
    }
    // Forget any previous run first: its caches lived in frames buddy_init took back.
    slab_state = DOWN;
    spin_lock_init(&chain_lock, "cache_chain");
    INIT_LIST_HEAD(&cache_chain);
    line_size = cache_line_size;
    last_error = 0;
    nr_reports = 0;
    int err = cache_setup(&cache_cache, "kmem_cache", sizeof(struct kmem_cache), 0,
                          SLAB_HWCACHE_ALIGN, NULL);
    if (err)
        return err;
    cache_cache.permanent = true;
    list_add(&cache_cache.next, &cache_chain);
    slab_state = PARTIAL;
    if (kmalloc_init() != 0) {
        printk("slab: slab_init: could not make the kmalloc caches\n");
        return -ENOMEM;
    }
    slab_state = UP;
    buddy_set_reclaim_hook(slab_reclaim);
    return 0;
}
