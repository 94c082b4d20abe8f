// The reaper as the kernel runs it: from every cpu's tick handler, in the
// middle of whatever the cpu was doing. Kernel only (the host has no tick):
// tests/host/host.mk leaves this file out. Each test ends by progress --
// reaper rounds, operations done -- with a bound in ticks taken, never by
// the clock.
#include <string.h>

#include "arch/riscv/cpu.h"
#include "arch/riscv/timer.h"
#include "lib/ktest.h"
#include "mm/slab.h"
#include "mm/slab_internal.h" // kmem_cache_of

static void nothing(void *arg)
{
    (void)arg;
}

// Turn the tick's reaper off again; a handler still inside slab_reap on
// another cpu finishes before that cpu can run the cross-call.
static void reaper_off(void)
{
    WRITE_ONCE(slab_reap_ms, 0);
    on_each_cpu(nothing, NULL);
}

static struct kmem_cache_info info_of(struct kmem_cache *c)
{
    struct kmem_cache_info in;
    kmem_cache_get_info(c, &in);
    return in;
}

// ---- Idle cpus give everything back ----------------------------------------

#define IDLE_OBJS 300
static struct kmem_cache *idle_c;
static int idle_failed;

static void idle_use(void *arg)
{
    (void)arg;
    static void *ps[NCPU][IDLE_OBJS];
    void **p = ps[cpu_id()];
    for (int i = 0; i < IDLE_OBJS; i++)
        if ((p[i] = kmem_cache_alloc(idle_c, GFP_KERNEL)) == NULL) {
            __atomic_add_fetch(&idle_failed, 1, __ATOMIC_RELAXED);
            while (i > 0)
                kmem_cache_free(idle_c, p[--i]);
            return;
        }
    for (int i = 0; i < IDLE_OBJS; i++)
        kmem_cache_free(idle_c, p[i]);
}

KTEST(reap_tick, idle_cpus_give_back_from_the_tick)
{
    idle_c = kmem_cache_create("t_reap_idle", 192, 0, 0, NULL);
    ASSERT_NE(t, idle_c, NULL);
    if (info_of(idle_c).limit == 0) {
        kmem_cache_destroy(idle_c);
        KTEST_SKIP(t, "slab_debug is on: debug caches have no sheaves");
    }
    idle_failed = 0;
    run_on_all_cpus(idle_use, NULL);
    ASSERT_EQ(t, idle_failed, 0);
    struct kmem_cache_info in = info_of(idle_c);
    ASSERT_GT(t, in.cached_objs, (size_t)0);

    // Every tick reaps (the tick is 1/hz; any slab_reap_ms below it does).
    // A tick that finds another hart's reap holding chain_lock tries again
    // at its next one, and the harts tick together: with every tick a round
    // and a long cache chain late in the suite, a hart may lag many rounds
    // (33 and over 40 were seen on 2 harts, 4 to 8 usually), so the bound
    // is loose; the ticks bound the wait as well.
    uint64_t r0 = slab_reap_rounds(), t0 = READ_ONCE(mycpu()->ticks);
    WRITE_ONCE(slab_reap_ms, 1);
    do {
        cpu_relax();
        in = info_of(idle_c);
    } while ((in.arrays > 0 || in.total_slabs > 0) && slab_reap_rounds() < r0 + 400 &&
             READ_ONCE(mycpu()->ticks) < t0 + 4000);
    uint64_t rounds = slab_reap_rounds() - r0;
    reaper_off();
    printk("# %llu rounds from the tick until every cpu held nothing\n",
           (unsigned long long)rounds);
    EXPECT_GE(t, rounds, 2ULL); // a batch a round: not all at the first tick
    EXPECT_EQ(t, in.arrays, 0U);
    EXPECT_EQ(t, in.cached_objs, (size_t)0);
    EXPECT_EQ(t, in.total_slabs, (size_t)0);
    EXPECT_EQ(t, slab_validate(idle_c), 0);
    kmem_cache_destroy(idle_c);
}

// ---- Reaping under the feet of every cpu -----------------------------------
//
// Every cpu allocates and frees (kmalloc of mixed sizes and two caches of
// the test's own), hands some objects to the next cpu, which frees them,
// and checks a stamp in every object, while every tick on every cpu reaps
// at 1000 Hz. The cpus move between the two caches together, in phases of
// ST_PHASE reaper rounds (counted, not timed: a phase is long enough on
// any host), so that every cpu's array of the cache they left goes
// untouched -- the objects handed across are of the cache in use -- and
// the reaper drains it, while it trims the barn and free list of the
// cache the cpus are trading with. Nothing may be lost, doubled or
// corrupted.

#define ST_HOLD  64
#define ST_PHASE 4 // reaper rounds: one may find an array touched, the next takes from it
KTEST_PARAM(reap_tick_rounds, 1, 1000000, "reaper rounds the reap_tick stress runs for (20)");
static struct {
    struct kmem_cache *c[2];
    void *mail[NCPU]; // one object in flight to each cpu
    unsigned long ops[NCPU], bad, failed;
    uint64_t r0, rounds; // reaper rounds: at the start, to run for
} st;

static uint64_t stamp_of(const void *p)
{
    return ((uintptr_t)p * 0x9e3779b97f4a7c15ULL) ^ 0x5eed;
}

static void *st_alloc(unsigned k, unsigned phase)
{
    void *p = (k & 3) ? kmalloc(8U << (k % 9), GFP_KERNEL)
                      : kmem_cache_alloc(st.c[phase & 1], GFP_KERNEL);
    if (p != NULL)
        *(uint64_t *)p = stamp_of(p);
    return p;
}

static void st_free(void *p)
{
    if (*(uint64_t *)p != stamp_of(p))
        __atomic_add_fetch(&st.bad, 1, __ATOMIC_RELAXED);
    *(uint64_t *)p = 0;
    struct kmem_cache *c = kmem_cache_of(p);
    if (c == st.c[0] || c == st.c[1])
        kmem_cache_free(c, p);
    else
        kfree(p);
}

static void st_task(void *arg)
{
    (void)arg;
    int me = cpu_id(), next = (me + 1) % ncpu_online();
    void *held[ST_HOLD] = {0};
    uint32_t x = 2463534242u + (uint32_t)me;
    unsigned long ops = 0;
    while (slab_reap_rounds() < st.r0 + st.rounds || ops < 4000) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        unsigned k = x % ST_HOLD;
        if (held[k]) {
            if (x & 0x100) { // to the next cpu, which frees it
                void *old = __atomic_exchange_n(&st.mail[next], held[k], __ATOMIC_ACQ_REL);
                if (old)
                    st_free(old);
            } else {
                st_free(held[k]);
            }
            held[k] = NULL;
        } else if ((held[k] = st_alloc(
                        x >> 8, (unsigned)((slab_reap_rounds() - st.r0) / ST_PHASE))) == NULL) {
            __atomic_add_fetch(&st.failed, 1, __ATOMIC_RELAXED);
        }
        void *in = __atomic_exchange_n(&st.mail[me], NULL, __ATOMIC_ACQ_REL);
        if (in)
            st_free(in);
        if (++ops > 50000000UL)
            break; // no rounds came: the test fails below
    }
    for (int k = 0; k < ST_HOLD; k++)
        if (held[k])
            st_free(held[k]);
    st.ops[me] = ops;
}

KTEST(reap_tick, every_tick_reaps_while_every_cpu_allocates)
{
    memset(&st, 0, sizeof(st));
    st.c[0] = kmem_cache_create("t_reap_st0", 96, 0, 0, NULL);
    st.c[1] = kmem_cache_create("t_reap_st1", 320, 0, 0, NULL);
    ASSERT_NE(t, st.c[0], NULL);
    ASSERT_NE(t, st.c[1], NULL);
    uint64_t errors = slab_error_count();
    unsigned hz = timer_hz();
    timer_set_hz(MAX(hz, 1000U));
    st.r0 = slab_reap_rounds();
    st.rounds = ktest_arg_ul("reap_tick_rounds", 20);
    WRITE_ONCE(slab_reap_ms, 1);
    run_on_all_cpus(st_task, NULL);
    uint64_t rounds = slab_reap_rounds() - st.r0;
    reaper_off();
    timer_set_hz(hz);
    for (int c = 0; c < ncpu_online(); c++)
        if (st.mail[c])
            st_free(st.mail[c]);
    unsigned long ops = 0;
    for (int c = 0; c < ncpu_online(); c++)
        ops += st.ops[c];
    printk("# %lu operations, %llu reaper rounds\n", ops, (unsigned long long)rounds);
    EXPECT_GE(t, rounds, st.rounds);
    EXPECT_EQ(t, st.bad, 0UL);
    EXPECT_EQ(t, st.failed, 0UL);
    EXPECT_EQ(t, slab_error_count(), errors);
    EXPECT_EQ(t, slab_validate_all(), 0);
    for (int k = 0; k < 2; k++) {
        struct kmem_cache_info in = info_of(st.c[k]);
        printk("# %s: %llu objects taken from idle arrays, %llu slabs given back\n", in.name,
               (unsigned long long)in.reap_objs, (unsigned long long)in.reaped);
        if (in.limit > 0)                            // (slab_debug= caches have no arrays)
            EXPECT_GT(t, in.reap_objs, (uint64_t)0); // the reaper drained arrays in use
        EXPECT_EQ(t, in.active_objs, (size_t)0);     // every object came back
        kmem_cache_destroy(st.c[k]);
    }
}
