// Shared pieces of the host malloc bench: the allocator under test as a
// pair of calls, timers, a random generator and the memory probes.
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// What a workload calls. Every allocator is reached through these two
// pointers, the empty baseline too, so the loop around them costs the same
// for all and callgrind can subtract it.
struct ops {
    const char *name;
    void *(*alloc)(size_t size, size_t align); // align 0 or <= 16: plain malloc
    void (*free)(void *p);
};

extern const struct ops libc_ops;    // malloc/free/posix_memalign: whatever LD_PRELOAD gave us
extern const struct ops empty_ops;   // no allocator at all: the loop's own cost
extern const struct ops cache_ops;   // rvslab's kmem_cache_alloc/free on one 64 B cache
bool cache_ops_setup(void);          // false when not running on librvslab.so
extern const struct ops kmalloc_ops; // rvslab's kmalloc/kfree, no malloc rounding (--kmalloc)
bool kmalloc_ops_setup(void);        // false when not running on librvslab.so

// Wall clock for loops (ns), and a tick probe for single operations:
// rdtscp on x86-64 (TSC ticks, as the rslab bench used), else ns.
uint64_t now_ns(void);
uint64_t tick(void);
const char *tick_unit(void);

// xorshift64*: cheap, and the same sequence for every allocator.
static inline uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

// Memory the harness itself uses comes from mmap, never from the allocator
// under test; it is touched up front and counted in the RSS baseline.
void *bench_map(size_t bytes);

// Memory probes. "Held" is what the allocator took from below: frames from
// rvslab's buddy allocator, else the process RSS. mem_mode turns sampling on.
extern bool mem_mode;
void mem_begin(void);             // record the baseline
void mem_sample(size_t req_live); // a candidate peak: bytes the program holds now
void mem_end(size_t req_live);    // the workload's last live set, before free-all
void mem_report(const char *name);

#define unlikely(x) __builtin_expect(!!(x), 0)

// One sorted-sample summary (ticks).
struct dist {
    double median, mean, p99, max;
};
struct dist summarise(uint64_t *v, size_t n); // sorts v

#endif
