// Many objects at a time: Linux's bulk API and prefilled sheaves.
//
// A bulk alloc copies objects off the top of this cpu's array a batch at a
// time, inside one per-CPU section per batch; when the array runs dry, one
// ordinary kmem_cache_alloc refills it (or grows a slab, or takes the
// checked path of a debug cache) and the copying goes on. A bulk free
// pushes the same way, and a full array is flushed by one ordinary free.
// So every rare case is the single-object code's, and only the common one,
// an array with objects or room, is new: a loop where a single call pays a
// call, a section and its checks per object.
//
// A prefilled sheaf is an array that belongs to its caller instead of a
// cpu: filled by one bulk alloc while the caller may still wait for
// memory, then popped where it must not fail.

#include "slab_internal.h"

#include <errno.h>
#include <string.h>

// Up to `want` objects off the top of this cpu's array of c, into p: the
// hottest first, as single allocs would take them. Returns how many.
static size_t take_batch(struct kmem_cache *c, void **p, size_t want)
{
    unsigned long flags = local_lock_irqsave();
    struct array_cache *ac = c->array[local_lock_cpu(flags)];
    unsigned long avail = ac->avail, n = MIN(avail, want);
    for (unsigned long k = 0; k < n; k++)
        p[k] = ac->entry[avail - 1 - k];
    ac_set_avail(ac, avail - n);
    local_unlock_irqrestore(flags);
    for (unsigned long k = 0; k < n; k++)
        mem_unpoison(p[k], c->size);
    return n;
}

int kmem_cache_alloc_bulk(struct kmem_cache *c, gfp_t gfp, size_t n, void **p)
{
    if (c == NULL) {
        kmem_cache_alloc_null();
        return 0;
    }
    if (n == 0 || n > INT32_MAX)
        return 0;
    size_t got = 0;
    while (got < n) {
        got += take_batch(c, p + got, n - got);
        if (got == n)
            break;
        void *obj = kmem_cache_alloc(c, gfp & ~__GFP_ZERO); // the array is dry: a refill
        if (obj == NULL) {
            kmem_cache_free_bulk(c, got, p); // all or nothing
            return 0;
        }
        p[got++] = obj;
    }
    if (gfp & __GFP_ZERO)
        for (size_t k = 0; k < n; k++)
            memset(p[k], 0, c->object_size);
    return (int)n;
}

// Push objects of p onto this cpu's array of c while it has room, each
// checked as kmem_cache_free's fast path checks it (a frame of c's, not
// the object on top). Stops at the first that fails; returns how many.
static size_t put_batch(struct kmem_cache *c, void **p, size_t want)
{
    unsigned long flags = local_lock_irqsave();
    struct array_cache *ac = c->array[local_lock_cpu(flags)];
    unsigned long avail = ac->avail, room = ac->limit - MIN(avail, ac->limit), k = 0;
    for (; k < MIN(want, room); k++) {
        void *obj = p[k], **slot = &ac->entry[avail + k];
        unsigned long pfn = (uintptr_t)obj >> PAGE_SHIFT;
        if (!pfn_valid(pfn) || READ_ONCE(pfn_to_page(pfn)->slab_cache) != c ||
            slot[-1] == obj) // slot[-1] may be the guard
            break;
#ifdef RVSLAB_ASAN
        if (c != &cache_cache)
            mem_poison(obj, c->size);
#endif
        *slot = obj;
    }
    ac_set_avail(ac, avail + k);
    local_unlock_irqrestore(flags);
    return k;
}

void kmem_cache_free_bulk(struct kmem_cache *c, size_t n, void **p)
{
    if (c == NULL) {
        kfree_bulk(n, p);
        return;
    }
    size_t done = 0;
    while (done < n) {
        done += put_batch(c, p + done, n - done);
        if (done < n) // a full array (flushed), or an object the checks did not pass: reported
            kmem_cache_free(c, p[done++]);
    }
}

// The cache of a slab object, or NULL (NULL, a large block, not ours).
static struct kmem_cache *cache_of_block(const void *p)
{
    unsigned long pfn = (uintptr_t)p >> PAGE_SHIFT;
    return pfn_valid(pfn) ? READ_ONCE(pfn_to_page(pfn)->slab_cache) : NULL;
}

// Runs of blocks of one cache go in bulk; anything else through kfree.
void kfree_bulk(size_t n, void **p)
{
    size_t i = 0;
    while (i < n) {
        struct kmem_cache *c = cache_of_block(p[i]);
        if (c == NULL) {
            kfree(p[i++]);
            continue;
        }
        size_t run = 1;
        while (i + run < n && cache_of_block(p[i + run]) == c)
            run++;
        kmem_cache_free_bulk(c, run, p + i);
        i += run;
    }
}

// ---- Prefilled sheaves ----

struct slab_sheaf {
    struct kmem_cache *cache;
    unsigned int size;     // objects in objects[]
    unsigned int capacity; // room in objects[]
    void *objects[];
};

static struct slab_sheaf *sheaf_make(struct kmem_cache *c, gfp_t gfp, unsigned int capacity)
{
    struct slab_sheaf *sh =
        kmalloc(sizeof(*sh) + (size_t)capacity * sizeof(void *), gfp & ~__GFP_ZERO);
    if (sh != NULL)
        *sh = (struct slab_sheaf){.cache = c, .size = 0, .capacity = capacity};
    return sh;
}

// A sheaf used with a cache it was not filled from: said, and refused.
static bool sheaf_ok(struct kmem_cache *c, const struct slab_sheaf *sh, const char *who)
{
    if (sh != NULL && c != NULL && sh->cache == c)
        return true;
    printk("slab: %s: %s\n", who,
           sh == NULL  ? "no sheaf"
           : c == NULL ? "no cache"
                       : "the sheaf was filled from another cache");
    return false;
}

struct slab_sheaf *kmem_cache_prefill_sheaf(struct kmem_cache *c, gfp_t gfp, unsigned int count)
{
    if (c == NULL) {
        kmem_cache_alloc_null();
        return NULL;
    }
    struct slab_sheaf *sh = sheaf_make(c, gfp, MAX(count, 1U));
    if (sh == NULL)
        return NULL;
    if (count > 0 && kmem_cache_alloc_bulk(c, gfp & ~__GFP_ZERO, count, sh->objects) == 0) {
        kfree(sh);
        return NULL;
    }
    sh->size = count;
    return sh;
}

void *kmem_cache_alloc_from_sheaf(struct kmem_cache *c, gfp_t gfp, struct slab_sheaf *sheaf)
{
    if (!sheaf_ok(c, sheaf, "kmem_cache_alloc_from_sheaf") || sheaf->size == 0)
        return NULL;
    void *obj = sheaf->objects[--sheaf->size];
    if (gfp & __GFP_ZERO)
        memset(obj, 0, c->object_size);
    return obj;
}

int kmem_cache_refill_sheaf(struct kmem_cache *c, gfp_t gfp, struct slab_sheaf **sheaf,
                            unsigned int count)
{
    struct slab_sheaf *sh = sheaf ? *sheaf : NULL;
    if (!sheaf_ok(c, sh, "kmem_cache_refill_sheaf"))
        return -EINVAL;
    if (sh->size >= count)
        return 0;
    struct slab_sheaf *to = count <= sh->capacity ? sh : sheaf_make(c, gfp, count);
    if (to == NULL)
        return -ENOMEM;
    unsigned int more = count - sh->size;
    if (kmem_cache_alloc_bulk(c, gfp & ~__GFP_ZERO, more, to->objects + sh->size) == 0) {
        if (to != sh)
            kfree(to);
        return -ENOMEM;
    }
    if (to != sh) {
        memcpy(to->objects, sh->objects, sh->size * sizeof(void *));
        kfree(sh);
        *sheaf = to;
    }
    to->size = count;
    return 0;
}

void kmem_cache_return_sheaf(struct kmem_cache *c, gfp_t gfp, struct slab_sheaf *sheaf)
{
    (void)gfp; // Linux may keep the sheaf for later; here it goes
    if (!sheaf_ok(c, sheaf, "kmem_cache_return_sheaf"))
        return;
    kmem_cache_free_bulk(c, sheaf->size, sheaf->objects);
    kfree(sheaf);
}

unsigned int kmem_cache_sheaf_size(const struct slab_sheaf *sheaf)
{
    return sheaf ? sheaf->size : 0;
}
