// Bad frees and the mallinfo family, as a program sees them; for
// bench/preload-check.sh, which runs each mode on glibc and on librvslab.so:
//
//   free_check interior|double|double-big|immediate|stack|global|large|freed-big|realloc
//       one bad free (or realloc) of that kind, then "went on" and whether a
//       block was then handed out twice. A checking malloc stops the program
//       first (abort: SIGABRT) -- glibc does for every kind here.
//   free_check mallinfo
//       mallinfo2's numbers move as blocks come and go, malloc_trim gives
//       memory back, mallopt takes M_CHECK_ACTION: one line, "ok" or what
//       was wrong (the same line on glibc and on librvslab.so).
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int global_int;

// Two blocks of n bytes after the bad free: the same pointer twice means the
// heap was corrupted.
static void went_on(size_t n)
{
    void *x = malloc(n), *y = malloc(n), *z = malloc(n);
    printf("went on; a block handed out twice: %s\n", x == y || y == z || x == z ? "yes" : "no");
}

static int mallinfo_check(void)
{
    enum { N = 1000, SIZE = 1000 };
    static void *v[N];
    struct mallinfo2 a = mallinfo2();
    for (int i = 0; i < N; i++)
        memset(v[i] = malloc(SIZE), 1, SIZE);
    struct mallinfo2 b = mallinfo2();
    if (b.uordblks < a.uordblks + (size_t)N * SIZE)
        return printf("mallinfo_check: in use grew by %zu for %d blocks of %d bytes\n",
                      b.uordblks - a.uordblks, N, SIZE),
               1;
    for (int i = 0; i < N; i++)
        free(v[i]);
    struct mallinfo2 c = mallinfo2();
    if (c.uordblks > b.uordblks - (size_t)N * SIZE / 2)
        return printf("mallinfo_check: in use fell only from %zu to %zu\n", b.uordblks, c.uordblks),
               1;
    char *big = malloc(64 << 20); // a block of its own on either malloc
    memset(big, 1, 64 << 20);
    struct mallinfo2 d = mallinfo2();
    free(big);
    struct mallinfo2 e = mallinfo2();
    if (d.hblks != c.hblks + 1 || d.hblkhd < c.hblkhd + (64 << 20) || e.hblks != c.hblks)
        return printf("mallinfo_check: big blocks %zu -> %zu -> %zu (%zu -> %zu bytes)\n", c.hblks,
                      d.hblks, e.hblks, c.hblkhd, d.hblkhd),
               1;
    // 100 MiB in small blocks, all freed: malloc_trim gives some back.
    static void *w[25600];
    for (int i = 0; i < 25600; i++)
        memset(w[i] = malloc(4000), 1, 4000);
    for (int i = 0; i < 25600; i++)
        free(w[i]);
    int trimmed = malloc_trim(0);
    if (mallopt(M_CHECK_ACTION, 3) != 1)
        return printf("mallinfo_check: mallopt(M_CHECK_ACTION) refused\n"), 1;
    printf("mallinfo_check: ok (in use moves with the blocks, big blocks counted, malloc_trim "
           "%s)\n",
           trimmed ? "gave memory back" : "gave nothing back");
    return 0;
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    if (strcmp(m, "mallinfo") == 0)
        return mallinfo_check();
    size_t n = 100;
    if (strcmp(m, "interior") == 0) {
        char *p = malloc(n);
        free(p + 16);
    } else if (strcmp(m, "double") == 0 || strcmp(m, "double-big") == 0) {
        n = m[6] ? 5000 : 100;
        void *a = malloc(n), *b = malloc(n);
        free(a);
        free(b);
        free(a);
    } else if (strcmp(m, "immediate") == 0) {
        void *a = malloc(n);
        free(a);
        free(a);
    } else if (strcmp(m, "stack") == 0) {
        int on_stack;
        free(&on_stack);
    } else if (strcmp(m, "global") == 0) {
        free(&global_int);
    } else if (strcmp(m, "large") == 0) {
        n = 100000;
        char *p = malloc(n);
        free(p + 8192);
    } else if (strcmp(m, "freed-big") == 0) {
        n = 64 << 20;
        char *p = malloc(n);
        free(p);
        free(p);
    } else if (strcmp(m, "realloc") == 0) {
        char *p = malloc(n), *q = malloc(n);
        free(p);
        free(q);
        p = realloc(p, 2 * n);
        (void)p;
    } else {
        fprintf(stderr, "usage: free_check interior|double|double-big|immediate|stack|global|"
                        "large|freed-big|realloc|mallinfo\n");
        return 2;
    }
    went_on(n);
    return 0;
}
