// The first instructions. OpenSBI jumps here in S-mode on the boot hart with
// a0 = hart id, a1 = device tree address; SBI HSM hart_start brings the other
// harts to secondary_entry with a0 = hart id, a1 = the opaque value we passed
// (their dense cpu index; but see late_hart). Paging is off, interrupts are off.
#include "cpu.h"

// The C code is compiled for the Zba and Zbb extensions (the Makefile's
// -march; sh3add forms an array element's address in one instruction, which
// the per-CPU fast paths do three times an operation). RVA22 makes both
// mandatory and QEMU's virt cpus have them; a hart without them would stop
// at the first such instruction in C with an illegal-instruction trap. So
// each hart tries one of each first, with a trap vector of its own, and
// says what is missing instead (a build with BITMANIP= has nothing to
// check). Uses t0 only.
.macro CHECK_BITMANIP
#if defined(__riscv_zba) || defined(__riscv_zbb)
        la      t0, no_bitmanip
        csrw    stvec, t0
#ifdef __riscv_zba
        sh3add  t0, zero, zero
#endif
#ifdef __riscv_zbb
        andn    t0, zero, zero
#endif
        csrw    stvec, zero             // kmain sets the real one
#endif
.endm

        .section .text.entry, "ax"
        .globl _start
_start:
        mv      tp, a0                  // hart id in tp, before anything else
        .option push                    // gp: the base of gp-relative loads (kernel.ld)
        .option norelax
        la      gp, __global_pointer$
        .option pop

        // OpenSBI sends only the boot hart here and keeps the others stopped
        // until we ask HSM for them. A firmware without HSM might send every
        // hart at once: the first to swap in 1 boots, the others park.
        la      t0, boot_lottery
        li      t1, 1
        amoswap.w t1, t1, (t0)
        bnez    t1, late_hart
        CHECK_BITMANIP

        // Clear BSS. The stacks live in BSS, so no stack may be used before this.
        la      t0, __bss_start
        la      t1, __bss_end
1:      bgeu    t0, t1, 2f
        sd      zero, 0(t0)
        addi    t0, t0, 8
        j       1b
2:
        csrw    sscratch, zero          // dense cpu index 0
        la      sp, cpu_stacks
        li      t0, KSTACK_SIZE
        add     sp, sp, t0              // stacks grow down from the top of cpu 0's
        li      s0, 0                   // frame pointer 0 ends a backtrace
        call    kmain                   // kmain(hartid, dtb), never returns
        j       park

        .align  2
        .globl secondary_entry
secondary_entry:
        mv      tp, a0                  // hart id in tp, before anything else
        .option push
        .option norelax
        la      gp, __global_pointer$
        .option pop
        CHECK_BITMANIP
        la      t0, hsm_starting_hartid // the boot hart's record beats a1 (see late_hart)
        ld      t1, 0(t0)
        bne     t1, a0, 4f
        la      t0, hsm_starting_cpu
        ld      a1, 0(t0)
4:      csrw    sscratch, a1            // dense cpu index, chosen by the boot hart
        addi    t0, a1, 1
        li      t1, KSTACK_SIZE
        mul     t0, t0, t1
        la      sp, cpu_stacks
        add     sp, sp, t0              // top of cpu_stacks[a1]
        li      s0, 0
        call    secondary_main          // secondary_main(hartid, cpu), never returns
        j       park

        // A hart that HSM is starting can land at _start instead of at
        // secondary_entry, with the DTB in a1 instead of its cpu index: the
        // OpenSBI here (1.1) marks a hart "starting" before it stores the new
        // start address and argument, and the hart, polling that state, can
        // leave with the old ones (_start, the DTB), or with one old and one
        // new. We saw it under heavy host load. So smp_boot() records the hart
        // it is starting and its cpu index, and both entries believe that.
late_hart:
        la      t0, hsm_starting_hartid
        ld      t1, 0(t0)
        beq     t1, a0, secondary_entry
        // fall through: a hart nobody is starting

park:
        csrw    sie, zero
3:      wfi
        j       3b

        // A hart trapped in CHECK_BITMANIP: say so on the SBI console
        // (DBCN, else the legacy putchar), power off (SRST, else the legacy
        // shutdown), and park if both are missing.
        .align  2
no_bitmanip:
        la      a1, bitmanip_msg
        la      a0, bitmanip_msg_end
        sub     a0, a0, a1
        li      a2, 0
        li      a6, 0                   // DBCN write: a0 bytes at a1
        li      a7, 0x4442434E
        ecall
        beqz    a0, 6f
        la      t0, bitmanip_msg
        la      t1, bitmanip_msg_end
5:      lbu     a0, 0(t0)
        li      a7, 1                   // legacy console_putchar
        ecall
        addi    t0, t0, 1
        bltu    t0, t1, 5b
6:      li      a0, 0                   // SRST: shutdown, system failure
        li      a1, 1
        li      a6, 0
        li      a7, 0x53525354
        ecall
        li      a7, 8                   // legacy shutdown
        ecall
        j       park

        .section .rodata
bitmanip_msg:
        .ascii  "rvslab: this hart lacks the Zba or Zbb extension that the kernel is built for "
        .ascii  "(Makefile MARCH_CC; QEMU's default virt cpu has both); stopping\n"
bitmanip_msg_end:

        .section .data
        .align  2
boot_lottery:                           // in .data, not .bss: the BSS clear must not reset it
        .word   0
