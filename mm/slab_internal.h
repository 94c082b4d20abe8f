// The slab layer's own structures, shared by slab.c and kmalloc.c (and the
// debug code of issue 6). Nothing outside mm/ should include this.
#ifndef SLAB_INTERNAL_H
#define SLAB_INTERNAL_H

#include "../lib/fault_inject.h"
#include "../lib/spinlock.h"
#include "page.h"
#include "slab.h"

// A slab's free objects are chained by index: bufctl[i] is the index of the
// next free object after i (Bonwick's bufctl, Linux's kmem_bufctl_t). An
// object that is not free in its slab carries a marker instead, so a double
// free is caught in O(1) wherever the first free put the object.
typedef uint16_t bufctl_t;
#define BUFCTL_END        ((bufctl_t)0xffff) // end of the free chain
#define BUFCTL_ACTIVE     ((bufctl_t)0xfffe) // with a caller
#define BUFCTL_CACHED     ((bufctl_t)0xfffd) // in some cpu's array_cache
#define BUFCTL_QUARANTINE ((bufctl_t)0xfffc) // lost to a corrupted free chain: never handed out
#define SLAB_MAX_OBJS     0xfffc

// One slab: 2^order frames. On-slab, this descriptor sits at the start of the
// frames (after the colour offset); off-slab it comes from a kmalloc cache.
struct slab {
    struct list_head list; // on its cache's full, partial or free list
    char *s_mem;           // first object
    uint32_t colouroff;    // s_mem minus the slab's first byte
    uint16_t inuse;        // objects out of the slab (with callers or in arrays)
    bufctl_t free;         // first free object, or BUFCTL_END
    bufctl_t bufctl[];     // one per object
};

// Per-CPU array of free objects: a LIFO stack (entry[avail-1] is the hottest
// object, likely still in this cpu's cache). Its lock is taken by the owning
// cpu on every alloc/free and by other cpus only to drain it (reclaim,
// shrink, destroy), so it is almost never contended.
struct array_cache {
    struct spinlock lock;
    unsigned int avail;                       // objects in entry[]
    unsigned int limit;                       // capacity of entry[]
    unsigned int batchcount;                  // objects moved per refill or flush
    uint64_t allocs, frees, refills, flushes; // statistics, under lock
    void *entry[];
};

// Flags that send alloc and free off the fast path: the debug options, the
// failslab mark, and a destroyed cache (so using one costs the fast path
// nothing to catch). Tested with one unlikely() branch at alloc and at free.
#define SLAB_DESTROYED   (1UL << 20) // set by kmem_cache_destroy (internal)
#define SLAB_SLOW_FLAGS  (SLAB_DEBUG_FLAGS | SLAB_FAILSLAB | SLAB_DESTROYED)
#define KMEM_CACHE_MAGIC 0x6b6d656dU // "kmem": a live cache; cleared by destroy

// SLAB_STORE_USER: who last allocated and freed an object.
struct slab_track {
    const void *addr; // return address of the public entry (kmalloc, kmem_cache_free, ...)
    int cpu;          // -1: never
    uint32_t seq;     // a global event count: which of alloc and free came last
};

struct kmem_cache {
    // Read on every alloc/free, never written after creation.
    struct array_cache *array[NCPU]; // indexed by cpu_id()
    unsigned int size;               // stride: object_size rounded up to align
    uint32_t reciprocal;             // ceil(2^32 / size): obj_to_index without a divide
    unsigned int num;                // objects per slab
    unsigned long flags;             // SLAB_* from kmem_cache_create

    // The slab lists and what goes with them, under lock.
    struct spinlock lock;
    struct list_head slabs_full, slabs_partial, slabs_free;
    size_t free_objects;   // free objects in partial and free slabs
    unsigned int nr_slabs; // all slabs of this cache
    unsigned int nr_free_slabs;
    unsigned int colour_next; // colour of the next slab made
    uint64_t grows, reaped, lock_count, list_scans;
    uint64_t errors; // atomic: reports are made without the lock

    // Geometry, fixed at creation.
    unsigned int order;                 // pages per slab = 2^order
    unsigned int colour, colour_off;    // colour offsets: 0, colour_off, ... (colour of them)
    unsigned int mgmt;                  // on-slab descriptor bytes (aligned), 0 off-slab
    unsigned int left_over;             // unused tail bytes per slab: the colouring room
    unsigned int free_limit;            // empty slabs kept; more go back to the buddy allocator
    bool off_slab, permanent;           // permanent: cache of caches and kmalloc caches
    struct kmem_cache *slab_desc_cache; // off-slab: where descriptors come from
    size_t object_size, align;
    void (*ctor)(void *);
    char name[KMEM_NAME_LEN];
    struct list_head next; // on cache_chain
    void *array_frames;    // the frames holding array[]
    size_t array_nframes;

    // Debug (slab_debug.c). Offsets are from an object's first byte.
    uint32_t magic;                 // KMEM_CACHE_MAGIC while the cache exists
    unsigned int red_left;          // Z: red zone bytes before each object (a multiple of align)
    unsigned int red_end;           // Z: the right red zone is [object_size, red_end)
    unsigned int track_off;         // U: two struct slab_track (alloc, free) here
    uint64_t dbg_allocs, dbg_frees; // allocs/frees that went through the debug path, under lock
    size_t quarantined;             // objects lost to corrupted free chains, under lock
};

// The slab holding obj and obj's index in it: O(1) through struct page.
static inline unsigned int obj_to_index(const struct kmem_cache *c, const struct slab *s,
                                        const void *obj)
{
    uint32_t off = (uint32_t)((const char *)obj - s->s_mem);
    return (unsigned int)(((uint64_t)off * c->reciprocal) >> 32);
}

static inline void *index_to_obj(const struct kmem_cache *c, const struct slab *s, unsigned int i)
{
    return s->s_mem + (size_t)i * c->size;
}

// slab_common.c, for the rest of mm/
extern struct kmem_cache cache_cache; // the cache of struct kmem_cache
extern struct list_head cache_chain;  // every cache, oldest first, under chain_lock
extern struct spinlock chain_lock;
struct kmem_cache *kmem_cache_create_permanent(const char *name, size_t size, size_t align);

// slab.c, for slab_common.c
extern uint64_t slab_nr_reports;                      // reports of bad use since slab_init
bool cache_ok(struct kmem_cache *c, const char *who); // not NULL, not destroyed (else reported)
void cache_drain(struct kmem_cache *c, struct list_head *release);     // arrays and free slabs out
size_t slabs_release(struct kmem_cache *c, struct list_head *release); // frames back; pages

// slab.c, for kmalloc.c and slabinfo.c
void slab_free_any(void *obj, const char *who); // kfree of a slab object: cache from struct page
size_t slab_obj_size(const void *obj);          // ksize of a slab object; 0 (reported) if bad
void slab_report_bad(struct kmem_cache *c);     // count one report
void *slab_alloc_caller(struct kmem_cache *c, const void *caller); // kmem_cache_alloc for kmalloc
void slab_free_caller(void *obj, const char *who, const void *caller); // slab_free_any, with caller
struct kmem_cache *kmem_cache_of(const void *obj); // the cache of a slab object, or NULL

// slab_debug.c, for slab.c (c->lock held where it says so).
unsigned long slab_debug_boot_flags(const char *name);      // slab_debug= flags for this cache
void debug_layout(struct kmem_cache *c);                    // red zones and tracks into c->size
void debug_init_slab(struct kmem_cache *c, struct slab *s); // fresh slab: zones, poison
void debug_on_alloc(struct kmem_cache *c, struct slab *s, unsigned i, const void *caller);
bool debug_on_free(struct kmem_cache *c, struct slab *s, unsigned i, const void *caller);
// Reports: begin (takes the report lock), lines, end (counts, may panic).
void report_begin(struct kmem_cache *c, const char *title);
void report_object(struct kmem_cache *c, struct slab *s, unsigned i);
void report_end(struct kmem_cache *c, const char *action);
#define report_line(fmt, ...) printk("slab: " fmt "\n", ##__VA_ARGS__)
int validate_slab_locked(struct kmem_cache *c, struct slab *s, bool repair); // c->lock held

// kmalloc.c, for slab.c
int kmalloc_init(void);   // make the kmalloc caches; 0 or -ENOMEM
void kmalloc_reset(void); // forget them (a failed slab_init)

#endif
