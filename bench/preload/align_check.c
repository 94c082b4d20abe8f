// Every block the malloc family returns is aligned as C and POSIX promise
// (alignments 8 B..1 MiB, sizes 1 B..2 MiB):
// malloc/calloc/realloc to 16 bytes above 8 bytes (max_align_t on x86-64;
// 8 bytes cannot hold a 16-aligned type), posix_memalign/aligned_alloc/
// memalign to what was asked. Prints one line; bench/preload-check.sh runs
// it on glibc and on librvslab.so and requires the same line.
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long checked, bad;

static void check(void *p, size_t size, size_t align, const char *how)
{
    checked++;
    if (p == NULL || (uintptr_t)p % align != 0) {
        if (bad++ < 5)
            printf("%s(%zu): %p is not %zu-aligned\n", how, size, p, align);
        return;
    }
    memset(p, 0x5a, size); // the whole block is there
}

static size_t want(size_t size)
{
    return size > 8 ? 16 : 8;
}

int main(void)
{
    static void *keep[4096];
    size_t n = 0;
    for (size_t size = 1; size <= 70000; size += size < 4096 ? 1 : 61) {
        void *p = malloc(size);
        check(p, size, want(size), "malloc");
        void *q = calloc(1, size);
        check(q, size, want(size), "calloc");
        p = realloc(p, size + 5);
        check(p, size + 5, want(size + 5), "realloc");
        free(q);
        if (n < 4096) // some stay live, so blocks come from many slabs
            keep[n++] = p;
        else
            free(p);
    }
    // Every alignment from 8 bytes to 1 MiB, with sizes from 1 byte to 2 MiB:
    // every 7th up to 5000, every 61st up to 33000, then around the frame and
    // the largest class.
    static const size_t edges[] = {4095,  4096,   4097,    32767,         32768,     32769,
                                   65536, 100000, 1 << 20, (1 << 20) + 1, (3 << 19), 2 << 20};
    static size_t sizes[1400];
    size_t ns = 0;
    for (size_t size = 1; size <= 5000; size += 7)
        sizes[ns++] = size;
    for (size_t size = 5001; size <= 33000; size += 61) // every class up to 32 KiB
        sizes[ns++] = size;
    for (size_t k = 0; k < sizeof(edges) / sizeof(edges[0]); k++)
        sizes[ns++] = edges[k];
    for (size_t a = sizeof(void *); a <= (1 << 20); a *= 2)
        for (size_t k = 0; k < ns; k++) {
            size_t size = sizes[k];
            void *p;
            if (posix_memalign(&p, a, size) != 0)
                p = NULL;
            check(p, size, a, "posix_memalign");
            free(p);
            p = memalign(a, size);
            check(p, size, a, "memalign");
            free(p);
            p = aligned_alloc(a, (size + a - 1) / a * a);
            check(p, size, a, "aligned_alloc");
            free(p);
        }
    while (n)
        free(keep[--n]);
    printf("align_check: %s\n", bad ? "MISALIGNED BLOCKS" : "every block aligned as promised");
    return bad != 0;
}
