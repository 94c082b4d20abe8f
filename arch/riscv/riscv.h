// CSR access and the few RISC-V instructions the kernel needs, as inline C.
// Only S-mode CSRs: OpenSBI owns M-mode.
#ifndef RISCV_H
#define RISCV_H

#include <stdint.h>

#define csr_read(csr)                                                                              \
    ({                                                                                             \
        unsigned long v_;                                                                          \
        asm volatile("csrr %0, " #csr : "=r"(v_));                                                 \
        v_;                                                                                        \
    })
#define csr_write(csr, val)  asm volatile("csrw " #csr ", %0" ::"rK"(val) : "memory")
#define csr_set(csr, bits)   asm volatile("csrs " #csr ", %0" ::"rK"(bits) : "memory")
#define csr_clear(csr, bits) asm volatile("csrc " #csr ", %0" ::"rK"(bits) : "memory")
// Clear bits and return the old value, in one instruction (so nothing can
// run between reading and clearing).
#define csr_read_clear(csr, bits)                                                                  \
    ({                                                                                             \
        unsigned long v_;                                                                          \
        asm volatile("csrrc %0, " #csr ", %1" : "=r"(v_) : "rK"(bits) : "memory");                 \
        v_;                                                                                        \
    })

#define SSTATUS_SIE (1UL << 1) // interrupts on in S-mode
#define SIE_SSIE    (1UL << 1) // supervisor software interrupt (the IPI) enabled
#define SIP_SSIP    (1UL << 1) // ... and pending
#define SIE_STIE    (1UL << 5) // supervisor timer interrupt enabled
#define SIP_STIP    (1UL << 5) // ... and pending
#define SCAUSE_INTR (1UL << 63)
#define IRQ_S_SOFT  1 // scause codes of the interrupts the kernel takes
#define IRQ_S_TIMER 5
#define EXC_ILLEGAL 2 // scause: illegal instruction

// Sstc's supervisor timer compare register. By number: binutils 2.40 may
// not know its name.
#define CSR_STIMECMP 0x14d

// tp holds this hart's id from its first instruction (entry.S) on.
static inline unsigned long r_tp(void)
{
    unsigned long x;
    asm volatile("mv %0, tp" : "=r"(x));
    return x;
}

static inline unsigned long r_fp(void)
{
    unsigned long x;
    asm volatile("mv %0, s0" : "=r"(x));
    return x;
}

static inline unsigned long r_sp(void)
{
    unsigned long x;
    asm volatile("mv %0, sp" : "=r"(x));
    return x;
}

// The time CSR counts at the device tree's timebase-frequency.
static inline uint64_t r_time(void)
{
    return csr_read(time);
}

static inline void wfi(void)
{
    asm volatile("wfi" ::: "memory");
}

#endif
