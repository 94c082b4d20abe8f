// The reaper: what a cache keeps beyond what it uses goes back, a little
// at a time (Linux SLAB's cache_reap; Bonwick's depot working set).
//
// Every cpu calls slab_reap() once an interval (the kernel: from its tick).
// A call visits each cache:
//
//  - this cpu's array of it (reap_local, in slab.c): left alone if a slow
//    path touched it in the interval, else a batch of its coldest objects
//    goes back to the slabs, and an empty pair is given back itself;
//  - once a round (the first cpu to get there), the cache's node: the
//    barn gives back as many full and as many empty sheaves as it held at
//    its low point in the interval -- those no cpu needed -- and the free
//    list as many empty slabs as it held at its low point. free_limit, how
//    many empty slabs a free may leave on the free list, becomes what the
//    cache took off that list or made in the interval (never less than
//    kmem_cache_create's amount): a cache that cycles through a few hundred
//    large objects stops making and freeing slabs after one interval, and
//    one that stops keeps none a round or two later.
//
// The tick calls it in an interrupt handler, which may take any lock
// (lib/platform.h, rule 2) and which interrupted no per-CPU section.

#include "slab_internal.h"

unsigned int slab_reap_ms;    // the platform sets it (the kernel: SLAB_REAP_MS), 0: off
static uint64_t rounds[NCPU]; // reaper calls of each cpu, written by that cpu alone
static uint64_t last_round;   // the latest round whose node trims were done, under chain_lock

// c's node: the barn and the free list trimmed to the working set.
static void reap_node(struct kmem_cache *c)
{
    struct kmem_cache_node *n = c->node;
    barn_trim(c, false);
    struct list_head release;
    INIT_LIST_HEAD(&release);
    spin_lock(&n->list_lock);
    c->lock_count++;
    free_slabs_doom(c, n->low_free_slabs, &release); // none was needed all interval
    c->free_limit = (unsigned int)MAX((size_t)c->free_limit_min, MIN(n->slabs_needed, UINT32_MAX));
    n->slabs_needed = 0;
    n->low_free_slabs = n->nr_free_slabs;
    spin_unlock(&n->list_lock);
    slabs_release(c, &release);
}

static bool chain_take(bool wait)
{
    if (wait)
        spin_lock(&chain_lock);
    return wait || spin_trylock(&chain_lock);
}

// This cpu's arrays first, in its section (entered before chain_lock, as
// every cross-call that walks the caches does), then -- the first cpu of
// the round -- every cache's node, out of the section.
bool slab_reap(bool wait)
{
    if (!slab_is_up())
        return false;
    unsigned long flags = local_lock_irqsave();
    if (!chain_take(wait)) {
        local_unlock_irqrestore(flags);
        return false;
    }
    uint64_t round = ++rounds[cpu_id()];
    bool first = round > last_round;
    if (first)
        WRITE_ONCE(last_round, round);
    for (struct list_head *pos = cache_chain.next; pos != &cache_chain; pos = pos->next)
        reap_local(list_entry(pos, struct kmem_cache, next));
    spin_unlock(&chain_lock);
    local_unlock_irqrestore(flags);
    if (!first)
        return true;
    if (!chain_take(wait))
        return true; // the nodes wait for the next round
    for (struct list_head *pos = cache_chain.next; pos != &cache_chain; pos = pos->next)
        reap_node(list_entry(pos, struct kmem_cache, next));
    spin_unlock(&chain_lock);
    return true;
}

uint64_t slab_reap_rounds(void)
{
    return READ_ONCE(last_round);
}
