// librvslab.so's cpu slots, seen from a program that only calls malloc and
// free (make slots-test runs it with LD_PRELOAD=build/host/librvslab.so):
//
//   - N threads alive together each have a slot of their own, none of them
//     main's, and 10 * N threads made N at a time use at most N + 1 slots
//     in all: a slot goes back when its thread exits, and is reused;
//   - the threads free most of what they allocate themselves (it is in their
//     per-CPU arrays when they exit) and hand the rest to main, which frees
//     it after they are gone: after rvslab_reclaim, rounds of threads
//     leave the library holding no more than the second round did, give or
//     take FRAG_PAGES (which slabs main's few live blocks end up in moves
//     with the threads' timing: 3 to 5 pages were seen); a page lost per
//     round is 8 by the last;
//   - more threads alive at once than slots: the rest share, and all works.
//
// Prints KTAP (four cases); exit status 0 when all pass.
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS     10
#define KEEP       200 // objects a thread allocates and frees itself
#define GIVE       50  // objects it leaves to main
#define MAXT       256
#define FRAG_PAGES 4 // rounds 3.. may hold this many pages more than round 2

static int (*cpu_slot)(void);
static int (*slots)(int *ever, int *owned, int *owned_max);
static size_t (*held_bytes)(void);
static size_t (*reclaim)(void);

struct worker {
    int slot;
    void *give[GIVE];
    pthread_barrier_t *all; // all alive together
};

static void *work(void *arg)
{
    struct worker *w = arg;
    void *keep[KEEP];
    w->slot = cpu_slot();
    for (int r = 0; r < 20; r++) {
        for (int i = 0; i < KEEP; i++) {
            keep[i] = malloc(16 + (size_t)(i * 37 + r) % 600);
            memset(keep[i], i, 16);
        }
        for (int i = 0; i < KEEP; i++)
            free(keep[i]);
    }
    for (int i = 0; i < GIVE; i++)
        w->give[i] = malloc(24 + (size_t)i * 8);
    for (int i = 0; i < KEEP; i++) // the last frees stay in this thread's arrays
        free(keep[i] = malloc(64));
    pthread_barrier_wait(w->all); // everyone has its slot now
    return NULL;
}

// n threads alive together; false if two of them (or one and main) shared a slot.
static int round_of(int n, struct worker *w, int main_slot, int check)
{
    pthread_t t[MAXT];
    pthread_barrier_t all;
    pthread_barrier_init(&all, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        w[i].all = &all;
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&all);
    int bad = 0;
    for (int i = 0; i < n && check; i++) {
        bad += w[i].slot == main_slot;
        for (int j = 0; j < i; j++)
            bad += w[i].slot == w[j].slot;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < GIVE; k++)
            free(w[i].give[k]);
    return bad;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 8, failed = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("KTAP version 1\n1..4\n");
    cpu_slot = (int (*)(void))dlsym(RTLD_DEFAULT, "rvslab_cpu_slot");
    slots = (int (*)(int *, int *, int *))dlsym(RTLD_DEFAULT, "rvslab_slots");
    held_bytes = (size_t(*)(void))dlsym(RTLD_DEFAULT, "rvslab_held_bytes");
    reclaim = (size_t(*)(void))dlsym(RTLD_DEFAULT, "rvslab_reclaim");
    if (!cpu_slot || !slots || !held_bytes || !reclaim) {
        printf("not ok 1 distinct_slots # not on a librvslab.so with cpu slots (LD_PRELOAD?)\n");
        return 1;
    }
    if (n < 1 || n > MAXT)
        n = 8;
    static struct worker w[MAXT];
    int main_slot = cpu_slot(), ever0, ever, owned, owned_max;
    slots(&ever0, &owned, &owned_max);

    // Rounds of n threads: distinct slots, reused round after round.
    int shared = 0;
    size_t held[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        shared += round_of(n, w, main_slot, 1);
        reclaim();
        held[r] = held_bytes();
    }
    slots(&ever, &owned, &owned_max);
    printf("%s 1 distinct_slots # %d rounds of %d live threads, %d times two had one slot\n",
           shared ? "not ok" : "ok", ROUNDS, n, shared);
    printf("%s 2 slots_reused # %d threads in all used %d slots, main's included (limit %d); %d "
           "owned now\n",
           ever - ever0 + 1 <= n + 1 && owned == 1 ? "ok" : "not ok", ROUNDS * n, ever, n + 1,
           owned);
    failed += shared != 0 || ever - ever0 + 1 > n + 1 || owned != 1;
    // After the first round (glibc's own per-thread memory, its cached
    // stacks' TLS, is allocated by then), nothing may pile up.
    size_t most = 0;
    for (int r = 1; r < ROUNDS; r++)
        most = held[r] > most ? held[r] : most;
    bool ok = most <= held[1] + FRAG_PAGES * 4096;
    printf("%s 3 nothing_lost # held after reclaim, rounds 2..%d: at most %zu bytes, round 2 %zu "
           "(room: %d pages)\n",
           ok ? "ok" : "not ok", ROUNDS, most, held[1], FRAG_PAGES);
    failed += !ok;

    // More threads at once than slots to own.
    int many = owned_max + 8 < MAXT ? owned_max + 8 : MAXT;
    round_of(many, w, main_slot, 0);
    slots(&ever, &owned, &owned_max);
    reclaim();
    printf("%s 4 more_threads_than_slots # %d at once (%d slots to own), %d owned after\n",
           owned == 1 ? "ok" : "not ok", many, owned_max, owned);
    failed += owned != 1;
    return failed ? 1 : 0;
}
