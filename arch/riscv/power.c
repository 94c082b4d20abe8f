// Power-off with an exit code.
//
// QEMU virt has a "sifive,test" finisher device: writing 0x5555 stops QEMU
// with exit status 0, writing (code << 16) | 0x3333 stops it with `code`.
// S-mode may write it directly (no PMP in the way on virt). SBI system reset
// is only the fallback: with OpenSBI on QEMU it always exits 0, whatever
// reason we give, so a failing test run would look like a pass.
#include "power.h"

#include "riscv.h"
#include "sbi.h"

#define FINISHER_PASS 0x5555
#define FINISHER_FAIL 0x3333

static volatile uint32_t *finisher;

void power_set_finisher(uintptr_t addr)
{
    finisher = (volatile uint32_t *)addr;
}

void power_off(int code)
{
    if (code != 0 && (code < 1 || code > 255))
        code = 255; // QEMU takes the code mod 256: never let a failure wrap to 0
    if (finisher)
        *finisher = code == 0 ? FINISHER_PASS : ((uint32_t)code << 16) | FINISHER_FAIL;
    sbi_system_reset(0 /* shutdown */, code == 0 ? 0 : 1 /* system failure */);
    sbi_legacy_shutdown();
    for (;;)
        wfi();
}
