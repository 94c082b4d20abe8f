// malloc_bench: one harness for every allocator. It calls plain malloc and
// free, so LD_PRELOAD decides whose they are (bench/run.py runs it once per
// allocator, pinned with taskset, and compares).
//
//   malloc_bench [--mem] [--empty | --kmalloc] [--scale F] WORKLOAD...
//
//   hot-S          malloc+free of S bytes, one other S-byte object kept live
//                  (or some allocators retire a page on every free)
//   bK-S           K mallocs of S bytes, then K frees in the same order
//   mix            random 8..1024 B in a working set of 8192 live blocks:
//                  free a random one, allocate its replacement
//   chunk          the rslab "simple-chunk-allocator" bench: sizes 8..16384,
//                  alignment 1..64, ~every 10th step free the 7 oldest blocks,
//                  until 16 MiB are live; ticks per malloc and per free
//   sweep          sizes log-uniform in 1 B..64 KiB (as many blocks of 1 B as
//                  of 32..64 KiB), one in four followed by the free of a
//                  random live block, until 64 MiB are live; then all freed
//   sweep-LO-HI    the same with sizes log-uniform in LO..HI, until 8 MiB
//                  are live: one point of the utilisation-by-size curve
//   regrow         one block grown by realloc in 64 KiB steps to 256 MiB
//   thr-T          T threads in a ring: each mallocs batches of 64 and hands
//                  them to the next thread, which frees them
//   cache-hot-64, cache-bK-64   the same on rvslab's kmem_cache API (64 B)
//
// One op is one malloc plus one free: every workload prints ns per op
// ("RESULT ..."), measured with CLOCK_MONOTONIC around the loop. --mem
// samples memory instead ("MEM ..."); --empty swaps the allocator for a
// stub (the callgrind baseline); --kmalloc calls rvslab's kmalloc/kfree
// (librvslab.so preloaded) instead of malloc/free, without the 16-byte
// rounding malloc needs. Under callgrind each workload's loop is
// dumped as its own part, named after the workload.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_DUMP_STATS_AT(s)
#endif

static double scale = 1.0;
static const char *wname; // the workload being run, for the callgrind part

static long scaled(long n)
{
    long v = (long)((double)n * scale);
    return v > 0 ? v : 1;
}

// The block is really used: its first byte, or for --mem every page of it,
// so the RSS of the allocators measured by RSS counts what a program uses.
static void touch(void *p, size_t size)
{
    if (p == NULL) {
        fprintf(stderr, "bench: %s: allocation failed\n", wname);
        exit(1);
    }
    *(volatile char *)p = 1;
    if (unlikely(mem_mode))
        for (size_t i = 4096; i < size; i += 4096)
            ((volatile char *)p)[i] = 1;
}

// Brackets a timed loop: wall clock, and the callgrind part of this name.
static uint64_t t_start;

static void timed_begin(void)
{
    CALLGRIND_ZERO_STATS;
    CALLGRIND_TOGGLE_COLLECT;
    t_start = now_ns();
}

static double timed_end(long ops)
{
    uint64_t t = now_ns() - t_start;
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS_AT(wname);
    return (double)t / (double)ops;
}

static void result(double ns, long ops)
{
    if (!mem_mode)
        printf("RESULT name=%s ops=%ld ns=%.3f\n", wname, ops, ns);
}

static void hot(const struct ops *o, size_t size, long n)
{
    void *keep = o->alloc(size, 0);
    touch(keep, size);
    for (long i = 0; i < n / 10 + 100; i++) // warm up: caches filled, arrays primed
        o->free(o->alloc(size, 0));
    if (mem_mode) {
        void *p = o->alloc(size, 0);
        touch(p, size);
        mem_end(2 * size);
        o->free(p);
    }
    timed_begin();
    for (long i = 0; i < n; i++) {
        void *p = o->alloc(size, 0);
        touch(p, size);
        o->free(p);
    }
    result(timed_end(n), n);
    o->free(keep);
}

static void batch(const struct ops *o, size_t size, long k, long n)
{
    void **v = bench_map(k * sizeof(void *));
    long rounds = (n + k - 1) / k;
    for (long i = 0; i < k; i++) // warm up one round
        v[i] = o->alloc(size, 0);
    for (long i = 0; i < k; i++)
        o->free(v[i]);
    timed_begin();
    for (long r = 0; r < rounds; r++) {
        for (long i = 0; i < k; i++) {
            v[i] = o->alloc(size, 0);
            touch(v[i], size);
        }
        if (mem_mode && (r == 0 || r == rounds - 1))
            (r == 0 ? mem_sample : mem_end)(k * size);
        for (long i = 0; i < k; i++)
            o->free(v[i]);
    }
    result(timed_end(rounds * k), rounds * k);
}

#define MIX_LIVE  8192
#define MIX_TABLE 65536 // random (slot, size) pairs, made before timing

static void mix(const struct ops *o, long n)
{
    void **slot = bench_map(MIX_LIVE * sizeof(void *));
    size_t *slot_size = bench_map(MIX_LIVE * sizeof(size_t));
    uint32_t *pick = bench_map(MIX_TABLE * sizeof(uint32_t));
    uint64_t seed = 42;
    for (long i = 0; i < MIX_TABLE; i++) // slot in the low 16 bits, size above
        pick[i] = (uint32_t)(rnd(&seed) % MIX_LIVE) | (uint32_t)(8 + rnd(&seed) % 1017) << 16;
    size_t live = 0;
    for (long i = 0; i < MIX_LIVE; i++) {
        slot_size[i] = 8 + rnd(&seed) % 1017;
        live += slot_size[i];
        touch(slot[i] = o->alloc(slot_size[i], 0), slot_size[i]);
    }
    timed_begin();
    for (long i = 0; i < n; i++) {
        uint32_t x = pick[i & (MIX_TABLE - 1)];
        uint32_t s = x & 0xffff, size = x >> 16;
        o->free(slot[s]);
        touch(slot[s] = o->alloc(size, 0), size);
        if (mem_mode) {
            live += size - slot_size[s];
            slot_size[s] = size;
            if ((i & 1023) == 0)
                mem_sample(live);
        }
    }
    result(timed_end(n), n);
    if (mem_mode)
        mem_end(live);
    for (long i = 0; i < MIX_LIVE; i++)
        o->free(slot[i]);
}

#define CHUNK_FIFO (1 << 16) // live blocks in one round, at most
#define CHUNK_MAX  (1 << 20) // samples kept

struct block {
    void *p;
    size_t size;
};

// Rounds of: allocate until `limit` bytes are live (rslab's bench filled a
// 16 MiB heap), freeing the 7 oldest on ~every 10th step; then free the rest.
static void chunk(const struct ops *o, long rounds, size_t limit)
{
    struct block *fifo = bench_map(CHUNK_FIFO * sizeof(*fifo));
    uint64_t *at = bench_map(CHUNK_MAX * sizeof(uint64_t)); // alloc ticks
    uint64_t *ft = bench_map(CHUNK_MAX * sizeof(uint64_t)); // free ticks
    size_t na = 0, nf = 0;
    uint64_t seed = 7, t0;
    timed_begin();
    for (long r = 0; r < rounds; r++) {
        size_t head = 0, tail = 0, live = 0;
        while (live < limit && tail < CHUNK_FIFO && na < CHUNK_MAX && nf + 7 < CHUNK_MAX) {
            size_t size = 8 + rnd(&seed) % 16377;
            size_t align = (size_t)1 << (rnd(&seed) % 7);
            t0 = tick();
            void *p = o->alloc(size, align);
            at[na++] = tick() - t0;
            touch(p, size);
            fifo[tail++] = (struct block){p, size};
            live += size;
            if (tail - head > 10 && rnd(&seed) % 10 == 0) {
                for (int j = 0; j < 7; j++, head++) {
                    t0 = tick();
                    o->free(fifo[head].p);
                    ft[nf++] = tick() - t0;
                    live -= fifo[head].size;
                }
            }
            if (mem_mode && (tail & 255) == 0)
                mem_sample(live);
        }
        if (mem_mode && r == rounds - 1)
            mem_end(live);
        for (; head < tail && nf < CHUNK_MAX; head++) {
            t0 = tick();
            o->free(fifo[head].p);
            ft[nf++] = tick() - t0;
        }
    }
    result(timed_end(na), na);
    if (mem_mode)
        return; // summarise sorts with qsort, which may malloc
    struct dist a = summarise(at, na), f = summarise(ft, nf);
    printf("TICKS name=%s unit=%s allocs=%zu frees=%zu a_med=%.0f a_mean=%.1f a_p99=%.0f "
           "a_max=%.0f f_med=%.0f f_mean=%.1f f_p99=%.0f f_max=%.0f\n",
           wname, tick_unit(), na, nf, a.median, a.mean, a.p99, a.max, f.median, f.mean, f.p99,
           f.max);
}

// One block grown by realloc 64 KiB at a time to `top` (256 MiB at full
// scale), a byte written at its new end each step; one op is one realloc.
// Plain realloc: whoever LD_PRELOAD made the allocator (not --kmalloc).
static void regrow(size_t top)
{
    const size_t step = 64 << 10;
    char *p = NULL;
    long n = 0;
    timed_begin();
    for (size_t size = step; size <= top; size += step, n++) {
        p = realloc(p, size);
        touch(p, 1);
        p[size - 1] = 1;
    }
    result(timed_end(n), n);
    free(p);
}

#define SWEEP_MAX (1 << 20) // live blocks, at most

// Log-uniform in lo..hi: floor(lo * ((hi + 1) / lo)^u), u uniform in [0, 1).
static size_t log_uniform(uint64_t *seed, size_t lo, size_t hi)
{
    double u = (double)(rnd(seed) >> 11) / (double)(1ULL << 53);
    size_t s = (size_t)((double)lo * exp2(u * log2((double)(hi + 1) / (double)lo)));
    return s < lo ? lo : s > hi ? hi : s;
}

// Allocate until `target` bytes are live, then free everything. One
// allocation in four is followed by the free of a random live block: a real
// heap at its peak holds survivors of churn, and the holes they leave (partly
// used slabs or pages, reused by later sizes or not) are part of what it
// costs; a pure fill would leave none.
static void sweep(const struct ops *o, size_t lo, size_t hi, size_t target)
{
    size_t cap = target / lo + 1; // each block holds lo bytes or more
    if (cap > SWEEP_MAX)
        cap = SWEEP_MAX;
    struct block *live = bench_map(cap * sizeof(*live));
    uint64_t seed = 11; // the same sequence for every allocator
    size_t n = 0, bytes = 0;
    long ops = 0;
    timed_begin();
    while (bytes < target && n < cap) {
        size_t size = log_uniform(&seed, lo, hi);
        void *p = o->alloc(size, 0);
        touch(p, size);
        live[n++] = (struct block){p, size};
        bytes += size;
        ops++;
        if (rnd(&seed) % 4 == 0) {
            size_t i = rnd(&seed) % n;
            o->free(live[i].p);
            bytes -= live[i].size;
            live[i] = live[--n];
        }
        if (mem_mode && (ops & 255) == 0)
            mem_sample(bytes);
    }
    if (mem_mode)
        mem_end(bytes);
    for (size_t i = 0; i < n; i++)
        o->free(live[i].p);
    result(timed_end(ops), ops);
}

// A workload's live target: `full` bytes at scale 1, never below 1 MiB.
static size_t scaled_bytes(size_t full)
{
    size_t b = (size_t)scaled((long)full);
    return b > (1 << 20) ? b : 1 << 20;
}

// ---- threads: a ring of producers, each the consumer of the one before ----

#define TB   64 // blocks per batch
#define RING 64 // batches a ring holds

struct ring {
    unsigned head __attribute__((aligned(64))); // batches taken (consumer)
    unsigned tail __attribute__((aligned(64))); // batches put (producer)
    void *slot[RING][TB] __attribute__((aligned(64)));
};

struct worker {
    pthread_t tid;
    const struct ops *o;
    struct ring *in, *out;
    long batches;
    pthread_barrier_t *start;
};

static void *worker(void *arg)
{
    struct worker *w = arg;
    long made = 0, freed = 0;
    uint64_t seed = (uintptr_t)w;
    pthread_barrier_wait(w->start);
    while (made < w->batches || freed < w->batches) {
        bool idle = true;
        struct ring *out = w->out;
        unsigned t = __atomic_load_n(&out->tail, __ATOMIC_RELAXED);
        if (made < w->batches && t - __atomic_load_n(&out->head, __ATOMIC_ACQUIRE) < RING) {
            void **b = out->slot[t % RING];
            for (int i = 0; i < TB; i++) {
                size_t size = 16 + rnd(&seed) % 241;
                touch(b[i] = w->o->alloc(size, 0), size);
            }
            __atomic_store_n(&out->tail, t + 1, __ATOMIC_RELEASE);
            made++;
            idle = false;
        }
        struct ring *in = w->in;
        unsigned h = __atomic_load_n(&in->head, __ATOMIC_RELAXED);
        if (h != __atomic_load_n(&in->tail, __ATOMIC_ACQUIRE)) {
            void **b = in->slot[h % RING];
            for (int i = 0; i < TB; i++)
                w->o->free(b[i]);
            __atomic_store_n(&in->head, h + 1, __ATOMIC_RELEASE);
            freed++;
            idle = false;
        }
        if (idle)
            sched_yield(); // more threads than cores must not starve the one we wait for
    }
    return NULL;
}

static void *nothing(void *arg)
{
    return arg;
}

// glibc mallocs a new thread's TLS vector and keeps it with the thread's
// stack in its cache after the join: start and join the threads once before
// measuring, so those blocks are not taken for the allocator's.
static void threads_warm(int nthr)
{
    pthread_t *t = bench_map(nthr * sizeof(pthread_t));
    for (int i = 0; i < nthr; i++)
        if (pthread_create(&t[i], NULL, nothing, NULL) != 0) {
            perror("bench: pthread_create");
            exit(1);
        }
    for (int i = 0; i < nthr; i++)
        pthread_join(t[i], NULL);
}

static void threads(const struct ops *o, int nthr, long n)
{
    struct ring *rings = bench_map(nthr * sizeof(struct ring));
    struct worker *w = bench_map(nthr * sizeof(struct worker));
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, nthr + 1);
    long batches = (n + TB - 1) / TB;
    for (int i = 0; i < nthr; i++) {
        w[i] = (struct worker){0, o, &rings[i], &rings[(i + 1) % nthr], batches, &start};
        if (pthread_create(&w[i].tid, NULL, worker, &w[i]) != 0) {
            perror("bench: pthread_create");
            exit(1);
        }
    }
    timed_begin();
    pthread_barrier_wait(&start);
    for (int i = 0; i < nthr; i++)
        pthread_join(w[i].tid, NULL);
    long ops = nthr * batches * TB;
    result(timed_end(ops), ops); // wall time over all threads' ops
    pthread_barrier_destroy(&start);
}

static int run(const char *name, const struct ops *o)
{
    long k;
    size_t s, hi;
    int t, used = 0;
    wname = name;
    if (strncmp(name, "cache-", 6) == 0) {
        if (o == &empty_ops)
            name += 6; // the baseline of a cache loop is the same loop
        else if (cache_ops_setup())
            o = &cache_ops, name += 6;
        else
            return 0; // not rvslab: nothing to measure
    }
    if (sscanf(name, "thr-%d%n", &t, &used) == 1 && !name[used] && t > 0)
        threads_warm(t);
    if (mem_mode)
        mem_begin();
    if (sscanf(name, "hot-%zu%n", &s, &used) == 1 && !name[used])
        hot(o, s, scaled(2000000));
    else if (sscanf(name, "b%ld-%zu%n", &k, &s, &used) == 2 && !name[used] && k > 0)
        batch(o, s, k, scaled(2000000));
    else if (strcmp(name, "mix") == 0)
        mix(o, scaled(2000000));
    else if (strcmp(name, "chunk") == 0)
        chunk(o, scaled(10), scale < 0.005 ? 1 << 20 : 16 << 20);
    else if (strcmp(name, "sweep") == 0)
        sweep(o, 1, 64 << 10, scaled_bytes(64 << 20));
    else if (sscanf(name, "sweep-%zu-%zu%n", &s, &hi, &used) == 2 && !name[used] && s > 0 &&
             s <= hi && hi <= 64 << 10)
        sweep(o, s, hi, scaled_bytes(8 << 20));
    else if (sscanf(name, "thr-%d%n", &t, &used) == 1 && !name[used] && t > 0)
        threads(o, t, scaled(1000000));
    else if (strcmp(name, "regrow") == 0 && o != &empty_ops)
        regrow(scaled_bytes((size_t)256 << 20));
    else if (strcmp(name, "regrow") == 0)
        result(0, 1); // no baseline: realloc is the whole loop
    else {
        fprintf(stderr, "bench: unknown workload %s\n", name);
        return 2;
    }
    if (mem_mode)
        mem_report(wname);
    return 0;
}

int main(int argc, char **argv)
{
    const struct ops *o = &libc_ops;
    int i = 1, rc = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--mem") == 0)
            mem_mode = true;
        else if (strcmp(argv[i], "--empty") == 0)
            o = &empty_ops;
        else if (strcmp(argv[i], "--kmalloc") == 0)
            o = &kmalloc_ops;
        else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc)
            scale = atof(argv[++i]);
        else
            break;
    }
    if (i == argc || scale <= 0) {
        fprintf(stderr,
                "usage: malloc_bench [--mem] [--empty | --kmalloc] [--scale F] WORKLOAD...\n");
        return 2;
    }
    if (o == &kmalloc_ops && !kmalloc_ops_setup()) {
        fprintf(stderr, "bench: --kmalloc needs LD_PRELOAD=librvslab.so (rvslab_kmalloc)\n");
        return 2;
    }
    // Say whose malloc this is: a preload that fails to load is only a warning.
    if (dlsym(RTLD_DEFAULT, "rvslab_held_bytes"))
        printf("ALLOCATOR rvslab%s\n", o == &kmalloc_ops ? " kmalloc" : "");
    for (; i < argc && rc == 0; i++)
        rc = run(argv[i], o);
    return rc;
}
