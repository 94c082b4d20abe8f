// Looking at the slab layer without changing it: a cache's geometry and
// counters (kmem_cache_get_info), slabinfo, and a list walk for tests.
// Readers take the same locks as the allocator, briefly, one at a time.

#include "slab_internal.h"

#include <string.h>

// What follows from a cache's arguments alone (also for kmem_cache_layout).
void layout_info(const struct kmem_cache *c, struct kmem_cache_info *in)
{
    memset(in, 0, sizeof(*in));
    in->name = c->name;
    in->flags = c->flags;
    in->red_left = c->red_left;
    in->object_size = c->object_size;
    in->size = c->size;
    in->align = c->align;
    in->order = c->order;
    in->num = c->num;
    in->colour = c->colour;
    in->colour_off = c->colour_off;
    in->off_slab = c->off_slab;
    in->desc_bytes = c->off_slab ? c->slab_desc_cache->size : 0;
    in->mgmt = c->mgmt;
    in->waste = c->left_over;
}

void kmem_cache_get_info(struct kmem_cache *c, struct kmem_cache_info *in)
{
    if (c == NULL || c->magic != KMEM_CACHE_MAGIC) { // all zero; name says why
        memset(in, 0, sizeof(*in));
        in->name = c ? "(destroyed)" : "(null)";
        return;
    }
    layout_info(c, in);
    in->limit = c->limit;
    in->batchcount = c->batchcount;
    spin_lock(&c->node->list_lock); // the observer's own acquisition is not counted
    in->free_limit = c->free_limit; // the reaper sets it, under the lock
    // Other cpus' arrays are read without stopping them: a snapshot. Under
    // the lock, which a cpu takes to put in or give back an array, so none
    // is freed while it is read.
    for (int cpu = 0; cpu < NCPU; cpu++) {
        struct array_cache *ac = READ_ONCE(c->array[cpu]), *sp = READ_ONCE(ac->spare);
        in->cached_objs += READ_ONCE(ac->avail) + (sp ? READ_ONCE(sp->avail) : 0);
        in->arrays += ac->limit != 0;
    }
    struct barn *b = &c->node->barn;
    spin_lock(&b->lock); // not counted either
    for (struct array_cache *sh = b->full; sh; sh = sh->spare)
        in->barn_objs += sh->avail;
    in->barn_max = c->barn_max;
    in->barn_full = b->nr_full;
    in->barn_empty = b->nr_empty;
    in->barn_gets = c->barn_gets;
    in->barn_puts = c->barn_puts;
    in->barn_locks = c->barn_locks;
    spin_unlock(&b->lock);
    in->cached_objs += in->barn_objs;
    in->total_objs = (size_t)c->node->nr_slabs * c->num;
    in->total_slabs = c->node->nr_slabs;
    in->free_slabs = c->node->nr_free_slabs;
    in->active_slabs = c->node->nr_slabs - c->node->nr_free_slabs;
    in->active_objs = in->total_objs - c->node->free_objects;
    in->grows = c->grows;
    in->reaped = c->reaped;
    in->refills = c->refills;
    in->flushes = c->flushes;
    in->lock_acquisitions = c->lock_count;
    in->list_scans = c->list_scans;
    in->debug_allocs = c->dbg_allocs;
    in->debug_frees = c->dbg_frees;
    spin_unlock(&c->node->list_lock);
    in->errors = __atomic_load_n(&c->errors, __ATOMIC_RELAXED);
    in->reap_objs = __atomic_load_n(&c->reap_objs, __ATOMIC_RELAXED);
    // Arrays and lists were read at slightly different times: clamp.
    in->cached_objs = MIN(in->cached_objs, in->active_objs);
    in->active_objs -= in->cached_objs;
}

bool slab_on_lists(struct kmem_cache *c, const void *addr)
{
    struct list_head *heads[] = {&c->node->slabs_full, &c->node->slabs_partial,
                                 &c->node->slabs_free};
    bool found = false;
    spin_lock(&c->node->list_lock);
    c->list_scans++;
    for (size_t h = 0; h < ARRAY_SIZE(heads) && !found; h++) {
        for (struct list_head *pos = heads[h]->next; pos != heads[h]; pos = pos->next) {
            struct slab *s = list_entry(pos, struct slab, list);
            const char *base = s->s_mem - s->colouroff;
            if ((const char *)addr >= base && (const char *)addr < base + (PAGE_SIZE << c->order))
                found = true;
        }
    }
    spin_unlock(&c->node->list_lock);
    return found;
}

void slab_get_totals(struct slab_totals *tot)
{
    memset(tot, 0, sizeof(*tot));
    spin_lock(&chain_lock);
    for (struct list_head *pos = cache_chain.next; pos != &cache_chain; pos = pos->next) {
        struct kmem_cache_info in;
        kmem_cache_get_info(list_entry(pos, struct kmem_cache, next), &in);
        tot->cached_objs += in.cached_objs;
        tot->arrays += in.arrays;
        tot->slab_pages += in.total_slabs << in.order;
    }
    spin_unlock(&chain_lock);
}

void slabinfo(void)
{
    printk("slabinfo - rvslab: active = objects with callers; cached = in per-CPU arrays and the "
           "barn; used = share of a slab's cost in objects; col = colours; barn = full/empty "
           "sheaves there, trades = sheaves taken from it and given to it; refill/flush = "
           "batches moved from and to the slab lists; reaped = slabs given back\n");
    printk("# %-16s %8s %8s %6s %8s %5s %3s %6s %3s : %6s %6s : %5s %5s : %5s %7s : %7s %7s %6s\n",
           "name", "active", "total", "cached", "objsize", "num", "pgs", "used", "col", "limit",
           "batch", "aslab", "slabs", "barn", "trades", "refill", "flush", "reaped");
    spin_lock(&chain_lock);
    for (struct list_head *pos = cache_chain.next; pos != &cache_chain; pos = pos->next) {
        struct kmem_cache_info in;
        kmem_cache_get_info(list_entry(pos, struct kmem_cache, next), &in);
        size_t cost = (PAGE_SIZE << in.order) + in.desc_bytes;
        size_t used = (size_t)in.num * in.size * 1000 / cost; // per mille
        printk("  %-16s %8zu %8zu %6zu %8zu %5u %3u %3zu.%zu%% %3u : %6u %6u : %5zu %5zu : "
               "%2u/%-2u %7llu : %7llu %7llu %6llu\n",
               in.name, in.active_objs, in.total_objs, in.cached_objs, in.object_size, in.num,
               1U << in.order, used / 10, used % 10, in.colour, in.limit, in.batchcount,
               in.active_slabs, in.total_slabs, in.barn_full, in.barn_empty,
               (unsigned long long)(in.barn_gets + in.barn_puts), (unsigned long long)in.refills,
               (unsigned long long)in.flushes, (unsigned long long)in.reaped);
    }
    spin_unlock(&chain_lock);
}
