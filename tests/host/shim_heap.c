// librvslab.so's heap: the "RAM" rvslab's buddy allocator manages.
//
// It is reserved from the host as it is used, not up front: a first chunk
// of 16 MiB, then chunks of a quarter of the heap so far (16 MiB at least,
// and enough for the request), each mapped right after the last one
// (MAP_FIXED_NOREPLACE), so the heap stays one run of frames, as RAM is for
// the kernel. The struct page array grows the same way in a region of its
// own, 32 bytes per 4 KiB frame, so a part of the heap never reached costs
// neither address space nor memory. Free memory goes back to the host when
// the program has stopped using much of the heap: once 64 MiB and a quarter
// of it are free, each 256 KiB that free blocks of 64 KiB and up gather (dirty: their
// bytes still resident) are madvised away by buddy_purge, with the struct
// pages under them; once half of it is free, slab_reclaim runs first (empty
// slabs and objects parked in per-CPU arrays go back too), the free top of
// the heap is unmapped, and every free page goes. Memory a busy program frees and takes again
// stays, as in any malloc: giving it back would only make the host fault it in again. The buddy
// allocator asks for a chunk when a request fails even after reclaim (buddy_set_grow_hook); a chunk
// the host refuses (ulimit -v, no memory) makes that request fail with
// ENOMEM, and nothing else. RVSLAB_HEAP_MB (512M, 4G, or a number of MiB)
// caps the heap; by default only the host's limits do.
//
// Nothing here may call malloc: we are malloc.
#include "shim/shim_heap.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/spinlock.h"
#include "mm/buddy.h"
#include "mm/slab.h"
#include "shim/platform_inline.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define CHUNK      ((size_t)PAGE_SIZE << MAX_ORDER) // 16 MiB: the largest buddy block
#define MAP_HINT   ((uintptr_t)1 << 44)             // 16 TiB: mem_map's region grows up from here
#define HEAP_HINT  ((uintptr_t)1 << 45)             // 32 TiB: the heap's grows up from here
#define HEAP_LIMIT ((size_t)64 << 40)               // the most the heap's window holds

uintptr_t shim_heap_base;
size_t shim_heap_bytes;
int shim_heap_state;
static size_t heap_cap;       // RVSLAB_HEAP_MB, or HEAP_LIMIT
static struct page *map_base; // mem_map's region
static size_t map_bytes;      // of it mapped
static struct spinlock grow_lock = SPINLOCK_INIT("heap growth");

// RVSLAB_HEAP_MB: a number of MiB, or a size with K, M, G or T. Hand-parsed
// (strtoul may touch locale data, which may malloc). 0 if unset; garbage is
// refused with a message, and the default used.
static size_t env_heap_cap(void)
{
    const char *s = getenv("RVSLAB_HEAP_MB"), *v = s;
    if (s == NULL || *s == '\0')
        return 0;
    size_t n = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9' && digits < 15; s++, digits++)
        n = n * 10 + (size_t)(*s - '0');
    static const char units[] = "kmgt"; // 2^10, 2^20, 2^30, 2^40
    const char *u = *s ? strchr(units, *s | 0x20) : NULL;
    int shift = u ? 10 * (int)(u - units + 1) : 20; // no suffix: MiB
    if (u)
        s++;
    if (*s == 'i' || *s == 'I') // "4GiB" reads as well as "4G"
        s++;
    if ((*s | 0x20) == 'b')
        s++;
    if (digits == 0 || *s != '\0' || n == 0 || n > (HEAP_LIMIT >> shift)) {
        printk("RVSLAB_HEAP_MB=%s: want a size such as 512M, 4G or 2048 (MiB), up to 64T; "
               "ignored\n",
               v);
        return 0;
    }
    return ALIGN_UP(n << shift, CHUNK);
}

// Map [at, at + len) read-write exactly there, or fail (another mapping is
// there, or the host says no).
static bool map_exactly(uintptr_t at, size_t len)
{
    void *p = mmap((void *)at, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    if ((uintptr_t)p != at) { // a kernel without MAP_FIXED_NOREPLACE took it as a hint
        munmap(p, len);
        return false;
    }
    return true;
}

// Room in mem_map's region for a heap of `bytes`.
static bool map_room(size_t bytes)
{
    size_t need = ALIGN_UP((bytes / PAGE_SIZE) * sizeof(struct page), PAGE_SIZE);
    if (need <= map_bytes)
        return true;
    if (!map_exactly((uintptr_t)map_base + map_bytes, need - map_bytes))
        return false;
    map_bytes = need;
    return true;
}

// Map `add` more bytes of heap and give them to the buddy allocator.
static bool heap_add(size_t add)
{
    size_t have = shim_heap_bytes;
    if (add == 0 || add > heap_cap - have || !map_room(have + add) ||
        !map_exactly(shim_heap_base + have, add))
        return false;
    buddy_grow(add);
    __atomic_store_n(&shim_heap_bytes, have + add, __ATOMIC_RELEASE);
    return true;
}

// The buddy allocator's grow hook: at least n more frames, in one chunk of
// a quarter of the heap -- or, near a limit (ulimit -v, RVSLAB_HEAP_MB),
// just what the request needs.
static size_t heap_grow(size_t n)
{
    spin_lock(&grow_lock);
    size_t need = ALIGN_UP(n * PAGE_SIZE, CHUNK);
    size_t add = MIN(MAX(need, ALIGN_UP(shim_heap_bytes / 4, CHUNK)), heap_cap - shim_heap_bytes);
    if (!heap_add(add))
        add = heap_add(need) ? need : 0;
    spin_unlock(&grow_lock);
    return add / PAGE_SIZE;
}

// ---- Giving memory back ----

#define PURGE_ORDER 4  // free blocks of 64 KiB and up go back to the host
#define PURGE_AT    16 // once 64 KiB of them are dirty (and a quarter of the heap is free)
#define KEEP_FREE   ((64UL << 20) / PAGE_SIZE) // free memory below this always stays

// One free block's bytes back to the host; they read as zero when used
// again. Its interior struct pages too: a free block's are all zero in
// meaning, so the mem_map pages wholly under it can go (not the head's).
static void discard(unsigned long pfn, size_t n)
{
    madvise((void *)(pfn << PAGE_SHIFT), n << PAGE_SHIFT, MADV_DONTNEED);
    uintptr_t lo = ALIGN_UP((uintptr_t)(pfn_to_page(pfn) + 1), PAGE_SIZE);
    uintptr_t hi = (uintptr_t)pfn_to_page(pfn + n) & ~(PAGE_SIZE - 1);
    if (lo < hi)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

// The free 16 MiB blocks at the top of the heap leave it, down to a quarter
// of what the heap was, and their memory goes back to the host (unmapped;
// their struct pages discarded, so that they read as zero when the heap
// grows over them again).
static void heap_trim(void)
{
    spin_lock(&grow_lock);
    size_t have = shim_heap_bytes;
    size_t gone = buddy_shrink(ALIGN_UP(have / 4, CHUNK) / PAGE_SIZE) * PAGE_SIZE;
    if (gone) {
        size_t keep = have - gone;
        __atomic_store_n(&shim_heap_bytes, keep, __ATOMIC_RELEASE);
        munmap((void *)(shim_heap_base + keep), gone);
        uintptr_t lo = (uintptr_t)(map_base + keep / PAGE_SIZE);
        madvise((void *)lo, gone / PAGE_SIZE * sizeof(struct page), MADV_DONTNEED);
    }
    spin_unlock(&grow_lock);
}

// Half the heap free: the empty slabs and the per-CPU arrays' objects go
// back to the buddy allocator, the top of the heap to the host, and every
// free block's bytes too. No lock held.
static void heap_shrink(void)
{
    slab_reclaim(GFP_KERNEL); // its frees come back to heap_purge, and find a purge under way
    heap_trim();
    buddy_purge(0, discard);
}

// A program that frees most of its memory frees the last blocks into the
// per-CPU arrays and the caches' free slabs, which pin the top of the heap:
// the shrink that ran on the way down could not trim it. So heap_purge then
// asks for another: shim_heap_state 4, which sends the next malloc off its
// fast path to heap_ready_slow, which shrinks (heap_shrink_asked) -- no
// cost on the fast path. It asks again only once another 1/16 of the heap
// is free since the last shrink it asked for.
static size_t free_at_asked_shrink;

static void ask_for_shrink(size_t free, size_t all)
{
    int ready = 2;
    if (free >= __atomic_load_n(&free_at_asked_shrink, __ATOMIC_RELAXED) + all / 16)
        __atomic_compare_exchange_n(&shim_heap_state, &ready, 4, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED);
}

static void heap_shrink_asked(void)
{
    size_t free = nr_free_pages(), all = nr_managed_pages();
    __atomic_store_n(&free_at_asked_shrink, free, __ATOMIC_RELAXED);
    if (2 * free >= all && spin_locks_held() == 0)
        heap_shrink();
}

// The buddy allocator's purge hook, after a free, no lock of its held. (A
// free inside the slab layer may hold a lock, reclaim's own: then no
// reclaim.)
static void heap_purge(void)
{
    size_t free = nr_free_pages(), all = nr_managed_pages();
    if (free < KEEP_FREE || 4 * free < all)
        return; // in use: what is free now will be taken again soon
    if (2 * free >= all && spin_locks_held() == 0) {
        heap_shrink();
        if (!buddy_top_is_free())
            ask_for_shrink(free, all); // the top is pinned: try again later
    } else {
        buddy_purge(PURGE_ORDER, discard);
        if (2 * free >= all)
            ask_for_shrink(free, all);
    }
}

// fork() in a threaded program: the child has only the forking thread, so a
// lock another thread held at that instant would stay held in the child
// forever. Every lock of the library is taken before fork, in the lock
// order -- growth, every per-CPU section, the allocator's -- and let go
// after it, in parent and child alike, as C libraries do with theirs.
static bool heap_up(void) // ready, or ready with a shrink asked
{
    int s = __atomic_load_n(&shim_heap_state, __ATOMIC_ACQUIRE);
    return s == 2 || s == 4;
}

static void fork_prepare(void)
{
    if (!heap_up())
        return;
    spin_lock(&grow_lock);
    shim_sections_lock_all();
    slab_lock_all();
}

static void fork_done(void) // in the parent and in the child
{
    if (!heap_up())
        return;
    slab_unlock_all();
    shim_sections_unlock_all();
    spin_unlock(&grow_lock);
}

// The first chunk, at a hint far from where the host puts its own mappings
// (they come down from the top), so both regions have room to grow; if the
// hint is taken, a few more tries further up.
static bool heap_setup(void)
{
    heap_cap = env_heap_cap();
    if (heap_cap == 0)
        heap_cap = HEAP_LIMIT;
    size_t first = MIN(CHUNK, heap_cap);
    for (int k = 0; k < 8; k++) {
        uintptr_t map = MAP_HINT + ((uintptr_t)k << 40), heap = HEAP_HINT + ((uintptr_t)k << 42);
        map_base = (struct page *)map;
        map_bytes = 0;
        if (!map_room(first))
            continue;
        if (map_exactly(heap, first)) {
            shim_heap_base = heap;
            break;
        }
        munmap(map_base, map_bytes);
    }
    if (shim_heap_base == 0 || buddy_init_at(shim_heap_base, first, map_base) != 0 ||
        slab_init(PAGE_SIZE, 64) != 0) {
        printk("cannot set up the heap (address space or memory refused); malloc fails\n");
        return false;
    }
    __atomic_store_n(&shim_heap_bytes, first, __ATOMIC_RELEASE);
    buddy_set_reclaim_hook(slab_reclaim);
    buddy_set_grow_hook(heap_grow);
    buddy_set_purge_hook(heap_purge, PURGE_ORDER, PURGE_AT);
    return true;
}

bool heap_ready_slow(void)
{
    int s = __atomic_load_n(&shim_heap_state, __ATOMIC_ACQUIRE);
    if (s == 0 && __atomic_compare_exchange_n(&shim_heap_state, &s, 1, false, __ATOMIC_ACQ_REL,
                                              __ATOMIC_ACQUIRE)) {
        bool ok = heap_setup();
        __atomic_store_n(&shim_heap_state, ok ? 2 : 3, __ATOMIC_RELEASE);
        if (ok) // after the heap is ready: registering may itself call malloc
            pthread_atfork(fork_prepare, fork_done, fork_done);
    }
    while ((s = __atomic_load_n(&shim_heap_state, __ATOMIC_ACQUIRE)) == 1)
        sched_yield();
    if (s == 4 && __atomic_compare_exchange_n(&shim_heap_state, &s, 2, false, __ATOMIC_ACQ_REL,
                                              __ATOMIC_ACQUIRE)) {
        heap_shrink_asked(); // see ask_for_shrink
        s = 2;
    }
    return s == 2 || s == 4;
}
