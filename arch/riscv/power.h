// Ending the run: QEMU's exit status tells the test harness pass or fail.
#ifndef POWER_H
#define POWER_H

#include <stdint.h>

// Exit codes (QEMU's exit status when the sifive,test finisher or HTIF is present).
enum {
    EXIT_OK = 0,
    EXIT_TESTS_FAILED = 1, // ktest: at least one case failed
    EXIT_PANIC = 2,        // panic() or an unexpected trap
    EXIT_BAD_BOOTARGS = 3, // an unknown word in /chosen/bootargs
};

void power_set_finisher(uintptr_t addr); // from the device tree; 0 if there is none
void power_set_htif(uintptr_t tohost);   // the same for spike's HTIF tohost register
_Noreturn void power_off(int code);

#endif
