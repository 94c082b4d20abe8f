// The S-mode trap vector: interrupts (the tick, IPIs) and exceptions alike.
// There is no user mode, so a trap always comes from the kernel. Save every
// register in a struct trapframe (x0 needs no slot; x2's holds the
// interrupted sp, for reports and for the way back), call kernel_trap
// (trap.c), restore them all and sret, which resumes the interrupted code
// with SIE as it was.
//
// The frame and the handler go on this hart's interrupt stack, not on the
// stack of the code interrupted: a task stack then needs room for its own
// calls only, not for theirs plus the deepest handler's, and the handlers'
// depth is measured apart (stackinfo). A trap taken on the interrupt stack
// already -- an exception inside a handler, as the stimecmp probe can be --
// stays there, below the frame of the handler it interrupted: starting
// again at the top would overwrite that frame.
//
// Until they are saved every register belongs to the interrupted code, and
// sscratch (the cpu index, which cpu_id() reads) and tp (the hart id) must
// keep theirs. So t0 and t1 are first parked in a pair of slots just below
// the interrupted sp (the ABI keeps nothing live below sp), and only those
// two find the interrupt stack.
#include "cpu.h"

        .section .text
        .globl kernelvec
        .align  4                       // stvec direct mode: 4-byte aligned base
kernelvec:
        addi    sp, sp, -16
        sd      t0, 0(sp)
        sd      t1, 8(sp)
        csrr    t0, sscratch
        addi    t0, t0, 1
        slli    t0, t0, IRQ_STACK_SHIFT
        la      t1, irq_stacks
        add     t0, t0, t1              // t0: the top of this hart's interrupt stack
        sub     t1, t0, sp
        addi    t1, t1, -1
        srli    t1, t1, IRQ_STACK_SHIFT // 0 iff top - IRQ_STACK_SIZE <= sp < top
        bnez    t1, 1f
        mv      t0, sp                  // on it already: a trap inside a handler
1:      mv      t1, sp                  // t1: the parked pair
        mv      sp, t0

        addi    sp, sp, -256            // struct trapframe: x0..x31, 8 bytes each
        sd      x1, 8(sp)
        sd      x3, 24(sp)
        sd      x4, 32(sp)
        sd      x7, 56(sp)
        sd      x8, 64(sp)
        sd      x9, 72(sp)
        sd      x10, 80(sp)
        sd      x11, 88(sp)
        sd      x12, 96(sp)
        sd      x13, 104(sp)
        sd      x14, 112(sp)
        sd      x15, 120(sp)
        sd      x16, 128(sp)
        sd      x17, 136(sp)
        sd      x18, 144(sp)
        sd      x19, 152(sp)
        sd      x20, 160(sp)
        sd      x21, 168(sp)
        sd      x22, 176(sp)
        sd      x23, 184(sp)
        sd      x24, 192(sp)
        sd      x25, 200(sp)
        sd      x26, 208(sp)
        sd      x27, 216(sp)
        sd      x28, 224(sp)
        sd      x29, 232(sp)
        sd      x30, 240(sp)
        sd      x31, 248(sp)
        ld      t0, 0(t1)               // x5 and x6 from the parked pair
        sd      t0, 40(sp)
        ld      t0, 8(t1)
        sd      t0, 48(sp)
        addi    t1, t1, 16
        sd      t1, 16(sp)              // x2: the sp before the trap

        mv      a0, sp
        call    kernel_trap

        ld      x1, 8(sp)
        ld      x3, 24(sp)
        ld      x4, 32(sp)
        ld      x5, 40(sp)
        ld      x6, 48(sp)
        ld      x7, 56(sp)
        ld      x8, 64(sp)
        ld      x9, 72(sp)
        ld      x10, 80(sp)
        ld      x11, 88(sp)
        ld      x12, 96(sp)
        ld      x13, 104(sp)
        ld      x14, 112(sp)
        ld      x15, 120(sp)
        ld      x16, 128(sp)
        ld      x17, 136(sp)
        ld      x18, 144(sp)
        ld      x19, 152(sp)
        ld      x20, 160(sp)
        ld      x21, 168(sp)
        ld      x22, 176(sp)
        ld      x23, 184(sp)
        ld      x24, 192(sp)
        ld      x25, 200(sp)
        ld      x26, 208(sp)
        ld      x27, 216(sp)
        ld      x28, 224(sp)
        ld      x29, 232(sp)
        ld      x30, 240(sp)
        ld      x31, 248(sp)
        ld      sp, 16(sp)              // last: back to the interrupted stack
        sret
