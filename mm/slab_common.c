// The life of a cache: its geometry (page order, objects per slab,
// colours, on- or off-slab descriptor), kmem_cache_create and
// kmem_cache_destroy, slab_reclaim over every cache, and slab_init, which
// builds the cache of caches and the kmalloc caches. As Linux splits
// mm/slab.c from mm/slab_common.c: the object paths are in slab.c.

#include "slab_internal.h"

#include <errno.h>
#include <string.h>

#include "buddy.h"

#define SLAB_MIN_ALIGN      8  // every object can hold a pointer
#define FREE_SLAB_PAGES     8  // empty slabs a cache may keep, counted in pages
#define FREE_SLAB_PAGES_MAX 64 // and up to this many once it has churned (slab_link)

struct kmem_cache cache_cache;               // the cache of struct kmem_cache, itself static
static struct kmem_cache node_cache;         // the cache of struct kmem_cache_node, also static
static struct kmem_cache_node boot_nodes[2]; // the two static caches' own
struct list_head cache_chain;                // every cache, in creation order
struct spinlock chain_lock;
static size_t line_size = 64;
static enum { DOWN, PARTIAL, UP } slab_state; // PARTIAL: kmalloc caches being made
static int last_error[NCPU];                  // per cpu: "the last create" means the caller's

// ---- Geometry ----
//
// A slab's bytes go to objects, to the descriptor (on the slab, or an
// object of kmalloc's off it) and to a tail too short for another object,
// which colouring uses. Waste is everything but the objects, the off-slab
// descriptor's own object included. The order and the descriptor's place
// are chosen together: at each order the layout that wastes less (on-slab
// on a tie: a grow then makes one allocation, not two), and the smallest
// order whose waste is under 1/8 wins; if none is, the least waste seen.

struct layout {
    unsigned int order, num;
    bool off_slab;
    size_t mgmt;  // on the slab: the descriptor (and a debug cache's first left red zone)
    size_t left;  // the tail
    size_t total; // 2^order frames, plus the off-slab descriptor's object
    size_t waste; // total minus the objects' strides
};

// The layout of 2^order frames, the descriptor in desc's objects (or on-slab
// when desc is NULL). A debug cache's first object needs its left red zone
// in front of it: that lead (c->red_left, a multiple of align) counts as
// descriptor bytes.
static void estimate(const struct kmem_cache *c, unsigned int order, const struct kmem_cache *desc,
                     struct layout *l)
{
    // LAB geometry.estimate: begin
    size_t bytes = PAGE_SIZE << order, m = c->red_left;
    if (desc == NULL)
        m += ALIGN_UP(sizeof(struct slab), c->align);
    l->order = order;
    l->off_slab = desc != NULL;
    l->num = bytes > m ? (unsigned int)((bytes - m) / c->size) : 0;
    l->mgmt = l->num ? m : 0;
    l->left = bytes - l->mgmt - (size_t)l->num * c->size;
    l->total = bytes + (desc ? desc->size : 0);
    l->waste = l->total - (size_t)l->num * c->size;
    // LAB geometry.estimate: end
}

static bool wastes_less(const struct layout *a, const struct layout *b) // as a fraction
{
    return a->waste * b->total < b->waste * a->total;
}

// Where an off-slab descriptor would come from: a kmalloc cache that is
// itself on-slab (no recursion), and not c. NULL before kmalloc exists.
static struct kmem_cache *desc_cache(const struct kmem_cache *c)
{
    if (slab_state == DOWN)
        return NULL;
    struct kmem_cache *d = kmalloc_cache(sizeof(struct slab));
    return d && d != c && !d->off_slab ? d : NULL;
}

// False if no order holds even one object.
static bool cache_geometry(struct kmem_cache *c)
{
    // LAB geometry.order: begin
    struct kmem_cache *d = desc_cache(c);
    struct layout best = {0}, on, off;
    for (unsigned int order = 0; order <= MAX_ORDER; order++) {
        estimate(c, order, NULL, &on);
        struct layout *here = on.num ? &on : NULL;
        if (d) {
            estimate(c, order, d, &off);
            if (off.num && (here == NULL || wastes_less(&off, here)))
                here = &off;
        }
        if (here == NULL)
            continue;
        if (best.num == 0 || wastes_less(here, &best))
            best = *here;
        if (here->waste * 8 < here->total)
            break;
    }
    if (best.num == 0)
        return false;
    c->order = best.order;
    c->num = best.num;
    c->mgmt = (unsigned int)best.mgmt;
    c->left_over = (unsigned int)best.left;
    c->off_slab = best.off_slab;
    c->slab_desc_cache = best.off_slab ? d : NULL;
    return true;
    // LAB geometry.order: end
}

// Per-CPU array sizes, as Linux's enable_cpucache -- but page-sized objects
// get sheaves of about 64 KiB (16 of 4 KiB, at least 8), so that a cpu
// moving a few dozen of them trades whole sheaves with the barn instead of
// taking the slab lists: in librvslab.so, batches of 64 mallocs and frees
// of 4 KiB cost 115 instructions a pair with 8 a sheaf, 92 with 16
// (callgrind; tcmalloc 74).
#define SHEAF_BIG_BYTES (64 * 1024)
static unsigned int cpu_limit(size_t size)
{
    if (size > 128 * 1024)
        return 1;
    if (size >= PAGE_SIZE)
        return (unsigned int)MAX(SHEAF_BIG_BYTES / size, (size_t)8);
    if (size > 1024)
        return 24;
    if (size > 256)
        return 54;
    return ARRAY_LIMIT_MAX;
}

// A cache's per-CPU arrays are made when they are needed, not here: with
// NCPU 64 or more (librvslab.so, one slot per thread) an array for every
// possible cpu of every cache would be megabytes that no cpu uses. Every cpu
// starts on slab_lazy_array (limit 0), and its first alloc or free of the
// cache makes its own (slab.c: array_install). A cache that must take the
// slow path on every alloc and free (debug options, failslab) never gets
// one: its arrays are slab_no_array. (Linux kmallocs its arrays too.)
static void arrays_init(struct kmem_cache *c, unsigned int limit)
{
    bool none = (c->flags & SLAB_SLOW_FLAGS) != 0;
    c->limit = none ? 0 : limit;
    c->batchcount = none ? 0 : (limit + 1) / 2;
    size_t sheaves = BARN_BYTES / ((size_t)limit * c->size);
    c->barn_max = none ? 0 : (unsigned int)MIN(MAX(sheaves, 2), BARN_MAX_SHEAVES);
    for (int cpu = 0; cpu < NCPU; cpu++)
        c->array[cpu] = none ? &slab_no_array : &slab_lazy_array;
}

// An empty array for c: an object of the kmalloc class of the smallest
// power of two that holds it (at least a cache line), so it starts on a
// cache line of its own and two cpus never write one line. It is taken
// straight from that class's slab lists (alloc_no_array), never through a
// per-CPU array: making kmalloc-1024's own array for a cpu needs no array
// of kmalloc-1024. Before the kmalloc caches are all there (slab_init):
// NULL, and the caller allocates without one.
// The kmalloc class an array of `limit` entries lives in.
static size_t array_bytes(unsigned int limit)
{
    size_t bytes = sizeof(struct array_cache) + limit * sizeof(void *), n = line_size;
    while (n < bytes)
        n *= 2;
    return n;
}

bool array_home(size_t size)
{
    return IS_POWER_OF_2(size) && size >= array_bytes(1) && size <= array_bytes(ARRAY_LIMIT_MAX);
}

struct array_cache *array_make(struct kmem_cache *c, gfp_t gfp)
{
    struct kmem_cache *home = slab_state == UP ? kmalloc_cache(array_bytes(c->limit)) : NULL;
    struct array_cache *ac =
        home ? alloc_no_array(home, gfp & ~__GFP_ZERO, __builtin_return_address(0)) : NULL;
    if (ac == NULL)
        return NULL;
    memset(ac, 0, sizeof(*ac));
    ac->limit = c->limit;
    ac->batchcount = c->batchcount;
    ac->touched = 1; // made for a slow path: the reaper leaves it for one visit
    return ac;
}

// Everything about a cache that follows from its arguments: stride, layout,
// order, colours. Allocates nothing. 0, or -E2BIG if no slab holds one.
static int cache_layout(struct kmem_cache *c, const char *name, size_t size, size_t align,
                        unsigned long flags, void (*ctor)(void *))
{
    memset(c, 0, sizeof(*c));
    strcpy(c->name, name); // length checked by the caller
    c->object_size = size;
    // Poison would destroy what the ctor built, and objects must come back
    // constructed (Bonwick's contract), so P is dropped, as Linux does.
    // Red zones and tracks still apply.
    if (ctor)
        flags &= ~SLAB_POISON;
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
    if (flags & SLAB_SLOW_FLAGS) {
        debug_layout(c); // grows size: red zones, bufctl, tracks
    } else if (ctor || c == &cache_cache) {
        // Free objects keep their bytes: the bufctl gets a word of its own.
        c->bufctl_off = (unsigned int)ALIGN_UP(size, sizeof(bufctl_t));
        c->size = (unsigned int)ALIGN_UP(c->bufctl_off + sizeof(bufctl_t), a);
    }
    c->reciprocal = (uint32_t)(((1ULL << 32) + c->size - 1) / c->size);
    if (!cache_geometry(c))
        return -E2BIG;
    c->divisor = UINT64_MAX / c->size + 1;
    // Colouring: slab k starts its objects (k mod colour) * colour_off bytes in,
    // so equal objects of different slabs fall on different cache lines. The
    // offsets must keep objects aligned, so the step is at least align.
    // LAB geometry.colour: begin
    c->colour_off = (unsigned int)MAX(line_size, a);
    c->colour = c->left_over / c->colour_off + 1;
    // LAB geometry.colour: end
    return 0;
}

// A cache's slab lists and lock start empty in n.
static int cache_setup(struct kmem_cache *c, struct kmem_cache_node *n, const char *name,
                       size_t size, size_t align, unsigned long flags, void (*ctor)(void *))
{
    int err = cache_layout(c, name, size, align, flags, ctor);
    if (err)
        return err;
    memset(n, 0, sizeof(*n));
    spin_lock_init(&n->list_lock, "kmem_cache");
    spin_lock_init(&n->barn.lock, "barn");
    INIT_LIST_HEAD(&n->slabs_full);
    INIT_LIST_HEAD(&n->slabs_partial);
    INIT_LIST_HEAD(&n->slabs_free);
    c->node = n;
    INIT_LIST_HEAD(&c->next);
    unsigned int limit = cpu_limit(c->size), batch = (limit + 1) / 2;
    // Keep about what Linux keeps ((1 + cpus) * batch + num objects) in empty
    // slabs, but never more than FREE_SLAB_PAGES: big slabs go straight back.
    unsigned int keep = ((1 + NCPU) * batch + 2 * c->num - 1) / c->num;
    c->free_limit_min = MIN(keep, (unsigned int)FREE_SLAB_PAGES >> MIN(c->order, 31U));
    c->free_limit = c->free_limit_min; // regrowth and the reaper raise it
    c->free_limit_max =
        MAX(c->free_limit_min, (unsigned int)FREE_SLAB_PAGES_MAX >> MIN(c->order, 31U));
    c->magic = KMEM_CACHE_MAGIC;
    bool plain = c->bufctl_off == 0 && !(c->flags & SLAB_SLOW_FLAGS);
    c->checked_span = plain ? c->num * c->size : 0;
    arrays_init(c, limit);
    return 0;
}

// A cross-call function: every array of this cpu emptied into its slabs
// and given back itself (its cpu makes a new one when it next needs it).
static void drop_all_local(void *arg)
{
    (void)arg;
    spin_lock(&chain_lock);
    for (struct list_head *pos = cache_chain.next; pos != &cache_chain; pos = pos->next)
        drop_local(list_entry(pos, struct kmem_cache, next));
    spin_unlock(&chain_lock);
}

// The calling cpu stops allocating for good, or for long (librvslab.so: the
// thread that had this cpu slot exits and the slot goes back to the pool):
// its objects go back to the slabs and its arrays to kmalloc, through the
// same path as reclaim, so nothing is stranded in a cpu nobody runs. The
// caller holds no lock and is in no section.
void slab_cpu_offline(void)
{
    if (slab_state != UP)
        return;
    unsigned long flags = local_lock_irqsave();
    drop_all_local(NULL);
    local_unlock_irqrestore(flags);
}

bool slab_is_up(void)
{
    return READ_ONCE(slab_state) == UP;
}

// Every cpu empties its own arrays and gives them back. A caller that may
// not wait for the others (lib/platform.h, rule 4) gives back what it
// holds itself.
static void drop_every_array(gfp_t gfp)
{
    if (gfp & __GFP_DIRECT_RECLAIM) {
        on_each_cpu(drop_all_local, NULL);
    } else {
        unsigned long flags = local_lock_irqsave();
        drop_all_local(NULL);
        local_unlock_irqrestore(flags);
    }
}

// RECLAIM_ALL: every cpu's arrays and every barn, then (both levels) the
// empty slabs of every cache.
size_t slab_shrink(gfp_t gfp, enum reclaim_level level)
{
    gfp = gfp_check_context(gfp, __builtin_return_address(0));
    if (level == RECLAIM_ALL)
        drop_every_array(gfp);
    size_t pages = 0;
    spin_lock(&chain_lock);
    if (level == RECLAIM_ALL) // sheaves go back to kmalloc first
        for (struct list_head *pos = cache_chain.next; pos != &cache_chain; pos = pos->next)
            barn_shrink(list_entry(pos, struct kmem_cache, next));
    // Newest first: an off-slab cache frees its descriptors into an older
    // kmalloc cache, whose emptied slabs then go too.
    for (struct list_head *pos = cache_chain.prev; pos != &cache_chain; pos = pos->prev) {
        struct kmem_cache *c = list_entry(pos, struct kmem_cache, next);
        struct list_head release;
        INIT_LIST_HEAD(&release);
        spin_lock(&c->node->list_lock);
        c->lock_count++;
        free_slabs_doom(c, UINT32_MAX, &release);
        spin_unlock(&c->node->list_lock);
        pages += slabs_release(c, &release);
    }
    spin_unlock(&chain_lock);
    return pages;
}

size_t slab_reclaim(gfp_t gfp)
{
    return slab_shrink(gfp, RECLAIM_ALL);
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
    spin_lock(&chain_lock);
    bool taken = find_cache(name) != NULL;
    spin_unlock(&chain_lock);
    return taken;
}

static const char *bad_args(const char *name, size_t size, size_t align, unsigned long flags,
                            bool permanent, int *err)
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
    for (const char *p = name; *p; p++)
        if (*p <= ' ' || *p > '~') // slabinfo's columns are split at spaces
            return "name has a space, a control character or a byte above ASCII";
    if (size == 0)
        return "size is 0";
    if (align != 0 && !IS_POWER_OF_2(align))
        return "align is not a power of two";
    if (flags & ~(SLAB_HWCACHE_ALIGN | SLAB_DEBUG_FLAGS | SLAB_FAILSLAB))
        return "unknown flags";
    *err = -E2BIG;
    if (size > KMALLOC_MAX_SIZE)
        return "size above KMALLOC_MAX_SIZE (8 MiB)";
    if (align > KMALLOC_MAX_SIZE)
        return "align above KMALLOC_MAX_SIZE (8 MiB)";
    *err = -EEXIST;
    if (!permanent && name_taken(name)) // kmalloc_init's names differ by construction
        return "a cache of that name exists";
    return NULL;
}

// A cache's struct and its node back to their caches (either may be NULL).
static void cache_free(struct kmem_cache *c, struct kmem_cache_node *n)
{
    if (n)
        kmem_cache_free(&node_cache, n);
    if (c)
        kmem_cache_free(&cache_cache, c);
}

static struct kmem_cache *create(const char *name, size_t size, size_t align, unsigned long flags,
                                 void (*ctor)(void *), bool permanent, gfp_t gfp)
{
    int err;
    struct kmem_cache *c = NULL;
    struct kmem_cache_node *n = NULL;
    const char *why = bad_args(name, size, align, flags, permanent, &err);
    if (why == NULL) {
        unsigned long boot = slab_debug_boot_flags(name) & ~flags; // slab_debug= adds these
        c = kmem_cache_alloc(&cache_cache, gfp); // no lock held: may grow or reclaim
        n = c ? kmem_cache_alloc(&node_cache, gfp) : NULL;
        err = n ? cache_setup(c, n, name, size, align, flags | boot, ctor) : -ENOMEM;
        if (err == -E2BIG && (boot & (SLAB_RED_ZONE | SLAB_STORE_USER))) {
            // Red zones and tracks do not fit (kmalloc-8M: a zone as big as
            // its alignment): the cache was asked for, the options were not.
            printk("slab: %s: no room for red zones and tracks; checked without them\n", name);
            boot &= ~(SLAB_RED_ZONE | SLAB_STORE_USER);
            err = cache_setup(c, n, name, size, align, flags | boot, ctor);
        }
        why = err == -E2BIG ? "no slab order fits the object" : err ? "out of memory" : NULL;
    }
    if (why == NULL) { // link it, unless the name was taken meanwhile
        c->permanent = permanent;
        spin_lock(&chain_lock);
        if (permanent || find_cache(name) == NULL) // 80 names: no 80 x 80 compares at start-up
            list_add_tail(&c->next, &cache_chain);
        else
            why = "a cache of that name exists", err = -EEXIST;
        spin_unlock(&chain_lock);
    }
    if (why == NULL) {
        WRITE_ONCE(last_error[cpu_id()], 0); // the last create worked
        return c;
    }
    cache_free(c, n); // no cpu has used it: no arrays yet
    WRITE_ONCE(last_error[cpu_id()], err);
    if (err != -ENOMEM || !(gfp & __GFP_NOWARN)) // a kmalloc class made lazily may fail quietly
        printk("slab: kmem_cache_create(%s, %zu, %zu): %s\n", name ? name : "NULL", size, align,
               why);
    return NULL;
}

struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
                                     unsigned long flags, void (*ctor)(void *))
{
    return create(name, size, align, flags, ctor, false, GFP_KERNEL);
}

struct kmem_cache *kmem_cache_create_permanent(const char *name, size_t size, size_t align,
                                               gfp_t gfp)
{
    return create(name, size, align, 0, NULL, true, gfp);
}

void kmem_cache_unmake(struct kmem_cache *c)
{
    spin_lock(&chain_lock);
    list_del(&c->next);
    spin_unlock(&chain_lock);
    cache_free(c, c->node);
}

static struct spinlock layout_lock = SPINLOCK_INIT("kmem_cache_layout");

int kmem_cache_layout(size_t size, size_t align, unsigned long flags, void (*ctor)(void *),
                      struct kmem_cache_info *info)
{
    static struct kmem_cache scratch; // big for a stack; under layout_lock
    if (slab_state == DOWN || size == 0 || size > KMALLOC_MAX_SIZE || align > KMALLOC_MAX_SIZE ||
        (align != 0 && !IS_POWER_OF_2(align)) ||
        (flags & ~(SLAB_HWCACHE_ALIGN | SLAB_DEBUG_FLAGS | SLAB_FAILSLAB))) {
        memset(info, 0, sizeof(*info));
        return -EINVAL;
    }
    spin_lock(&layout_lock);
    int err = cache_layout(&scratch, "(layout)", size, align, flags, ctor);
    if (err == 0)
        layout_info(&scratch, info);
    else
        memset(info, 0, sizeof(*info));
    info->name = "(layout)"; // not the scratch's: it is reused
    spin_unlock(&layout_lock);
    return err;
}

// Every lock of the slab layer and the buddy allocator, taken in the lock
// order (lib/platform.h, rule 6) and let go in reverse. The host library
// holds them across fork(), as C libraries hold their malloc locks: the
// child then starts with none held by a thread it does not have. The
// caller holds every per-CPU section first (they come before any lock).
void slab_lock_all(void)
{
    spin_lock(&chain_lock);
    for (struct list_head *pos = cache_chain.next; pos != &cache_chain; pos = pos->next) {
        struct kmem_cache_node *n = list_entry(pos, struct kmem_cache, next)->node;
        spin_lock(&n->list_lock);
        spin_lock(&n->barn.lock);
    }
    spin_lock(&layout_lock);
    slab_debug_lock(true);
    buddy_lock_all();
}

void slab_unlock_all(void)
{
    buddy_unlock_all();
    slab_debug_lock(false);
    spin_unlock(&layout_lock);
    for (struct list_head *pos = cache_chain.prev; pos != &cache_chain; pos = pos->prev) {
        struct kmem_cache_node *n = list_entry(pos, struct kmem_cache, next)->node;
        spin_unlock(&n->barn.lock);
        spin_unlock(&n->list_lock);
    }
    spin_unlock(&chain_lock);
}

int slab_last_error(void)
{
    return READ_ONCE(last_error[cpu_id()]);
}

static size_t slab_frames_of(struct kmem_cache *c)
{
    spin_lock(&c->node->list_lock);
    size_t n = (size_t)c->node->nr_slabs << c->order;
    spin_unlock(&c->node->list_lock);
    return n;
}

size_t slab_meta_pages(void)
{
    return slab_frames_of(&cache_cache) + slab_frames_of(&node_cache);
}

unsigned slab_nr_caches(void)
{
    unsigned n = 0;
    spin_lock(&chain_lock);
    for (struct list_head *pos = cache_chain.next; pos != &cache_chain; pos = pos->next)
        n++;
    spin_unlock(&chain_lock);
    return n;
}

// A destroyed cache's struct kmem_cache goes back to the cache of caches
// with its magic cleared, SLAB_DESTROYED in its flags and slab_no_array as
// every cpu's array, so a later kmem_cache_alloc/free on it takes the slow
// path and is reported instead of touching freed per-CPU arrays. The limit:
// this holds only while that memory is not reused -- the next
// kmem_cache_create is likely to get the very same struct (LIFO), and then
// the stale pointer names the new cache; reclaim may also give the slab
// holding it back to the buddy allocator.
int kmem_cache_destroy(struct kmem_cache *c)
{
    if (!cache_ok(c, "kmem_cache_destroy"))
        return -EINVAL;
    if (c->permanent) {
        printk("slab: kmem_cache_destroy(%s): a cache the slab layer needs; kept\n", c->name);
        return -EPERM;
    }
    struct list_head release;
    struct array_cache *arrays[NCPU];
    INIT_LIST_HEAD(&release);
    on_each_cpu(drain_local, c); // every cpu empties its array
    barn_shrink(c);
    // Under chain_lock, so reclaim cannot be working on the cache meanwhile.
    spin_lock(&chain_lock);
    spin_lock(&c->node->list_lock);
    size_t live = (size_t)c->node->nr_slabs * c->num - c->node->free_objects - c->quarantined;
    if (live == 0) {
        struct list_head *lists[] = {&c->node->slabs_free, &c->node->slabs_partial,
                                     &c->node->slabs_full};
        for (int k = 0; k < 3; k++) // partial and full: kept only by quarantined objects
            while (!list_empty(lists[k]))
                slab_doom(c, list_first_entry(lists[k], struct slab, list), &release);
        list_del(&c->next);
        c->magic = 0;
        c->flags |= SLAB_DESTROYED;
        WRITE_ONCE(c->checked_span, 0);        // checked frees go the way of kfree
        for (int cpu = 0; cpu < NCPU; cpu++) { // from now on every alloc and free is reported
            arrays[cpu] = c->array[cpu];
            c->array[cpu] = &slab_no_array;
        }
    }
    spin_unlock(&c->node->list_lock);
    slabs_release(c, &release);
    spin_unlock(&chain_lock);
    if (live) {
        printk("slab: kmem_cache_destroy(%s): %zu objects still live; cache kept\n", c->name, live);
        return -EBUSY;
    }
    for (int cpu = 0; cpu < NCPU; cpu++) // the arrays made, emptied above
        if (arrays[cpu]->limit != 0)
            array_free_pair(arrays[cpu]);
    cache_free(c, c->node);
    return 0;
}

// ---- Start ----

// slab_init failed making the kmalloc caches: give back every page taken so
// far -- the caches made (newest first: their off-slab descriptors live in
// older ones), then the cache of caches -- and leave the layer DOWN, so a
// failed init leaves no half-built state behind.
static void static_cache_unwind(struct kmem_cache *c)
{
    list_del(&c->next);
    struct list_head release;
    INIT_LIST_HEAD(&release);
    cache_drain(c, &release); // it has no arrays yet: those come once the layer is UP
    slabs_release(c, &release);
    c->magic = 0;
}

static void slab_unwind(void)
{
    while (cache_chain.prev != &node_cache.next) {
        struct kmem_cache *c = list_entry(cache_chain.prev, struct kmem_cache, next);
        c->permanent = false;
        kmem_cache_destroy(c); // empty: nothing was allocated from it
    }
    static_cache_unwind(&node_cache);
    static_cache_unwind(&cache_cache);
    kmalloc_reset();
    slab_state = DOWN;
}

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
    memset(last_error, 0, sizeof(last_error));
    slab_nr_reports = 0;
    int err = cache_setup(&cache_cache, &boot_nodes[0], "kmem_cache", sizeof(struct kmem_cache), 0,
                          SLAB_HWCACHE_ALIGN, NULL);
    if (err == 0)
        err = cache_setup(&node_cache, &boot_nodes[1], "kmem_cache_node",
                          sizeof(struct kmem_cache_node), 0, SLAB_HWCACHE_ALIGN, NULL);
    if (err) {
        printk("slab: slab_init: no memory for the cache of caches\n");
        return err;
    }
    cache_cache.permanent = node_cache.permanent = true;
    list_add_tail(&cache_cache.next, &cache_chain);
    list_add_tail(&node_cache.next, &cache_chain);
    slab_state = PARTIAL;
    if (kmalloc_init() != 0) {
        printk("slab: slab_init: could not make the kmalloc caches\n");
        slab_unwind();
        return -ENOMEM;
    }
    slab_state = UP;
    buddy_set_reclaim_hook(slab_shrink);
    return 0;
}
