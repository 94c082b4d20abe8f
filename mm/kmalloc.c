// kmalloc: general-purpose allocation on top of a set of size-class caches.
//
// Classes are powers of two from 8 B to 8 MiB, plus 96 and 192 (as Linux):
// requests of 65..96 and 129..192 bytes are common and would waste a third
// of a 128 or 256 byte object. Each object is aligned to its class's natural
// alignment (the largest power of two dividing the size: 96 -> 32, 192 -> 64).
// Bigger requests go straight to the buddy allocator, marked PG_large.
// kfree needs no size: struct page names the cache (or the large block).

#include <errno.h>

#include "buddy.h"
#include "slab_internal.h"

static const size_t class_size[KMALLOC_NR_CLASSES] = {
    8,         16,        32,        64,      96,      128,      192,      256,
    512,       1 << 10,   2 << 10,   4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10,
    128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20,  8 << 20,
};
static const char *const class_name[KMALLOC_NR_CLASSES] = {
    "kmalloc-8",    "kmalloc-16",  "kmalloc-32",  "kmalloc-64",  "kmalloc-96",   "kmalloc-128",
    "kmalloc-192",  "kmalloc-256", "kmalloc-512", "kmalloc-1k",  "kmalloc-2k",   "kmalloc-4k",
    "kmalloc-8k",   "kmalloc-16k", "kmalloc-32k", "kmalloc-64k", "kmalloc-128k", "kmalloc-256k",
    "kmalloc-512k", "kmalloc-1M",  "kmalloc-2M",  "kmalloc-4M",  "kmalloc-8M",
};
#define SIZE_INDEX_MAX 192 // size_index covers 1..192 bytes
static struct kmem_cache *kmalloc_caches[KMALLOC_NR_CLASSES] __read_mostly;
static uint8_t size_index[SIZE_INDEX_MAX / 8] __read_mostly; // class of sizes up to 192, by 8

static size_t class_align(int i)
{
    return class_size[i] & -class_size[i];
}

// The smallest class holding size bytes, or -1 above KMALLOC_MAX_SIZE.
static int kmalloc_index(size_t size)
{
    if (size <= SIZE_INDEX_MAX)
        return size_index[(size - 1) / 8];
    if (size > KMALLOC_MAX_SIZE)
        return -1;
    int log2 = 64 - __builtin_clzl(size - 1); // ceil(log2(size)): 256 -> 8
    return 7 + (log2 - 8);                    // kmalloc-256 is class 7
}

int kmalloc_init(void)
{
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++)
        kmalloc_caches[i] = NULL;
    for (size_t s = 8, i = 0; s <= SIZE_INDEX_MAX; s += 8) {
        while (class_size[i] < s)
            i++;
        size_index[(s - 1) / 8] = (uint8_t)i;
    }
    // Smallest first: the off-slab classes take their slab descriptors from
    // the small ones, so those must exist already.
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++) {
        kmalloc_caches[i] =
            kmem_cache_create_permanent(class_name[i], class_size[i], class_align(i));
        if (kmalloc_caches[i] == NULL)
            return -ENOMEM;
    }
    return 0;
}

void kmalloc_reset(void)
{
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++)
        kmalloc_caches[i] = NULL;
}

struct kmem_cache *kmalloc_cache(size_t size)
{
    int i = size ? kmalloc_index(size) : -1;
    return i < 0 ? NULL : kmalloc_caches[i];
}

struct kmem_cache *kmalloc_cache_index(int i)
{
    return i >= 0 && i < KMALLOC_NR_CLASSES ? kmalloc_caches[i] : NULL;
}

// Above the largest class: whole frames from the buddy allocator, which
// marks the first PG_head with nr_frames; PG_large tells kfree it is ours.
static void *kmalloc_large(size_t size)
{
    size_t n = size / PAGE_SIZE + (size % PAGE_SIZE != 0); // no overflow near SIZE_MAX
    if (n > (1UL << MAX_ORDER))
        return NULL;
    void *p = alloc_frames(n);
    if (p) {
        struct page *pg = virt_to_page(p);
        set_page_flags(pg, page_flags(pg) | PG_large);
    }
    return p;
}

// Requests above the table's sizes, and size 0.
static __attribute__((noinline)) void *kmalloc_slow(size_t size, const void *caller)
{
    if (size == 0) // a documented choice: no object, as malloc(0) may
        return NULL;
    int i = kmalloc_index(size);
    if (i < 0)
        return kmalloc_large(size);
    return slab_alloc(kmalloc_caches[i], caller);
}

// The common sizes (up to 192 bytes) find their class in one table load.
FAST_LEAF void *kmalloc(size_t size)
{
    if (unlikely(size - 1 >= SIZE_INDEX_MAX)) // size 0 wraps around
        return kmalloc_slow(size, THIS_RET_IP());
    return slab_alloc(kmalloc_caches[size_index[(size - 1) / 8]], THIS_RET_IP());
}

void *kmalloc_aligned(size_t size, size_t align)
{
    if (!IS_POWER_OF_2(align) || align > KMALLOC_MAX_SIZE) {
        printk("slab: kmalloc_aligned(%zu, %zu): align must be a power of two up to 8 MiB\n", size,
               align);
        return NULL;
    }
    if (size == 0)
        return NULL;
    int i = kmalloc_index(size);
    if (i < 0) // frames: page aligned, no more
        return align <= PAGE_SIZE ? kmalloc_large(size) : NULL;
    while (i < KMALLOC_NR_CLASSES && class_align(i) < align)
        i++; // the first class that is both big enough and aligned enough
    return i < KMALLOC_NR_CLASSES ? slab_alloc(kmalloc_caches[i], __builtin_return_address(0))
                                  : NULL;
}

// NULL, a large block, or a pointer that is in no slab.
static __attribute__((noinline)) void kfree_slow(const void *p, const void *caller)
{
    if (p == NULL)
        return;
    struct page *pg = virt_to_page(p);
    if (pg && (page_flags(pg) & PG_large) && p == page_address(pg)) {
        size_t n = pg->nr_frames;
        set_page_flags(pg, page_flags(pg) & ~(uint32_t)PG_large);
        free_frames((void *)p, n);
        return;
    }
    // A frame the buddy allocator has free: most likely a large block freed
    // twice (its PG_large went with the first free). Say so.
    if (pg && ((uintptr_t)p & (PAGE_SIZE - 1)) == 0 && !(page_flags(pg) & PG_slab) &&
        page_is_free(p)) {
        report_begin(NULL, "double free");
        report_line("kfree(%p): its frame is free: a block over %lu MiB freed twice, or a page "
                    "never handed out by kmalloc",
                    p, KMALLOC_MAX_SIZE >> 20);
        report_line("freed by %p", caller);
        report_end(NULL, "ignored");
        return;
    }
    slab_free_bad(NULL, p, "kfree", caller);
}

// struct page names the cache: a frame of a slab has one, any other frame
// none (Linux's virt_to_cache).
FAST_LEAF void kfree(const void *p)
{
    unsigned long pfn = (uintptr_t)p >> PAGE_SHIFT;
    struct kmem_cache *c;
    if (unlikely(!pfn_valid(pfn) || (c = READ_ONCE(pfn_to_page(pfn)->slab_cache)) == NULL))
        return kfree_slow(p, THIS_RET_IP());
    slab_free(c, (void *)p, THIS_RET_IP());
}

size_t ksize(const void *p)
{
    if (p == NULL)
        return 0;
    struct page *pg = virt_to_page(p);
    if (pg && (page_flags(pg) & PG_large) && p == page_address(pg))
        return pg->nr_frames * PAGE_SIZE;
    return slab_obj_size(p);
}
