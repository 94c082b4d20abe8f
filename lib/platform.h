// The platform as the portable code in lib/ and mm/ sees it.
// The kernel implements it in arch/riscv/ (include/platform_inline.h,
// console.c, smp.c); the host test
// build implements it in tests/host/platform.c. Nothing in mm/ or lib/
// includes an arch/ header: this file is the whole contract.
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

// cpu_id, irq_save/irq_restore and cpu_relax run on every slab alloc and
// free, so a build may provide them inline: a <platform_inline.h> on its
// include path (the kernel's is arch/riscv/include/platform_inline.h).
// Without one they are ordinary functions (the host build: tests/host/).
#if __has_include(<platform_inline.h>)
#include <platform_inline.h>
#else
int cpu_id(void);             // dense index of the calling cpu, 0..NCPU-1
unsigned long irq_save(void); // interrupts off on this cpu; returns the old state
void irq_restore(unsigned long flags);
void cpu_relax(void); // hint inside a spin loop
#endif
int ncpu_online(void);           // how many cpus are running
int printk(const char *fmt, ...) // whole lines never interleave between cpus
    __attribute__((format(printf, 1, 2)));
_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Run fn(arg) on every online cpu (the caller's too) and return when all
// have finished. Used by the self-tests and by reclaim.
void on_each_cpu(void (*fn)(void *arg), void *arg);

#define likely(x)        __builtin_expect(!!(x), 1)
#define unlikely(x)      __builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a)    (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a)   (((x) + (a)-1) & ~((uintptr_t)(a)-1))
#define IS_POWER_OF_2(x) ((x) != 0 && ((x) & ((x)-1)) == 0)
#define MIN(a, b)        ((a) < (b) ? (a) : (b))
#define MAX(a, b)        ((a) > (b) ? (a) : (b))

#endif
