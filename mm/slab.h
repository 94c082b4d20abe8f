// The slab allocator (Bonwick 1994, Linux's classic mm/slab.c, the rslab
// crate): named caches of equal-sized objects carved from page frames, with
// a per-CPU array of free objects in front of each cache, and kmalloc on top.
#ifndef SLAB_H
#define SLAB_H

#include "../lib/fault_inject.h"
#include "../lib/platform.h"
#include "gfp.h"

struct kmem_cache;

#define KMEM_NAME_LEN          32           // a cache name, NUL included
#define KMALLOC_MIN_SIZE       8            // smallest kmalloc class
#define KMALLOC_MAX_CACHE_SIZE (32UL << 10) // largest class; above it, whole frames
#define KMALLOC_NR_CLASSES     80           // 8..64 by 8, then 8 per power of two
#define KMALLOC_MAX_SIZE       (8UL << 20) // largest object of a cache, largest kmalloc_aligned align

// How kmalloc takes a block of frames (above KMALLOC_MAX_CACHE_SIZE): just
// the frames it needs (true, the default: in RAM the rest of the
// power-of-two block goes back at once), or the whole power-of-two block,
// as Linux's kmalloc does (false: the host library's choice, where the
// untouched end of a block costs address space only, and a block that
// goes back whole leaves no tail behind for small blocks to pin, so big
// blocks do not fragment the heap). Read at each allocation.
extern bool kmalloc_exact_frames;

// When the kmalloc classes are made: all of them by slab_init (false, the
// default, as Linux does at boot: no allocation ever makes a cache), or
// each at its first kmalloc (true: the host library's choice, where a
// short-lived process uses a handful of the 80 classes and each made
// class is a struct kmem_cache of over 1 KiB to fault in at start-up and
// after every fork). Set before slab_init.
extern bool kmalloc_lazy_classes;

// kmem_cache_create flags.
#define SLAB_HWCACHE_ALIGN (1UL << 0) // align objects to the cache line (Linux's rule)
// Debug options (mm/slab_debug.c; README "Debugging the allocator"). A cache
// with any of them skips the per-CPU arrays: every alloc and free is checked
// under the cache lock. Also for all caches, or some, from the boot command
// line: slab_debug=FZPU[,name,prefix*,...].
#define SLAB_RED_ZONE    (1UL << 8)  // Z: guard bytes before and after each object
#define SLAB_POISON      (1UL << 9)  // P: fill freed objects, check on next alloc (not with a ctor)
#define SLAB_STORE_USER  (1UL << 10) // U: remember the last alloc/free caller
#define SLAB_CONSISTENCY (1UL << 11) // F: full checks of the object's slab on every free
#define SLAB_FREE_CHECKS (1UL << 13) // H: the checked path alone (double frees, interior pointers)
#define SLAB_DEBUG_FLAGS                                                                           \
    (SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_CONSISTENCY | SLAB_FREE_CHECKS)
#define SLAB_FAILSLAB (1UL << 12) // A: allocations may fail when `failslab` is armed

// Set up the slab layer: frame_size must be PAGE_SIZE, cache_line_size a power
// of two (8..PAGE_SIZE). Builds the cache of caches and the kmalloc caches and
// registers slab_reclaim with the buddy allocator. 0 or -EINVAL. Calling it
// again (after buddy_init) starts over.
int slab_init(size_t frame_size, size_t cache_line_size);

// A cache of `size`-byte objects aligned to `align` (0: 8 bytes). ctor, if
// given, runs once per object when a slab is laid out. NULL on bad arguments
// or no memory, with a printk saying why (slab_last_error() has the -errno).
struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
                                     unsigned long flags, void (*ctor)(void *));
// Every allocation says what it may do to find memory (mm/gfp.h):
// GFP_KERNEL in ordinary code, GFP_ATOMIC in an interrupt handler or under
// a spin lock. The pop from this cpu's array never waits, whatever gfp says.
void *kmem_cache_alloc(struct kmem_cache *c, gfp_t gfp); // a constructed object, or NULL
void kmem_cache_free(struct kmem_cache *c, void *obj);   // NULL is ignored; bad frees reported
size_t kmem_cache_shrink(struct kmem_cache *c); // drain arrays, free empty slabs: pages freed
int kmem_cache_destroy(struct kmem_cache *c);   // 0, or -EBUSY while objects are live

// Bulk (Linux's names; mm/slab_bulk.c): n objects in one call, moved
// between this cpu's array and p[] a batch at a time, one per-CPU section
// per batch instead of one per object. The alloc is all or nothing: n, or
// 0 with nothing taken. A NULL cache in a free means each object's own.
int kmem_cache_alloc_bulk(struct kmem_cache *c, gfp_t gfp, size_t n, void **p);
void kmem_cache_free_bulk(struct kmem_cache *c, size_t n, void **p);
void kfree_bulk(size_t n, void **p); // kmalloc'd blocks of any sizes; NULLs skipped

// Prefilled sheaves (Linux's API): objects taken ahead, while the caller
// may still wait for memory, for a section of code that must not fail --
// an interrupt handler, a path under a spin lock. An alloc from the sheaf
// cannot fail while it holds objects, whatever memory is left. A sheaf is
// its owner's alone: no lock guards it.
struct slab_sheaf;
struct slab_sheaf *kmem_cache_prefill_sheaf(struct kmem_cache *c, gfp_t gfp, unsigned int count);
void *kmem_cache_alloc_from_sheaf(struct kmem_cache *c, gfp_t gfp, struct slab_sheaf *sheaf);
// Top *sheaf up to count objects (a bigger sheaf may replace it): 0, or
// -ENOMEM with the sheaf as it was.
int kmem_cache_refill_sheaf(struct kmem_cache *c, gfp_t gfp, struct slab_sheaf **sheaf,
                            unsigned int count);
void kmem_cache_return_sheaf(struct kmem_cache *c, gfp_t gfp, struct slab_sheaf *sheaf);
unsigned int kmem_cache_sheaf_size(const struct slab_sheaf *sheaf); // objects it holds

// A cache named, sized and aligned for `struct s`: KMEM_CACHE(proc, 0, proc_ctor).
#define KMEM_CACHE(s, flags, ctor)                                                                 \
    kmem_cache_create(#s, sizeof(struct s), __alignof__(struct s), (flags), (ctor))

// Give memory back: with __GFP_DIRECT_RECLAIM (GFP_KERNEL), every cpu
// drains and gives back its per-CPU arrays (a cross-call); without it
// (GFP_ATOMIC, GFP_NOWAIT) only this cpu does. Then every empty slab of
// every cache goes back. Returns pages given back. Called with no slab lock
// held. slab_shrink(gfp, RECLAIM_ALL).
size_t slab_reclaim(gfp_t gfp);
// The buddy allocator's reclaim hook: RECLAIM_FREE gives back only every
// cache's empty slabs, RECLAIM_ALL is slab_reclaim.
size_t slab_shrink(gfp_t gfp, enum reclaim_level level);
// The calling cpu stops allocating (librvslab.so: a thread that exits gives
// its cpu slot back): its per-CPU arrays empty into the slabs and are freed.
void slab_cpu_offline(void);
// Reaping, as SLAB's cache_reap (mm/slab_reap.c). A platform with a tick
// calls slab_reap() on every cpu every slab_reap_ms milliseconds (the
// kernel: from the tick handler; 0: never). Each call gives back part of
// this cpu's per-CPU arrays that no slow path touched since the last call;
// the first cpu of each round also trims every cache's barn and free list
// to what the cache needed in the last interval (its working set), and
// sets its free_limit to that. Between calls, and where no one calls it
// (librvslab.so), free_limit starts at kmem_cache_create's amount and each
// slab made in place of one a free gave back raises it by one, up to 64
// pages' worth. Any context;
// wait=false (the tick) gives up at once if another cpu holds the list of
// caches, and returns false. True if it reaped.
extern unsigned int slab_reap_ms;
#define SLAB_REAP_MS 1000 // the kernel's interval
bool slab_reap(bool wait);
uint64_t slab_reap_rounds(void); // rounds whose node trims were done, since boot

void *kmalloc(size_t size, gfp_t gfp);                 // NULL for size 0 or no memory
void *kmalloc_array(size_t n, size_t size, gfp_t gfp); // n * size bytes; NULL if that overflows
void *kcalloc(size_t n, size_t size, gfp_t gfp);       // the same, zeroed
// align: a power of two up to KMALLOC_MAX_SIZE
void *kmalloc_aligned(size_t size, size_t align, gfp_t gfp);
void kfree(const void *p);   // NULL is ignored; bad frees reported
size_t ksize(const void *p); // usable bytes at p (0 for NULL or a bad pointer)

// Checked frees, for callers that must not trust their pointers (a C
// library's free; mm/slab_check.c): kfree_checked also reports a double
// free wherever the first free put the object, which plain kfree finds only
// on top of this cpu's array. Blocks it will be given back must come
// through kmalloc_fresh, which clears the freed-object key.
void kfree_checked(const void *p);
static inline void *kmalloc_fresh(void *p) // p (NULL too), its freed-object key cleared
{
    if (p)
        ((unsigned int *)p)[1] = 0;
    return p;
}
bool kmalloc_check_live(const void *p, const char *who); // p is a live block; else reported
void slab_free_check_seed(uint64_t seed);                // the key's secret (at start-up)
// Resized, in place if it can (else copied); NULL: p kept. __GFP_ZERO
// zeroes the bytes past the old block's usable size.
void *krealloc(void *p, size_t new_size, gfp_t gfp);

static inline void *kzalloc(size_t size, gfp_t gfp) // kmalloc, zeroed
{
    return kmalloc(size, gfp | __GFP_ZERO);
}

static inline void *kmem_cache_zalloc(struct kmem_cache *c, gfp_t gfp)
{
    return kmem_cache_alloc(c, gfp | __GFP_ZERO);
}

void slabinfo(void); // print one row per cache, like /proc/slabinfo

// ---- Debugging (mm/slab_debug.c) ----

// Read "slab_debug=FLAGS[,name...]" and "slab_panic_on_report=0|1" from a
// boot command line (other words ignored); affects caches created later.
// FLAGS: letters F Z P U A. 0, or -EINVAL (nothing changed) for a bad value.
int slab_debug_setup(const char *cmdline);
extern bool slab_panic_on_report; // panic after any report instead of repairing and going on
// Walk every structure of a cache (or of all) and check every invariant:
// counts vs lists, free chains in range and acyclic, struct pages, per-CPU
// arrays, red zones and poison. Problems are printed (debug-zone damage is
// reported, counted and repaired). Returns the number found; -EINVAL for a
// NULL or destroyed cache.
int slab_validate(struct kmem_cache *c);
int slab_validate_all(void);
unsigned slab_nr_caches(void); // caches that exist now
size_t slab_meta_pages(void);  // frames holding the caches themselves (their structs and nodes)
// Fault injection for the slab layer (Linux's failslab): when armed (see
// lib/fault_inject.h), allocations from caches created with SLAB_FAILSLAB
// (or marked with slab_debug=A) fail as if memory had run out.
extern struct fault_attr failslab;

// ---- Observation, for tests, slabinfo and the benchmarks ----

// A cache's geometry and a snapshot of its counters.
struct kmem_cache_info {
    const char *name;
    size_t object_size;  // as asked
    size_t size;         // stride between objects (object_size rounded up to align)
    size_t align;        // every object's address is a multiple of this
    unsigned order;      // a slab is 2^order frames
    unsigned num;        // objects per slab
    unsigned colour;     // distinct colour offsets (>= 1)
    unsigned colour_off; // bytes between two colour offsets
    bool off_slab;       // slab descriptor kept outside the slab's frames
    size_t mgmt;         // bytes of an on-slab descriptor (0 off-slab)
    size_t desc_bytes;   // the off-slab descriptor's object (0 on-slab)
    size_t waste;        // unused tail bytes per slab (room for colouring)
    // A slab costs (PAGE_SIZE << order) + desc_bytes and holds num * size
    // bytes of objects: kmalloc classes and plain caches keep that >= 7/8.
    unsigned limit, batchcount, free_limit; // per-CPU array; most empty slabs kept
    unsigned arrays; // per-CPU arrays made: cpus that used the cache since reclaim gave theirs back
    // Counts: "active" objects are with callers; objects in per-CPU arrays are "cached".
    size_t active_objs, cached_objs, total_objs;
    size_t active_slabs, total_slabs, free_slabs; // active: slabs with any object out
    uint64_t refills, flushes;                    // batches moved: lists -> array, array -> lists
    // The barn: sheaves it holds (their objects are in cached_objs too),
    // full sheaves cpus took from it and gave to it, its lock's acquisitions.
    unsigned barn_full, barn_empty, barn_max; // barn_max: of each kind, at most
    size_t barn_objs;
    uint64_t barn_gets, barn_puts, barn_locks;
    uint64_t debug_allocs, debug_frees; // allocs and frees of a cache without arrays (debug path)
    uint64_t grows, reaped;             // slabs made, slabs given back to the buddy allocator
    uint64_t reap_objs;                 // objects the reaper took back from idle per-CPU arrays
    uint64_t lock_acquisitions;         // times the cache (slab-list) lock was taken
    uint64_t list_scans;                // walks over the slab lists (never done by alloc/free)
    uint64_t errors;                    // reports against this cache (bad frees, debug checks)
    unsigned long flags;                // SLAB_* in effect (P is dropped for a cache with a ctor)
    unsigned red_left;                  // debug: red zone bytes before each object (0 without Z)
};
void kmem_cache_get_info(struct kmem_cache *c, struct kmem_cache_info *info);
// Every cache at once: objects in per-CPU arrays and barns, arrays made,
// and the frames of all slabs.
struct slab_totals {
    size_t cached_objs, arrays, slab_pages;
};
void slab_get_totals(struct slab_totals *tot);
// The geometry kmem_cache_create(size, align, flags, ctor) would choose, as
// kmem_cache_get_info reports it (counts 0), without making a cache; the
// slab_debug= boot options are not applied. 0, -EINVAL or -E2BIG.
int kmem_cache_layout(size_t size, size_t align, unsigned long flags, void (*ctor)(void *),
                      struct kmem_cache_info *info);

struct kmem_cache *kmalloc_cache(size_t size); // the cache kmalloc(size) uses; NULL if none (yet)
struct kmem_cache *
kmalloc_cache_index(int i); // class i (0..KMALLOC_NR_CLASSES-1); NULL if not made
int slab_last_error(void);  // this cpu's last kmem_cache_create: 0, or the -errno of its failure
void slab_lock_all(
    void); // every slab and buddy lock, in order (around fork; per-CPU sections first)
void slab_unlock_all(void);         // and every one let go
uint64_t slab_error_count(void);    // reports since slab_init
const char *slab_last_report(void); // the title of the latest report ("double free", ...), or ""
// A slab on one of c's lists covers addr (walks the lists: tests, validation).
bool slab_on_lists(struct kmem_cache *c, const void *addr);

// Called for each slab just before its frames go back to the buddy allocator,
// after it left its list and its struct pages were cleared. Tests and the
// debug options use it; NULL when unused.
extern void (*slab_release_hook)(struct kmem_cache *c, void *base, unsigned order);

#endif
