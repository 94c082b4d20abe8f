// Calls into OpenSBI (the SBI, RISC-V Supervisor Binary Interface, v2.0).
// An ecall with the extension id in a7 and the function id in a6; the
// result comes back as (error, value) in a0/a1.
#ifndef SBI_H
#define SBI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SBI_EXT_LEGACY_SET_TIMER 0x00
#define SBI_EXT_LEGACY_PUTCHAR   0x01
#define SBI_EXT_LEGACY_SEND_IPI  0x04
#define SBI_EXT_LEGACY_SHUTDOWN  0x08
#define SBI_EXT_BASE             0x10
#define SBI_EXT_TIME             0x54494D45 // "TIME"
#define SBI_EXT_IPI              0x735049   // "sPI"
#define SBI_EXT_HSM              0x48534D   // "HSM"
#define SBI_EXT_SRST             0x53525354 // "SRST"
#define SBI_EXT_DBCN             0x4442434E // "DBCN"

#define SBI_SUCCESS           0
#define SBI_HSM_STARTED       0 // sbi_hart_status() values
#define SBI_HSM_STOPPED       1
#define SBI_HSM_START_PENDING 2

struct sbiret {
    long error; // SBI_SUCCESS or a negative SBI_ERR_*
    long value;
};

// What the firmware offers, probed once by sbi_init() on the boot hart.
struct sbi_features {
    unsigned long spec_version, impl_id, impl_version;
    bool base, dbcn, hsm, ipi, srst, time;
};
extern struct sbi_features sbi;

struct sbiret sbi_ecall(long ext, long fid, unsigned long a0, unsigned long a1, unsigned long a2);
void sbi_init(void);
const char *sbi_impl_name(void);
void sbi_console_write(const char *s, size_t n); // DBCN if present, else legacy putchar
long sbi_hart_start(unsigned long hartid, unsigned long start_addr, unsigned long opaque);
long sbi_hart_status(unsigned long hartid); // SBI_HSM_*, or a negative error
long sbi_send_ipi_to(unsigned long hartid); // one hart; 0 or a negative error
void sbi_set_timer(uint64_t when); // timer interrupt when time >= when; clears a pending one
void sbi_system_reset(uint32_t type, uint32_t reason); // returns only if it failed
void sbi_legacy_shutdown(void);

#endif
