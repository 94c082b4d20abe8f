// librvslab.so's platform -- a cpu slot per thread, recycled at thread exit,
// and per-CPU sections that are a plain flag for the slot's owner
// (tests/host/platform_shim.c) -- with mm/ linked in directly, so it runs
// under ThreadSanitizer (and ASan), which a preloaded malloc cannot.
// Threads come and go while others free their objects, reclaim, shrink,
// validate (stop_machine) and make and destroy caches; then:
//
//   - N threads alive at a time, 10 * N created in all: each had a slot no
//     other live thread had, and at most N (+ main, + the reclaimer) slots
//     were ever used;
//   - once they have exited, no object is left in any per-CPU array (each
//     thread's went back to the slabs at exit), and none is lost: after
//     everything is freed and slab_reclaim, every page is back;
//   - more threads than slots at once: the rest share, and all is well.
//
//   shim-threads-tsan [N]      RVSLAB_LOCKED_SECTIONS=1: owners take the lock
// Prints KTAP (three cases); exit status 0 when every check passed.
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mm/buddy.h"
#include "mm/slab.h"

int rvslab_cpu_slot(void); // platform_shim.c, for tests
int rvslab_slots(int *ever, int *owned, int *owned_max);

#define GENERATIONS 10
#define XCHG        64 // objects handed from thread to thread
#define HELD        48 // objects a worker keeps at a time
#define MAXLIVE     NCPU

static int failures;
static struct kmem_cache *shared_cache; // kmem_cache_alloc/free from every thread
static void *xchg[XCHG];
static int live_slot[MAXLIVE]; // slot of the thread in each lane, -1 if none
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static int stop_reclaimer;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("# FAIL %s:%d: ", __FILE__, __LINE__);                                          \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);                                    \
        }                                                                                          \
    } while (0)

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

// An object's first word says who it is; its last byte, how big.
static void *make(uint64_t r)
{
    size_t size = 24 + r % 2000;
    bool cached = (r >> 20) % 4 == 0;
    unsigned char *p =
        cached ? kmem_cache_alloc(shared_cache, GFP_KERNEL) : kmalloc(size, GFP_KERNEL);
    CHECK(p != NULL, "allocation failed");
    if (p == NULL)
        return NULL;
    if (cached)
        size = 200;
    memset(p, 0x5a, size);
    ((uintptr_t *)p)[0] = (uintptr_t)p ^ size ^ (cached ? 1 : 0);
    ((uintptr_t *)p)[1] = size;
    return p;
}

static void drop(void *obj)
{
    uintptr_t *w = obj;
    size_t size = w[1];
    bool cached = (w[0] ^ (uintptr_t)obj ^ size) == 1;
    CHECK(cached || (w[0] ^ (uintptr_t)obj ^ size) == 0, "object %p overwritten", obj);
    CHECK(((unsigned char *)obj)[size - 1] == 0x5a, "object %p: last byte overwritten", obj);
    w[0] = 0;
    if (cached)
        kmem_cache_free(shared_cache, obj);
    else
        kfree(obj);
}

struct lane {
    int lane, gen;
    pthread_barrier_t *all_live; // NULL: no waiting for the others
};

static void *worker(void *arg)
{
    struct lane *l = arg;
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(l->lane * 1000 + l->gen + 1);
    int me = rvslab_cpu_slot();
    pthread_mutex_lock(&live_lock);
    for (int i = 0; i < MAXLIVE; i++)
        if (i != l->lane && live_slot[i] == me && l->all_live == NULL)
            CHECK(0, "lane %d got slot %d, which lane %d's live thread has", l->lane, me, i);
    live_slot[l->lane] = me;
    pthread_mutex_unlock(&live_lock);
    if (l->all_live)
        pthread_barrier_wait(l->all_live);
    void *held[HELD] = {0};
    for (int it = 0; it < 3000; it++) {
        uint64_t r = rnd(&rng);
        int k = (int)(r % HELD);
        if (held[k])
            drop(held[k]);
        held[k] = make(r >> 8);
        if (r % 8 == 0) { // hand one on: another thread frees it
            void *o = __atomic_exchange_n(&xchg[(r >> 40) % XCHG], held[k], __ATOMIC_ACQ_REL);
            held[k] = o;
        }
        if (r % 997 == 0) {
            char name[32];
            snprintf(name, sizeof(name), "t_shim_%d_%d_%d", l->lane, l->gen, it);
            struct kmem_cache *c = kmem_cache_create(name, 64 + l->lane, 0, 0, NULL);
            CHECK(c != NULL, "kmem_cache_create failed");
            void *p = c ? kmem_cache_alloc(c, GFP_KERNEL) : NULL;
            if (p)
                kmem_cache_free(c, p);
            if (c)
                CHECK(kmem_cache_destroy(c) == 0, "kmem_cache_destroy failed");
        }
    }
    for (int k = 0; k < HELD; k++) // freed here, so they sit in this thread's arrays at exit
        if (held[k])
            drop(held[k]);
    if (l->all_live)
        pthread_barrier_wait(l->all_live);
    pthread_mutex_lock(&live_lock);
    live_slot[l->lane] = -1;
    pthread_mutex_unlock(&live_lock);
    return NULL;
}

// A cross-call runs as the cpu it was sent to.
static void as_that_cpu(void *arg)
{
    CHECK(cpu_id() == *(int *)arg, "a cross-call to cpu %d ran as cpu %d", *(int *)arg, cpu_id());
}

// Reclaim, shrink and validation while the workers run: cross-calls and
// stop_machine on slots whose owners are in and out of their sections.
static void *reclaimer(void *arg)
{
    (void)arg;
    unsigned n = 0;
    while (!__atomic_load_n(&stop_reclaimer, __ATOMIC_ACQUIRE)) {
        switch (n++ % 4) {
        case 0:
            slab_reclaim(GFP_KERNEL);
            break;
        case 1:
            kmem_cache_shrink(shared_cache);
            break;
        case 2:
            CHECK(slab_validate_all() == 0, "slab_validate_all found problems");
            break;
        default: {
            int cpu = (int)(n / 4 % NCPU);
            smp_call_function_single(cpu, as_that_cpu, &cpu);
        }
        }
        sched_yield();
    }
    return NULL;
}

static size_t cached_objects(void)
{
    size_t n = 0;
    struct kmem_cache_info in;
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++) {
        kmem_cache_get_info(kmalloc_cache_index(i), &in);
        n += in.cached_objs;
    }
    kmem_cache_get_info(shared_cache, &in);
    return n + in.cached_objs;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 6;
    if (n < 1 || n > MAXLIVE)
        n = 6;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("KTAP version 1\n1..3\n");
    size_t size = 64 << 20, align = PAGE_SIZE << MAX_ORDER;
    char *ram =
        mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ram == MAP_FAILED || buddy_init(ALIGN_UP((uintptr_t)ram, align), size, NULL, 0) != 0 ||
        slab_init(PAGE_SIZE, 64) != 0) {
        printf("not ok setup\n");
        return 1;
    }
    buddy_set_reclaim_hook(slab_shrink);
    slab_reclaim(GFP_KERNEL);
    size_t before = nr_free_pages();
    shared_cache = kmem_cache_create("t_shim_shared", 200, 0, 0, NULL);
    int main_slot = rvslab_cpu_slot(), ever, owned, owned_max;
    int fast = rvslab_slots(&ever, &owned, &owned_max);
    printf("# main thread on slot %d; %d slots can be owned; %s sections\n", main_slot, owned_max,
           fast ? "membarrier (fast)" : "locked");
    for (int i = 0; i < MAXLIVE; i++)
        live_slot[i] = -1;

    // N lanes, GENERATIONS threads each, one after the other in each lane.
    pthread_t rt;
    pthread_create(&rt, NULL, reclaimer, NULL);
    pthread_t tid[MAXLIVE];
    struct lane lanes[MAXLIVE];
    for (int g = 0; g < GENERATIONS; g++) {
        for (int i = 0; i < n; i++) {
            lanes[i] = (struct lane){i, g, NULL};
            pthread_create(&tid[i], NULL, worker, &lanes[i]);
        }
        for (int i = 0; i < n; i++)
            pthread_join(tid[i], NULL);
    }
    __atomic_store_n(&stop_reclaimer, 1, __ATOMIC_RELEASE);
    pthread_join(rt, NULL);
    rvslab_slots(&ever, &owned, &owned_max);
    printf("# %d threads, %d at a time: %d slots ever used, %d owned now\n", n * GENERATIONS, n,
           ever, owned);
    CHECK(ever <= n + 2, "%d slots used by %d live workers, main and the reclaimer", ever, n);
    CHECK(owned == 1, "%d slots owned after every thread but main exited", owned);
    size_t cached = cached_objects();
    CHECK(cached == 0, "%zu objects left in per-CPU arrays after their threads exited", cached);
    printf("%s lanes_and_generations\n", failures ? "not ok 1" : "ok 1");
    int f1 = failures;

    // More threads alive at once than slots to own: the rest share.
    int many = owned_max + 8;
    if (many > MAXLIVE)
        many = MAXLIVE;
    pthread_barrier_t all;
    pthread_barrier_init(&all, NULL, (unsigned)many);
    pthread_t *mt = calloc((size_t)many, sizeof(*mt));
    struct lane *ml = calloc((size_t)many, sizeof(*ml));
    for (int i = 0; i < many; i++) {
        ml[i] = (struct lane){i, 0, &all};
        pthread_create(&mt[i], NULL, worker, &ml[i]);
    }
    for (int i = 0; i < many; i++)
        pthread_join(mt[i], NULL);
    pthread_barrier_destroy(&all);
    free(mt);
    free(ml);
    rvslab_slots(&ever, &owned, &owned_max);
    CHECK(owned == 1, "%d slots owned after %d threads at once exited", owned, many);
    printf("%s more_threads_than_slots # %d at once, %d slots to own\n",
           failures > f1 ? "not ok 2" : "ok 2", many, owned_max);
    int f2 = failures;

    // Everything freed: every page back.
    for (int k = 0; k < XCHG; k++)
        if (xchg[k])
            drop(xchg[k]);
    CHECK(kmem_cache_destroy(shared_cache) == 0, "destroy of the shared cache failed");
    CHECK(slab_validate_all() == 0, "slab_validate_all found problems");
    slab_reclaim(GFP_KERNEL);
    CHECK(nr_free_pages() == before, "%zu pages missing after free-all and reclaim",
          before - nr_free_pages());
    printf("%s every_page_back\n", failures > f2 ? "not ok 3" : "ok 3");
    printf("# %s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
