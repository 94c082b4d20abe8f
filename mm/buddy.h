// The buddy allocator: physical frames in power-of-two blocks.
// One zone covering the RAM the device tree reports, one lock, and min/low/
// high watermarks with a reserve below min for atomic requests.
#ifndef BUDDY_H
#define BUDDY_H

#include "../lib/fault_inject.h"
#include "gfp.h"
#include "page.h"

#ifndef MAX_ORDER
#define MAX_ORDER 12 // largest block is 2^MAX_ORDER frames (16 MiB): room for 8 MiB kmalloc
#endif

struct mem_region {
    uintptr_t base;
    size_t size;
};

// Take over RAM [base, base+size) except the reserved regions; places mem_map
// in free memory itself. Returns 0, or -EINVAL (bad range, no room).
// May be called again to start over (the host tests and fuzzers do).
int buddy_init(uintptr_t base, size_t size, const struct mem_region *reserved, int nreserved);

// A zone that grows (the host library's heap, reserved as it is used): RAM
// starts as [base, base+size), both frame-aligned, with mem_map at map (the
// caller keeps room for its growth). buddy_grow adds `bytes` at the end of
// RAM, once the caller made them and their mem_map entries accessible. The
// caller's mem_map is zero-filled (fresh memory): only the entries of frames
// in use are ever written, so the untouched part costs the host nothing.
int buddy_init_at(uintptr_t base, size_t size, struct page *map);
int buddy_grow(size_t bytes);
// The other way: whole free blocks of MAX_ORDER at the end of RAM leave the
// zone, while it keeps at least `keep` frames; returns the frames that left
// (the caller may unmap them, and must zero or discard their mem_map
// entries -- whole pages: a block's are 32 of them -- before they return).
size_t buddy_shrink(size_t keep);
// The last MAX_ORDER block of RAM is whole and free (with a purge hook set).
bool buddy_top_is_free(void);
// Called with no lock held when a request for n frames still fails after
// reclaim; returns the frames it added (through buddy_grow), 0 if none.
typedef size_t (*grow_hook_t)(size_t n);
grow_hook_t buddy_set_grow_hook(grow_hook_t hook); // returns the hook it replaces

// Giving memory back to a host (librvslab.so): once dirty free blocks of
// min_order and up hold dirty_pages frames, or a free leaves the last block
// of MAX_ORDER free, the free calls the hook (no lock held), which may call
// buddy_shrink and buddy_purge: dirty blocks of its min_order and up,
// biggest first, up to about max_pages frames, are taken off their lists,
// passed to discard (no lock held; the caller madvises them away), and put
// back clean. With idle_only, only the blocks that no one has touched since
// the last such call (which marked them PG_idle); the others are marked
// now. Returns the frames discarded. The kernel sets no hook.
typedef void (*purge_hook_t)(void);
void buddy_set_purge_hook(purge_hook_t hook, unsigned int min_order, size_t dirty_pages);
size_t buddy_purge(unsigned int min_order, size_t max_pages, bool idle_only,
                   void (*discard)(unsigned long pfn, size_t n));
size_t buddy_dirty_pages(void); // free frames in dirty blocks of the hook's min_order and up

// Requests say what they may do to find memory (mm/gfp.h): reclaim
// globally (GFP_KERNEL) or only on this cpu, and how far below the min
// watermark they may go. NULL if no memory, with a message unless
// __GFP_NOWARN.
void *alloc_pages(gfp_t gfp, unsigned int order); // 2^order frames, naturally aligned
int free_pages(void *addr, unsigned int order);   // 0, or -EINVAL after reporting a bad free
void *alloc_frames(gfp_t gfp, size_t n); // exactly n frames (the rest of the block goes back)
int free_frames(void *addr, size_t n);   // 0, or -EINVAL after reporting a bad free (NULL: 0)
// An allocation of n frames becomes new_n in place: its tail goes back, or
// the free frames after it join it (any number: the result may be bigger
// than a block). 0; -ENOMEM if a frame after it is not free (nothing
// changes); -EINVAL if addr is not an allocation of n frames (reported).
int resize_frames(void *addr, size_t n, size_t new_n);

// Called with no lock held when a request cannot be met, with the
// request's gfp (after gfp_check_context: __GFP_DIRECT_RECLAIM only where
// waiting for other cpus is allowed): with RECLAIM_FREE, and if the request
// still fails after that and after the grow hook, with RECLAIM_ALL
// (mm/gfp.h); returns the frames it gave back, and the request is retried
// after each call that gave some. (The slab layer registers slab_shrink
// here.) It is not called again from inside itself in the same context
// (PF_MEMALLOC): a hook may allocate. Returns the hook it replaces.
typedef size_t (*reclaim_hook_t)(gfp_t gfp, enum reclaim_level level);
reclaim_hook_t buddy_set_reclaim_hook(reclaim_hook_t hook);
void buddy_lock_all(void);   // the zone lock, held (fork: see slab_lock_all)
void buddy_unlock_all(void); // and let go

// Arm to make alloc_pages/alloc_frames fail as if out of memory: the reclaim
// hook runs, then the request fails. See lib/fault_inject.h.
extern struct fault_attr fail_page_alloc;

struct buddy_stats {
    uint64_t allocs, frees, splits, merges, failures, reclaims, bad_frees;
};

void buddy_get_stats(struct buddy_stats *st);
// The zone's watermarks in frames (buddy.c: zone_set_watermarks says how
// they are chosen): GFP_KERNEL and GFP_NOWAIT requests leave min frames
// free, GFP_ATOMIC ones `atomic`; 0 in a zone that grows (the host heap).
struct buddy_watermarks {
    size_t min, low, high, atomic;
};
void buddy_get_watermarks(struct buddy_watermarks *w);
size_t nr_free_pages(void);    // frames on the free lists now
size_t nr_managed_pages(void); // frames the allocator manages (RAM less reserved)
void buddy_free_counts(size_t count[MAX_ORDER + 1]); // free blocks per order
size_t buddy_blocks_free(unsigned int order);        // blocks of 2^order frames takeable now
// The pfns of the first `max` blocks on the free list of `order`, in list
// order (the next to be taken first); returns how many the list holds.
// For pictures of the lists (kernel/figures.c) and tests.
size_t buddy_list_pfns(unsigned int order, unsigned long *pfn, size_t max);
bool page_is_free(const void *addr); // addr's frame is in a free block (a snapshot)
void buddyinfo(void);                // print free blocks per order, totals and counters
int buddy_validate(void);            // walk every list and frame; returns problems found

#endif
