// kmalloc: general-purpose allocation on top of a set of size-class caches.
//
// The classes waste at most 1/8 of a block to rounding, as the seeds' rule
// for a slab's order does. 8 to 64 bytes step by 8, the minimum alignment
// (a smaller step would misalign the objects); above 64, every power of two
// is cut into 8 equal steps -- 72, 80, .. 128, 144, .. 256, .. 28k, 32k --
// so a request just past a class wastes under 1/9 of the next one (four
// steps, jemalloc's spacing, allow 1/5; mimalloc spaces its bins by 8 too).
// That is 80 classes up to 32 KiB. Above 32 KiB a request takes whole
// frames straight from the buddy allocator, exactly as many as it needs
// (alloc_frames: rounding to a frame then wastes under 4 KiB of 36 KiB, 1/9
// again), marked PG_large; more classes there would cost per-CPU arrays
// and empty slabs for little gain. Each class is aligned to the largest
// power of two dividing its size (72 -> 8, 80 -> 16, 2560 -> 512): every
// multiple of 16 is 16-aligned, and a power of two naturally aligned.
// kfree needs no size: struct page names the cache (or the large block).
//
// The size -> class lookup is two byte tables: by 8 bytes up to 1 KiB (one
// load on kmalloc's fast path) and by 128 bytes up to 32 KiB, where every
// class boundary is a multiple of 128.

#include <errno.h>
#include <string.h>

#include "buddy.h"
#include "slab_internal.h"

#define SMALL_MAX KMALLOC_SMALL_MAX // size_small[] covers 1..1024 bytes, by 8
#define MID_STEP  128               // size_mid[] covers 1025..32 KiB, by 128

static size_t class_size[KMALLOC_NR_CLASSES];
static char class_name[KMALLOC_NR_CLASSES][24];
static uint8_t size_small[SMALL_MAX / 8] __read_mostly;                   // ..1k, by 8
static uint8_t size_mid[KMALLOC_MAX_CACHE_SIZE / MID_STEP] __read_mostly; // ..32k, by 128
bool kmalloc_lazy_classes;

static size_t class_align(int i)
{
    return class_size[i] & -class_size[i];
}

// The smallest class holding size bytes (1 or more), or -1 above the largest.
static int kmalloc_index(size_t size)
{
    // LAB kmalloc.index: begin
    if (size <= SMALL_MAX)
        return size_small[(size - 1) / 8];
    if (size <= KMALLOC_MAX_CACHE_SIZE)
        return size_mid[(size - 1) / MID_STEP];
    return -1;
    // LAB kmalloc.index: end
}

// "kmalloc-72", "kmalloc-2k": by hand, not snprintf, whose code the host
// library would otherwise bring into memory in every process at start-up.
static void class_name_of(char *out, size_t size)
{
    bool k = size >= 1024 && size % 1024 == 0;
    char digits[12];
    int n = 0;
    for (size_t v = k ? size >> 10 : size; v || n == 0; v /= 10)
        digits[n++] = (char)('0' + v % 10);
    memcpy(out, "kmalloc-", 8);
    out += 8;
    while (n)
        *out++ = digits[--n];
    if (k)
        *out++ = 'k';
    *out = '\0';
}

// The class sizes, their names, and the two tables.
static void kmalloc_classes(void)
{
    // LAB kmalloc.classes: begin
    int n = 0;
    for (size_t s = 8; s <= 64; s += 8)
        class_size[n++] = s;
    for (size_t p = 64; p < KMALLOC_MAX_CACHE_SIZE; p *= 2)
        for (size_t k = 1; k <= 8; k++)
            class_size[n++] = p + k * (p / 8);
    // LAB kmalloc.classes: end
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++)
        class_name_of(class_name[i], class_size[i]);
    // LAB kmalloc.tables: begin
    int i = 0;
    for (size_t s = 8; s <= SMALL_MAX; s += 8) {
        while (class_size[i] < s)
            i++;
        size_small[(s - 1) / 8] = (uint8_t)i;
    }
    for (size_t s = MID_STEP; s <= KMALLOC_MAX_CACHE_SIZE; s += MID_STEP) {
        while (class_size[i] < s)
            i++;
        size_mid[(s - 1) / MID_STEP] = (uint8_t)i;
    }
    // LAB kmalloc.tables: end
}

// Make class i's cache, unless another cpu just did: the first to store it
// in the tables wins, and a loser's cache, which no one has seen, goes.
// NULL if there is no memory for it.
static __attribute__((noinline)) struct kmem_cache *make_class(int i, gfp_t gfp)
{
    struct kmem_cache *c =
        kmem_cache_create_permanent(class_name[i], class_size[i], class_align(i), gfp);
    struct kmem_cache *was = NULL;
    if (c == NULL)
        return __atomic_load_n(&kmalloc_caches[i], __ATOMIC_ACQUIRE);
    if (!__atomic_compare_exchange_n(&kmalloc_caches[i], &was, c, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        kmem_cache_unmake(c);
        return was;
    }
    // kmalloc's own table: the sizes of class i are the entries just below
    // its size's (size_small rises with the size).
    if (class_size[i] <= SMALL_MAX)
        for (int j = (int)(class_size[i] - 1) / 8; j >= 0 && size_small[j] == i; j--)
            __atomic_store_n(&kmalloc_small[j], c, __ATOMIC_RELEASE);
    return c;
}

// Class i's cache, made now if it is not yet (kmalloc_lazy_classes).
static struct kmem_cache *class_cache(int i, gfp_t gfp)
{
    struct kmem_cache *c = __atomic_load_n(&kmalloc_caches[i], __ATOMIC_ACQUIRE);
    return likely(c != NULL) ? c : make_class(i, gfp);
}

// The classes the slab layer takes its own objects from, made at once even
// when the rest wait for their first kmalloc: those per-CPU arrays live in
// (array_make), and the class of off-slab descriptors.
static bool class_needed_early(int i)
{
    return array_home(class_size[i]) || i == kmalloc_index(sizeof(struct slab));
}

int kmalloc_init(void)
{
    kmalloc_reset();
    kmalloc_classes();
    // Smallest first: the off-slab classes take their slab descriptors from
    // the small ones, so those must exist already.
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++)
        if ((!kmalloc_lazy_classes || class_needed_early(i)) && make_class(i, GFP_KERNEL) == NULL)
            return -ENOMEM;
    return 0;
}

void kmalloc_reset(void)
{
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++)
        kmalloc_caches[i] = NULL;
    for (int j = 0; j < SMALL_MAX / 8; j++)
        kmalloc_small[j] = NULL;
}

struct kmem_cache *kmalloc_cache(size_t size)
{
    int i = size ? kmalloc_index(size) : -1;
    return i < 0 ? NULL : kmalloc_cache_index(i);
}

struct kmem_cache *kmalloc_cache_index(int i)
{
    return i >= 0 && i < KMALLOC_NR_CLASSES ? __atomic_load_n(&kmalloc_caches[i], __ATOMIC_ACQUIRE)
                                            : NULL;
}

// Above the largest class: whole frames from the buddy allocator -- n of
// them, or a naturally aligned block of 2^order when a caller asks for more
// than page alignment -- which marks the first PG_head with nr_frames;
// PG_large tells kfree it is ours.
bool kmalloc_exact_frames = true;

// The frames kmalloc takes for a block of `size` bytes (see
// kmalloc_exact_frames); more than 1 << MAX_ORDER if it cannot be done.
static size_t large_frames(size_t size)
{
    size_t n = size / PAGE_SIZE + (size % PAGE_SIZE != 0); // no overflow near SIZE_MAX
    if (__atomic_load_n(&kmalloc_exact_frames, __ATOMIC_RELAXED) || n > (1UL << MAX_ORDER))
        return n;
    size_t whole = 1;
    while (whole < n)
        whole <<= 1;
    return whole;
}

static void *kmalloc_large(size_t size, size_t align, gfp_t gfp, const void *caller)
{
    size_t n = large_frames(size);
    if (n > (1UL << MAX_ORDER))
        return NULL;
    gfp = gfp_check_context(gfp, caller); // reported as the kmalloc caller's, not ours
    void *p;
    if (align <= PAGE_SIZE) {
        p = alloc_frames(gfp, n);
    } else {
        unsigned int order = 0;
        while ((1UL << order) < n || (PAGE_SIZE << order) < align)
            order++;
        p = alloc_pages(gfp, order);
    }
    if (p) {
        struct page *pg = virt_to_page(p);
        set_page_flags(pg, page_flags(pg) | PG_large);
    }
    return p;
}

// Requests above the table's sizes, size 0, and __GFP_ZERO: tail-called by
// kmalloc (slab_fast.c), so the return address is kmalloc's caller's.
static inline __attribute__((always_inline)) void *kmalloc_caller(size_t size, gfp_t gfp,
                                                                  const void *caller)
{
    if (size == 0) // a documented choice: no object, as malloc(0) may
        return NULL;
    int i = kmalloc_index(size);
    if (i < 0)
        return kmalloc_large(size, PAGE_SIZE, gfp, caller);
    struct kmem_cache *c = class_cache(i, gfp);
    void *p = c ? slab_alloc(c, gfp & ~__GFP_ZERO, caller) : NULL;
    if (p && (gfp & __GFP_ZERO))
        memset(p, 0, class_size[i]);
    return p;
}

__attribute__((noinline)) void *kmalloc_slow(size_t size, gfp_t gfp)
{
    return kmalloc_caller(size, gfp, __builtin_return_address(0));
}

__attribute__((noinline)) void *kmalloc_zero(size_t size, gfp_t gfp)
{
    return kmalloc_caller(size, gfp, __builtin_return_address(0));
}

void *kmalloc_aligned(size_t size, size_t align, gfp_t gfp)
{
    const void *caller = __builtin_return_address(0);
    if (!IS_POWER_OF_2(align) || align > KMALLOC_MAX_SIZE) {
        printk("slab: kmalloc_aligned(%zu, %zu): align must be a power of two up to 8 MiB\n", size,
               align);
        return NULL;
    }
    if (size == 0)
        return NULL;
    int i = kmalloc_index(size);
    while (i >= 0 && i < KMALLOC_NR_CLASSES && class_align(i) < align)
        i++; // the first class that is both big enough and aligned enough
    if (i < 0 || i == KMALLOC_NR_CLASSES)
        return kmalloc_large(size, align, gfp, caller);
    struct kmem_cache *c = class_cache(i, gfp);
    void *p = c ? slab_alloc(c, gfp & ~__GFP_ZERO, caller) : NULL;
    if (p && (gfp & __GFP_ZERO))
        memset(p, 0, class_size[i]);
    return p;
}

void *kmalloc_array(size_t n, size_t size, gfp_t gfp)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes))
        return NULL; // n * size does not fit a size_t: never a short block
    return kmalloc(bytes, gfp);
}

void *kcalloc(size_t n, size_t size, gfp_t gfp)
{
    return kmalloc_array(n, size, gfp | __GFP_ZERO);
}

// NULL, a large block, or a pointer that is in no slab.
// NULL, a large block, or a pointer that is in no slab. Tail-called by kfree.
__attribute__((noinline)) void kfree_slow(const void *p)
{
    const void *caller = __builtin_return_address(0);
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
        report_line("kfree(%p): its frame is free: a block over %lu KiB freed twice, or a page "
                    "never handed out by kmalloc",
                    p, KMALLOC_MAX_CACHE_SIZE >> 10);
        report_line("freed by %p", caller);
        report_end(NULL, "ignored");
        return;
    }
    slab_free_bad(NULL, p, "kfree", caller);
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

// Linux's krealloc: the block at p with room for new_size bytes, its first
// bytes kept; NULL if there is no memory, and then p is untouched. A slab
// object stays where it is while it still fits and is not a quarter full
// (then a smaller class takes it); a block of frames grows or shrinks in
// place when the frames after it are free (resize_frames), so growing one
// step at a time copies nothing. A different pointer back means a copy.
void *krealloc(void *p, size_t new_size, gfp_t gfp)
{
    if (p == NULL)
        return kmalloc(new_size, gfp);
    if (new_size == 0) {
        kfree(p);
        return NULL;
    }
    size_t have = ksize(p);
    if (have == 0)
        return NULL; // not ours: ksize reported it
    struct page *pg = virt_to_page(p);
    if ((page_flags(pg) & PG_large) && new_size > KMALLOC_MAX_CACHE_SIZE / 2) {
        size_t n = pg->nr_frames, want = large_frames(new_size);
        if (want == n || (want <= (1UL << MAX_ORDER) && resize_frames(p, n, want) == 0)) {
            if ((gfp & __GFP_ZERO) && new_size > have)
                memset((char *)p + have, 0, new_size - have);
            return p;
        }
    } else if (new_size <= have && new_size > have / 4) {
        return p;
    }
    void *q = kmalloc_fresh(kmalloc(new_size, gfp & ~__GFP_ZERO)); // no freed-object key
    if (q == NULL)
        return NULL;
    memcpy(q, p, MIN(have, new_size));
    if ((gfp & __GFP_ZERO) && new_size > have)
        memset((char *)q + have, 0, new_size - have);
    kfree_checked(p); // a later free of p is then a double free that is caught
    return q;
}
