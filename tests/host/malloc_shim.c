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
// Everything is built with -fvisibility=hidden: a preloaded library
// interposes every symbol it exports, and a program may well have its own
// panic() or list_add(). Only the functions marked EXPORT leave the library.
#define _GNU_SOURCE // mremap
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mm/buddy.h"
#include "mm/slab.h"
#include "shim/shim_heap.h"

#define EXPORT __attribute__((visibility("default")))

static size_t big_bytes; // bytes in live big (own mmap) blocks

// ---- big blocks: their own mapping, a header just below the pointer ----

#define BIG_MAGIC 0x7276736c6162ULL // "rvslab"

struct big_hdr {
    size_t magic;
    size_t map_bytes; // the whole mapping
    size_t offset;    // from the mapping's start to the user pointer
    size_t size;      // usable bytes from the user pointer
};

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
    *h = (struct big_hdr){BIG_MAGIC, len, off, len - off};
    __atomic_add_fetch(&big_bytes, len, __ATOMIC_RELAXED);
    return m + off;
}

static struct big_hdr *big_of(const void *p)
{
    struct big_hdr *h = (struct big_hdr *)p - 1;
    return h->magic == BIG_MAGIC ? h : NULL;
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
    char *m = mremap((char *)p - off, old, len, MREMAP_MAYMOVE);
    if (m == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    h = (struct big_hdr *)(m + off) - 1;
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
                 NULL &&
             size > KMALLOC_MAX_SIZE) // beyond the largest class: the buddy allocator was short
        p = big_alloc(size, align);
    if (p == NULL)
        errno = ENOMEM;
    return p;
}

EXPORT void free(void *p)
{
    if (p == NULL)
        return;
    if (likely(in_heap(p))) {
        kfree(p);
        return;
    }
    struct big_hdr *h = big_of(p);
    if (h == NULL) {
        printk("free(%p): not allocated by rvslab; ignored\n", p);
        return;
    }
    size_t len = h->map_bytes;
    __atomic_sub_fetch(&big_bytes, len, __ATOMIC_RELAXED);
    munmap((char *)p - h->offset, len);
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

// The common case straight to kmalloc, rounded as alloc() rounds it (over
// 8 bytes: a multiple of 16, for malloc's 16-byte alignment); alloc()
// sorts out the rest.
EXPORT void *malloc(size_t size)
{
    void *p;
    if (likely(__atomic_load_n(&shim_heap_state, __ATOMIC_ACQUIRE) == 2) &&
        likely(size - 1 < KMALLOC_MAX_SIZE) &&
        likely((p = kmalloc(size > 8 ? ALIGN_UP(size, 16) : size, GFP_SHIM)) != NULL))
        return p;
    return alloc(size, 0);
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
        void *q = krealloc(p, size > 8 ? ALIGN_UP(size, 16) : size, GFP_SHIM);
        if (q == NULL) { // kmalloc has no room or no class: a big block
            size_t have = ksize(p);
            if (have == 0 || (q = big_alloc(size, 16)) == NULL) {
                errno = ENOMEM;
                return NULL;
            }
            memcpy(q, p, MIN(have, size));
            kfree(p);
        }
        if (q != p)
            __atomic_add_fetch(&realloc_copies, 1, __ATOMIC_RELAXED);
        return q;
    }
    if ((h = big_of(p)) == NULL) {
        printk("realloc(%p): not allocated by rvslab\n", p);
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

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (!IS_POWER_OF_2(align) || align % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno; // posix_memalign reports through its result, not errno
    void *p = alloc(size, align);
    errno = saved;
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

// glibc rounds an alignment that is not a power of two up to one; so do we.
EXPORT void *memalign(size_t align, size_t size)
{
    if (align > ((size_t)1 << 62)) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = 1;
    while (a < align)
        a <<= 1;
    return alloc(size, a);
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

// ---- for the bench (found with dlsym) ----

// Bytes taken from the frame allocator now (frames held by slabs and large
// kmallocs) plus big blocks. RSS would not do: the heap is never returned
// to the host, so it only grows.
EXPORT size_t rvslab_held_bytes(void)
{
    if (!heap_ready())
        return 0;
    size_t frames = nr_managed_pages() - nr_free_pages();
    return frames * PAGE_SIZE + __atomic_load_n(&big_bytes, __ATOMIC_RELAXED);
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
