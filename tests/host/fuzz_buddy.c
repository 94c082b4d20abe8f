// Model-based fuzzing of the buddy allocator. Each input is a program of
// alloc/free operations on a fresh 8 MiB zone; every result is checked
// against a bitmap model of which frames are held:
//   - a block lies in RAM, outside the firmware region, and overlaps nothing held;
//   - alloc_pages(GFP_KERNEL, order) is aligned to its order;
//   - NULL only when the model has no free naturally aligned run of that size
//     (a buddy allocator with complete merging always finds one);
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

static void take(void *p, size_t n, unsigned order, bool aligned)
{
    size_t idx = ((uintptr_t)p - base) >> PAGE_SHIFT;
    if (p == NULL) {
        check(order > MAX_ORDER || !model_has_free_run(order));
        return;
    }
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

    for (size_t k = 0; k + 1 < size; k += 2) {
        uint8_t op = data[k], arg = data[k + 1];
        switch (op % 5) {
        case 0: { // alloc_pages
            unsigned order = arg % (MAX_ORDER + 2);
            take(alloc_pages(GFP_KERNEL, order), 1UL << order, order, true);
            break;
        }
        case 1: { // alloc_frames, exact
            size_t n = 1 + arg % 80;
            take(alloc_frames(GFP_KERNEL, n), n, order_for(n), false);
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
                void *q = alloc_pages(GFP_KERNEL, 0);
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
