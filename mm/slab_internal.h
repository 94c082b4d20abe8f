// The slab layer's own structures, shared by slab.c, slab_common.c,
// kmalloc.c, slab_debug.c and slabinfo.c, and the object fast paths, inline
// here so that kmalloc and kfree get them too. Nothing outside mm/ (and the
// white-box tests) should include this.
#ifndef SLAB_INTERNAL_H
#define SLAB_INTERNAL_H

#include "../lib/fault_inject.h"
#include "../lib/sanitizer.h"
#include "../lib/spinlock.h"
#include "page.h"
#include "slab.h"

// A slab's free objects are chained by index, through the objects
// themselves: a free object's bufctl -- Bonwick's name for the link, which
// his design also keeps inside small free buffers -- is the index of the
// next free object. It costs no byte per object (an array of 2-byte indexes,
// Linux SLAB's, is 20% of an 8-byte object). In a plain cache the bufctl is
// the object's first word, so a free writes nothing else; a cache whose free
// objects must keep their bytes (a constructor's work, poison, red zones, or
// the cache of caches, whose freed structs still say "destroyed") has a word
// of its own past the object (c->bufctl_off). Only those caches -- every
// debug cache is one -- mark an object that is out: ACTIVE while a caller
// has it, so a double free anywhere is caught; QUARANTINE when a corrupted
// free chain lost it. A plain cache's bufctl belongs to the caller while
// the object is out.
typedef uint32_t bufctl_t;
#define BUFCTL_END        ((bufctl_t)0xffffffff) // end of the free chain
#define BUFCTL_ACTIVE     ((bufctl_t)0xfffffffe) // marked caches: with a caller
#define BUFCTL_QUARANTINE ((bufctl_t)0xfffffffc) // marked caches: lost to a corrupted free chain

// One slab: 2^order frames. On-slab, this descriptor sits at the start of the
// frames (after the colour offset); off-slab it comes from a kmalloc cache.
struct slab {
    struct list_head list; // on its cache's full, partial or free list
    char *s_mem;           // first object
    uint32_t colouroff;    // s_mem minus the slab's first byte
    uint32_t inuse;        // objects out of the slab (with callers or in arrays)
    uint32_t free;         // first free object, or BUFCTL_END
    // Objects fresh..num-1 are free and have never been handed out: they
    // are on no chain, so a new slab's frames are not written (nor faulted
    // in, on the host) until its objects are used. A marked cache chains
    // every object at once (fresh = num).
    uint32_t fresh;
};

// Per-CPU array of free objects: a LIFO stack (entry[avail-1] is the hottest
// object, likely still in this cpu's cache). Only its own cpu touches it,
// inside its per-CPU section (local_lock_irqsave: interrupts off); other
// cpus that need it emptied ask that cpu by cross-call (drain_local). So it
// has no lock. Others may read avail for statistics: it is stored with
// relaxed atomic stores (plain stores on RISC-V).
struct array_cache {
    unsigned long avail; // objects in entry[] (a long: no zero-extension to index)
    unsigned int limit;  // capacity of entry[]; 0: alloc and free take the slow path
    uint16_t batchcount; // objects moved per refill or flush (at most ARRAY_LIMIT_MAX)
    // Set by this cpu's slow paths (refill, flush, a sheaf swapped or
    // traded), cleared by the reaper (slab_reap.c), which gives back part
    // of an array found untouched since its last visit. Half of a word, so
    // that the header stays 32 bytes: entry[] at offset 32 lets the fast
    // free reach entry[avail - 1] and entry[avail] from one address.
    uint16_t touched;
    // The cpu's second array (Bonwick's previous magazine, Linux's spare
    // sheaf), or NULL: the slow paths swap the two before they touch the
    // slab lists. Only a cpu's current array points to it.
    struct array_cache *spare;
    void *guard; // entry[-1], always NULL: the double-free test reads it when avail is 0
    void *entry[];
};

static inline void ac_set_avail(struct array_cache *ac, unsigned long n)
{
    WRITE_ONCE(ac->avail, n);
}

// Two arrays of limit 0 stand in for a cpu's array, and the fast path tests
// no flag for either: an alloc finds avail 0, a free avail >= limit, and
// both go to the slow path, which tells them apart by address:
//
//  - slab_no_array: the cache has no arrays at all (debug options, the
//    failslab mark, destroyed). Every alloc and free takes the debug path,
//    which keeps the free chain in a word of its own past the object.
//  - slab_lazy_array: a plain cache whose array for this cpu is not made
//    yet (none is until the cpu first allocates from or frees to the cache,
//    and reclaim and a cpu going offline give them back). The slow path
//    makes it and goes on as a refill or a flush. A plain cache keeps its
//    free chain inside free objects, so it must never take the debug path.
#define SLAB_DESTROYED   (1UL << 20) // set by kmem_cache_destroy (internal)
#define SLAB_SLOW_FLAGS  (SLAB_DEBUG_FLAGS | SLAB_FAILSLAB | SLAB_DESTROYED)
#define KMEM_CACHE_MAGIC 0x6b6d656dU       // "kmem": a live cache; cleared by destroy
extern struct array_cache slab_no_array;   // empty, limit 0, shared by every cpu
extern struct array_cache slab_lazy_array; // the same, for "not made yet"

// SLAB_STORE_USER: who last allocated and freed an object.
struct slab_track {
    const void *addr; // return address of the public entry (kmalloc, kmem_cache_free, ...)
    int cpu;          // -1: never
    uint32_t seq;     // a global event count: which of alloc and free came last
};

// A cache's slabs: three lists and the lock that guards them (Linux's
// struct kmem_cache_node, one per memory node there; one here). It is an
// object of its own, in the cache "kmem_cache_node", so every cache's lock
// sits with the others' on a few pages rather than on a page of its own
// struct kmem_cache (over 1 KiB with an array pointer per cpu): whatever
// takes every lock -- the host library around fork(), whose child and
// parent then write each page they let a lock go in -- touches 3 pages for
// 80 caches instead of 28.
// The barn (Bonwick's depot): whole sheaves -- arrays of the cache's limit
// that belong to no cpu -- kept per node, full ones for cpus whose arrays
// run empty and empty ones for cpus whose arrays fill up. A cpu trades a
// whole sheaf under the barn lock, held only to move a pointer or two: the
// slab lists see a cpu only when the barn has no sheaf to trade. Each stack
// is linked through the sheaves' `spare` fields and holds at most the
// cache's barn_max: about BARN_BYTES of objects in full sheaves, at least 2
// and at most BARN_MAX_SHEAVES (Linux's 10) -- enough for a few cpus to
// trade at once without the lists, and a bound on what a cache can hold
// out of its slabs (reclaim empties every barn; the reaper trims one to
// what its cpus needed at their low point). 256 KiB: batches of 1024
// blocks of 256 B cost librvslab.so 131 instructions a pair with 64 KiB,
// 76 with 256 KiB (1 KiB blocks: 358 and 316).
#define BARN_MAX_SHEAVES 10
#define BARN_BYTES       (256 * 1024)
struct barn {
    struct spinlock lock;
    struct array_cache *full, *empty; // tops of the two stacks
    unsigned int nr_full, nr_empty;
    // The fewest of each the barn held since the reaper's last visit: that
    // many sheaves no cpu needed in a whole interval (Bonwick's working
    // set), and the reaper gives them back.
    unsigned int low_full, low_empty;
};

struct kmem_cache_node {
    struct spinlock list_lock;
    struct list_head slabs_full, slabs_partial, slabs_free;
    size_t free_objects;   // free objects in partial and free slabs
    unsigned int nr_slabs; // all slabs of this cache
    unsigned int nr_free_slabs;
    unsigned int colour_next; // colour of the next slab made
    // For the reaper (slab_reap.c): the fewest empty slabs the free list
    // held since its last visit, and how many slabs the cache took off the
    // free list or made meanwhile -- its working set of empty slabs.
    unsigned int low_free_slabs;
    size_t slabs_needed;
    unsigned int gave_back; // empty slabs frees gave back (the list was full), not made again yet
    struct barn barn;       // its own lock, never held with list_lock
};

struct kmem_cache {
    // Read on every alloc and free, written only when a cpu's array is made
    // or given back (under the list lock, by the cpu itself, in its section)
    // and at destroy.
    struct array_cache *array[NCPU]; // indexed by cpu_id(); never NULL

    // Under node->list_lock, on a line of their own: the slow paths write
    // them, the fast paths only read the array pointers above.
    struct kmem_cache_node *node __attribute__((aligned(64)));
    uint64_t grows, reaped, lock_count, list_scans, refills, flushes;
    uint64_t reap_objs; // atomic: objects the reaper took from idle per-CPU arrays
    uint64_t errors;    // atomic: reports are made without the lock
    // Under node->barn.lock: its acquisitions, full sheaves taken and given.
    uint64_t barn_locks, barn_gets, barn_puts;

    // Geometry, fixed at creation.
    unsigned long flags; // SLAB_* from kmem_cache_create
    unsigned int size;   // stride: object_size rounded up to align
    uint32_t reciprocal; // ceil(2^32 / size): obj_to_index without a divide
    // num * size in a plain cache (per-CPU arrays, the free chain in each
    // free object's first word: no ctor, no debug option, not the cache of
    // caches), 0 in any other and once destroyed: the checked free's bound
    // on an object's offset, which so also turns away the caches it does
    // not take (object_start is false for every object of theirs).
    unsigned int checked_span;
    uint64_t divisor;                // ceil(2^64 / size): object_start without a divide
    unsigned int num;                // objects per slab
    unsigned int order;              // pages per slab = 2^order
    unsigned int colour, colour_off; // colour offsets: 0, colour_off, ... (colour of them)
    unsigned int bufctl_off;         // where a free object keeps its bufctl: 0, or past the object
    unsigned int mgmt;               // on-slab descriptor bytes (aligned), 0 off-slab
    unsigned int left_over;          // unused tail bytes per slab: the colouring room
    unsigned int free_limit;         // empty slabs kept; more go back to the buddy allocator
    unsigned int free_limit_min;    // free_limit where no reaper runs, and its floor where one does
    unsigned int free_limit_max;    // the most a regrowth raises free_limit to
    unsigned int limit, batchcount; // of each per-CPU array (0 if it has none)
    unsigned int barn_max;          // full (and empty) sheaves the barn keeps, each
    bool off_slab, permanent;       // permanent: cache of caches and kmalloc caches
    struct kmem_cache *slab_desc_cache; // off-slab: where descriptors come from
    size_t object_size, align;
    void (*ctor)(void *);
    char name[KMEM_NAME_LEN];
    struct list_head next; // on cache_chain

    // Debug (slab_debug.c). Offsets are from an object's first byte.
    uint32_t magic;                 // KMEM_CACHE_MAGIC while the cache exists
    unsigned int red_left;          // Z: red zone bytes before each object (a multiple of align)
    unsigned int red_end;           // Z: the right red zone is [object_size, red_end)
    unsigned int track_off;         // U: two struct slab_track (alloc, free) here
    uint64_t dbg_allocs, dbg_frees; // allocs/frees that went through the debug path, under lock
    size_t quarantined;             // objects lost to corrupted free chains, under lock
};

// obj's index in its slab s: O(1), a multiply instead of a divide. The
// offset is below 2^24 (a slab is at most 16 MiB), where ceil(2^32 / size)
// gives the exact quotient.
static inline unsigned int obj_to_index(const struct kmem_cache *c, const struct slab *s,
                                        const void *obj)
{
    size_t off = (size_t)((const char *)obj - s->s_mem);
    return (unsigned int)((off * c->reciprocal) >> 32);
}

static inline void *index_to_obj(const struct kmem_cache *c, const struct slab *s, unsigned int i)
{
    return s->s_mem + (size_t)i * c->size;
}

// Object i's bufctl, which only a free object (or a marked cache's) uses.
static inline bufctl_t *slab_bufctl(const struct kmem_cache *c, const struct slab *s,
                                    unsigned int i)
{
    return (bufctl_t *)(s->s_mem + (size_t)i * c->size + c->bufctl_off);
}

// Set a free object's link. On the host its bytes are ASan-poisoned (off
// limits to callers): the bufctl word alone is opened for the slab layer.
static inline void set_bufctl(const struct kmem_cache *c, const struct slab *s, unsigned int i,
                              bufctl_t v)
{
    bufctl_t *b = slab_bufctl(c, s, i);
    mem_unpoison(b, sizeof(*b));
    *b = v;
}

extern struct kmem_cache cache_cache; // the cache of struct kmem_cache (slab_common.c)

// ---- The fast paths --------------------------------------------------------
//
// An alloc pops this cpu's array, a free pushes it, inside the per-CPU
// section; nothing else. Everything rare is a tail call into slab.c with
// the section still held (it ends it): an empty array (refill), a full one
// (flush), an array of limit 0 (a cache without arrays, or this cpu's not
// made yet), and a double free of the object on top of the array.

// caller: the return address of the public function (kmalloc,
// kmem_cache_free, ...), for SLAB_STORE_USER and reports. The public fast
// paths pass NULL: the slow path they tail-call returns where they would
// have, so its own return address is their caller's (CALLER, written where
// the caller is used: on the rare branches). Reading it there costs the
// fast path nothing; a fast path that saved its return address itself
// would need a stack frame. The slab_debug self-tests check the caller a
// debug cache records.
#define CALLER(caller) ((caller) ? (caller) : __builtin_return_address(0))
void *cache_alloc_refill(struct kmem_cache *c, gfp_t gfp, unsigned long flags, const void *caller);
void *slab_alloc_slow(struct kmem_cache *c, gfp_t gfp, const void *caller); // no arrays
void *alloc_no_array(struct kmem_cache *c, gfp_t gfp, const void *caller);  // from the lists
void cache_free_slow(struct kmem_cache *c, void *obj, unsigned long flags, const void *caller);
void cache_free_double(struct kmem_cache *c, void *obj, unsigned long flags, const void *caller);

// The pop, in this cpu's section (flags).
static inline __attribute__((always_inline)) void *
slab_alloc_in(struct kmem_cache *c, unsigned long flags, gfp_t gfp, const void *caller)
{
    // LAB array.alloc: begin
    struct array_cache *ac = c->array[local_lock_cpu(flags)];
    unsigned long avail = ac->avail;
    if (unlikely(avail == 0))
        return cache_alloc_refill(c, gfp, flags, caller);
    void **top = ac->entry + avail; // one past the hottest object
    void *obj = top[-1];
    ac_set_avail(ac, avail - 1);
    local_unlock_irqrestore(flags);
    mem_unpoison(obj, c->size);
    return obj;
    // LAB array.alloc: end
}

// The push, in this cpu's section. obj is in a frame of c's (the caller
// checked struct page).
static inline __attribute__((always_inline)) void
slab_free_in(struct kmem_cache *c, void *obj, unsigned long flags, const void *caller)
{
    // LAB array.free: begin
    struct array_cache *ac = c->array[local_lock_cpu(flags)];
    unsigned long avail = ac->avail;
    if (unlikely(avail >= ac->limit))
        return cache_free_slow(c, obj, flags, caller);
    long top = (long)avail - 1;          // the hottest object's index; -1, the guard, if none
    if (unlikely(ac->entry[top] == obj)) // on top already: freed twice
        return cache_free_double(c, obj, flags, caller);
#ifdef RVSLAB_ASAN
    if (c != &cache_cache) // its freed objects stay readable: see kmem_cache_destroy
        mem_poison(obj, c->size);
#endif
    ac->entry[top + 1] = obj;
    ac_set_avail(ac, avail + 1);
    local_unlock_irqrestore(flags);
    // LAB array.free: end
}

// The pop alone, for a caller with a slow path of its own (librvslab.so's
// malloc, which then needs no frame): true with *obj set, or false when
// this cpu's array is empty (or not made) or the quick way into the
// section is closed. Nothing is refilled or waited for.
static inline __attribute__((always_inline)) bool slab_try_pop(struct kmem_cache *c, void **obj)
{
    unsigned long flags;
    if (unlikely(!local_trylock_irqsave(&flags)))
        return false;
    struct array_cache *ac = c->array[local_lock_cpu(flags)];
    unsigned long avail = ac->avail;
    if (unlikely(avail == 0)) {
        local_unlock_irqrestore(flags);
        return false;
    }
    *obj = ac->entry[avail - 1];
    ac_set_avail(ac, avail - 1);
    local_unlock_irqrestore(flags);
    mem_unpoison(*obj, c->size);
    return true;
}

// The push alone, for a caller that has checked the object for a double
// free already (kfree_checked: the freed-object key), so the top of the
// array need not be compared: true if obj went in, false when the array
// is full (or not made) or the quick way into the section is closed.
static inline __attribute__((always_inline)) bool slab_try_push(struct kmem_cache *c, void *obj)
{
    unsigned long flags;
    if (unlikely(!local_trylock_irqsave(&flags)))
        return false;
    struct array_cache *ac = c->array[local_lock_cpu(flags)];
    unsigned long avail = ac->avail;
    if (unlikely(avail >= ac->limit)) {
        local_unlock_irqrestore(flags);
        return false;
    }
#ifdef RVSLAB_ASAN
    mem_poison(obj, c->size); // never the cache of caches: it is not plain
#endif
    ac->entry[avail] = obj;
    ac_set_avail(ac, avail + 1);
    local_unlock_irqrestore(flags);
    return true;
}

// When the platform's quick way into the section does not do
// (local_trylock_irqsave: never in the kernel), the whole operation is a
// tail call, so the fast paths call nothing and keep no frame.
void *slab_alloc_wait(struct kmem_cache *c, gfp_t gfp, const void *caller);
void slab_free_wait(struct kmem_cache *c, void *obj, const void *caller);

static inline __attribute__((always_inline)) void *slab_alloc(struct kmem_cache *c, gfp_t gfp,
                                                              const void *caller)
{
    unsigned long flags;
    if (unlikely(!local_trylock_irqsave(&flags)))
        return slab_alloc_wait(c, gfp, caller);
    return slab_alloc_in(c, flags, gfp, caller);
}

static inline __attribute__((always_inline)) void slab_free(struct kmem_cache *c, void *obj,
                                                            const void *caller)
{
    unsigned long flags;
    if (unlikely(!local_trylock_irqsave(&flags)))
        return slab_free_wait(c, obj, caller);
    slab_free_in(c, obj, flags, caller);
}

// ---- The freed-object key of checked frees (slab_check.c) ----
//
// A freed object's second 32-bit word holds the secret mixed with its
// address; a live block's holds the caller's bytes (kmalloc_fresh zeroes
// them when it is handed out). The word of a free object is ASan-poisoned
// on the host: the checks' own reads and writes of it are meant.
extern uint32_t slab_free_key_secret __mm_internal;

static inline uint32_t free_key(const void *p)
{
    return (uint32_t)(uintptr_t)p ^ slab_free_key_secret; // the address's low 32 bits
}

#ifdef RVSLAB_ASAN
static __attribute__((no_sanitize_address, noinline)) bool free_key_in(const void *p)
{
    return ((const volatile uint32_t *)p)[1] == free_key(p);
}
static __attribute__((no_sanitize_address, noinline)) void set_free_key(void *p)
{
    ((volatile uint32_t *)p)[1] = free_key(p);
}
#else
static inline bool free_key_in(const void *p)
{
    return ((const uint32_t *)p)[1] == free_key(p);
}
static inline void set_free_key(void *p)
{
    ((uint32_t *)p)[1] = free_key(p);
}
#endif
// The checked paths' view of p: its cache, if p's frame is a slab of a
// plain cache (per-CPU arrays, free chain in an object's first word); NULL
// for any other frame, whose own checks kfree and ksize make.
static inline struct kmem_cache *plain_cache_of(const void *p)
{
    unsigned long pfn = (uintptr_t)p >> PAGE_SHIFT;
    struct kmem_cache *c;
    if (!pfn_valid(pfn) || (c = READ_ONCE(pfn_to_page(pfn)->slab_cache)) == NULL ||
        READ_ONCE(c->checked_span) == 0)
        return NULL;
    return c;
}

// p is the start of an object of plain cache c in the slab whose first
// object is s_mem (always false for any other cache: its checked_span is
// 0). The offset from the first object is below the objects' span and a
// multiple of the size: for an offset n below 2^32 and d = ceil(2^64 /
// size), n is a multiple of the size exactly when n * d, modulo 2^64, is
// below d (Lemire, Kaser and Kurz, "Faster remainder by direct
// computation", 2019). A p below s_mem wraps around to an offset far above
// the span.
static inline bool object_start(const struct kmem_cache *c, const char *s_mem, const void *p)
{
    size_t off = (size_t)((const char *)p - s_mem);
    return off < READ_ONCE(c->checked_span) && off * c->divisor < c->divisor;
}

void kfree_key_found(struct kmem_cache *c, void *obj);      // the key is there: search, report
void kfree_not_object(struct kmem_cache *c, const void *p); // not a plain cache's object start

// kfree_checked once p is known to be in RAM and pg is its frame's struct
// page: the library's free, which has tested its heap's bounds already,
// comes in here without kfree_checked's second test. p is the start of an
// object, and not one already free -- whose key word holds the key. A plain
// cache's object only: any other block is kfree's, which kfree_not_object
// finds out.
static inline __attribute__((always_inline)) void kfree_checked_page(const void *p, struct page *pg)
{
    struct kmem_cache *c = READ_ONCE(pg->slab_cache);
    if (unlikely(c == NULL))
        return kfree(p);
    if (unlikely(!object_start(c, READ_ONCE(pg->s_mem), p)))
        return kfree_not_object(c, p); // or not a plain cache: kfree's
    if (unlikely(free_key_in(p)))
        return kfree_key_found(c, (void *)p);
    set_free_key((void *)p);
    if (likely(slab_try_push(c, (void *)p)))
        return;
    slab_free(c, (void *)p, NULL); // a full array, or the section the slow way
}

// ---- Between the files of mm/ ----

// slab_common.c
extern struct list_head cache_chain; // every cache, oldest first, under chain_lock
extern struct spinlock chain_lock;
bool slab_is_up(void); // slab_init done: caches may be made and reaped
struct kmem_cache *kmem_cache_create_permanent(const char *name, size_t size, size_t align,
                                               gfp_t gfp); // kmalloc's classes: never destroyed
void kmem_cache_unmake(struct kmem_cache *c); // one just made, never used: unlinked and freed
#define ARRAY_LIMIT_MAX 120                   // the longest per-CPU array (of small objects)
bool array_home(size_t size);                 // may kmalloc class `size` hold per-CPU arrays?
struct array_cache *array_make(struct kmem_cache *c, gfp_t gfp); // an empty array, or NULL

// slab.c
extern uint64_t slab_nr_reports;                      // reports of bad use since slab_init
bool cache_ok(struct kmem_cache *c, const char *who); // not NULL, not destroyed (else reported)
void drain_local(void *cache); // on_each_cpu: this cpu's array of the cache to its slabs
void drop_local(void *cache);  // the same, and the array given back (slab_lazy_array again)
void array_free(struct array_cache *ac);      // one array_make made, back to its slab
void array_free_pair(struct array_cache *ac); // a cpu's array and its spare
void cache_drain(struct kmem_cache *c, struct list_head *release); // every cpu's, and free slabs
void barn_shrink(struct kmem_cache *c); // the barn's objects to their slabs, its sheaves freed
void barn_trim(struct kmem_cache *c, bool all); // all, or the sheaves no cpu needed (the reaper)
void reap_local(struct kmem_cache *c);          // slab_reap: this cpu's array (in its section)
void slab_doom(struct kmem_cache *c, struct slab *s,
               struct list_head *release);                             // c->node->list_lock held
size_t slabs_release(struct kmem_cache *c, struct list_head *release); // doomed slabs' frames back
void free_slabs_doom(struct kmem_cache *c, unsigned int n,
                     struct list_head *release); // n coldest empty slabs; list_lock held
void slab_free_bad(struct kmem_cache *c, const void *obj, const char *who, const void *caller);
// What the fast paths (slab_fast.c) tail-call; each reads its own return
// address as the caller's.
void *kmem_cache_alloc_null(void);                            // reported
void *kmem_cache_alloc_zero(struct kmem_cache *c, gfp_t gfp); // __GFP_ZERO
void kmem_cache_free_bad(struct kmem_cache *c, void *obj);    // not an object of c, NULL c
size_t slab_obj_size(const void *obj);             // ksize of a slab object; 0 (reported) if bad
void slab_report_bad(struct kmem_cache *c);        // count one report
struct kmem_cache *kmem_cache_of(const void *obj); // the cache of a slab object, or NULL

// slabinfo.c
void layout_info(const struct kmem_cache *c, struct kmem_cache_info *in); // geometry fields only

// slab_debug.c, for slab.c (c->node->list_lock held where it says so).
unsigned long slab_debug_boot_flags(const char *name);      // slab_debug= flags for this cache
void slab_debug_lock(bool lock);                            // take (true) or drop the report lock
void debug_layout(struct kmem_cache *c);                    // red zones and tracks into c->size
void debug_init_slab(struct kmem_cache *c, struct slab *s); // fresh slab: zones, poison
void debug_on_alloc(struct kmem_cache *c, struct slab *s, unsigned i, const void *caller);
bool debug_on_free(struct kmem_cache *c, struct slab *s, unsigned i, const void *caller);
// Reports: begin (takes the report lock), lines, end (counts, may panic).
void report_begin(struct kmem_cache *c, const char *title);
void report_object(struct kmem_cache *c, struct slab *s, unsigned i);
void report_end(struct kmem_cache *c, const char *action);
#define report_line(fmt, ...) printk("slab: " fmt "\n", ##__VA_ARGS__)
int validate_slab_locked(struct kmem_cache *c, struct slab *s,
                         bool repair); // c->node->list_lock held
// Is object i of slab s free there: fresh, or on its free chain (walked
// at most num steps, in range)? c->node->list_lock held.
bool slab_obj_free(const struct kmem_cache *c, const struct slab *s, unsigned int i);

// kmalloc.c, for slab.c and slab_fast.c
#define KMALLOC_SMALL_MAX 1024 // size_small[] covers 1..1024 bytes, by 8
extern struct kmem_cache *kmalloc_caches[KMALLOC_NR_CLASSES] __mm_internal;   // NULL: not made yet
extern struct kmem_cache *kmalloc_small[KMALLOC_SMALL_MAX / 8] __mm_internal; // sizes 1..1024, by 8
void *kmalloc_slow(size_t size, gfp_t gfp);                                   // above 1 KiB, size 0
void *kmalloc_zero(size_t size, gfp_t gfp); // 1 KiB or less: __GFP_ZERO, a class not made yet
void kfree_slow(const void *p);             // NULL, a large block, not a slab object
int kmalloc_init(void);                     // make the kmalloc caches; 0 or -ENOMEM
void kmalloc_reset(void);                   // forget them (a failed slab_init)

#endif
