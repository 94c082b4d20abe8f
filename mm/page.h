// struct page: one descriptor per 4 KiB physical frame, in the array mem_map.
// The buddy allocator keeps its free-block state here, and the slab layer
// records which cache and slab own a frame, so kfree(ptr) finds its cache
// through virt_to_page(ptr) in O(1), with no size given.
#ifndef PAGE_H
#define PAGE_H

#include "../lib/list.h"
#include "../lib/platform.h"

struct kmem_cache;

// 32 bytes, a power of two: virt_to_page is a shift, not a multiply, and it
// runs on every kfree. A frame is either free (on a buddy list) or
// allocated, never both, so the fields of the two states share space.
struct page {
    uint32_t flags; // PG_* bits below
    union {
        uint32_t order;     // PG_buddy: order of the free block this page heads
        uint32_t nr_frames; // PG_head: frames in the allocation this page starts
    };
    union {
        struct list_head lru; // PG_buddy: link in a free list
        struct {
            void *slab;  // PG_slab: the slab descriptor of this frame's slab
            char *s_mem; // PG_slab: that slab's first object (a checked free reads no descriptor)
        };
    };
    // PG_slab: the cache owning this frame; NULL on every other frame, so
    // "slab_cache == c" alone says "a frame of cache c". Read and written
    // with READ_ONCE/WRITE_ONCE (as slab is): a caller's stale free may read
    // it while the slab is given back.
    struct kmem_cache *slab_cache;
};

enum {
    PG_reserved = 1 << 0, // firmware, kernel image, DTB, mem_map: never handed out
    PG_buddy = 1 << 1,    // heads a free block on a buddy free list
    PG_head = 1 << 2,     // first frame of an allocated block (nr_frames frames)
    PG_slab = 1 << 3,     // owned by the slab layer
    PG_large = 1 << 4,    // head of a kmalloc too large for any size class
    PG_clean = 1 << 5,    // with PG_buddy: the block's bytes went back to the host (buddy_purge)
    PG_idle = 1 << 6,     // with PG_buddy: untouched since the last buddy_purge marked it
};

// A frame's flags are read by code that does not own the frame (a bad-free
// check looks at whatever frame it is given; the owner may be changing it on
// another cpu), so every access is atomic. Relaxed order: the locks of the
// owners order everything else, and on RISC-V these are plain loads/stores.
static inline uint32_t page_flags(const struct page *p)
{
    return READ_ONCE(p->flags);
}

static inline void set_page_flags(struct page *p, uint32_t flags)
{
    WRITE_ONCE(p->flags, flags);
}

// __mm_internal (lib/platform.h): librvslab.so makes these hidden.
extern struct page *mem_map __mm_internal; // one entry per frame in [min_pfn, max_pfn)
extern unsigned long min_pfn __mm_internal, max_pfn __mm_internal; // frames the array covers
extern unsigned long nr_pfn __mm_internal;                         // max_pfn - min_pfn

static inline bool pfn_valid(unsigned long pfn)
{
    return pfn - min_pfn < READ_ONCE(nr_pfn); // one compare: below min_pfn wraps around
}

static inline unsigned long page_to_pfn(const struct page *p)
{
    return min_pfn + (unsigned long)(p - mem_map);
}

static inline struct page *pfn_to_page(unsigned long pfn)
{
    return &mem_map[pfn - min_pfn];
}

static inline void *page_address(const struct page *p)
{
    return (void *)(page_to_pfn(p) << PAGE_SHIFT);
}

// The struct page of the frame holding addr, or NULL if addr is not in RAM.
static inline struct page *virt_to_page(const void *addr)
{
    unsigned long pfn = (uintptr_t)addr >> PAGE_SHIFT;
    return pfn_valid(pfn) ? pfn_to_page(pfn) : NULL;
}

#endif
