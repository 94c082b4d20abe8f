// A region of host memory that plays the part of RAM for mm/.
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "host.h"
#include "mm/buddy.h"

uintptr_t host_ram_init(size_t size)
{
    static uintptr_t base;
    static size_t have;
    size_t align = PAGE_SIZE << MAX_ORDER;
    if (have < size) { // reuse the mapping across calls (fuzzers start over per input)
        void *p =
            mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            abort();
        }
        base = ALIGN_UP((uintptr_t)p, align);
        have = size;
    }
    // Like OpenSBI's region at the bottom of RAM: the allocator must skip it.
    struct mem_region firmware = {base, 512 * 1024};
    if (buddy_init(base, size, &firmware, 1) != 0)
        abort();
    return base;
}
