// Model-based fuzzing of the buddy allocator. Each input is a program of
// alloc/free operations on a fresh 8 MiB zone; every result is checked
// against a bitmap model of which frames are held:
//   - a block lies in RAM, outside the firmware region, and overlaps nothing held;
//   - alloc_pages(gfp, order) is aligned to its order;
//   - NULL only when the model has no free naturally aligned run of that size
//     (a buddy allocator with complete merging always finds one), or when
//     taking it would leave fewer free frames than the request's watermark
//     (min for GFP_KERNEL and GFP_NOWAIT, min/4 for GFP_ATOMIC, none for
//     __GFP_MEMALLOC); and a block handed out always left that many;
//   - bad frees are refused and change nothing;
//   - free counts always match, and after freeing everything the free lists
//     are exactly those of the start.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "mm/buddy.h"

#define RAM_SIZE (8UL << 20)
#define NFRAMES  (RAM_SIZE >> PAGE_SHIFT)
#define HELD     256

static uintptr_t base;
static uint8_t used[NFRAMES]; // 1 = held by a live allocation (or firmware)
static struct {
    void *p;
    size_t n;
} held[HELD];
static int nheld;

static void check(int cond)
{
    if (!cond)
        abort();
}

static unsigned order_for(size_t n)
{
    unsigned o = 0;
    while ((1UL << o) < n)
        o++;
    return o;
}

static bool model_has_free_run(unsigned order)
{
    size_t len = 1UL << order;
    for (size_t i = 0; i + len <= NFRAMES; i += len) {
        size_t j = 0;
        while (j < len && !used[i + j])
            j++;
        if (j == len)
            return true;
    }
    return false;
}

static const gfp_t gfps[] = {GFP_KERNEL, GFP_NOWAIT, GFP_ATOMIC, __GFP_MEMALLOC};
static size_t floor_of[4]; // free frames each of gfps[] must leave

static size_t model_free(void);

// p: what alloc_*(gfps[g], n) returned, when the model had `had` free frames.
static void take(void *p, size_t n, unsigned order, bool aligned, int g, size_t had)
{
    size_t idx = ((uintptr_t)p - base) >> PAGE_SHIFT;
    if (p == NULL) {
        check(order > MAX_ORDER || !model_has_free_run(order) || had < n + floor_of[g]);
        return;
    }
    check(had >= n + floor_of[g]);
    check(((uintptr_t)p & (PAGE_SIZE - 1)) == 0 && (uintptr_t)p >= base);
    check(idx + n <= NFRAMES);
    if (aligned)
        check((idx & ((1UL << order) - 1)) == 0);
    for (size_t i = 0; i < n; i++) {
        check(!used[idx + i]);
        used[idx + i] = 1;
    }
    memset(p, 0xa5, n * PAGE_SIZE); // ASan: the frames must be unpoisoned now
    if (nheld < HELD)
        held[nheld++].p = p, held[nheld - 1].n = n;
    else
        check(free_frames(p, n) == 0), memset(&used[idx], 0, n);
}

static void give_back(int i)
{
    size_t idx = ((uintptr_t)held[i].p - base) >> PAGE_SHIFT;
    check(free_frames(held[i].p, held[i].n) == 0);
    memset(&used[idx], 0, held[i].n);
    held[i] = held[--nheld];
}

static size_t model_free(void)
{
    size_t n = 0;
    for (size_t i = 0; i < NFRAMES; i++)
        n += !used[i];
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    host_quiet = true; // bad frees are expected here; their reports would slow the fuzzer
    base = host_ram_init(RAM_SIZE);
    size_t start_free = nr_free_pages(), start_count[MAX_ORDER + 1], count[MAX_ORDER + 1];
    buddy_free_counts(start_count);
    // The model: firmware (512 KiB) and mem_map are not ours to take.
    memset(used, 1, sizeof(used));
    for (size_t i = 0; i < NFRAMES; i++)
        if (!(page_flags(pfn_to_page((base >> PAGE_SHIFT) + i)) & PG_reserved))
            used[i] = 0;
    check(model_free() == start_free);
    nheld = 0;
    struct buddy_watermarks w;
    buddy_get_watermarks(&w);
    check(w.min > 0 && w.atomic == w.min / 4);
    floor_of[0] = floor_of[1] = w.min, floor_of[2] = w.atomic, floor_of[3] = 0;

    for (size_t k = 0; k + 1 < size; k += 2) {
        uint8_t op = data[k], arg = data[k + 1];
        int g = (op / 5) % 4; // which gfp
        switch (op % 5) {
        case 0: { // alloc_pages
            unsigned order = arg % (MAX_ORDER + 2);
            size_t had = model_free();
            take(alloc_pages(gfps[g] | __GFP_NOWARN, order), 1UL << order, order, true, g, had);
            break;
        }
        case 1: { // alloc_frames, exact
            size_t n = 1 + arg % 80;
            size_t had = model_free();
            take(alloc_frames(gfps[g] | __GFP_NOWARN, n), n, order_for(n), false, g, had);
            break;
        }
        case 2: // free a held block
        case 3:
            if (nheld)
                give_back(arg % nheld);
            break;
        case 4: { // a bad free: must be refused and change nothing
            size_t before = nr_free_pages();
            char *p = nheld ? held[arg % nheld].p : (char *)base;
            size_t n = nheld ? held[arg % nheld].n : 1;
            int r;
            switch (arg % 4) {
            case 0:
                r = free_frames(p, n + 1);
                break; // wrong size
            case 1:
                r = n > 1 ? free_frames(p + PAGE_SIZE, 1) : free_frames(p + 1, n);
                break;
            case 2:
                r = free_frames((void *)base, 1);
                break; // firmware
            default: { // double free
                void *q = alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0);
                if (q == NULL)
                    continue;
                check(free_pages(q, 0) == 0);
                r = free_pages(q, 0);
            }
            }
            check(r != 0 && nr_free_pages() == before);
            break;
        }
        }
        check(nr_free_pages() == model_free());
    }
    while (nheld)
        give_back(nheld - 1);
    buddy_free_counts(count);
    check(nr_free_pages() == start_free);
    check(memcmp(count, start_count, sizeof(count)) == 0);
    check(buddy_validate() == 0);
    return 0;
}
