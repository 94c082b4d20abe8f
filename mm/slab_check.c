// Frees checked as a C library checks them, cheaply enough to stay on:
// kfree_checked is kfree for callers that must not trust the pointer they
// are given (librvslab.so's free). It catches
//
//  - a pointer that is not the start of a block: into an object, into a
//    slab's descriptor or tail, into a large block, or in no slab at all
//    (the stack, a global, another allocator's block): struct page and the
//    slab's geometry say so, in a few instructions;
//  - a double free, wherever the first free put the object and however
//    many frees came between. A freed object carries a key in its second
//    32-bit word (the first is its free-chain link once it is back in its
//    slab): a secret chosen at start-up, mixed with its address. A free that
//    finds the key already there may be a double free, or a live object
//    whose bytes happen to match (1 in 2^32): only then is every cpu's
//    array and the slab's free chain searched, and the object reported if
//    it is there. kmalloc_fresh clears the key of each block handed out.
//
// The fast path, kfree_checked, is in slab_fast.c beside kfree; here are
// the rare parts and the search.
//
// glibc's tcache keeps such a key for the same reason. A report says what
// was wrong, and the allocator goes on -- or panics with
// slab_panic_on_report, which librvslab.so sets unless told not to.
#include "slab_internal.h"

void slab_free_check_seed(uint64_t seed)
{
    slab_free_key_secret = (uint32_t)(seed ^ (seed >> 32)) | 1;
}

// Is obj free: in some cpu's array of c, or on its slab's free chain? Other
// cpus' arrays are read without their owners' sections, and an entry found
// is read again with the array's count, so that a slot its cpu has just
// popped is not taken for a free object; the count is bounded by the
// cache's array size, in case the array was given back meanwhile. Only a
// key that matched brings a free here, and every block handed out has its
// key cleared.
static bool in_array(const struct kmem_cache *c, struct array_cache *ac, const void *obj)
{
    unsigned long n = MIN(MIN(READ_ONCE(ac->avail), READ_ONCE(ac->limit)), (unsigned long)c->limit);
    for (unsigned long j = 0; j < n; j++)
        if (READ_ONCE(ac->entry[j]) == obj && j < READ_ONCE(ac->avail) &&
            READ_ONCE(ac->entry[j]) == obj) // still there: not a slot just popped
            return true;
    return false;
}

static const char *where_free(struct kmem_cache *c, struct slab *s, unsigned int i, int *cpu)
{
    const void *obj = index_to_obj(c, s, i);
    for (int k = 0; k < NCPU; k++) {
        struct array_cache *ac = READ_ONCE(c->array[k]), *sp = READ_ONCE(ac->spare);
        if (in_array(c, ac, obj) || (sp && in_array(c, sp, obj))) {
            *cpu = k;
            return "in a cpu's array";
        }
    }
    const char *found = NULL;
    struct barn *b = &c->node->barn;
    spin_lock(&b->lock); // the barn's sheaves hold still under it
    for (struct array_cache *sh = b->full; sh && !found; sh = sh->spare)
        if (in_array(c, sh, obj))
            found = "in a sheaf in the barn";
    spin_unlock(&b->lock);
    if (found)
        return found;
    spin_lock(&c->node->list_lock);
    if (i >= s->fresh)
        found = "on its slab, never handed out";
    else if (slab_obj_free(c, s, i))
        found = "on its slab's free list";
    spin_unlock(&c->node->list_lock);
    return found;
}

static void report_free_object(struct kmem_cache *c, struct slab *s, unsigned int i,
                               const char *title, const char *who, const char *where, int cpu,
                               const void *caller)
{
    report_begin(c, title);
    if (cpu >= 0)
        report_line("%s(%p): the block is already free: %s (cpu %d)", who, index_to_obj(c, s, i),
                    where, cpu);
    else
        report_line("%s(%p): the block is already free: %s", who, index_to_obj(c, s, i), where);
    report_object(c, s, i);
    report_line("called from %p", caller);
    report_end(c, "ignored");
}

// kfree_checked found the key in obj: a double free, or a live block whose
// bytes match by chance. Tail-called, so the return address is the caller's.
__attribute__((noinline)) void kfree_key_found(struct kmem_cache *c, void *obj)
{
    const void *caller = __builtin_return_address(0);
    struct slab *s = virt_to_page(obj)->slab;
    unsigned int i = obj_to_index(c, s, obj);
    int cpu = -1;
    const char *where = where_free(c, s, i, &cpu);
    if (where) {
        report_free_object(c, s, i, "double free", "free", where, cpu, caller);
        return;
    }
    set_free_key(obj); // live after all: freed now
    slab_free(c, obj, caller);
}

// A pointer into a slab that is not the start of an object (or the slab is
// going away under a stale pointer): the full lookup says which, and
// reports it. Tail-called.
__attribute__((noinline)) void kfree_not_object(struct kmem_cache *c, const void *p)
{
    if (READ_ONCE(c->checked_span) == 0) // not a plain cache: kfree checks it its way
        return kfree(p);
    slab_free_bad(NULL, p, "free", __builtin_return_address(0));
}

bool kmalloc_check_live(const void *p, const char *who)
{
    struct kmem_cache *c = plain_cache_of(p);
    struct slab *s = c ? READ_ONCE(virt_to_page(p)->slab) : NULL;
    if (s == NULL || !object_start(c, s->s_mem, p))
        return ksize(p) != 0; // a large block, or reported
    unsigned int i = obj_to_index(c, s, p);
    int cpu = -1;
    const char *where = free_key_in(p) ? where_free(c, s, i, &cpu) : NULL;
    if (where) {
        report_free_object(c, s, i, "use after free", who, where, cpu, __builtin_return_address(0));
        return false;
    }
    return true;
}
