// librvslab.so: the C library's malloc family served by rvslab's own mm/
// (buddy frames + slab caches + kmalloc), so any program can run on it:
//
//   LD_PRELOAD=build/host/librvslab.so python3 script.py
//
// "RAM" is the heap of tests/host/shim_heap.c, reserved from the host as it
// is used and set up on the first call, without calling malloc (we are
// malloc). Requests kmalloc cannot serve because they are larger than the
// buddy allocator's biggest block get their own mmap, with a header in
// front; they are the only pointers outside the heap.
//
// Frees are checked as glibc checks them, and more (mm/slab_check.c): a
// pointer that is not the start of a live block -- into an object, into a
// large block, on the stack, a global, another allocator's -- and a double
// free, however many frees came between, are reported and the program is
// stopped with abort(), as glibc stops it: a program whose heap is corrupt
// must not run on. RVSLAB_CHECK_=1 (after glibc's MALLOC_CHECK_) reports and
// goes on, ignoring the bad free; 3, the default, reports and aborts.
//
// Everything is built with -fvisibility=hidden: a preloaded library
// interposes every symbol it exports, and a program may well have its own
// panic() or list_add(). Only the functions marked EXPORT leave the library.
#define _GNU_SOURCE // mremap
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mm/buddy.h"
#include "mm/slab.h"
#include "mm/slab_internal.h" // slab_try_pop, kmem_cache_of: malloc pops itself
#include "shim/shim_heap.h"

#define EXPORT __attribute__((visibility("default")))

static size_t big_bytes; // bytes in live big (own mmap) blocks

// ---- big blocks: their own mapping, a header just below the pointer ----

struct big_hdr {
    struct list_head list; // on big_list, under big_lock
    size_t map_bytes;      // the whole mapping
    size_t offset;         // from the mapping's start to the user pointer
    size_t size;           // usable bytes from the user pointer
};

// Every live big block, so that free can tell one from any other pointer
// without reading memory that may not be mapped. Big blocks are few (each
// is larger than the buddy allocator's largest block, or was made when it
// was short), so a list does.
static struct list_head big_list = LIST_HEAD_INIT(big_list);
static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER; // taken alone: no lock inside it

static void big_link(struct big_hdr *h)
{
    pthread_mutex_lock(&big_lock);
    list_add(&h->list, &big_list);
    pthread_mutex_unlock(&big_lock);
}

static void big_unlink(struct big_hdr *h)
{
    pthread_mutex_lock(&big_lock);
    list_del(&h->list);
    pthread_mutex_unlock(&big_lock);
}

// Around fork (shim_heap.c): a child must not inherit big_lock held.
void shim_big_lock(bool lock)
{
    if (lock)
        pthread_mutex_lock(&big_lock);
    else
        pthread_mutex_unlock(&big_lock);
}

static void *big_alloc(size_t size, size_t align)
{
    align = MAX(align, 16);
    size_t len = ALIGN_UP(sizeof(struct big_hdr) + align + size, PAGE_SIZE);
    if (len < size)
        return NULL; // overflow
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    // mmap aligns to a page only: bigger alignments come from the slack.
    size_t off = ALIGN_UP((uintptr_t)m + sizeof(struct big_hdr), align) - (uintptr_t)m;
    struct big_hdr *h = (struct big_hdr *)(m + off) - 1;
    *h = (struct big_hdr){{NULL, NULL}, len, off, len - off};
    big_link(h);
    __atomic_add_fetch(&big_bytes, len, __ATOMIC_RELAXED);
    return m + off;
}

// p's header if p is a live big block; NULL for any other pointer.
static struct big_hdr *big_of(const void *p)
{
    struct big_hdr *found = NULL;
    pthread_mutex_lock(&big_lock);
    for (struct list_head *pos = big_list.next; pos != &big_list && !found; pos = pos->next)
        if ((const void *)(list_entry(pos, struct big_hdr, list) + 1) == p)
            found = list_entry(pos, struct big_hdr, list);
    pthread_mutex_unlock(&big_lock);
    return found;
}

// A pointer neither in the heap nor a live big block: reported, and the
// program stopped unless RVSLAB_CHECK_=1.
static void bad_pointer(const char *who, const void *p)
{
    heap_ready(); // sets the policy up, if this is the program's first call
    printk("%s(%p): invalid pointer: not a block rvslab handed out (a stack or global address, "
           "another allocator's block, or a big block freed already)\n",
           who, p);
    if (slab_panic_on_report)
        panic("%s(): invalid pointer (RVSLAB_CHECK_=1 reports and goes on)", who);
}

// A big block to a new size: the host moves its pages (mremap), nothing is
// copied. NULL (errno set) if the host says no; p stays valid then.
static void *big_resize(void *p, struct big_hdr *h, size_t size)
{
    size_t len = ALIGN_UP(h->offset + size, PAGE_SIZE), old = h->map_bytes, off = h->offset;
    if (len < size) {
        errno = ENOMEM;
        return NULL;
    }
    if (len == old) {
        h->size = len - off;
        return p;
    }
    big_unlink(h);
    char *m = mremap((char *)p - off, old, len, MREMAP_MAYMOVE);
    if (m == MAP_FAILED) {
        big_link(h);
        errno = ENOMEM;
        return NULL;
    }
    h = (struct big_hdr *)(m + off) - 1;
    big_link(h);
    h->map_bytes = len;
    h->size = len - off;
    __atomic_add_fetch(&big_bytes, len - old, __ATOMIC_RELAXED); // wraps right when smaller
    return m + off;
}

// ---- the malloc family ----

// malloc may wait (a program's thread is never in atomic context), and a
// kmalloc that fails falls back to a big block, so it says nothing.
#define GFP_SHIM (GFP_KERNEL | __GFP_NOWARN)

// kmalloc, then a big block if kmalloc has no class for it. errno on failure.
static void *alloc(size_t size, size_t align)
{
    if (!heap_ready()) {
        errno = ENOMEM;
        return NULL;
    }
    if (size == 0)
        size = 1; // malloc(0) returns a unique pointer, as glibc's does
    // malloc's blocks are 16-aligned on x86-64 (anything bigger than 8 bytes
    // may hold a 16-byte type); kmalloc's classes below 128 B step by 8, and
    // only those that are multiples of 16 are 16-aligned.
    if (align <= 16 && (size > 8 || align == 16)) {
        if (size > SIZE_MAX - 15) {
            errno = ENOMEM;
            return NULL;
        }
        size = ALIGN_UP(size, 16);
    }
    void *p = NULL;
    if (align > KMALLOC_MAX_SIZE) // kmalloc_aligned would refuse (and say so)
        p = big_alloc(size, align);
    else if ((p = align <= 16 ? kmalloc(size, GFP_SHIM) : kmalloc_aligned(size, align, GFP_SHIM)) ==
             NULL) {
        if (size > KMALLOC_MAX_SIZE) // beyond the largest class: the buddy allocator was short
            p = big_alloc(size, align);
        else if (align <= 16)            // near a limit, a failure switches large blocks to exact
            p = kmalloc(size, GFP_SHIM); // frames (shim_heap.c): once more, by that rule
    }
    if (p == NULL)
        errno = ENOMEM;
    return kmalloc_fresh(p);
}

// A block outside the heap: a big block, or a bad pointer. Out of line, so
// that free itself saves no register.
static __attribute__((noinline)) void free_not_heap(void *p)
{
    struct big_hdr *h = big_of(p);
    if (h == NULL) {
        bad_pointer("free", p);
        return;
    }
    big_unlink(h);
    size_t len = h->map_bytes;
    __atomic_sub_fetch(&big_bytes, len, __ATOMIC_RELAXED);
    munmap((char *)p - h->offset, len);
}

// A block of the heap is an object or a big block in the buddy allocator's
// RAM, whose mem_map starts at the heap's first frame: the heap's bounds
// test is the only one kfree_checked needs (kfree_checked_page).
EXPORT void free(void *p)
{
    if (likely(in_heap(p))) // NULL is not in the heap
        return kfree_checked_page(p, &mem_map[((uintptr_t)p - shim_heap_base) >> PAGE_SHIFT]);
    if (p != NULL)
        free_not_heap(p);
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (p == NULL)
        return 0;
    if (in_heap(p))
        return ksize(p);
    struct big_hdr *h = big_of(p);
    return h ? h->size : 0;
}

// The cache of each malloc size up to 1 KiB, by 8 bytes, as alloc() rounds
// it (over 8 bytes: a multiple of 16, for malloc's 16-byte alignment), so
// that the hot path neither rounds nor asks kmalloc. An entry is filled by
// the first malloc of its size that got a block the slow way: the classes
// are made on first use (kmalloc_lazy_classes).
// An entry not filled yet names malloc_no_class, whose every cpu's array is
// slab_no_array (empty): its pop fails like any empty array's, so the hot
// path tests no NULL.
static struct kmem_cache malloc_no_class = {.array = {[0 ... NCPU - 1] = &slab_no_array}};
static struct kmem_cache *malloc_class[KMALLOC_SMALL_MAX / 8] = {[0 ... KMALLOC_SMALL_MAX / 8 - 1] =
                                                                     &malloc_no_class};
// Above 1 KiB, up to the largest class, by 128 bytes (kmalloc's classes
// there are multiples of 128, so one step is one class): NULL until filled,
// which these sizes, less common, pay a test for, and the table no page
// written at load.
#define MALLOC_MID_STEP 128
static struct kmem_cache *malloc_mid[KMALLOC_MAX_CACHE_SIZE / MALLOC_MID_STEP];

// The table is empty until the heap is ready, and emptied again when the
// heap asks for a shrink (shim_heap_state 4), which the slow way does: so
// the hot path need not look at the heap's state.
static __attribute__((noinline)) void *malloc_slow(size_t size)
{
    void *p = alloc(size, 0);
    struct kmem_cache *c;
    if (p == NULL || size - 1 >= KMALLOC_MAX_CACHE_SIZE || !in_heap(p) ||
        __atomic_load_n(&shim_heap_state, __ATOMIC_ACQUIRE) != 2 || (c = kmem_cache_of(p)) == NULL)
        return p;
    if (size - 1 < KMALLOC_SMALL_MAX)
        __atomic_store_n(&malloc_class[(size - 1) / 8], c, __ATOMIC_RELEASE);
    else
        __atomic_store_n(&malloc_mid[(size - 1) / MALLOC_MID_STEP], c, __ATOMIC_RELEASE);
    return p;
}

void malloc_classes_forget(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(malloc_class); i++)
        __atomic_store_n(&malloc_class[i], &malloc_no_class, __ATOMIC_RELAXED);
    for (size_t i = 0; i < ARRAY_SIZE(malloc_mid); i++)
        __atomic_store_n(&malloc_mid[i], NULL, __ATOMIC_RELAXED);
}

// The common case: this cpu's array of the size's class pops a block.
EXPORT void *malloc(size_t size)
{
    struct kmem_cache *c;
    if (likely(size - 1 < KMALLOC_SMALL_MAX))
        c = READ_PUBLISHED(malloc_class[(size - 1) / 8]);
    else if (size - 1 >= KMALLOC_MAX_CACHE_SIZE ||
             (c = READ_PUBLISHED(malloc_mid[(size - 1) / MALLOC_MID_STEP])) == NULL)
        return malloc_slow(size); // big blocks, a class not made yet
    void *p;
    if (likely(slab_try_pop(c, &p))) {
        ((uint32_t *)p)[1] = 0; // kmalloc_fresh: no freed-object key
        return p;
    }
    return malloc_slow(size); // the refill, the first block of a size
}

EXPORT void *calloc(size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = alloc(bytes, 0);
    if (p && in_heap(p)) // big blocks are fresh mappings: already zero
        memset(p, 0, bytes);
    return p;
}

static unsigned long realloc_copies; // reallocs that copied the bytes (for the tests)

// krealloc in the heap: in place while a slab object still fits, and for
// a block of frames while the frames after it are free; too big for the
// heap, a big block, which later grows by mremap. Only moves between them
// copy. On failure the old block stays valid, as C requires.
EXPORT void *realloc(void *p, size_t size)
{
    if (p == NULL)
        return alloc(size, 0);
    if (size == 0) { // as glibc: free and return NULL
        free(p);
        return NULL;
    }
    if (size > SIZE_MAX - 15) {
        errno = ENOMEM;
        return NULL;
    }
    struct big_hdr *h;
    if (in_heap(p)) {
        if (!kmalloc_check_live(p, "realloc")) { // reported
            errno = EINVAL;
            return NULL;
        }
        void *q = krealloc(p, size > 8 ? ALIGN_UP(size, 16) : size, GFP_SHIM);
        if (q == NULL) { // kmalloc has no room or no class: a big block
            size_t have = ksize(p);
            if (have == 0 || (q = big_alloc(size, 16)) == NULL) {
                errno = ENOMEM;
                return NULL;
            }
            memcpy(q, p, MIN(have, size));
            kfree_checked(p);
        }
        if (q != p)
            __atomic_add_fetch(&realloc_copies, 1, __ATOMIC_RELAXED);
        return q; // a new block's key word holds the old block's bytes now
    }
    if ((h = big_of(p)) == NULL) {
        bad_pointer("realloc", p);
        errno = EINVAL;
        return NULL;
    }
    return big_resize(p, h, size);
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, bytes);
}

// An alignment of up to 128 bytes, for a block of a class: malloc's own
// path, for the size rounded up to the alignment. Every kmalloc class is
// aligned to the largest power of two dividing its size, and between two
// powers of two the classes are every multiple of one step (mm/kmalloc.c).
// If the step is at least the alignment, every class there is aligned
// enough; if not, the rounded size is a multiple of the step, so a class
// itself. (The classes above 1 KiB are all multiples of 128.) Any other
// alignment or size: alloc.
static void *alloc_aligned(size_t size, size_t align)
{
    if (align <= 128 && size - 1 < KMALLOC_MAX_CACHE_SIZE)
        return malloc(ALIGN_UP(size, align));
    return alloc(size, align);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (!IS_POWER_OF_2(align) || align % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno; // posix_memalign reports through its result, not errno
    void *p = alloc_aligned(size, align);
    errno = saved;
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

// glibc rounds an alignment that is not a power of two up to one; so do we.
// One it cannot round (above 2^63) is EINVAL; 2^63 itself is only too big
// to serve: ENOMEM.
EXPORT void *memalign(size_t align, size_t size)
{
    if (align > ((size_t)1 << 63)) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = 1;
    while (a < align)
        a <<= 1;
    return alloc_aligned(size, a);
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    return memalign(align, size);
}

EXPORT void *valloc(size_t size)
{
    return alloc(size, PAGE_SIZE);
}

EXPORT void *pvalloc(size_t size)
{
    size_t bytes = ALIGN_UP(size, PAGE_SIZE);
    if (bytes < size) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc(bytes ? bytes : PAGE_SIZE, PAGE_SIZE);
}

// ---- The mallinfo family, with rvslab's own numbers ----

// What the heap holds now. A slab object with a caller is in use; one in a
// per-CPU array is free but cached (glibc's fastbins and tcache play that
// part); frames no slab holds are large blocks, in use whole.
EXPORT struct mallinfo2 mallinfo2(void)
{
    struct mallinfo2 m = {0};
    m.hblkhd = __atomic_load_n(&big_bytes, __ATOMIC_RELAXED); // big blocks: mappings of their own
    pthread_mutex_lock(&big_lock);
    for (struct list_head *pos = big_list.next; pos != &big_list; pos = pos->next)
        m.hblks++;
    pthread_mutex_unlock(&big_lock);
    if (!heap_ready())
        return m;
    size_t slab_frames = 0;
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++) {
        struct kmem_cache_info in;
        kmem_cache_get_info(kmalloc_cache_index(i), &in);
        m.uordblks += in.active_objs * in.size; // in use: with callers (heap only)
        m.fsmblks += in.cached_objs * in.size;  // free, cached in per-CPU arrays
        slab_frames += in.total_slabs << in.order;
    }
    size_t held = nr_managed_pages() - nr_free_pages();
    m.uordblks += (held > slab_frames ? held - slab_frames : 0) * PAGE_SIZE;
    m.arena = __atomic_load_n(&shim_heap_bytes, __ATOMIC_RELAXED); // reserved from the host
    m.fordblks = m.arena - MIN(m.arena, m.uordblks);               // the rest of the heap
    size_t count[MAX_ORDER + 1];
    buddy_free_counts(count);
    for (int o = 0; o <= MAX_ORDER; o++)
        m.ordblks += count[o]; // free blocks of the buddy allocator
    return m;
}

static int clamp_int(size_t v)
{
    return v > INT_MAX ? INT_MAX : (int)v;
}

EXPORT struct mallinfo mallinfo(void)
{
    struct mallinfo2 m = mallinfo2();
    return (struct mallinfo){
        .arena = clamp_int(m.arena),
        .ordblks = clamp_int(m.ordblks),
        .hblks = clamp_int(m.hblks),
        .hblkhd = clamp_int(m.hblkhd),
        .fsmblks = clamp_int(m.fsmblks),
        .uordblks = clamp_int(m.uordblks),
        .fordblks = clamp_int(m.fordblks),
    };
}

// As glibc's, on stderr; the numbers are mallinfo2's.
EXPORT void malloc_stats(void)
{
    struct mallinfo2 m = mallinfo2();
    printk("heap: system bytes = %zu, in use bytes = %zu, free bytes = %zu (%zu of them in "
           "per-CPU arrays, %zu free blocks)\n",
           m.arena, m.uordblks, m.fordblks, m.fsmblks, m.ordblks);
    printk("big blocks: %zu, %zu bytes; total system bytes = %zu, in use bytes = %zu\n", m.hblks,
           m.hblkhd, m.arena + m.hblkhd, m.uordblks + m.hblkhd);
}

// Free memory beyond pad bytes back to the host now: empty slabs, the
// per-CPU arrays' objects, the free top of the heap, every free block's
// bytes. 1 if any memory went back, as glibc says.
EXPORT int malloc_trim(size_t pad)
{
    return heap_ready() && heap_trim_now(pad) > 0;
}

// glibc's parameters: M_CHECK_ACTION is honoured (bit 1: abort after a
// report, as RVSLAB_CHECK_); the others tune glibc's own arenas and bins,
// which rvslab does not have: 0, as glibc answers a parameter it refuses.
EXPORT int mallopt(int param, int value)
{
    if (param != M_CHECK_ACTION)
        return 0;
    heap_ready(); // the default is set up first, then overridden
    slab_panic_on_report = (value & 2) != 0;
    return 1;
}

EXPORT int malloc_info(int options, FILE *fp)
{
    if (options != 0) {
        errno = EINVAL;
        return -1;
    }
    struct mallinfo2 m = mallinfo2();
    fprintf(fp,
            "<malloc version=\"rvslab-1\">\n"
            "<heap nr=\"0\">\n<total type=\"fast\" count=\"0\" size=\"%zu\"/>\n"
            "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
            "<system type=\"current\" size=\"%zu\"/>\n</heap>\n"
            "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
            "<system type=\"current\" size=\"%zu\"/>\n</malloc>\n",
            m.fsmblks, m.ordblks, m.fordblks, m.arena, m.hblks, m.hblkhd, m.arena + m.hblkhd);
    return 0;
}

// ---- for the bench (found with dlsym) ----

// Bytes taken from the frame allocator now (frames held by slabs and large
// kmallocs, not the caches' own structs) plus big blocks. RSS would not do:
// the heap is never returned to the host, so it only grows.
EXPORT size_t rvslab_held_bytes(void)
{
    if (!heap_ready())
        return 0;
    // Less the frames of the caches' own structs: a class is made at its
    // first malloc (kmalloc_lazy_classes) and kept for good.
    size_t held = nr_managed_pages() - nr_free_pages(), meta = slab_meta_pages();
    return (held > meta ? held - meta : 0) * PAGE_SIZE +
           __atomic_load_n(&big_bytes, __ATOMIC_RELAXED);
}

// How many reallocs copied their block's bytes to a new one.
EXPORT unsigned long rvslab_realloc_copies(void)
{
    return __atomic_load_n(&realloc_copies, __ATOMIC_RELAXED);
}

// Give empty slabs (and per-CPU arrays' objects) back to the buddy allocator.
EXPORT size_t rvslab_reclaim(void)
{
    return heap_ready() ? slab_reclaim(GFP_KERNEL) : 0;
}

// The named-cache API, exported under our prefix (kmem_cache_* stay hidden).
EXPORT struct kmem_cache *rvslab_cache_create(const char *name, size_t size, size_t align)
{
    return heap_ready() ? kmem_cache_create(name, size, align, 0, NULL) : NULL;
}

EXPORT void *rvslab_cache_alloc(struct kmem_cache *c)
{
    return kmem_cache_alloc(c, GFP_KERNEL);
}

EXPORT void rvslab_cache_free(struct kmem_cache *c, void *p)
{
    kmem_cache_free(c, p);
}

// kmalloc itself, for the bench's "rvslab-kmalloc" column: no rounding to
// malloc's 16-byte alignment, so it measures the kernel allocator's classes
// as a kernel caller sees them. No big-block fallback: kmalloc takes whole
// frames from the buddy allocator up to its own limit, and fails above it.
EXPORT void *rvslab_kmalloc(size_t size)
{
    return heap_ready() ? kmalloc(size, GFP_KERNEL) : NULL;
}

EXPORT void *rvslab_kmalloc_aligned(size_t size, size_t align)
{
    return heap_ready() ? kmalloc_aligned(size, align, GFP_KERNEL) : NULL;
}

EXPORT void rvslab_kfree(void *p)
{
    if (heap_ready())
        kfree(p);
}
