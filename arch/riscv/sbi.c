#include "sbi.h"

struct sbi_features sbi;

struct sbiret sbi_ecall(long ext, long fid, unsigned long a0, unsigned long a1, unsigned long a2)
{
    register unsigned long r_a0 asm("a0") = a0;
    register unsigned long r_a1 asm("a1") = a1;
    register unsigned long r_a2 asm("a2") = a2;
    register long r_a6 asm("a6") = fid;
    register long r_a7 asm("a7") = ext;
    asm volatile("ecall" : "+r"(r_a0), "+r"(r_a1) : "r"(r_a2), "r"(r_a6), "r"(r_a7) : "memory");
    return (struct sbiret){.error = (long)r_a0, .value = (long)r_a1};
}

// The legacy (v0.1) calls return one value in a0.
static long sbi_legacy(long ext, unsigned long a0)
{
    return sbi_ecall(ext, 0, a0, 0, 0).error;
}

static bool probe(long ext)
{
    struct sbiret r = sbi_ecall(SBI_EXT_BASE, 3, ext, 0, 0); // probe_extension
    return r.error == SBI_SUCCESS && r.value != 0;
}

void sbi_init(void)
{
    // The base extension exists from SBI v0.2 on; a v0.1 firmware answers
    // get_spec_version with an error, and then only the legacy calls work.
    struct sbiret r = sbi_ecall(SBI_EXT_BASE, 0, 0, 0, 0);
    if (r.error != SBI_SUCCESS)
        return;
    sbi.base = true;
    sbi.spec_version = r.value;
    sbi.impl_id = sbi_ecall(SBI_EXT_BASE, 1, 0, 0, 0).value;
    sbi.impl_version = sbi_ecall(SBI_EXT_BASE, 2, 0, 0, 0).value;
    sbi.dbcn = probe(SBI_EXT_DBCN);
    sbi.hsm = probe(SBI_EXT_HSM);
    sbi.ipi = probe(SBI_EXT_IPI);
    sbi.srst = probe(SBI_EXT_SRST);
    sbi.time = probe(SBI_EXT_TIME);
}

const char *sbi_impl_name(void)
{
    static const char *const names[] = {"BBL", "OpenSBI", "Xvisor", "KVM", "RustSBI", "Diosix"};
    if (!sbi.base)
        return "legacy SBI v0.1";
    return sbi.impl_id < sizeof(names) / sizeof(names[0]) ? names[sbi.impl_id] : "unknown";
}

void sbi_console_write(const char *s, size_t n)
{
    // DBCN takes a physical address; paging is off, so a pointer is one.
    // It may write fewer bytes than asked: go on from where it stopped.
    while (sbi.dbcn && n > 0) {
        struct sbiret r = sbi_ecall(SBI_EXT_DBCN, 0, n, (uintptr_t)s, 0);
        if (r.error != SBI_SUCCESS)
            break; // fall back to putchar for the rest
        s += r.value;
        n -= (size_t)r.value;
    }
    for (size_t i = 0; i < n; i++)
        sbi_legacy(SBI_EXT_LEGACY_PUTCHAR, (unsigned char)s[i]);
}

long sbi_hart_start(unsigned long hartid, unsigned long start_addr, unsigned long opaque)
{
    return sbi_ecall(SBI_EXT_HSM, 0, hartid, start_addr, opaque).error;
}

long sbi_hart_status(unsigned long hartid)
{
    struct sbiret r = sbi_ecall(SBI_EXT_HSM, 2, hartid, 0, 0);
    return r.error != SBI_SUCCESS ? r.error : r.value;
}

long sbi_send_ipi_to(unsigned long hartid)
{
    if (sbi.ipi) // hart_mask = bit 0, hart_mask_base = hartid: any id, however large
        return sbi_ecall(SBI_EXT_IPI, 0, 1, hartid, 0).error;
    if (hartid >= 8 * sizeof(unsigned long))
        return -1;
    unsigned long mask = 1UL << hartid; // legacy: a pointer to a mask of harts 0..63
    return sbi_legacy(SBI_EXT_LEGACY_SEND_IPI, (uintptr_t)&mask);
}

void sbi_system_reset(uint32_t type, uint32_t reason)
{
    if (sbi.srst)
        sbi_ecall(SBI_EXT_SRST, 0, type, reason, 0);
}

void sbi_legacy_shutdown(void)
{
    sbi_legacy(SBI_EXT_LEGACY_SHUTDOWN, 0);
}

void sbi_set_timer(uint64_t when)
{
    if (sbi.time)
        sbi_ecall(SBI_EXT_TIME, 0, when, 0, 0);
    else
        sbi_legacy(SBI_EXT_LEGACY_SET_TIMER, when);
}
