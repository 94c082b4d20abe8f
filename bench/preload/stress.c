// A threaded malloc stress, for any allocator (run it with LD_PRELOAD):
//
//   stress THREADS OPS [ROUNDS] [MAXSIZE]
//
// ROUNDS times (3 by default), THREADS threads are created and joined. Each
// does OPS random operations on its own table of blocks: malloc, free or
// realloc, sizes log-uniform from 1 byte to MAXSIZE (1 MiB by default).
// Every block holds a pattern -- a tag word (the block's serial number and
// size) at its start, its end and every 512 bytes between, so every page of
// it is touched -- and the pattern is checked before the block is freed or
// grown. About one free in five is cross-thread: the block goes into a
// shared pool and another thread frees whatever it finds there. Blocks still
// in the tables and the pool at the end of a round are checked and freed.
//
// Prints one line: the operations done, bad patterns found, CPU seconds
// (user + system), peak RSS in KiB and page faults (minor: memory the host
// gave again), from getrusage, and the most bytes the program's blocks held
// at once (peak live, in KiB). Exits 1 if any
// pattern was wrong. The work depends only on the arguments (each thread's
// random stream is seeded by its number), so runs on two allocators do the
// same operations, though not in the same interleaving.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define SLOTS      64  // live blocks per thread
#define POOL       256 // the shared pool of blocks in transit between threads
#define TAG_STRIDE 512

struct block {
    unsigned char *p;
    size_t size;
    uint64_t serial;
};

static struct block pool[POOL];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static long nthreads, ops_per_thread, max_size = 1 << 20;
static unsigned long bad;    // atomic
static unsigned long done;   // atomic
static long live, peak_live; // atomic: bytes in blocks the program holds, and the most of them

static void count(long bytes)
{
    long now = __atomic_add_fetch(&live, bytes, __ATOMIC_RELAXED);
    long peak = __atomic_load_n(&peak_live, __ATOMIC_RELAXED);
    while (now > peak && !__atomic_compare_exchange_n(&peak_live, &peak, now, 1, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED))
        ;
}

static uint64_t next_rand(uint64_t *s) // xorshift64*
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

// Log-uniform in [1, max_size]: a uniform exponent, then a uniform mantissa.
static size_t rand_size(uint64_t *s)
{
    int bits = 64 - __builtin_clzl((unsigned long)max_size);
    int e = (int)(next_rand(s) % (uint64_t)bits); // 0 .. log2(max)
    size_t lo = (size_t)1 << e, n = lo + next_rand(s) % lo;
    return n > (size_t)max_size ? (size_t)max_size : n;
}

static uint64_t tag_of(const struct block *b, size_t at)
{
    return (b->serial * 0x9e3779b97f4a7c15ULL) ^ b->size ^ ((uint64_t)at << 40);
}

// Where a block's tags go: every TAG_STRIDE bytes while a whole tag fits
// before the last 8 bytes, and the last 8 bytes; a block of 8 bytes or
// less has one short tag at its start. Each call gives the next position
// after `at` (start with SIZE_MAX), or SIZE_MAX when there is none.
static size_t next_at(size_t size, size_t at)
{
    if (size <= 8)
        return at == SIZE_MAX ? 0 : SIZE_MAX;
    if (at == SIZE_MAX)
        at = 0;
    else if (at == size - 8)
        return SIZE_MAX;
    else
        at += TAG_STRIDE;
    return at + 16 <= size ? at : size - 8;
}

static size_t tag_len(size_t size)
{
    return size < 8 ? size : 8;
}

static void fill(struct block *b)
{
    for (size_t at = next_at(b->size, SIZE_MAX); at != SIZE_MAX; at = next_at(b->size, at)) {
        uint64_t t = tag_of(b, at);
        memcpy(b->p + at, &t, tag_len(b->size));
    }
}

// The pattern in the first `upto` bytes (a realloc keeps only those).
static void check(const struct block *b, size_t upto)
{
    int ok = 1;
    for (size_t at = next_at(b->size, SIZE_MAX); at != SIZE_MAX && ok; at = next_at(b->size, at)) {
        uint64_t t = tag_of(b, at);
        if (at + tag_len(b->size) <= upto)
            ok = memcmp(b->p + at, &t, tag_len(b->size)) == 0;
    }
    if (!ok && __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED) < 5)
        fprintf(stderr, "stress: block %p (%zu bytes, serial %llu): pattern overwritten\n",
                (void *)b->p, b->size, (unsigned long long)b->serial);
}

static void release(struct block *b)
{
    if (b->p) {
        check(b, b->size);
        free(b->p);
        count(-(long)b->size);
        b->p = NULL;
    }
}

// A block to free: 1 in 5 goes through the pool, where another thread
// (whoever next finds the slot taken) frees it.
static void drop(struct block *b, uint64_t *s)
{
    if (next_rand(s) % 5 == 0) {
        struct block old = {0};
        pthread_mutex_lock(&pool_lock);
        struct block *slot = &pool[next_rand(s) % POOL];
        old = *slot;
        *slot = *b;
        pthread_mutex_unlock(&pool_lock);
        release(&old);
        b->p = NULL;
        return;
    }
    release(b);
}

static void *worker(void *arg)
{
    long id = (long)arg;
    uint64_t s = 0x1234567ULL + (uint64_t)id * 0x9e3779b97f4a7c15ULL, serial = (uint64_t)id << 40;
    struct block *mine = calloc(SLOTS, sizeof(*mine));
    if (mine == NULL) {
        __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    for (long k = 0; k < ops_per_thread; k++) {
        struct block *b = &mine[next_rand(&s) % SLOTS];
        unsigned op = (unsigned)(next_rand(&s) % 8);
        if (b->p == NULL) { // malloc
            b->size = rand_size(&s);
            b->serial = serial++;
            if ((b->p = malloc(b->size)) == NULL) {
                fprintf(stderr, "stress: malloc(%zu) failed\n", b->size);
                exit(2);
            }
            count((long)b->size);
            fill(b);
        } else if (op < 3) { // realloc: the old bytes kept, the rest written
            size_t n = rand_size(&s);
            check(b, b->size);
            unsigned char *q = realloc(b->p, n);
            if (q == NULL) {
                fprintf(stderr, "stress: realloc(%zu) failed\n", n);
                exit(2);
            }
            struct block moved = {q, b->size, b->serial}; // the old tags, at the new address
            check(&moved, n < b->size ? n : b->size);
            count((long)n - (long)b->size);
            *b = (struct block){q, n, serial++};
            fill(b);
        } else {
            drop(b, &s);
        }
    }
    for (int k = 0; k < SLOTS; k++)
        release(&mine[k]);
    free(mine);
    __atomic_fetch_add(&done, (unsigned long)ops_per_thread, __ATOMIC_RELAXED);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: stress THREADS OPS [ROUNDS] [MAXSIZE]\n");
        return 2;
    }
    nthreads = atol(argv[1]);
    ops_per_thread = atol(argv[2]);
    long rounds = argc > 3 ? atol(argv[3]) : 3;
    if (argc > 4)
        max_size = atol(argv[4]);
    if (nthreads < 1 || ops_per_thread < 1 || rounds < 1 || max_size < 1) {
        fprintf(stderr, "stress: want positive numbers\n");
        return 2;
    }
    pthread_t *t = calloc((size_t)nthreads, sizeof(*t));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 << 10); // 1000 threads: 256 MiB of stacks, not 8 GiB
    for (long r = 0; r < rounds; r++) {
        for (long i = 0; i < nthreads; i++)
            if (pthread_create(&t[i], &attr, worker, (void *)(r * nthreads + i)) != 0) {
                fprintf(stderr, "stress: cannot create thread %ld\n", i);
                return 2;
            }
        for (long i = 0; i < nthreads; i++)
            pthread_join(t[i], NULL);
        for (int k = 0; k < POOL; k++)
            release(&pool[k]);
    }
    free(t);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    printf("stress: %ld threads x %ld ops x %ld rounds: %lu ops, %lu bad, cpu %.3f s, "
           "peak rss %ld KiB, peak live %ld KiB, %ld faults\n",
           nthreads, ops_per_thread, rounds, done, bad, cpu, ru.ru_maxrss, peak_live >> 10,
           ru.ru_minflt);
    return bad ? 1 : 0;
}
