// librvslab.so's heap: the "RAM" rvslab's buddy allocator manages.
//
// It is reserved from the host as it is used, not up front: a first chunk
// of 16 MiB, then chunks of a quarter of the heap so far (16 MiB at least,
// and enough for the request), each mapped right after the last one
// (MAP_FIXED_NOREPLACE), so the heap stays one run of frames, as RAM is for
// the kernel. The struct page array grows the same way in a region of its
// own, 32 bytes per 4 KiB frame, so a part of the heap never reached costs
// neither address space nor memory. Free memory goes back to the host as
// "Giving memory back" below says: what stays free and untouched for a
// second, and all of it once the program has freed nearly everything. The
// buddy allocator asks for a chunk when a request fails even after reclaim
// (buddy_set_grow_hook); a chunk the host refuses (ulimit -v, no memory)
// makes that request fail with ENOMEM, and nothing else. RVSLAB_HEAP_MB
// (512M, 4G, or a number of MiB) caps the heap; by default only the host's
// limits do.
//
// Nothing here may call malloc: we are malloc.
#include "shim/shim_heap.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/single_threaded.h>
#include <time.h>

#include "lib/spinlock.h"
#include "mm/buddy.h"
#include "mm/slab.h"
#include "shim/platform_inline.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define CHUNK      ((size_t)PAGE_SIZE << MAX_ORDER) // 16 MiB: the largest buddy block
#define HEAP_LIMIT ((size_t)32 << 40)               // the most the heap's window holds
// The window: mem_map's region, as big as the cap needs, then the heap,
// each growing up from its start. Tried at 32 TiB, then 4 TiB further up
// each time (something is mapped there). With mem_map right below the heap,
// the first pages of both hang off one page of the page table's upper
// levels (one PUD page; below a 128 GiB cap one PMD page too). A fork
// copies those pages and an exit frees them: put the two 16 TiB apart and
// a fork+exec chain takes 8-17% more CPU (README, "Many threads").
#define WINDOW_AT   ((uintptr_t)1 << 45)
#define WINDOW_STEP ((uintptr_t)4 << 40)
// The heap starts with as much as one page of mem_map describes (128
// struct pages) and doubles up to a chunk: splitting a 16 MiB block down to
// one frame writes the struct pages of the halves it frees, 64 KiB, 32 KiB,
// ... apart, six pages of mem_map that a short-lived process would fault in
// for nothing.
#define HEAP_START ((size_t)PAGE_SIZE * (PAGE_SIZE / sizeof(struct page)))

uintptr_t shim_heap_base;
size_t shim_heap_bytes;
int shim_heap_state;
static size_t heap_cap;       // RVSLAB_HEAP_MB, or HEAP_LIMIT
static struct page *map_base; // mem_map's region
static size_t map_bytes;      // of it mapped
// Held across every mmap, munmap and madvise of the heap: a sleeping lock,
// so that threads waiting for it (a grow, a shrink) sleep instead of
// spinning on two cores against the thread that holds it.
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;
static int growers; // atomic: threads in heap_grow; no shrink while there are any

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
        printk("RVSLAB_HEAP_MB=%s: want a size such as 512M, 4G or 2048 (MiB), up to 32T; "
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

// The bytes of mem_map that describe a heap of `bytes`.
static size_t map_size(size_t bytes)
{
    return (bytes / PAGE_SIZE) * sizeof(struct page);
}

// Room in mem_map's region for a heap of `bytes`.
static bool map_room(size_t bytes)
{
    size_t need = ALIGN_UP(map_size(bytes), PAGE_SIZE);
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

static uint64_t now_ms(void);
static void note_use(uint64_t now);

// How much to add for a request of n frames. Below a chunk: the heap's
// size again (the new part is one aligned block of that size), or, for a
// request bigger than that, up to the chunk's edge and the chunks the
// request needs past it (a block of its order must come free). From a
// chunk on: a quarter of the heap, in whole chunks.
static size_t grow_bytes(size_t n)
{
    size_t have = shim_heap_bytes, need = ALIGN_UP(n * PAGE_SIZE, CHUNK);
    if (have < CHUNK)
        return n * PAGE_SIZE <= have ? have : CHUNK - have + need;
    return MAX(need, ALIGN_UP(have / 4, CHUNK));
}

// The buddy allocator's grow hook: at least n more frames (grow_bytes) --
// or, near a limit, just what the request needs.
// Many threads may fail at once and queue here; the first grows the heap,
// and the others, finding a block big enough free once they hold the lock
// (the first one's chunk, or a block another thread freed meanwhile), only
// retry: without that check every thread in the queue would add its
// quarter in turn.
static size_t heap_grow(size_t n)
{
    unsigned int order = 0;
    while ((1UL << order) < n)
        order++;
    __atomic_add_fetch(&growers, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_lock(&grow_lock);
    size_t add = 0;
    if (buddy_blocks_free(order) == 0) {
        size_t need = ALIGN_UP(n * PAGE_SIZE, CHUNK);
        add = MIN(grow_bytes(n), heap_cap - shim_heap_bytes);
        // Near a limit (ulimit -v, RVSLAB_HEAP_MB): just the chunk the request
        // needs, then just its frames. A heap whose top is not on a chunk's
        // edge then no longer shrinks; it is at its limit anyway.
        size_t exact = n * PAGE_SIZE;
        if (!heap_add(add)) {
            add = heap_add(need) ? need : heap_add(exact) ? exact : 0;
            // and big blocks take just their frames from now on
            __atomic_store_n(&kmalloc_exact_frames, true, __ATOMIC_RELAXED);
        }
    }
    pthread_mutex_unlock(&grow_lock);
    __atomic_sub_fetch(&growers, 1, __ATOMIC_ACQ_REL);
    if (add)
        note_use(now_ms());           // growing again right after a full shrink: a cycle?
    return add ? add / PAGE_SIZE : n; // n: a block is free now, retry
}

// ---- Giving memory back ----
//
// Free memory goes back to the host in two ways, each with hysteresis, so
// that a busy program's heap does not grow and shrink against itself:
//
//  - Purge: the bytes of big free blocks that have stayed free, untouched,
//    for a whole epoch (PURGE_EPOCH_MS: each epoch's purge marks the dirty
//    blocks it finds, the next one discards those still marked) are
//    madvised away; they stay in the heap and read as zero when used
//    again. Free memory a busy program takes again within an epoch stays
//    resident, as in any malloc: giving it back would only make the host
//    fault it in again.
//  - Shrink: once the program has freed nearly all of its heap (7/8 of it
//    free), the empty slabs and the per-CPU arrays' objects go back to the
//    buddy allocator, the free top of the heap is unmapped, and every free
//    block's bytes go, at once. Not while another thread waits to grow.
//
// Either is skipped while another thread holds grow_lock to grow the heap.

#define PURGE_ORDER    4  // free blocks of 64 KiB and up go back to the host
#define PURGE_AT       16 // the hook runs once 64 KiB of them are dirty
#define PURGE_EPOCH_MS 1000

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

// Purge under grow_lock: a thread that wants to grow the heap meanwhile
// waits (asleep) and then finds the purged blocks back on their lists
// instead of growing past them. The lock is only tried: if a grow or a
// shrink holds it, this purge is not needed now.
static size_t purge(unsigned int order, size_t max_pages, bool idle_only)
{
    if (pthread_mutex_trylock(&grow_lock) != 0)
        return 0;
    size_t n = buddy_purge(order, max_pages, idle_only, discard);
    pthread_mutex_unlock(&grow_lock);
    return n;
}

// The free 16 MiB blocks at the top of the heap leave it, the heap keeping
// at least `keep` frames and a quarter of what it was; their memory goes
// back to the host (unmapped; their struct pages discarded, so that they
// read as zero when the heap grows over them again).
static size_t heap_trim(size_t keep)
{
    pthread_mutex_lock(&grow_lock);
    size_t have = shim_heap_bytes, gone = 0;
    keep = MAX(keep, ALIGN_UP(have / 4, CHUNK) / PAGE_SIZE);
    if (__atomic_load_n(&growers, __ATOMIC_ACQUIRE) == 0)
        gone = buddy_shrink(keep) * PAGE_SIZE;
    if (gone) {
        size_t left = have - gone;
        __atomic_store_n(&shim_heap_bytes, left, __ATOMIC_RELEASE);
        munmap((void *)(shim_heap_base + left), gone);
        uintptr_t lo = (uintptr_t)(map_base + left / PAGE_SIZE);
        madvise((void *)lo, gone / PAGE_SIZE * sizeof(struct page), MADV_DONTNEED);
    }
    pthread_mutex_unlock(&grow_lock);
    return gone / PAGE_SIZE;
}

// Everything free beyond `keep` frames back to the host: the empty slabs
// and the per-CPU arrays' objects to the buddy allocator first, the top of
// the heap unmapped, every free block's bytes madvised away. No lock held.
// Returns the frames given back.
static size_t heap_shrink(size_t keep)
{
    if (__atomic_load_n(&growers, __ATOMIC_ACQUIRE) != 0 || spin_locks_held() != 0)
        return 0; // another thread is short of memory right now, or we are inside reclaim
    slab_reclaim(GFP_KERNEL); // its frees come back to heap_purge, and find a purge under way
    size_t used = nr_managed_pages() - nr_free_pages();
    size_t gone = heap_trim(used + keep);
    size_t free = nr_free_pages(), dirty = buddy_dirty_pages();
    size_t clean = free - MIN(free, dirty); // gone already
    if (free > keep + clean)
        gone += purge(0, free - keep - clean, false);
    return gone;
}

static bool nearly_all_free(void)
{
    return 8 * nr_free_pages() >= 7 * nr_managed_pages();
}

// A program that frees most of its memory frees the last blocks into the
// per-CPU arrays and the caches' free slabs, which pin the top of the heap:
// the shrink that ran on the way down could not trim it. So heap_purge then
// asks for another: shim_heap_state 4, and malloc's table of classes
// emptied, which sends the next malloc off its fast path to heap_ready_slow,
// which shrinks (heap_shrink_asked) -- no cost on the fast path. It asks
// again only once another 1/16 of the heap is free since the last shrink it
// asked for.
static size_t free_at_asked_shrink;

static void ask_for_shrink(size_t free, size_t all)
{
    int ready = 2;
    if (free >= __atomic_load_n(&free_at_asked_shrink, __ATOMIC_RELAXED) + all / 16 &&
        __atomic_compare_exchange_n(&shim_heap_state, &ready, 4, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED))
        malloc_classes_forget(); // malloc's hot path looks at its table, not at the state
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t); // the vDSO's: no system call
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

// ---- A program that cycles ----
//
// A full shrink is right for a program that is done with its memory, and
// wrong for one that takes it all again at once (worker threads that come
// and go in rounds, a server between bursts): the host would fault it all
// in again, round after round. So a full shrink remembers how big the heap
// was and what it gave back; a program that, within CYCLE_MS, uses a
// quarter of that heap again, or takes back half of what the shrink gave
// (a loop that allocates and frees a few hundred KiB: where a fault costs
// 10 us, 650 ns an operation instead of 7), cycles, and
// from then on a full shrink keeps that much heap (the idle purge still
// gives back what then stays untouched for an epoch), until no cycle has
// been seen for CYCLE_FORGET_MS. malloc_trim keeps nothing.

#define CYCLE_MS        (2 * PURGE_EPOCH_MS)
#define CYCLE_FORGET_MS (10 * PURGE_EPOCH_MS)

// All atomic (relaxed: a stale value costs a shrink more or less, no more).
static size_t shrunk_from; // frames in the heap before the last full shrinks
static size_t shrunk_used; // frames in use when the last one ran
static size_t shrunk_gone; // resident frames it gave back
static uint64_t shrunk_ms; // when the last one ran
static size_t retain;      // frames of heap a full shrink keeps
static uint64_t cycled_ms; // when a cycle was last seen

#define LOAD(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

static size_t used_pages(void)
{
    size_t all = nr_managed_pages(), free = nr_free_pages();
    return all - MIN(all, free);
}

// The heap a full shrink now keeps (0 once no cycle was seen for a while).
static size_t retained(uint64_t now)
{
    if (LOAD(retain) && now - LOAD(cycled_ms) >= CYCLE_FORGET_MS)
        STORE(retain, 0);
    return LOAD(retain);
}

// Before a full shrink: the heap it starts from (the biggest of the
// shrinks of one cycle: a program's threads end one by one, and each may
// shrink what the last left).
static size_t note_shrink(uint64_t now)
{
    size_t from = nr_managed_pages();
    if (now - LOAD(shrunk_ms) < CYCLE_MS)
        from = MAX(from, LOAD(shrunk_from));
    STORE(shrunk_from, from);
    STORE(shrunk_ms, now);
    size_t used = used_pages(), keep = retained(now);
    STORE(shrunk_used, used);
    return keep > used ? keep - used : 0; // free frames to keep
}

// The heap is in use again: soon enough after a full shrink, and enough
// of it, to call it a cycle? A quarter of the heap the shrink started
// from, or half of what it gave back. A full shrink then keeps that heap,
// or what was in use at the shrink and twice what it gave back (a round's
// peak lies above the point where its frees set the shrink off).
static void note_use(uint64_t now)
{
    size_t from = LOAD(shrunk_from), used = used_pages();
    size_t gone = LOAD(shrunk_gone), back = LOAD(shrunk_used) + gone;
    if (!from || now - LOAD(shrunk_ms) >= CYCLE_MS)
        return;
    if (used >= from / 4) {
        STORE(retain, from);
        STORE(cycled_ms, now);
        STORE(shrunk_from, 0);
    } else if (gone && used >= back - gone / 2) { // and the rule above may still come
        STORE(retain, MAX(LOAD(retain), back + gone));
        STORE(cycled_ms, now);
    }
}

// Nearly all free, and more heap than a cycling program keeps?
static bool shrink_due(uint64_t now)
{
    return nearly_all_free() && nr_managed_pages() > retained(now);
}

static void full_shrink(uint64_t now)
{
    STORE(shrunk_gone, heap_shrink(note_shrink(now)));
}

static uint64_t epoch_ms; // atomic: when the last idle purge ran

// The buddy allocator's purge hook, after a free, no lock of its held (a
// free inside the slab layer may hold one, reclaim's own: then no shrink).
static void heap_purge(void)
{
    uint64_t now = now_ms();
    note_use(now); // first: in use again since the last shrink, it keeps more this time
    if (shrink_due(now)) {
        full_shrink(now);
        if (!buddy_top_is_free())
            ask_for_shrink(nr_free_pages(), nr_managed_pages()); // pinned: try again later
        return;
    }
    uint64_t last = __atomic_load_n(&epoch_ms, __ATOMIC_RELAXED);
    if (now - last >= PURGE_EPOCH_MS &&
        __atomic_compare_exchange_n(&epoch_ms, &last, now, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
        purge(PURGE_ORDER, SIZE_MAX, true);
}

static void heap_shrink_asked(void)
{
    __atomic_store_n(&free_at_asked_shrink, nr_free_pages(), __ATOMIC_RELAXED);
    uint64_t now = now_ms();
    if (shrink_due(now))
        full_shrink(now);
}

// malloc_trim: everything free beyond `pad` bytes goes back now. Returns
// the frames given back.
size_t heap_trim_now(size_t pad)
{
    return heap_shrink(pad / PAGE_SIZE);
}

// fork() in a threaded program: the child has only the forking thread, so a
// lock another thread held at that instant would stay held in the child
// forever. Every lock of the library is taken before fork, in the lock
// order -- the big-block list, growth, every per-CPU section, the
// allocator's -- and let go after it, in parent and child alike, as C
// libraries do with theirs.
static bool heap_up(void) // ready, or ready with a shrink asked
{
    int s = __atomic_load_n(&shim_heap_state, __ATOMIC_ACQUIRE);
    return s == 2 || s == 4;
}

// A process that has only ever had one thread (glibc's
// __libc_single_threaded) skips all of it, as glibc's fork skips its own
// malloc locks then: no other thread can hold a lock, and every lock let go
// after fork would be a page copied in parent and child (fork+exec chains
// pay that per process).
static bool fork_locked; // this fork's prepare took the locks

static void fork_prepare(void)
{
    fork_locked = heap_up() && !__libc_single_threaded;
    if (!fork_locked)
        return;
    shim_big_lock(true); // held alone elsewhere: its place in the order does not matter
    pthread_mutex_lock(&grow_lock);
    shim_sections_lock_all();
    slab_lock_all();
}

static void fork_done(void) // in the parent and in the child
{
    if (!fork_locked)
        return;
    slab_unlock_all();
    shim_sections_unlock_all();
    pthread_mutex_unlock(&grow_lock);
    shim_big_lock(false);
}

// RVSLAB_CHECK_: what a bad free does (malloc_shim.c): 3, the default,
// reports and aborts; 1 reports and goes on.
static void check_setup(void)
{
    const char *v = getenv("RVSLAB_CHECK_");
    bool go_on = v && v[0] == '1' && v[1] == '\0';
    if (v && *v && !go_on && strcmp(v, "3") != 0)
        printk("RVSLAB_CHECK_=%s: want 1 (report bad frees and go on) or 3 (report and abort, "
               "the default); 3 it is\n",
               v);
    slab_panic_on_report = !go_on;
    const unsigned char *r =
        (const unsigned char *)getauxval(AT_RANDOM); // 16 bytes from the kernel
    uint64_t seed = 0;
    if (r)
        memcpy(&seed, r + 8, sizeof(seed));
    slab_free_check_seed(seed ^ (uint64_t)(uintptr_t)&seed);
}

// The window (WINDOW_AT) far from where the host puts its own mappings
// (they come down from the top), so both regions have room to grow.
static bool heap_setup(void)
{
    check_setup();
    heap_cap = env_heap_cap();
    if (heap_cap == 0)
        heap_cap = HEAP_LIMIT;
    size_t first = HEAP_START;
    size_t span = ALIGN_UP(map_size(heap_cap), CHUNK); // mem_map's region: all the cap needs
    for (int k = 0; k < 8; k++) {
        uintptr_t map = WINDOW_AT + k * WINDOW_STEP, heap = map + span;
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
    kmalloc_lazy_classes = true; // a short-lived process uses a few of the 80
    if (shim_heap_base == 0 || buddy_init_at(shim_heap_base, first, map_base) != 0 ||
        slab_init(PAGE_SIZE, 64) != 0) {
        printk("cannot set up the heap (address space or memory refused); malloc fails\n");
        return false;
    }
    __atomic_store_n(&shim_heap_bytes, first, __ATOMIC_RELEASE);
    // Whole blocks for big requests (see kmalloc_exact_frames), unless
    // address space is what is short: under ulimit -v or RVSLAB_HEAP_MB,
    // just their frames from the start (and from a failed grow on).
    struct rlimit as;
    kmalloc_exact_frames =
        heap_cap != HEAP_LIMIT || (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY);
    buddy_set_reclaim_hook(slab_shrink);
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
