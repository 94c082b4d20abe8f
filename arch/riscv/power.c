// Power-off with an exit code, on every machine OpenSBI boots us on.
//
// 1. QEMU virt has a "sifive,test" finisher device: writing 0x5555 stops
//    QEMU with exit status 0, writing (code << 16) | 0x3333 stops it with
//    `code`. S-mode may write it directly (no PMP in the way on virt).
// 2. QEMU spike has HTIF instead: writing (code << 1) | 1 to its tohost
//    register (device 0, command 0: exit) stops QEMU with `code`. OpenSBI
//    1.1's own SBI shutdown there spins forever without writing it when
//    HTIF sits at an address the device tree gives (QEMU 7.2's spike does),
//    so we write it ourselves. QEMU's device takes tohost as two 32-bit
//    halves, low then high, and acts on the high one: two 32-bit stores
//    in that order suit it whatever a 64-bit store would be split into.
// 3. SBI system reset, shutdown: with OpenSBI on QEMU it always exits 0,
//    whatever reason we give, so there a failing run looks like a pass
//    (the harness then judges the KTAP output, and says so).
// 4. Where the platform has no shutdown device (QEMU sifive_u with OpenSBI
//    1.1) that is refused as "not supported"; a cold reboot is not, and
//    under QEMU's -no-reboot it ends the run. (On a board it reboots.)
// 5. The legacy SBI shutdown call, which on such a platform never returns.
#include "power.h"

#include "riscv.h"
#include "sbi.h"

#define FINISHER_PASS 0x5555
#define FINISHER_FAIL 0x3333

static volatile uint32_t *finisher, *htif_tohost;

void power_set_finisher(uintptr_t addr)
{
    finisher = (volatile uint32_t *)addr;
}

void power_set_htif(uintptr_t tohost)
{
    htif_tohost = (volatile uint32_t *)tohost;
}

void power_off(int code)
{
    if (code != 0 && (code < 1 || code > 255))
        code = 255; // QEMU takes the code mod 256: never let a failure wrap to 0
    if (finisher)
        *finisher = code == 0 ? FINISHER_PASS : ((uint32_t)code << 16) | FINISHER_FAIL;
    if (htif_tohost) {
        uint64_t cmd = (uint64_t)code << 1 | 1;
        htif_tohost[0] = (uint32_t)cmd;
        htif_tohost[1] = (uint32_t)(cmd >> 32);
    }
    uint32_t reason = code == 0 ? 0 : 1; // no reason, or system failure
    sbi_system_reset(0 /* shutdown */, reason);
    sbi_system_reset(1 /* cold reboot */, reason);
    sbi_legacy_shutdown();
    for (;;)
        wfi();
}
