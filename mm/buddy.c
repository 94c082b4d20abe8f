// The buddy allocator.
//
// Free memory is kept as blocks of 2^order frames, each aligned to its own
// size, on one free list per order. A block's buddy is the block it was split
// from: pfn ^ (1 << order). Allocation takes the smallest big-enough block and
// splits it, putting the unused halves back; freeing merges a block with its
// buddy for as long as the buddy is free and of the same order.
//
// The state of every frame lives in its struct page:
//   PG_buddy + order   heads a free block on free_area[order]
//   PG_head + nr_frames  starts an allocated run of nr_frames frames
//   PG_reserved        never handed out (firmware, kernel, DTB, mem_map)
// Interior frames of a block carry no flag; the head speaks for them.

#include "buddy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../lib/sanitizer.h"
#include "../lib/spinlock.h"

// Read by every kfree and kmem_cache_free (virt_to_page).
struct page *mem_map __read_mostly;
unsigned long min_pfn __read_mostly, max_pfn __read_mostly, nr_pfn __read_mostly;

static struct zone {
    struct spinlock lock;
    struct list_head free_area[MAX_ORDER + 1];
    size_t nr_free[MAX_ORDER + 1]; // blocks on each list
    size_t free_pages;
    size_t managed_pages;
    size_t wmark_min, wmark_low, wmark_high; // frames: see zone_set_watermarks
    struct buddy_stats stats;
    unsigned int purge_order; // blocks this big may go back to the host (0: never)
    size_t dirty_pages;       // free frames in dirty blocks of purge_order and up
    size_t purge_at;          // dirty_pages that calls the purge hook
    size_t purging_pages;     // off the lists while buddy_purge gives them back
} zone;

static reclaim_hook_t reclaim_hook;
static grow_hook_t grow_hook;
struct fault_attr fail_page_alloc;

// A clean block (PG_clean: its bytes went back to the host, see "Giving
// memory back") goes at the tail of its list, so dirty blocks, whose
// memory is still there, are used first.
static void add_to_free_list(struct page *page, unsigned int order, bool clean)
{
    set_page_flags(page, PG_buddy | (clean ? PG_clean : 0));
    page->order = order;
    if (clean) {
        list_add_tail(&page->lru, &zone.free_area[order]);
    } else {
        list_add(&page->lru, &zone.free_area[order]);
        if (zone.purge_order && order >= zone.purge_order)
            zone.dirty_pages += 1UL << order;
    }
    zone.nr_free[order]++;
}

// Returns whether the block was clean.
static bool del_from_free_list(struct page *page, unsigned int order)
{
    bool clean = page_flags(page) & PG_clean;
    if (!clean && zone.purge_order && order >= zone.purge_order)
        zone.dirty_pages -= 1UL << order;
    list_del(&page->lru);
    set_page_flags(page, 0);
    page->order = 0;
    zone.nr_free[order]--;
    return clean;
}

// Put one block back and merge it upward. The largest order merges no
// further: its "buddy" would make a block bigger than any list holds. The
// merged block is clean only if every part was.
static void free_block(unsigned long pfn, unsigned int order, bool clean)
{
    // LAB buddy.merge: begin
    while (order < MAX_ORDER) {
        unsigned long buddy_pfn = pfn ^ (1UL << order);
        if (!pfn_valid(buddy_pfn))
            break;
        struct page *buddy = pfn_to_page(buddy_pfn);
        if (!(page_flags(buddy) & PG_buddy) || buddy->order != order)
            break;
        clean &= del_from_free_list(buddy, order);
        zone.stats.merges++;
        pfn &= ~(1UL << order); // the merged block starts at the lower of the two
        order++;
    }
    add_to_free_list(pfn_to_page(pfn), order, clean);
    // LAB buddy.merge: end
}

// Largest order of a block that starts at pfn and fits in [pfn, end).
static unsigned int max_block_order(unsigned long pfn, unsigned long end)
{
    unsigned int order = 0;
    while (order < MAX_ORDER && (pfn & (1UL << order)) == 0 && pfn + (2UL << order) <= end)
        order++;
    return order;
}

// Free [pfn, end) as the fewest aligned blocks; each may merge with its buddy.
static void free_range(unsigned long pfn, unsigned long end, bool clean)
{
    while (pfn < end) {
        unsigned int order = max_block_order(pfn, end);
        free_block(pfn, order, clean);
        pfn += 1UL << order;
    }
}

// Take a free block of at least 2^order frames and split it down to 2^order;
// the halves given back keep its state. *clean: the block was clean.
static struct page *take_block(unsigned int order, bool *clean)
{
    // LAB buddy.split: begin
    for (unsigned int o = order; o <= MAX_ORDER; o++) {
        if (list_empty(&zone.free_area[o]))
            continue;
        struct page *page = list_first_entry(&zone.free_area[o], struct page, lru);
        *clean = del_from_free_list(page, o);
        while (o > order) { // give back the upper half at each step
            o--;
            add_to_free_list(page + (1UL << o), o, *clean);
            zone.stats.splits++;
        }
        return page;
    }
    return NULL;
    // LAB buddy.split: end
}

static unsigned int order_for(size_t n)
{
    unsigned int order = 0;
    while ((1UL << order) < n)
        order++;
    return order;
}

// How many frames a request must leave free (Linux's __zone_watermark_ok,
// the min mark only): a GFP_KERNEL or GFP_NOWAIT request leaves min, a
// GFP_ATOMIC one may go down to a quarter of min, __GFP_MEMALLOC to 0.
static size_t watermark_for(gfp_t gfp)
{
    if (gfp & __GFP_MEMALLOC)
        return 0;
    if (gfp & __GFP_HIGH)
        return zone.wmark_min / 4;
    return zone.wmark_min;
}

// The free block that ends at pfn, if it is smaller than 2^order.
static struct page *free_block_below(unsigned long pfn, unsigned int order)
{
    for (unsigned int o = 0; o < order; o++) {
        unsigned long head = (pfn - 1) & ~((1UL << o) - 1);
        if (!pfn_valid(head) || head + (1UL << o) != pfn)
            break;
        struct page *p = pfn_to_page(head);
        if ((page_flags(p) & PG_buddy) && p->order == o)
            return p;
    }
    return NULL;
}

// An exact request (n frames, not a power of two) starts as low as it can:
// the small free blocks right below its block (most often the tail an
// earlier request of that size gave back) come off their lists and join
// it. Requests of one size then pack end to end, where each would
// otherwise leave a tail that no request of its size can use (25 frames
// from blocks of 32 fill 78% of memory). Returns the run's first frame.
static unsigned long take_run_below(unsigned long pfn, size_t n, unsigned int order, bool *clean)
{
    unsigned long start = pfn;
    struct page *b;
    while (pfn - start < n && (b = free_block_below(start, order)) != NULL) {
        *clean &= del_from_free_list(b, b->order);
        start = page_to_pfn(b);
    }
    return start;
}

static void *try_alloc(size_t n, gfp_t gfp)
{
    unsigned int order = order_for(n);
    bool clean = false;
    spin_lock(&zone.lock);
    struct page *page = NULL;
    if (zone.free_pages >= n + watermark_for(gfp))
        page = take_block(order, &clean);
    if (page) {
        unsigned long end = page_to_pfn(page) + (1UL << order), pfn = page_to_pfn(page);
        if (n != 1UL << order)
            page = pfn_to_page(pfn = take_run_below(pfn, n, order, &clean));
        free_range(pfn + n, end, clean); // exact: the tail goes back
        set_page_flags(page, PG_head);
        page->nr_frames = n;
        mem_unpoison(page_address(page), n << PAGE_SHIFT);
        zone.free_pages -= n;
        zone.stats.allocs++;
    }
    spin_unlock(&zone.lock);
    return page ? page_address(page) : NULL;
}

// A request failed (or fail_page_alloc made it fail): give the reclaim hook
// its chance. Returns the frames it freed. Reclaim is not entered again from
// inside itself: a hook that allocates (the slab layer may need a frame
// while it reclaims, a test's hook does on purpose) finds PF_MEMALLOC set in
// its context's flags (Linux's current->flags) and gets no nested reclaim.
// The flags are the running context's own -- a thread on the host, the task
// or the interrupt level of a cpu in the kernel -- so one thread's reclaim
// never makes another fail, and an interrupt that lands during a task's
// reclaim may still reclaim for itself.
static size_t run_reclaim(gfp_t gfp, enum reclaim_level level)
{
    reclaim_hook_t hook = __atomic_load_n(&reclaim_hook, __ATOMIC_ACQUIRE);
    unsigned long *flags = current_flags();
    if (hook == NULL || (*flags & PF_MEMALLOC))
        return 0;
    *flags |= PF_MEMALLOC;
    if (level == RECLAIM_FREE) // once per request that reclaims
        __atomic_add_fetch(&zone.stats.reclaims, 1, __ATOMIC_RELAXED);
    size_t got = hook(gfp, level); // no lock held: the hook frees pages through us
    *flags &= ~PF_MEMALLOC;
    return got;
}

// Still short after the empty slabs came back: a zone that can grow (the
// host library's heap) asks for more RAM. No lock held; the hook calls buddy_grow.
static size_t run_grow(size_t n)
{
    grow_hook_t hook = __atomic_load_n(&grow_hook, __ATOMIC_ACQUIRE);
    return hook ? hook(n) : 0;
}

// A failed request says so (Linux's warn_alloc), unless the caller asked for
// silence; the first few only, then failures are only counted.
#define ALLOC_WARNINGS 8
static unsigned alloc_warnings;

static void warn_alloc(gfp_t gfp, size_t n, const void *caller)
{
    if ((gfp & __GFP_NOWARN) ||
        __atomic_fetch_add(&alloc_warnings, 1, __ATOMIC_RELAXED) >= ALLOC_WARNINGS)
        return;
    printk("buddy: page allocation failure: %zu frames, %s, from %p; %zu free, min %zu%s\n", n,
           gfp_name(gfp), caller, nr_free_pages(), zone.wmark_min,
           alloc_warnings == ALLOC_WARNINGS ? " (no more of these messages)" : "");
}

// No frames on the first try, or the caller wants them zeroed: the
// caches' empty slabs back, the zone's growth (the host library's heap),
// then every cpu's arrays too (for a request that may wait; this cpu's own
// for one that may not), each followed by a retry; then zero, or say it
// failed. A heap that can grow grows before cpus lose their arrays: that
// costs a mapping, not a refill of every array in use.
static __attribute__((noinline)) void *frames_slow(gfp_t gfp, size_t n, void *p, bool injected,
                                                   const void *caller)
{
    if (p == NULL && run_reclaim(gfp, RECLAIM_FREE) > 0 && !injected)
        p = try_alloc(n, gfp);
    if (p == NULL && !injected && run_grow(n) > 0)
        p = try_alloc(n, gfp);
    if (p == NULL && run_reclaim(gfp, RECLAIM_ALL) > 0 && !injected)
        p = try_alloc(n, gfp);
    if (p == NULL) {
        __atomic_add_fetch(&zone.stats.failures, 1, __ATOMIC_RELAXED);
        warn_alloc(gfp, n, caller);
    } else if (gfp & __GFP_ZERO) {
        memset(p, 0, n << PAGE_SHIFT);
    }
    return p;
}

// n frames as gfp allows: from the lists at once, or by the slow part.
static inline void *frames_gfp(gfp_t gfp, size_t n, const void *caller)
{
    gfp = gfp_check_context(gfp, caller);
    // An injected failure is a failure like any other: reclaim runs (and so
    // is tested wherever a page request can fail), then the request fails.
    bool injected = should_fail(&fail_page_alloc);
    void *p = injected ? NULL : try_alloc(n, gfp);
    if (unlikely(p == NULL || (gfp & __GFP_ZERO)))
        return frames_slow(gfp, n, p, injected, caller);
    return p;
}

void *alloc_frames(gfp_t gfp, size_t n)
{
    if (n == 0 || n > (1UL << MAX_ORDER)) {
        __atomic_add_fetch(&zone.stats.failures, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    return frames_gfp(gfp, n, __builtin_return_address(0));
}

void *alloc_pages(gfp_t gfp, unsigned int order)
{
    if (order > MAX_ORDER) {
        __atomic_add_fetch(&zone.stats.failures, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    return frames_gfp(gfp, 1UL << order, __builtin_return_address(0));
}

// If pfn lies inside a free block, the head of that block; else NULL.
static struct page *free_block_containing(unsigned long pfn)
{
    for (unsigned int o = 0; o <= MAX_ORDER; o++) {
        unsigned long head = pfn & ~((1UL << o) - 1);
        if (!pfn_valid(head))
            break;
        struct page *p = pfn_to_page(head);
        if ((page_flags(p) & PG_buddy) && p->order >= o)
            return p;
    }
    return NULL;
}

static const char size_differs[] = "size differs from the allocation";

// Why freeing n frames at addr is wrong, or NULL if it is fine. Zone lock held.
static const char *bad_free_reason(const void *addr, size_t n)
{
    if ((uintptr_t)addr & (PAGE_SIZE - 1))
        return "not page aligned";
    struct page *page = virt_to_page(addr);
    if (page == NULL)
        return "outside RAM";
    if (page_flags(page) & PG_reserved)
        return "reserved frame";
    // A frame heading a live allocation is never inside a free block
    // (buddy_validate checks that), so only a frame without PG_head needs
    // the search through every order -- to say which mistake it is.
    if (!(page_flags(page) & PG_head))
        return free_block_containing(page_to_pfn(page)) ? "already free"
                                                        : "not the start of an allocated block";
    if (page_flags(page) & PG_slab)
        return "frame belongs to the slab layer";
    if (page->nr_frames != n)
        return size_differs;
    return NULL;
}

static void maybe_purge(bool top_free);

// The zone's last block of MAX_ORDER is whole and free (a freed block that
// reaches it calls the purge hook, which may give the top back). Lock held.
static bool top_is_free(void)
{
    unsigned long block = 1UL << MAX_ORDER;
    if (!zone.purge_order || max_pfn - min_pfn < block)
        return false;
    struct page *top = pfn_to_page(max_pfn - block);
    return (page_flags(top) & PG_buddy) && top->order == MAX_ORDER;
}

bool buddy_top_is_free(void)
{
    spin_lock(&zone.lock);
    bool top = top_is_free();
    spin_unlock(&zone.lock);
    return top;
}

int free_frames(void *addr, size_t n)
{
    if (addr == NULL) // as Linux's free_pages(0): nothing to do
        return 0;
    spin_lock(&zone.lock);
    const char *why = bad_free_reason(addr, n);
    if (why) {
        struct page *page = virt_to_page(addr);
        size_t had = (page && (page_flags(page) & PG_head)) ? page->nr_frames : 0;
        if (why != size_differs)
            had = 0; // the allocation's size only helps when the size is the problem
        zone.stats.bad_frees++;
        spin_unlock(&zone.lock);
        if (had)
            printk("buddy: bad free of %p (%zu frames): %s (allocated as %zu frames)\n", addr, n,
                   why, had);
        else
            printk("buddy: bad free of %p (%zu frames): %s\n", addr, n, why);
        return -EINVAL;
    }
    struct page *page = virt_to_page(addr);
    unsigned long pfn = page_to_pfn(page);
    set_page_flags(page, 0);
    page->nr_frames = 0;
    mem_poison(addr, n << PAGE_SHIFT);
    free_range(pfn, pfn + n, false);
    zone.free_pages += n;
    zone.stats.frees++;
    bool top = pfn + n > max_pfn - (1UL << MAX_ORDER) && top_is_free();
    spin_unlock(&zone.lock);
    maybe_purge(top);
    return 0;
}

int resize_frames(void *addr, size_t n, size_t new_n)
{
    if (addr == NULL || new_n == 0)
        return -EINVAL;
    spin_lock(&zone.lock);
    if (bad_free_reason(addr, n)) { // not an allocation of n frames: a caller's bug
        spin_unlock(&zone.lock);
        printk("buddy: resize_frames(%p, %zu, %zu): not a block of %zu frames\n", addr, n, new_n,
               n);
        return -EINVAL;
    }
    struct page *page = virt_to_page(addr);
    unsigned long pfn = page_to_pfn(page), lo = pfn + n, hi = pfn + new_n;
    if (new_n < n) { // the tail goes back
        mem_poison((void *)(hi << PAGE_SHIFT), (n - new_n) << PAGE_SHIFT);
        free_range(hi, lo, false);
        zone.free_pages += n - new_n;
    } else {
        // Every frame of [lo, hi) must be free: free blocks that start at lo
        // and follow each other (one next to an allocation cannot start
        // before it). Only the last may run past hi.
        for (unsigned long q = lo; q < hi;) {
            struct page *b = pfn_valid(q) ? free_block_containing(q) : NULL;
            if (b == NULL || page_to_pfn(b) != q) {
                spin_unlock(&zone.lock);
                return -ENOMEM;
            }
            q += 1UL << b->order;
        }
        for (unsigned long q = lo; q < hi;) {
            struct page *b = pfn_to_page(q);
            unsigned long end = q + (1UL << b->order);
            bool clean = del_from_free_list(b, b->order);
            if (end > hi)
                free_range(hi, end, clean);
            q = end;
        }
        mem_unpoison((void *)(lo << PAGE_SHIFT), (new_n - n) << PAGE_SHIFT);
        zone.free_pages -= new_n - n;
    }
    page->nr_frames = new_n;
    bool top = new_n < n && hi > max_pfn - (1UL << MAX_ORDER) && top_is_free();
    spin_unlock(&zone.lock);
    if (new_n < n)
        maybe_purge(top);
    return 0;
}

int free_pages(void *addr, unsigned int order)
{
    const char *why = NULL;
    if (order > MAX_ORDER)
        why = "order above MAX_ORDER";
    else if (((uintptr_t)addr >> PAGE_SHIFT) & ((1UL << order) - 1))
        why = "not aligned to its order";
    if (why) {
        __atomic_add_fetch(&zone.stats.bad_frees, 1, __ATOMIC_RELAXED);
        printk("buddy: bad free of %p (order %u): %s\n", addr, order, why);
        return -EINVAL;
    }
    return free_frames(addr, 1UL << order);
}

// Around fork() in a threaded program (the host library): a child must not
// inherit the zone lock held by a thread that does not exist in it.
void buddy_lock_all(void)
{
    spin_lock(&zone.lock);
}

void buddy_unlock_all(void)
{
    spin_unlock(&zone.lock);
}

reclaim_hook_t buddy_set_reclaim_hook(reclaim_hook_t hook)
{
    return __atomic_exchange_n(&reclaim_hook, hook, __ATOMIC_ACQ_REL);
}

grow_hook_t buddy_set_grow_hook(grow_hook_t hook)
{
    return __atomic_exchange_n(&grow_hook, hook, __ATOMIC_ACQ_REL);
}

static void reserve(uintptr_t base, size_t size)
{
    unsigned long lo = base >> PAGE_SHIFT;
    unsigned long hi = (base + size + PAGE_SIZE - 1) >> PAGE_SHIFT;
    for (unsigned long pfn = MAX(lo, min_pfn); pfn < MIN(hi, max_pfn); pfn++)
        set_page_flags(pfn_to_page(pfn), PG_reserved);
}

static bool overlaps(uintptr_t a, size_t an, const struct mem_region *r, int nr)
{
    for (int i = 0; i < nr; i++)
        if (a < r[i].base + r[i].size && r[i].base < a + an)
            return true;
    return false;
}

// First page-aligned gap of `bytes` in [base, end) clear of every reserved
// region: at the start of RAM or just after a reserved region.
static uintptr_t find_room(uintptr_t base, uintptr_t end, size_t bytes, const struct mem_region *r,
                           int nr)
{
    for (int i = -1; i < nr; i++) {
        uintptr_t at = i < 0 ? base : ALIGN_UP(r[i].base + r[i].size, PAGE_SIZE);
        if (at >= base && at + bytes <= end && !overlaps(at, bytes, r, nr))
            return at;
    }
    return 0;
}

// map_zeroed: the caller's mem_map is fresh, zero-filled memory (the host
// library's, straight from mmap); clearing it would only commit its pages.
static void zone_setup(uintptr_t start, uintptr_t end, struct page *map, bool map_zeroed)
{
    // The range is ours now, whatever an earlier zone over it said (the host
    // build re-initialises; ASan still has its free frames poisoned).
    mem_unpoison((void *)start, end - start);
    memset(&zone, 0, sizeof(zone));
    spin_lock_init(&zone.lock, "zone");
    for (int o = 0; o <= MAX_ORDER; o++)
        INIT_LIST_HEAD(&zone.free_area[o]);
    mem_map = map;
    min_pfn = start >> PAGE_SHIFT;
    max_pfn = end >> PAGE_SHIFT;
    nr_pfn = max_pfn - min_pfn;
    if (!map_zeroed)
        memset(mem_map, 0, nr_pfn * sizeof(struct page));
}

// Frames [lo, hi), none of them reserved, to the free lists.
static void give_frames(unsigned long lo, unsigned long hi, bool clean)
{
    mem_poison((void *)(lo << PAGE_SHIFT), (hi - lo) << PAGE_SHIFT);
    free_range(lo, hi, clean);
    zone.free_pages += hi - lo;
    zone.managed_pages += hi - lo;
}

// Hand every run of unreserved frames in [lo, hi) to the free lists.
static void give_unreserved(unsigned long lo, unsigned long hi, bool clean)
{
    for (unsigned long pfn = lo; pfn < hi;) {
        if (page_flags(pfn_to_page(pfn)) & PG_reserved) {
            pfn++;
            continue;
        }
        unsigned long run = pfn;
        while (run < max_pfn && !(page_flags(pfn_to_page(run)) & PG_reserved))
            run++;
        give_frames(pfn, run, clean);
        pfn = run;
    }
}

static size_t isqrt(size_t v)
{
    size_t r = 0;
    while ((r + 1) * (r + 1) <= v)
        r++;
    return r;
}

// Linux's rule of thumb for min_free_kbytes: sqrt(16 x RAM in KiB) KiB,
// 128 KiB to 64 MiB (128 MiB of RAM: 1.4 MiB), and here never more than
// 1/16 of the zone; low and high are 5/4 and 3/2 of min, as in Linux,
// where kswapd works between them. There is no background reclaim here:
// low and high are shown (buddyinfo) but only min is acted on.
static void zone_set_watermarks(void)
{
    size_t kib = zone.managed_pages * (PAGE_SIZE / 1024);
    size_t min_kib = MIN(MAX(isqrt(16 * kib), (size_t)128), (size_t)65536);
    size_t min = MIN(min_kib / (PAGE_SIZE / 1024), zone.managed_pages / 16);
    zone.wmark_min = min;
    zone.wmark_low = min + min / 4;
    zone.wmark_high = min + min / 2;
}

int buddy_init(uintptr_t base, size_t size, const struct mem_region *reserved, int nreserved)
{
    uintptr_t start = ALIGN_UP(base, PAGE_SIZE);
    uintptr_t end = (base + size) & ~(PAGE_SIZE - 1);
    if (size == 0 || end <= start || nreserved < 0 || (nreserved > 0 && reserved == NULL)) {
        printk("buddy: bad RAM range %p + %#zx\n", (void *)base, size);
        return -EINVAL;
    }
    unsigned long nframes = (end - start) >> PAGE_SHIFT;
    size_t map_bytes = ALIGN_UP(nframes * sizeof(struct page), PAGE_SIZE);
    uintptr_t map = find_room(start, end, map_bytes, reserved, nreserved);
    if (map == 0) {
        printk("buddy: no room for mem_map (%zu bytes)\n", map_bytes);
        return -EINVAL;
    }

    zone_setup(start, end, (struct page *)map, false);
    for (int i = 0; i < nreserved; i++)
        reserve(reserved[i].base, reserved[i].size);
    reserve(map, map_bytes);
    give_unreserved(min_pfn, max_pfn, false);
    zone_set_watermarks();
    zone.stats.merges = 0;
    return 0;
}

int buddy_init_at(uintptr_t base, size_t size, struct page *map)
{
    uintptr_t end = base + size;
    if (size == 0 || (base & (PAGE_SIZE - 1)) || (size & (PAGE_SIZE - 1)) || end < base ||
        map == NULL) {
        printk("buddy: bad RAM range %p + %#zx or mem_map %p\n", (void *)base, size, (void *)map);
        return -EINVAL;
    }
    zone_setup(base, end, map, true);
    give_frames(min_pfn, max_pfn, true); // fresh from the host: clean, nothing reserved
    // A zone that grows keeps no reserve: short of memory, it asks the host
    // for more (the grow hook), which never waits for another cpu.
    zone.stats.merges = 0;
    return 0;
}

int buddy_grow(size_t bytes)
{
    if (bytes == 0 || (bytes & (PAGE_SIZE - 1)) || mem_map == NULL) {
        printk("buddy: buddy_grow(%#zx): not a whole number of frames\n", bytes);
        return -EINVAL;
    }
    unsigned long n = bytes >> PAGE_SHIFT;
    spin_lock(&zone.lock);
    unsigned long old = max_pfn; // the caller's new mem_map entries are zero, as at init
    // The new frames become RAM (pfn_valid) once their struct pages are
    // clean; lock-free readers of pfn_valid then see either size.
    __atomic_store_n(&max_pfn, old + n, __ATOMIC_RELEASE);
    __atomic_store_n(&nr_pfn, old + n - min_pfn, __ATOMIC_RELEASE);
    give_frames(old, old + n, true); // new frames: nothing reserved
    spin_unlock(&zone.lock);
    return 0;
}

size_t buddy_shrink(size_t keep)
{
    const unsigned long block = 1UL << MAX_ORDER;
    size_t gone = 0;
    spin_lock(&zone.lock);
    while (max_pfn - min_pfn >= keep + block && (max_pfn & (block - 1)) == 0) {
        struct page *top = pfn_to_page(max_pfn - block);
        if (!(page_flags(top) & PG_buddy) || top->order != MAX_ORDER)
            break;
        del_from_free_list(top, MAX_ORDER);
        zone.free_pages -= block;
        zone.managed_pages -= block;
        __atomic_store_n(&nr_pfn, nr_pfn - block, __ATOMIC_RELEASE);
        __atomic_store_n(&max_pfn, max_pfn - block, __ATOMIC_RELEASE);
        gone += block;
    }
    spin_unlock(&zone.lock);
    return gone;
}

// ---- Giving memory back (a zone whose RAM the host lends) ----
//
// A free block's frames keep whatever they held. librvslab.so gives the
// bytes of big free blocks back to the host (madvise): buddy_purge takes
// the dirty ones of purge_order and up off their lists, lets the caller
// discard them with no lock held, and puts them back clean. Clean blocks
// are used last; merging a dirty block with a clean one makes a dirty one.
// The interior struct pages of a free block are all zero in meaning, so
// the caller may discard the mem_map pages under it too (they read back
// as zero); the head's page it keeps.

static purge_hook_t purge_hook;
static int purging; // atomic: one purge at a time

void buddy_set_purge_hook(purge_hook_t hook, unsigned int min_order, size_t dirty_pages)
{
    spin_lock(&zone.lock);
    zone.purge_order = hook ? MAX(min_order, 1U) : 0;
    zone.purge_at = dirty_pages;
    zone.dirty_pages = 0; // recount under the new order
    for (unsigned int o = zone.purge_order; hook && o <= MAX_ORDER; o++) {
        struct list_head *pos;
        list_for_each(pos, &zone.free_area[o])
        {
            if (!(page_flags(list_entry(pos, struct page, lru)) & PG_clean))
                zone.dirty_pages += 1UL << o;
        }
    }
    __atomic_store_n(&purge_hook, hook, __ATOMIC_RELEASE);
    spin_unlock(&zone.lock);
}

// Take the dirty blocks to purge off the free lists into batch: with
// idle_only, those marked PG_idle by the last call (untouched since), and
// the others are marked now; else any, biggest first, up to max_pages.
static size_t purge_collect(unsigned int min_order, size_t max_pages, bool idle_only,
                            struct list_head *batch)
{
    size_t pages = 0;
    for (unsigned int o = MAX_ORDER + 1; o-- > min_order && pages < max_pages;) {
        struct list_head *pos, *next;
        list_for_each_safe(pos, next, &zone.free_area[o])
        {
            struct page *p = list_entry(pos, struct page, lru);
            uint32_t f = page_flags(p);
            if ((f & PG_clean) || pages >= max_pages)
                break; // dirty blocks first, then the clean ones
            if (idle_only && !(f & PG_idle)) {
                set_page_flags(p, f | PG_idle);
                continue;
            }
            del_from_free_list(p, o);
            p->order = o; // off the lists, and not PG_buddy: no merge finds it
            list_add(&p->lru, batch);
            pages += 1UL << o;
        }
    }
    return pages;
}

size_t buddy_purge(unsigned int min_order, size_t max_pages, bool idle_only,
                   void (*discard)(unsigned long pfn, size_t n))
{
    struct list_head batch;
    INIT_LIST_HEAD(&batch);
    spin_lock(&zone.lock);
    size_t pages = zone.purge_order ? purge_collect(min_order, max_pages, idle_only, &batch) : 0;
    zone.purging_pages += pages;
    spin_unlock(&zone.lock);
    struct list_head *pos;
    list_for_each(pos, &batch)
    {
        struct page *p = list_entry(pos, struct page, lru);
        discard(page_to_pfn(p), 1UL << p->order);
    }
    spin_lock(&zone.lock);
    while (!list_empty(&batch)) {
        struct page *p = list_first_entry(&batch, struct page, lru);
        unsigned int o = p->order;
        list_del(&p->lru);
        p->order = 0;
        free_block(page_to_pfn(p), o, true);
    }
    zone.purging_pages -= pages;
    spin_unlock(&zone.lock);
    return pages;
}

size_t buddy_dirty_pages(void)
{
    return __atomic_load_n(&zone.dirty_pages, __ATOMIC_RELAXED);
}

// After a free: enough dirty memory in big blocks, or the top of RAM free
// again? Then the hook (which calls buddy_purge or buddy_shrink), once at a
// time, with no lock held.
static void maybe_purge(bool top_free)
{
    purge_hook_t hook = __atomic_load_n(&purge_hook, __ATOMIC_ACQUIRE);
    if (hook == NULL ||
        (!top_free && __atomic_load_n(&zone.dirty_pages, __ATOMIC_RELAXED) < zone.purge_at) ||
        __atomic_exchange_n(&purging, 1, __ATOMIC_ACQUIRE))
        return;
    hook();
    __atomic_store_n(&purging, 0, __ATOMIC_RELEASE);
}

void buddy_get_stats(struct buddy_stats *st)
{
    spin_lock(&zone.lock);
    *st = zone.stats;
    spin_unlock(&zone.lock);
}

size_t nr_free_pages(void)
{
    return __atomic_load_n(&zone.free_pages, __ATOMIC_RELAXED);
}

size_t nr_managed_pages(void)
{
    return __atomic_load_n(&zone.managed_pages, __ATOMIC_RELAXED);
}

void buddy_free_counts(size_t count[MAX_ORDER + 1])
{
    spin_lock(&zone.lock);
    memcpy(count, zone.nr_free, sizeof(zone.nr_free));
    spin_unlock(&zone.lock);
}

bool page_is_free(const void *addr)
{
    struct page *page = virt_to_page(addr);
    if (page == NULL)
        return false;
    spin_lock(&zone.lock);
    bool free = free_block_containing(page_to_pfn(page)) != NULL;
    spin_unlock(&zone.lock);
    return free;
}

size_t buddy_blocks_free(unsigned int order)
{
    size_t count[MAX_ORDER + 1], n = 0;
    if (order > MAX_ORDER)
        return 0;
    buddy_free_counts(count);
    for (unsigned int o = order; o <= MAX_ORDER; o++)
        n += count[o] << (o - order);
    return n;
}

size_t buddy_list_pfns(unsigned int order, unsigned long *pfn, size_t max)
{
    size_t n = 0;
    if (order > MAX_ORDER)
        return 0;
    spin_lock(&zone.lock);
    struct list_head *pos;
    list_for_each(pos, &zone.free_area[order])
    {
        if (n < max)
            pfn[n] = page_to_pfn(list_entry(pos, struct page, lru));
        n++;
    }
    spin_unlock(&zone.lock);
    return n;
}

void buddy_get_watermarks(struct buddy_watermarks *w)
{
    spin_lock(&zone.lock);
    *w = (struct buddy_watermarks){zone.wmark_min, zone.wmark_low, zone.wmark_high,
                                   watermark_for(GFP_ATOMIC)};
    spin_unlock(&zone.lock);
}

void buddyinfo(void)
{
    size_t count[MAX_ORDER + 1];
    struct buddy_stats st;
    buddy_free_counts(count);
    buddy_get_stats(&st);

    char line[16 * (MAX_ORDER + 1) + 32];
    int at = snprintf(line, sizeof(line), "buddyinfo: order");
    for (int o = 0; o <= MAX_ORDER; o++)
        at += snprintf(line + at, sizeof(line) - at, " %6d", o);
    printk("%s\n", line);
    at = snprintf(line, sizeof(line), "buddyinfo: free ");
    for (int o = 0; o <= MAX_ORDER; o++)
        at += snprintf(line + at, sizeof(line) - at, " %6zu", count[o]);
    printk("%s\n", line);
    printk("buddyinfo: %zu of %zu pages free (%zu KiB); allocs %llu frees %llu splits %llu "
           "merges %llu failures %llu reclaims %llu bad_frees %llu\n",
           nr_free_pages(), nr_managed_pages(), nr_free_pages() * (PAGE_SIZE / 1024),
           (unsigned long long)st.allocs, (unsigned long long)st.frees,
           (unsigned long long)st.splits, (unsigned long long)st.merges,
           (unsigned long long)st.failures, (unsigned long long)st.reclaims,
           (unsigned long long)st.bad_frees);
    struct buddy_watermarks w;
    buddy_get_watermarks(&w);
    printk("buddyinfo: watermarks min %zu low %zu high %zu pages; GFP_ATOMIC may go down to %zu\n",
           w.min, w.low, w.high, w.atomic);
}

// Check one free block's head and the frames under it. Zone lock held.
static int check_free_block(struct page *p, unsigned int order)
{
    int bad = 0;
    unsigned long pfn = page_to_pfn(p);
    if (!(page_flags(p) & PG_buddy) || p->order != order)
        bad++;
    if (pfn & ((1UL << order) - 1))
        bad++;
    if (pfn + (1UL << order) > max_pfn)
        return bad + 1;
    for (unsigned long i = 1; i < (1UL << order); i++)
        if (page_flags(&p[i]) & (PG_buddy | PG_head | PG_reserved | PG_slab))
            bad++;
    return bad;
}

int buddy_validate(void)
{
    int bad = 0;
    size_t free = 0, heads = 0;
    spin_lock(&zone.lock);
    for (unsigned int o = 0; o <= MAX_ORDER; o++) {
        size_t n = 0;
        struct list_head *pos;
        list_for_each(pos, &zone.free_area[o])
        {
            struct page *p = list_entry(pos, struct page, lru);
            if (!pfn_valid(page_to_pfn(p)) || ++n > zone.managed_pages) {
                bad++; // a stray or cyclic list: stop walking it
                break;
            }
            bad += check_free_block(p, o);
            free += 1UL << o;
        }
        bad += n != zone.nr_free[o];
    }
    for (unsigned long pfn = min_pfn; pfn < max_pfn; pfn++)
        heads += (page_flags(pfn_to_page(pfn)) & PG_buddy) != 0;
    size_t listed = 0;
    for (unsigned int o = 0; o <= MAX_ORDER; o++)
        listed += zone.nr_free[o];
    bad += heads != listed;
    bad += free + zone.purging_pages != zone.free_pages;
    spin_unlock(&zone.lock);
    if (bad)
        printk("buddy: validate found %d problems\n", bad);
    return bad;
}
