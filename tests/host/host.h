// Helpers shared by the host test programs.
#ifndef HOST_H
#define HOST_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

extern int host_ncpu;        // cpus (threads) run_on_all_cpus uses; at most NCPU
extern size_t host_mem_bytes; // the runner's "RAM" (--mem)
void host_set_cpu(int cpu);
extern bool host_quiet; // printk prints nothing (fuzzers)

// Reserve `size` bytes of "RAM" aligned to the largest buddy block and hand it
// to buddy_init with a reserved "firmware" region at its start, as in the
// kernel. Returns the base; aborts if the host has no memory.
uintptr_t host_ram_init(size_t size);

#endif
