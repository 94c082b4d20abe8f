// Helpers for malloc_bench: allocator ops, timers, memory probes, stats.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "bench.h"

// ---- the allocators ----

// Like Rust's System allocator: malloc while it already aligns enough.
static void *libc_alloc(size_t size, size_t align)
{
    if (align <= 16)
        return malloc(size);
    void *p;
    return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

static void libc_free(void *p)
{
    free(p);
}

const struct ops libc_ops = {"malloc", libc_alloc, libc_free};

static char dummy[16384] __attribute__((aligned(64)));

static void *empty_alloc(size_t size, size_t align)
{
    (void)size, (void)align;
    return dummy;
}

static void empty_free(void *p)
{
    (void)p;
}

const struct ops empty_ops = {"empty", empty_alloc, empty_free};

// rvslab's named caches, exported by librvslab.so under its own prefix.
static void *cache;
static void *(*cache_alloc_fn)(void *cache);
static void (*cache_free_fn)(void *cache, void *p);

static void *cache_alloc(size_t size, size_t align)
{
    (void)size, (void)align;
    return cache_alloc_fn(cache);
}

static void cache_free(void *p)
{
    cache_free_fn(cache, p);
}

const struct ops cache_ops = {"kmem_cache", cache_alloc, cache_free};

bool cache_ops_setup(void)
{
    if (cache) // made once per process: names are unique
        return true;
    void *(*create)(const char *, size_t, size_t) = dlsym(RTLD_DEFAULT, "rvslab_cache_create");
    cache_alloc_fn = dlsym(RTLD_DEFAULT, "rvslab_cache_alloc");
    cache_free_fn = dlsym(RTLD_DEFAULT, "rvslab_cache_free");
    if (!create || !cache_alloc_fn || !cache_free_fn)
        return false;
    cache = create("bench-64", 64, 0);
    return cache != NULL;
}

// rvslab's kmalloc as a kernel caller uses it: exactly the size asked for,
// kmalloc_aligned only when the natural 8-byte alignment is not enough.
// librvslab.so's malloc instead rounds to 16 (malloc's alignment on x86-64),
// which hides kmalloc's smaller classes.
static void *(*kmalloc_fn)(size_t size);
static void *(*kmalloc_aligned_fn)(size_t size, size_t align);
static void (*kfree_fn)(void *p);

static void *kmalloc_alloc(size_t size, size_t align)
{
    return align <= 8 ? kmalloc_fn(size) : kmalloc_aligned_fn(size, align);
}

static void kmalloc_free(void *p)
{
    kfree_fn(p);
}

const struct ops kmalloc_ops = {"kmalloc", kmalloc_alloc, kmalloc_free};

bool kmalloc_ops_setup(void)
{
    kmalloc_fn = dlsym(RTLD_DEFAULT, "rvslab_kmalloc");
    kmalloc_aligned_fn = dlsym(RTLD_DEFAULT, "rvslab_kmalloc_aligned");
    kfree_fn = dlsym(RTLD_DEFAULT, "rvslab_kfree");
    return kmalloc_fn && kmalloc_aligned_fn && kfree_fn;
}

// ---- time ----

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

#if defined(__x86_64__)
uint64_t tick(void)
{
    // lfence: earlier instructions finish first, as rdtscp would make them
    // (rslab's bench used rdtscp; valgrind does not know it, rdtsc it does)
    __builtin_ia32_lfence();
    return __rdtsc();
}

const char *tick_unit(void)
{
    return "tsc";
}
#else
uint64_t tick(void)
{
    return now_ns();
}

const char *tick_unit(void)
{
    return "ns";
}
#endif

// ---- memory ----

bool mem_mode;
static size_t (*rvslab_held)(void);
static size_t (*rvslab_reclaim)(void);
static size_t base, req_peak, held_peak, req_end, held_end;
static size_t held_now(void);

// The harness's own arrays: if they land in the RSS, they go in the baseline.
void *bench_map(size_t bytes)
{
    size_t before = mem_mode ? held_now() : 0;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("bench: mmap");
        exit(1);
    }
    memset(p, 0, bytes);
    if (mem_mode)
        base += held_now() - before;
    return p;
}

// Resident bytes from /proc/self/statm, read without stdio (no malloc).
static size_t rss_bytes(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *s = strchr(buf, ' ');
    return s ? strtoull(s + 1, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

static size_t held_now(void)
{
    return rvslab_held ? rvslab_held() : rss_bytes();
}

void mem_begin(void)
{
    rvslab_held = (size_t(*)(void))dlsym(RTLD_DEFAULT, "rvslab_held_bytes");
    rvslab_reclaim = (size_t(*)(void))dlsym(RTLD_DEFAULT, "rvslab_reclaim");
    base = held_now();
    req_peak = held_peak = req_end = held_end = 0;
}

static size_t held_delta(void)
{
    size_t h = held_now();
    return h > base ? h - base : 0;
}

void mem_sample(size_t req_live)
{
    size_t h = held_delta();
    if (h > held_peak)
        held_peak = h;
    if (req_live > req_peak)
        req_peak = req_live;
}

void mem_end(size_t req_live)
{
    mem_sample(req_live);
    req_end = req_live;
    held_end = held_delta();
}

// Call after the workload freed everything: for rvslab, reclaim first, and
// what is left must be nothing.
void mem_report(const char *name)
{
    if (rvslab_reclaim)
        rvslab_reclaim();
    size_t after = held_delta();
    printf("MEM name=%s probe=%s req_peak=%zu held_peak=%zu req_end=%zu held_end=%zu "
           "held_after=%zu\n",
           name, rvslab_held ? "frames" : "rss", req_peak, held_peak, req_end, held_end, after);
}

// ---- statistics ----

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// Sorting allocates in glibc's qsort; it runs after the timed part.
struct dist summarise(uint64_t *v, size_t n)
{
    struct dist d = {0, 0, 0, 0};
    if (n == 0)
        return d;
    qsort(v, n, sizeof(*v), cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)v[i];
    d.median = (double)v[n / 2];
    d.mean = sum / (double)n;
    d.p99 = (double)v[(size_t)((double)(n - 1) * 0.99)];
    d.max = (double)v[n - 1];
    return d;
}
