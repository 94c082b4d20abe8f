// The heap as a program sees it, one property per mode; each prints one line
// that bench/preload-check.sh compares between glibc and librvslab.so (the
// start-up RSS it compares as numbers):
//
//   heap_check grow    2 GiB live in blocks of 16 B..1 MiB: more than the
//                      old fixed 1 GiB heap held (skipped on a small machine)
//   heap_check limit   malloc until NULL (run under ulimit -v): ENOMEM at the
//                      limit, and malloc works again once it is all freed
//   heap_check fill N  KiB malloc gives in blocks of N bytes before it says
//                      no (run under ulimit -v)
//   heap_check rss     resident KiB after the first malloc (start-up cost)
//   heap_check free    resident KiB after 400,000 blocks of 1000 B (400 MB)
//                      were allocated, used and all freed: what the
//                      allocator kept
//   heap_check realloc one block grown from 64 KiB to 256 MiB in 64 KiB
//                      steps, its bytes checked: prints how many reallocs
//                      copied it (librvslab.so's count; "?" elsewhere)
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static long meminfo_kib(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, key, n) == 0)
            v = strtol(line + n, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

// Resident KiB: all of it, or only the anonymous part (without the pages
// of mapped files such as libc's code, whose count moves run to run with
// the page cache by a few hundred KiB, whatever the malloc).
static long rss_kib_of(int anon)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, rss = 0, file = 0;
    if (f) {
        if (fscanf(f, "%ld %ld %ld", &size, &rss, &file) != 3)
            rss = file = 0;
        fclose(f);
    }
    return (anon ? rss - file : rss) * (sysconf(_SC_PAGESIZE) / 1024);
}

static long rss_kib(void)
{
    return rss_kib_of(0);
}

// A list of blocks, linked through their first word.
static void free_all(void *head)
{
    while (head) {
        void *next = *(void **)head;
        free(head);
        head = next;
    }
}

static int grow(void)
{
    const size_t target = (size_t)2 << 30; // 2 GiB, as the perl hash of the issue needs
    if (meminfo_kib("MemAvailable:") < (long)(4 * target >> 10)) {
        printf("heap_check grow: skipped, less than 8 GiB available\n");
        return 0;
    }
    void *head = NULL;
    size_t live = 0, blocks = 0;
    uint64_t x = 88172645463325252ULL;
    while (live < target) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t size = (size_t)16 << (x % 17); // 16 B .. 1 MiB
        void **p = malloc(size);
        if (p == NULL) {
            printf("heap_check grow: malloc(%zu) failed after %zu MiB\n", size, live >> 20);
            free_all(head);
            return 1;
        }
        for (size_t b = 0; b < size; b += 4096) // every page in use, as a real program's would be
            ((char *)p)[b] = 1;
        *p = head;
        head = p;
        live += size;
        blocks++;
    }
    free_all(head);
    printf("heap_check grow: 2 GiB live in blocks of 16 B..1 MiB, all allocated\n");
    return 0;
}

// 1 MiB blocks until malloc fails: how many MiB it gave.
// Blocks of `size` bytes until malloc says no; returns how many.
static size_t fill_with(void **head, size_t size)
{
    size_t n = 0;
    for (;;) {
        void **p = malloc(size);
        if (p == NULL)
            return n;
        *p = *head;
        *head = p;
        n++;
    }
}

static size_t fill(void **head) // MiB, in 1 MiB blocks
{
    return fill_with(head, 1 << 20);
}

static int limit(void)
{
    void *head = NULL;
    size_t mib = fill(&head);
    int enomem = errno == ENOMEM;
    free_all(head);
    void *q = malloc(100);
    printf("heap_check limit: %s at the limit (%s), malloc %s after freeing it all\n",
           enomem ? "ENOMEM" : "another errno", mib >= 100 ? "over 100 MiB first" : "too soon",
           q ? "works" : "fails");
    free(q);
    return !(enomem && mib >= 100 && q);
}

static int regrow(void)
{
    const size_t step = 64 << 10, top = (size_t)256 << 20;
    unsigned char *p = NULL;
    for (size_t size = step; size <= top; size += step) {
        unsigned char *q = realloc(p, size);
        if (q == NULL ||
            (p && (q[0] != 0x5a || q[size - step - 1] != (unsigned char)(size >> 16)))) {
            printf("heap_check realloc: failed or lost bytes at %zu\n", size);
            return 1;
        }
        q[0] = 0x5a;
        q[size - 1] = (unsigned char)((size + step) >> 16); // what the next step checks
        p = q;
    }
    free(p);
    unsigned long (*copies)(void) =
        (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "rvslab_realloc_copies");
    if (copies)
        printf("%lu\n", copies());
    else
        printf("?\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "grow") == 0)
        return grow();
    if (strcmp(mode, "limit") == 0)
        return limit();
    if (strcmp(mode, "free") == 0 || strcmp(mode, "free-anon") == 0) {
        enum { N = 400000 };
        static void *p[N];
        for (int i = 0; i < N; i++)
            if ((p[i] = malloc(1000)) != NULL)
                memset(p[i], 1, 1000);
        for (int i = 0; i < N; i++)
            free(p[i]);
        printf("%ld\n", rss_kib_of(strcmp(mode, "free-anon") == 0));
        return 0;
    }
    if (strcmp(mode, "cap") == 0) { // how much a capped heap (RVSLAB_HEAP_MB) gives
        void *head = NULL;
        printf("%zu\n", fill(&head));
        free_all(head);
        return 0;
    }
    if (strcmp(mode, "fill") == 0 && argc > 2) { // KiB in blocks of argv[2] bytes
        void *head = NULL;
        size_t size = strtoul(argv[2], NULL, 10);
        printf("%zu\n", fill_with(&head, size) * size >> 10);
        free_all(head);
        return 0;
    }
    if (strcmp(mode, "realloc") == 0)
        return regrow();
    if (strcmp(mode, "rounds") == 0) { // page faults of 400 rounds of 1024 x 256 B, once warm
        enum { N = 1024, ROUNDS = 400, WARM = 10 };
        static void *p[N];
        struct rusage ru;
        long before = 0;
        for (int r = 0; r < WARM + ROUNDS; r++) {
            if (r == WARM && getrusage(RUSAGE_SELF, &ru) == 0)
                before = ru.ru_minflt;
            for (int i = 0; i < N; i++)
                if ((p[i] = malloc(256)) != NULL)
                    memset(p[i], r, 256);
            for (int i = 0; i < N; i++)
                free(p[i]);
        }
        getrusage(RUSAGE_SELF, &ru);
        printf("%ld\n", ru.ru_minflt - before);
        return 0;
    }
    if (strcmp(mode, "rss") == 0) {
        free(malloc(1));
        printf("%ld\n", rss_kib());
        return 0;
    }
    fprintf(stderr,
            "usage: heap_check grow|limit|cap|fill SIZE|rss|free|free-anon|realloc|rounds\n");
    return 2;
}
