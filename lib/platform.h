// The platform as the portable code in lib/ and mm/ sees it: this file is the
// whole contract. The kernel implements it in arch/riscv/ (include/
// platform_inline.h, smp.c, smp_call.c, console.c); the host test build in
// tests/host/platform.c, where each thread is a cpu; librvslab.so in
// tests/host/platform_shim.c. Nothing in mm/ or lib/ includes an arch/ header.
//
// ---- Interrupt rules and allocation contexts (the kernel; the host has no
// interrupts, but its spin locks and sections follow the same rules) -------
//
//  1. Code runs with interrupts on, except inside a critical section: a spin
//     lock held, a per-CPU section, or an interrupt handler (the trap entry
//     turns them off and the handler never turns them back on). Interrupt
//     handlers run on a stack of their own, one per cpu.
//  2. Every spin lock holder has interrupts off: spin_lock() calls push_off()
//     and spin_unlock() pop_off() (xv6's discipline). So an interrupt handler
//     can take any lock: the cpu it interrupts holds none.
//  3. A per-CPU section (local_lock_irqsave) is interrupts off and nothing
//     else: the owning cpu alone touches its per-CPU data there (the slab
//     layer's array_cache), so an interrupt handler that allocates cannot
//     find an array half-changed. Other cpus never touch that data: they ask
//     the owner with a cross-call (on_each_cpu), whose function runs in the
//     owner's section.
//  4. Atomic context is all three of these: an interrupt handler, a spin
//     lock held, interrupts off (a per-CPU section among them);
//     atomic_context() says which. Code there never waits for another cpu:
//     smp_call_function, on_each_cpu and stop_machine panic when called
//     there, naming the caller. An allocation there says GFP_ATOMIC or
//     GFP_NOWAIT (mm/gfp.h); a GFP_KERNEL one is reported once per call site
//     and served as GFP_ATOMIC, whose reclaim empties only this cpu's own
//     per-CPU arrays and frees the empty slabs it finds. So an interrupt
//     handler that runs out of memory never cross-calls.
//  5. A cpu waiting for a cross-call runs the calls queued for it meanwhile,
//     and a cpu spinning for its outermost lock lets interrupts in while it
//     waits if they were on before; so two cpus calling each other cannot
//     deadlock, and every lock holder gets to finish, since it waits for no
//     one.
//  6. Lock order: chain_lock (the list of caches) -> a cache's lock -> the
//     buddy zone lock. The slab layer never holds a lock while it asks the
//     buddy allocator for frames: a failed GFP_KERNEL request calls
//     slab_reclaim, which drains every cpu by cross-call.
#ifndef PLATFORM_H
#define PLATFORM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef NCPU
#define NCPU 8 // most cpus (dense indices 0..NCPU-1) the code is built for
#endif

#define PAGE_SHIFT 12
#define PAGE_SIZE  (1UL << PAGE_SHIFT)

#define likely(x)        __builtin_expect(!!(x), 1)
#define unlikely(x)      __builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a)    (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a)   (((x) + (a)-1) & ~((uintptr_t)(a)-1))
#define IS_POWER_OF_2(x) ((x) != 0 && ((x) & ((x)-1)) == 0)
#define MIN(a, b)        ((a) < (b) ? (a) : (b))
#define MAX(a, b)        ((a) > (b) ? (a) : (b))

// A load or store another cpu may do at the same time (Linux's READ_ONCE
// and WRITE_ONCE): relaxed atomics, which TSan understands. GCC before 13
// turns a relaxed atomic store into an amoswap on RISC-V; there a volatile
// store is the plain sw/sd the memory model asks for.
#if defined(__riscv) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#else
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#endif
#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

// A pointer another cpu published with a release store, read to load
// through it (Linux's rcu_dereference): the address dependency orders those
// loads after this one on every cpu the code runs on, so a plain load will
// do. ThreadSanitizer does not know that rule; under it, an acquire load.
#if defined(__SANITIZE_THREAD__)
#define PLATFORM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PLATFORM_TSAN 1
#endif
#endif
#ifdef PLATFORM_TSAN
#define READ_PUBLISHED(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#else
#define READ_PUBLISHED(x) READ_ONCE(x)
#endif

// The primitives below that run on every slab alloc and free may be inline:
// a build puts a <platform_inline.h> on its include path that defines them
// and PLATFORM_INLINE (the kernel's is arch/riscv/include/platform_inline.h).
// Without one they are ordinary functions (the host test build).
#if __has_include(<platform_inline.h>)
#include <platform_inline.h>
#endif
#ifndef PLATFORM_INLINE
int cpu_id(void);                      // dense index of the calling cpu, 0..NCPU-1
unsigned long irq_save(void);          // interrupts off on this cpu; returns the old state
void irq_restore(unsigned long flags); // back to the state irq_save returned
void push_off(void); // interrupts off, nested: the first push remembers if they were on
void pop_off(void);  // undo one push_off; the last one turns them back on if they were
// The per-CPU section, Linux's local_lock_irqsave: until the matching
// unlock, this cpu's per-CPU data is the caller's alone. Kernel: interrupts
// off, nothing more. Host: the cpu slot's lock (threads stand for cpus and
// may be preempted). Sections do not nest.
unsigned long local_lock_irqsave(void);
void local_unlock_irqrestore(unsigned long flags);
long lock_owner_self(void); // who takes a spin lock: the cpu (kernel), the thread (host)
// NULL in process context; in atomic context (rule 4), what makes it so:
// "interrupt handler", "spin lock held", "interrupts off". The kernel's boot
// hart, before its interrupts are first turned on, counts as process context.
const char *atomic_context(void);
#endif
// The per-CPU section the quick way, if there is one: true with *flags set
// as local_lock_irqsave would; false (no section entered) when the caller
// must take local_lock_irqsave, which may wait. The slab fast paths then
// make the whole operation a tail call. Kernel: always the quick way.
#ifndef PLATFORM_HAS_TRYLOCK
static inline bool local_trylock_irqsave(unsigned long *flags)
{
    *flags = local_lock_irqsave();
    return true;
}
#endif
// Inside a per-CPU section, the cpu whose section local_lock_irqsave's
// `flags` stand for: cpu_id(). A build whose flags already say which cpu
// may read it from them instead (librvslab.so: the slot's own line, not a
// second look at thread-local storage).
#ifndef local_lock_cpu
#define local_lock_cpu(flags) ((void)(flags), cpu_id())
#endif
// Written once at start-up, read on every alloc or free (Linux's
// __read_mostly): a build may keep such globals in cache lines of their own,
// which no run-time write takes away from the cpus reading them.
#ifndef __read_mostly
#define __read_mostly
#endif
// On the declarations of mm's globals that the fast paths read (mem_map,
// the kmalloc table): a shared-library build (librvslab.so) makes them
// hidden, so that the compiler loads them directly, not through the GOT.
#ifndef __mm_internal
#define __mm_internal
#endif

void cpu_relax(void);      // a hint inside a spin loop; may run cross-calls (rule 5)
int spin_locks_held(void); // push_off depth: spin locks this cpu (host: thread) holds
// The running context's flags word (Linux's current->flags; mm/gfp.h's PF_*
// bits): the thread's on the host, and in the kernel one per cpu for task
// code and one for its interrupt handler, which do not nest.
unsigned long *current_flags(void);
int ncpu_online(void);           // how many cpus are running: indices 0..ncpu_online()-1
int printk(const char *fmt, ...) // whole lines never interleave between cpus
    __attribute__((format(printf, 1, 2)));
_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// ---- Running code on other cpus ----

// Cross-calls (Linux's on_each_cpu and smp_call_function_single, with
// wait): fn(arg) runs on the cpu(s) inside their per-CPU section and may
// touch their per-CPU data; keep it short. The caller is not in atomic
// context (rule 4): it holds no lock, is in no section or interrupt handler. Kernel: an IPI and a
// per-CPU call queue. Host: the caller runs fn itself as that cpu, holding the cpu slot's lock.
void on_each_cpu(void (*fn)(void *arg), void *arg); // every online cpu, the caller's too
int smp_call_function_single(int cpu, void (*fn)(void *arg), void *arg); // 0, -EINVAL offline

// fn(arg) runs on this cpu while every other online cpu waits outside any
// per-CPU section and lock (Linux's stop_machine): no array_cache changes
// meanwhile. For slab_validate. Same caller rules as on_each_cpu.
void stop_machine(void (*fn)(void *arg), void *arg);

// For the self-tests and benchmarks: fn(arg) runs on every online cpu as
// ordinary code (interrupts on, no section), all starting together; returns
// when all have finished. fn may run long and may allocate, spin and wait
// for other cpus. Unlike on_each_cpu, it is not for mm/.
void run_on_all_cpus(void (*fn)(void *arg), void *arg);

#endif
