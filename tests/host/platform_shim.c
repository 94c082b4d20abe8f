// lib/platform.h for librvslab.so, the malloc-compatible build of mm/.
//
// Threads here belong to someone else's program. Each takes a cpu slot of
// its own on its first allocation (shim_first_cpu) and gives it back when
// it exits (slot_exit, a pthread key destructor), after its per-CPU arrays
// went back to the slabs (slab_cpu_offline); the next thread reuses the
// slot. The library is built with NCPU 128 (tests/host/bench.mk): the top
// NSHARED slots (8) are never owned, and when the other 120 are all taken a
// new thread shares one of those, under its lock: correct, only contended.
//
// ---- The per-CPU section ----------------------------------------------------
//
// An owned slot's arrays are touched by its owner and, rarely, by a thread
// working as that cpu: a cross-call (reclaim, shrink, destroy), stop_machine
// (validation), fork. The owner's section (shim/platform_inline.h) is
//
//     busy = 1; compiler barrier; if (remote) take the slow way; ...; busy = 0
//
// and such a remote worker does
//
//     lock the slot; remote = 1; membarrier(); wait until busy == 0;
//     ... work as that cpu ...; remote = 0; unlock
//
// The owner's store to busy and its load of remote are plain accesses the
// CPU may reorder (a store waits in the store buffer while a later load goes
// ahead); a fence there would cost what the atomic exchange it replaces
// cost. membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) puts that fence into
// every running thread of the process, by IPI, only when a remote worker
// needs it: each thread passes a full barrier at some point during the
// call. If the owner passed it before its `busy = 1`, its load of remote
// comes after the barrier and sees 1, so it backs off; if after, busy = 1
// was visible before membarrier returned, and the worker waits for busy = 0
// (a release store at the end of the section). A thread that was not
// running went through the scheduler's barriers instead. It is the
// asymmetric barrier of Linux's sys_membarrier and of userspace RCU, and
// the signal fence in the owner is the compiler half: the IPI is to the
// owner what a signal handler is.
//
// An owner that finds remote set clears busy and takes the slot's lock like
// everyone else (shim_lock_slow). Sharers of a shared slot always take the
// lock; so does a thread whose sections are nested in a cross-call (the
// cross-caller holds the lock: the nested section takes nothing). The
// flags local_lock_irqsave returns are the address of the word to clear.
//
// membarrier must be registered once (MEMBARRIER_CMD_REGISTER_PRIVATE_
// EXPEDITED, Linux 4.14); if that fails, or RVSLAB_LOCKED_SECTIONS=1 is set,
// owners always take their slot's lock, an uncontended atomic exchange.
//
// Nothing here may call malloc: we ARE malloc. printk formats on the stack
// and write(2)s; pthread_key_create and pthread_setspecific (for a key
// below 32, which the first one the library makes is) do not allocate, and
// if one did the thread would already have its slot.
#include "lib/platform.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mm/slab.h" // slab_cpu_offline: a slot's arrays go back when its thread exits

#define EXPORT  __attribute__((visibility("default")))
#define NSHARED (NCPU >= 16 ? NCPU / 16 : 1) // the top slots, shared under their locks
#define NOWNED  (NCPU - NSHARED)

// A slot's state, changed under its lock. The top NSHARED slots are never
// taken as owned; they stay SLOT_FREE, which nobody checks for them.
enum { SLOT_FREE, SLOT_OWNED };

struct shim_slot shim_no_slot = {.remote = 1};       // see shim/platform_inline.h
__thread struct shim_slot *shim_own = &shim_no_slot; // see shim/platform_inline.h
__thread int shim_this_cpu;
__thread int shim_noff;
static __thread int nested;      // cpu + 1 whose slot this thread holds as a remote worker
static __thread int exit_rounds; // slot_exit calls so far
static __thread bool exited;     // the slot went back: later sections share one
static struct shim_slot slot[NCPU];
static int next_shared; // round-robin over the shared slots
static bool fast;       // membarrier is registered: owners take the fast way
static bool have_key;
static pthread_key_t slot_key; // its destructor is the exit hook
static int setup_state;        // 0, 1 being set up, 2 done
static pid_t fork_pid;         // who called shim_sections_lock_all (the parent)
static struct shim_slot *fork_own;

static long membarrier(int cmd)
{
    return syscall(SYS_membarrier, cmd, 0, 0);
}

static void slot_lock(struct shim_slot *s)
{
    while (__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE) != 0)
        while (__atomic_load_n(&s->lock, __ATOMIC_RELAXED) != 0)
            sched_yield(); // the holder may be preempted (2 cores, many threads)
}

static void slot_unlock(struct shim_slot *s)
{
    __atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

static void slot_exit(void *arg);

// Once, by the first thread that takes a slot; the others wait.
static void setup(void)
{
    int st = 0;
    if (__atomic_load_n(&setup_state, __ATOMIC_ACQUIRE) == 2)
        return;
    if (__atomic_compare_exchange_n(&setup_state, &st, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        const char *env = getenv("RVSLAB_LOCKED_SECTIONS");
        bool locked = env && *env && *env != '0';
        fast = !locked && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
        have_key = pthread_key_create(&slot_key, slot_exit) == 0;
        __atomic_store_n(&setup_state, 2, __ATOMIC_RELEASE);
    }
    while (__atomic_load_n(&setup_state, __ATOMIC_ACQUIRE) != 2)
        sched_yield();
}

// Under s's lock. A slot is written first when it is first taken, not at
// setup: a process that runs one thread then touches one slot's page.
static void slot_first_use(struct shim_slot *s, int c)
{
    if (s->used)
        return;
    s->cpu[0] = s->cpu[1] = s->cpu[2] = c;
    __atomic_store_n(&s->used, 1, __ATOMIC_RELAXED);
}

// A thread's first section (or first cpu_id): a free slot of its own, or
// one of the shared ones when none is free or the thread is past its exit
// hook (it would never give a new one back). A slot changes state under
// its lock, so a remote worker that holds it sees no owner come or go.
int shim_first_cpu(void)
{
    setup();
    for (int c = 0; c < NOWNED && !exited; c++) {
        struct shim_slot *s = &slot[c];
        if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != SLOT_FREE)
            continue;
        slot_lock(s); // may wait for a remote worker (a stop holds every slot)
        bool mine = s->state == SLOT_FREE;
        if (mine) {
            __atomic_store_n(&s->state, SLOT_OWNED, __ATOMIC_RELAXED);
            __atomic_store_n(&s->owner, lock_owner_self(), __ATOMIC_RELAXED);
            slot_first_use(s, c);
        }
        slot_unlock(s);
        if (!mine)
            continue;
        shim_this_cpu = c + 1;
        shim_own = fast ? s : &shim_no_slot;
        if (have_key) // after the two above: were it to calloc, that would find the slot
            pthread_setspecific(slot_key, s);
        return c;
    }
    int c = NOWNED + (int)(__atomic_fetch_add(&next_shared, 1, __ATOMIC_RELAXED) % NSHARED);
    slot_lock(&slot[c]);
    slot_first_use(&slot[c], c);
    slot_unlock(&slot[c]);
    shim_this_cpu = c + 1;
    return c;
}

unsigned long shim_lock_slow(void)
{
    struct shim_slot *s = shim_own;
    if (s == &shim_no_slot && shim_this_cpu == 0) {
        shim_first_cpu();
        if (shim_own != &shim_no_slot)
            return local_lock_irqsave(); // the fast way from now on
    }
    if (s != &shim_no_slot) { // the owner, and a remote worker is on its slot: wait, under the lock
        slot_lock(s);
        return (unsigned long)&s->lock;
    }
    s = &slot[shim_this_cpu - 1];
    if (nested == shim_this_cpu) // a cross-call on this slot: the caller holds it already
        return (unsigned long)&s->nest;
    slot_lock(s); // a shared slot, or locked sections
    return (unsigned long)&s->lock;
}

// ---- Remote workers: cross-calls, stop_machine, fork ----

// Hold slot s: its lock, and remote set, so its owner's next section waits.
// True if another thread owns it the fast way: then owners_barrier, and
// stop_wait, before its data is touched.
static bool stop(struct shim_slot *s)
{
    slot_lock(s);
    __atomic_store_n(&s->remote, 1, __ATOMIC_RELAXED);
    return __atomic_load_n(&fast, __ATOMIC_RELAXED) && s->state == SLOT_OWNED &&
           s->owner != lock_owner_self();
}

// See the top of the file. (After a fork the child inherits the
// registration; were it lost, registering again puts it back.)
static void owners_barrier(void)
{
    if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
        return;
    if (errno == EPERM && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
        membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
        return;
    panic("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed: errno %d", errno);
}

// The owner's section in progress, if any, ends.
static void stop_wait(struct shim_slot *s)
{
    while (__atomic_load_n(&s->busy, __ATOMIC_ACQUIRE) != 0)
        sched_yield();
}

static void restart(struct shim_slot *s)
{
    __atomic_store_n(&s->remote, 0, __ATOMIC_RELEASE);
    slot_unlock(s);
}

// Every slot held, in index order (two stoppers cannot deadlock), with one
// membarrier for all of them.
static void stop_all(void)
{
    bool barrier = false;
    for (int c = 0; c < NCPU; c++)
        barrier |= stop(&slot[c]);
    if (barrier)
        owners_barrier();
    for (int c = 0; c < NCPU; c++)
        stop_wait(&slot[c]);
}

static void restart_all(void)
{
    for (int c = NCPU - 1; c >= 0; c--)
        restart(&slot[c]);
}

static void no_lock_held(const char *who)
{
    if (shim_noff != 0)
        panic("%s called in atomic context (%d spin lock(s) held)", who, shim_noff);
}

// What this thread is, saved while it works as other cpus.
struct self {
    struct shim_slot *own;
    int cpu, nested;
};

static struct self self_save(void)
{
    struct self me = {shim_own, shim_this_cpu, nested};
    shim_own = &shim_no_slot; // sections go the slow way, which sees `nested`
    return me;
}

static void self_restore(struct self me)
{
    shim_own = me.own;
    shim_this_cpu = me.cpu;
    nested = me.nested;
}

// fn as cpu c, whose slot the caller holds: a section fn enters nests.
static void run_as(int c, void (*fn)(void *), void *arg)
{
    shim_this_cpu = nested = c + 1;
    fn(arg);
}

// All slots held at once, one membarrier: cross-calls are rare (reclaim,
// shrink, destroy), and each slot held alone would pay one each. Slots never
// used have no arrays and are skipped.
void on_each_cpu(void (*fn)(void *arg), void *arg)
{
    no_lock_held("on_each_cpu");
    stop_all();
    struct self me = self_save();
    for (int c = 0; c < NCPU; c++)
        if (__atomic_load_n(&slot[c].used, __ATOMIC_RELAXED))
            run_as(c, fn, arg);
    self_restore(me);
    restart_all();
}

int smp_call_function_single(int cpu, void (*fn)(void *arg), void *arg)
{
    no_lock_held("smp_call_function_single");
    if (cpu < 0 || cpu >= NCPU)
        return -EINVAL;
    struct shim_slot *s = &slot[cpu];
    if (stop(s))
        owners_barrier();
    stop_wait(s);
    struct self me = self_save();
    run_as(cpu, fn, arg);
    self_restore(me);
    restart(s);
    return 0;
}

// fn runs as the caller while every slot is held.
void stop_machine(void (*fn)(void *arg), void *arg)
{
    no_lock_held("stop_machine");
    int c = cpu_id(); // the caller's slot, taken before the world stops
    stop_all();
    struct self me = self_save();
    nested = c + 1;
    fn(arg);
    self_restore(me);
    restart_all();
}

// Every per-CPU section held by the caller until shim_sections_unlock_all:
// around fork(), before the allocator's locks (malloc_shim.c).
void shim_sections_lock_all(void)
{
    int c = cpu_id();
    fork_pid = getpid();
    stop_all();
    fork_own = shim_own;
    shim_own = &shim_no_slot;
    nested = c + 1;
}

// In the parent and in the child. The child has only this thread: the
// slots the others owned are free again, and their arrays' objects wait
// there for the slot's next owner (or reclaim, which visits every slot
// ever used).
void shim_sections_unlock_all(void)
{
    nested = 0;
    shim_own = fork_own;
    if (getpid() != fork_pid) {
        for (int c = 0; c < NOWNED; c++)
            if (slot[c].state == SLOT_OWNED && slot[c].owner != lock_owner_self()) {
                slot[c].state = SLOT_FREE;
                slot[c].owner = 0;
            }
    }
    restart_all();
}

// ---- Thread exit ----

// The key's destructor: the thread is exiting. glibc calls the destructors
// in rounds (up to PTHREAD_DESTRUCTOR_ITERATIONS) as long as values are set
// again; ours sets itself again once, so the slot goes in the second round,
// after every other key's first-round destructor, which may free. (Not the
// last round: ThreadSanitizer's own destructor takes that one, and a
// sanitized test program could not run ours after it.) Then the slot's
// arrays go back to the slabs, through the path reclaim takes, and the slot
// is free. What the thread frees later (glibc's own per-thread buffers)
// goes through a shared slot.
#define EXIT_ROUND 2

static void slot_exit(void *arg)
{
    if (++exit_rounds < EXIT_ROUND) {
        pthread_setspecific(slot_key, arg);
        return;
    }
    struct shim_slot *s = arg;
    if (shim_this_cpu == s->cpu[0] + 1 && s->owner == lock_owner_self()) {
        slab_cpu_offline(); // in our own section
        slot_lock(s);
        __atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_RELAXED);
        __atomic_store_n(&s->owner, 0, __ATOMIC_RELAXED);
        slot_unlock(s);
    }
    exited = true;
    shim_own = &shim_no_slot;
    shim_this_cpu = 0;
}

// ---- The rest of lib/platform.h ----

int spin_locks_held(void)
{
    return shim_noff;
}

const char *atomic_context(void)
{
    if (shim_noff > 0)
        return "spin lock held";
    if (shim_own != &shim_no_slot && __atomic_load_n(&shim_own->busy, __ATOMIC_RELAXED))
        return "per-CPU section";
    return NULL;
}

// Per thread: threads that share a cpu slot each reclaim for themselves.
static __thread unsigned long shim_current_flags __attribute__((tls_model("initial-exec")));

unsigned long *current_flags(void)
{
    return &shim_current_flags;
}

// Every index may be in use by some thread, so reclaim must visit them all.
int ncpu_online(void)
{
    return NCPU;
}

// Yield rather than spin: a lock holder may be preempted (2 cores, many threads).
void cpu_relax(void)
{
    sched_yield();
}

static int vprintk(const char *prefix, const char *fmt, va_list ap)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%s", prefix);
    n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
    if (n > (int)sizeof(buf) - 1)
        n = sizeof(buf) - 1;
    return (int)write(2, buf, n); // one write: lines from threads do not interleave
}

int printk(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintk("rvslab: ", fmt, ap);
    va_end(ap);
    return n;
}

void panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintk("rvslab: panic: ", fmt, ap);
    va_end(ap);
    write(2, "\n", 1);
    abort();
}

void run_on_all_cpus(void (*fn)(void *arg), void *arg)
{
    (void)fn;
    (void)arg;
    panic("run_on_all_cpus: not in librvslab.so (it is for the self-tests)");
}

// ---- For tests (found with dlsym) ----

// The calling thread's cpu slot (taken now if it has none).
EXPORT int rvslab_cpu_slot(void)
{
    return cpu_id();
}

// Slots: *ever, taken at least once; *owned, owned by a live thread now;
// *owned_max, how many threads can own one (the rest share the others).
// Returns whether owners take the fast way (membarrier sections).
EXPORT int rvslab_slots(int *ever, int *owned, int *owned_max)
{
    int e = 0, o = 0;
    for (int c = 0; c < NCPU; c++) {
        e += __atomic_load_n(&slot[c].used, __ATOMIC_RELAXED) != 0;
        o += __atomic_load_n(&slot[c].state, __ATOMIC_RELAXED) == SLOT_OWNED;
    }
    *ever = e;
    *owned = o;
    *owned_max = NOWNED;
    return fast;
}
