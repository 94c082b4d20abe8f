// A buddy zone whose first and last frames are not aligned to the largest
// block. The kernel's zone is whatever RAM the device tree reports, so its
// edges can fall anywhere; the host build can put them anywhere on purpose.
// Every frame must be usable, every block naturally aligned, and nothing may
// merge past either edge. Host only: it re-initialises the buddy allocator
// over a part of the host "RAM", then sets the runner's zone and slab layer
// up again.
#include "host.h"
#include "lib/ktest.h"
#include "mm/buddy.h"
#include "mm/slab.h"

// Take every block of `order` the zone has; each must lie inside the zone,
// aligned to its size. Returns how many, all given back.
static unsigned long take_all(struct ktest *t, unsigned order, uintptr_t lo, uintptr_t hi)
{
    void *list = NULL, *p;
    unsigned long n = 0;
    while ((p = alloc_pages(order)) != NULL) {
        uintptr_t a = (uintptr_t)p, bytes = PAGE_SIZE << order;
        if (a < lo || a + bytes > hi || (a & (bytes - 1)))
            ktest_fail(t, __FILE__, __LINE__, "order %u block %p outside [%p, %p) or unaligned",
                       order, p, (void *)lo, (void *)hi);
        *(void **)p = list;
        list = p;
        n++;
    }
    while (list) {
        p = *(void **)list;
        free_pages(list, order);
        list = p;
    }
    return n;
}

KTEST(buddy_zone, unaligned_edges)
{
    static const struct {
        unsigned lead, tail; // frames cut off the aligned region at each end
    } cases[] = {{1, 1}, {3, 5}, {17, 4095}, {4095, 1}, {1234, 777}, {2048, 2048}};
    const size_t span = 32UL << 20;
    ASSERT(t, host_mem_bytes >= span);
    reclaim_hook_t old = buddy_set_reclaim_hook(NULL); // no slab layer on this zone
    uintptr_t base = host_ram_init(host_mem_bytes);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uintptr_t lo = base + cases[i].lead * PAGE_SIZE;
        uintptr_t hi = base + span - cases[i].tail * PAGE_SIZE;
        ASSERT_EQ(t, buddy_init(lo, hi - lo, NULL, 0), 0);
        size_t free0 = nr_free_pages();
        EXPECT_EQ(t, free0, nr_managed_pages());
        EXPECT_EQ(t, buddy_validate(), 0);
        // mem_map takes the first frames it needs; every other frame is usable.
        size_t map = (((hi - lo) / PAGE_SIZE) * sizeof(struct page) + PAGE_SIZE - 1) / PAGE_SIZE;
        EXPECT_EQ(t, free0 + map, (hi - lo) / PAGE_SIZE);
        EXPECT_EQ(t, take_all(t, 0, lo, hi), free0);
        for (unsigned o = 1; o <= MAX_ORDER; o++)
            take_all(t, o, lo, hi); // in the zone and aligned, or a report
        EXPECT_EQ(t, buddy_validate(), 0); // no block runs past the zone's end
        EXPECT_EQ(t, nr_free_pages(), free0);
    }
    host_ram_init(host_mem_bytes); // the runner's zone and slab layer, as main made them
    EXPECT_EQ(t, slab_init(PAGE_SIZE, 64), 0);
    buddy_set_reclaim_hook(old);
}
