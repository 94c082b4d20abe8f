// Self-tests of the barn: whole sheaves traded between cpus, so that a cpu
// that only frees and one that only allocates meet there instead of at the
// slab lists. Portable: kernel and host build.
#include <string.h>

#include "lib/ktest.h"
#include "mm/slab.h"
#include "mm/slab_internal.h" // struct barn: the check of a corrupted count

static struct kmem_cache_info info_of(struct kmem_cache *c)
{
    struct kmem_cache_info in;
    kmem_cache_get_info(c, &in);
    return in;
}

// A cache of 64-byte objects with sheaves; NULL and the test skipped if
// slab_debug= made it a debug cache, which has none.
static struct kmem_cache *plain_cache(struct ktest *t, const char *name)
{
    struct kmem_cache *c = kmem_cache_create(name, 64, 0, 0, NULL);
    if (c != NULL && info_of(c).limit == 0) {
        kmem_cache_destroy(c);
        t->skip_reason = "slab_debug is on: debug caches have no sheaves";
        return NULL;
    }
    return c;
}

#define PLAIN_CACHE(t, c, name)                                                                    \
    do {                                                                                           \
        (c) = plain_cache(t, name);                                                                \
        if ((t)->skip_reason)                                                                      \
            return;                                                                                \
        ASSERT_NE(t, (c), NULL);                                                                   \
    } while (0)

// ---- Producer and consumer: cpu 0 allocates batches, cpu 1 frees them ----

#define PC_BATCH  32
#define PC_WARM   60  // rounds before counting: every cpu's sheaves have met the barn
#define PC_ROUNDS 400 // rounds counted

static struct pc_run {
    struct ktest *t;
    struct kmem_cache *c;
    void *box[PC_BATCH];
    int put, taken; // batches handed over / freed
    int rounds;
    uint64_t locks0, barn0; // counts when warm
} pc;

static void pc_wait(int *p, int want)
{
    while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < want)
        cpu_relax();
}

static void pc_work(void *arg)
{
    (void)arg;
    int me = cpu_id();
    for (int r = 0; r < pc.rounds && (me == 0 || me == 1); r++) {
        if (me == 0) {
            pc_wait(&pc.taken, r);
            if (r == PC_WARM) { // cpu 1 freed every batch so far, and waits
                struct kmem_cache_info in = info_of(pc.c);
                pc.locks0 = in.lock_acquisitions;
                pc.barn0 = in.barn_locks;
            }
            for (int j = 0; j < PC_BATCH; j++) {
                uint64_t *o = kmem_cache_alloc(pc.c, GFP_KERNEL);
                if (o == NULL) {
                    ktest_fail(pc.t, __FILE__, __LINE__, "alloc failed in round %d", r);
                    return;
                }
                o[0] = (uintptr_t)o ^ (uint64_t)r;
                pc.box[j] = o;
            }
            __atomic_store_n(&pc.put, r + 1, __ATOMIC_RELEASE);
        } else {
            pc_wait(&pc.put, r + 1);
            for (int j = 0; j < PC_BATCH; j++) {
                uint64_t *o = pc.box[j];
                if (o[0] != ((uintptr_t)o ^ (uint64_t)r))
                    ktest_fail(pc.t, __FILE__, __LINE__, "object %p overwritten", (void *)o);
                kmem_cache_free(pc.c, o);
            }
            __atomic_store_n(&pc.taken, r + 1, __ATOMIC_RELEASE);
        }
    }
}

// Once warm, objects travel from the freeing cpu to the allocating one in
// whole sheaves through the barn: the slab lists (the cache lock) are
// taken at most twice per 1000 operations, and the barn trades every sheaf.
KTEST(barn, producer_consumer_meets_in_the_barn)
{
    if (ncpu_online() < 2)
        KTEST_SKIP(t, "one cpu");
    memset(&pc, 0, sizeof(pc));
    pc.t = t;
    pc.rounds = PC_WARM + PC_ROUNDS;
    PLAIN_CACHE(t, pc.c, "t_barn_pc");
    run_on_all_cpus(pc_work, NULL);
    struct kmem_cache_info in = info_of(pc.c);
    uint64_t ops = 2ULL * PC_ROUNDS * PC_BATCH, locks = in.lock_acquisitions - pc.locks0;
    uint64_t trades = in.barn_locks - pc.barn0;
    printk("# %llu ops: %llu cache-lock, %llu barn-lock acquisitions; barn %u/%u, "
           "%llu sheaves taken, %llu given\n",
           (unsigned long long)ops, (unsigned long long)locks, (unsigned long long)trades,
           in.barn_full, in.barn_empty, (unsigned long long)in.barn_gets,
           (unsigned long long)in.barn_puts);
    EXPECT_LE(t, locks * 1000, 2 * ops);
    // Every sheaf of objects that went across went through the barn: about
    // one trade per limit objects each way.
    EXPECT_GE(t, in.barn_gets, (uint64_t)PC_ROUNDS * PC_BATCH / in.limit - 2);
    EXPECT_GE(t, in.barn_puts, (uint64_t)PC_ROUNDS * PC_BATCH / in.limit - 2);
    EXPECT_EQ(t, in.active_objs, 0);
    EXPECT_EQ(t, slab_validate(pc.c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(pc.c), 0);
}

// ---- One cpu fills the barn, another takes from it ----

struct fill_job {
    struct kmem_cache *c;
    void **objs;
    int n;
    uint64_t refills; // the cache's refills when the taker had them all
    int got;
};

static void take_all(void *arg)
{
    struct fill_job *j = arg;
    for (j->got = 0; j->got < j->n; j->got++) {
        j->objs[j->got] = kmem_cache_alloc(j->c, GFP_ATOMIC); // a cross-call: may not wait
        if (j->objs[j->got] == NULL)
            break;
    }
    j->refills = info_of(j->c).refills;
}

// Objects a cpu frees beyond its own two sheaves wait in the barn in full
// sheaves (at most barn_max of them), are counted as cached, and another
// cpu takes them whole, without refilling from the slab lists. Shrink and
// reclaim empty the barn.
KTEST(barn, full_sheaves_wait_for_another_cpu)
{
    enum { N = 1200 };
    static void *objs[N];
    if (ncpu_online() < 2)
        KTEST_SKIP(t, "one cpu");
    struct kmem_cache *c;
    PLAIN_CACHE(t, c, "t_barn_fill");
    struct kmem_cache_info in = info_of(c);
    ASSERT_GE(t, in.barn_max, 2);
    int n = (int)MIN((size_t)N, (size_t)(in.barn_max + 3) * in.limit);
    for (int i = 0; i < n; i++)
        ASSERT_NE(t, (objs[i] = kmem_cache_alloc(c, GFP_KERNEL)), NULL);
    for (int i = 0; i < n; i++)
        kmem_cache_free(c, objs[i]);
    in = info_of(c);
    EXPECT_GT(t, in.barn_full, 0);
    EXPECT_LE(t, in.barn_full, in.barn_max);
    EXPECT_EQ(t, in.barn_objs, (size_t)in.barn_full * in.limit);
    EXPECT_GE(t, in.cached_objs, in.barn_objs);
    EXPECT_EQ(t, in.active_objs, 0);
    EXPECT_EQ(t, slab_validate(c), 0);

    // Another cpu takes what the barn holds: whole sheaves, no refill.
    static struct fill_job j;
    j = (struct fill_job){.c = c, .objs = objs, .n = (int)in.barn_objs};
    uint64_t refills = in.refills, gets = in.barn_gets;
    int other = cpu_id() == 0 ? 1 : 0;
    ASSERT_EQ(t, smp_call_function_single(other, take_all, &j), 0);
    EXPECT_EQ(t, j.got, j.n);
    EXPECT_EQ(t, j.refills, refills);
    in = info_of(c);
    EXPECT_EQ(t, in.barn_gets - gets, (uint64_t)(j.n / in.limit));
    EXPECT_EQ(t, in.barn_full, 0);
    for (int i = 0; i < j.got; i++)
        kmem_cache_free(c, objs[i]);

    // Shrink gives back everything the barn held, and its sheaves.
    kmem_cache_shrink(c);
    in = info_of(c);
    EXPECT_EQ(t, in.barn_full + in.barn_empty, 0);
    EXPECT_EQ(t, in.cached_objs, 0);
    EXPECT_EQ(t, in.total_slabs, 0);

    // And reclaim, which the buddy allocator calls when it runs dry.
    for (int i = 0; i < n; i++)
        ASSERT_NE(t, (objs[i] = kmem_cache_alloc(c, GFP_KERNEL)), NULL);
    for (int i = 0; i < n; i++)
        kmem_cache_free(c, objs[i]);
    EXPECT_GT(t, info_of(c).barn_full, 0);
    slab_reclaim(GFP_KERNEL);
    in = info_of(c);
    EXPECT_EQ(t, in.barn_full + in.barn_empty, 0);
    EXPECT_EQ(t, in.cached_objs, 0);
    EXPECT_EQ(t, slab_validate(c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
}

// A barn whose count disagrees with its stack is a validation finding, as
// is a full sheaf there with nothing in it.
KTEST(barn, validate_checks_the_barn)
{
    enum { N = 1200 };
    static void *objs[N];
    struct kmem_cache *c;
    PLAIN_CACHE(t, c, "t_barn_check");
    struct kmem_cache_info in = info_of(c);
    int n = (int)MIN((size_t)N, (size_t)(in.barn_max + 3) * in.limit);
    for (int i = 0; i < n; i++)
        ASSERT_NE(t, (objs[i] = kmem_cache_alloc(c, GFP_KERNEL)), NULL);
    for (int i = 0; i < n; i++)
        kmem_cache_free(c, objs[i]);
    ASSERT_GT(t, info_of(c).barn_full, 0);
    EXPECT_EQ(t, slab_validate(c), 0);
    struct barn *b = &c->node->barn;
    spin_lock(&b->lock);
    b->nr_full++;
    spin_unlock(&b->lock);
    EXPECT_GT(t, slab_validate(c), 0);
    spin_lock(&b->lock);
    b->nr_full--;
    unsigned long avail = b->full->avail;
    b->full->avail = 0;
    spin_unlock(&b->lock);
    EXPECT_GT(t, slab_validate(c), 0);
    spin_lock(&b->lock);
    b->full->avail = avail;
    spin_unlock(&b->lock);
    EXPECT_EQ(t, slab_validate(c), 0);
    EXPECT_EQ(t, kmem_cache_destroy(c), 0);
}
