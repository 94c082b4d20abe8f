// The reclaim guard belongs to the running context, not to the cpu: two
// threads on one cpu index (as threads share a cpu slot in librvslab.so)
// each get their own reclaim. Thread A's request fails and its reclaim hook
// waits, still inside; thread B, on the same cpu index, has a request fail
// meanwhile: its reclaim must run too. With a guard per cpu, B's reclaim
// would be skipped and its request would fail for want of it. Host only.
#include <pthread.h>

#include "host.h"
#include "lib/ktest.h"
#include "mm/buddy.h"

static __thread bool is_a; // this thread is A
static struct {
    int a_inside; // A's hook is running (and waits for b_done)
    int b_done;   // B's request has come back
    int calls_a, calls_b;
} rg;

static size_t guard_hook(gfp_t gfp, enum reclaim_level level)
{
    (void)gfp;
    if (level != RECLAIM_FREE) // the first of a request's calls
        return 0;
    if (is_a) {
        __atomic_add_fetch(&rg.calls_a, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&rg.a_inside, 1, __ATOMIC_RELEASE);
        while (!__atomic_load_n(&rg.b_done, __ATOMIC_ACQUIRE))
            cpu_relax();
    } else {
        __atomic_add_fetch(&rg.calls_b, 1, __ATOMIC_RELAXED);
    }
    return 0;
}

static void *thread_a(void *arg)
{
    (void)arg;
    is_a = true;
    host_set_cpu(0);
    fault_fail_nth(&fail_page_alloc, 1); // this request fails: reclaim runs
    void *p = alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0);
    if (p)
        free_pages(p, 0);
    return NULL;
}

KTEST(reclaim_guard, per_thread_not_per_cpu)
{
    reclaim_hook_t old = buddy_set_reclaim_hook(guard_hook);
    rg.a_inside = rg.b_done = rg.calls_a = rg.calls_b = 0;
    pthread_t a;
    ASSERT_EQ(t, pthread_create(&a, NULL, thread_a, NULL), 0);
    while (!__atomic_load_n(&rg.a_inside, __ATOMIC_ACQUIRE))
        cpu_relax();
    // This thread is cpu 0 too: its own failed request reclaims for itself.
    int me = cpu_id();
    host_set_cpu(0);
    fault_fail_nth(&fail_page_alloc, 1);
    void *p = alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0);
    host_set_cpu(me);
    __atomic_store_n(&rg.b_done, 1, __ATOMIC_RELEASE);
    pthread_join(a, NULL);
    fault_disarm(&fail_page_alloc);
    buddy_set_reclaim_hook(old);
    EXPECT_EQ(t, p, NULL); // an injected failure fails after its reclaim
    EXPECT_EQ(t, rg.calls_a, 1);
    EXPECT_EQ(t, rg.calls_b, 1); // B's reclaim ran while A's was under way
}
