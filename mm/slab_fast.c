// The public fast paths: kmem_cache_alloc, kmem_cache_free, kmalloc and
// kfree, each a pop or a push on this cpu's array (slab_internal.h) and
// nothing else. Everything rare -- an empty or full array, a NULL cache,
// a size kmalloc's table does not cover, __GFP_ZERO, a bad free -- is a
// tail call into slab.c or kmalloc.c, so these are leaves.
//
// This file alone is built without a frame pointer (the Makefile says so):
// a leaf needs no frame, and backtraces skip leaves anyway. The slow paths
// they tail-call return straight to the caller, so the caller's address for
// SLAB_STORE_USER and reports is the slow path's own return address
// (CALLER in slab_internal.h): the fast paths never read ra themselves.
#include "slab_internal.h"

void *kmem_cache_alloc(struct kmem_cache *c, gfp_t gfp)
{
    if (unlikely(c == NULL))
        return kmem_cache_alloc_null();
    if (unlikely(gfp & __GFP_ZERO))
        return kmem_cache_alloc_zero(c, gfp);
    return slab_alloc(c, gfp, NULL);
}

// What Linux checks by default (with CONFIG_SLAB_FREELIST_HARDENED): the
// object's frame belongs to c (struct page says so), and it is not the
// object on top of this cpu's array. More (an interior pointer, a double
// free of an object deeper in some array) needs a debug option.
void kmem_cache_free(struct kmem_cache *c, void *obj)
{
    unsigned long pfn = (uintptr_t)obj >> PAGE_SHIFT;
    if (unlikely(!pfn_valid(pfn) || READ_ONCE(pfn_to_page(pfn)->slab_cache) != c || c == NULL))
        return kmem_cache_free_bad(c, obj);
    slab_free(c, obj, NULL);
}

// kmalloc's tables of caches, filled by kmalloc.c, are defined here beside
// the one function that reads them on every call: the compiler then
// reaches both from one base address.
struct kmem_cache *kmalloc_caches[KMALLOC_NR_CLASSES] __read_mostly;
struct kmem_cache *kmalloc_small[KMALLOC_SMALL_MAX / 8] __read_mostly;

// The common sizes (up to 1 KiB) find their cache in one table load: the
// size's offset into the table is (size - 1) rounded down to 8 bytes.
void *kmalloc(size_t size, gfp_t gfp)
{
    if (unlikely(size - 1 >= KMALLOC_SMALL_MAX)) // size 0 wraps around
        return kmalloc_slow(size, gfp);
    struct kmem_cache *c = READ_PUBLISHED(kmalloc_small[(size - 1) / 8]);
    if (unlikely(c == NULL || (gfp & __GFP_ZERO))) // NULL: a lazy class not made yet
        return kmalloc_zero(size, gfp);
    return slab_alloc(c, gfp, NULL);
}

// struct page names the cache: a frame of a slab has one, any other frame
// none (Linux's virt_to_cache).
void kfree(const void *p)
{
    unsigned long pfn = (uintptr_t)p >> PAGE_SHIFT;
    struct kmem_cache *c;
    if (unlikely(!pfn_valid(pfn) || (c = READ_ONCE(pfn_to_page(pfn)->slab_cache)) == NULL))
        return kfree_slow(p);
    slab_free(c, (void *)p, NULL);
}

// kfree, checked as a C library checks a free (slab_check.c): the frame is
// RAM, then kfree_checked_page (slab_internal.h).
uint32_t slab_free_key_secret __read_mostly = 0x9e3779b9;

void kfree_checked(const void *p)
{
    unsigned long pfn = (uintptr_t)p >> PAGE_SHIFT;
    if (unlikely(!pfn_valid(pfn)))
        return kfree(p);
    kfree_checked_page(p, pfn_to_page(pfn));
}
