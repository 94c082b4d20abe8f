// What the kernel learns from the flattened device tree (FDT) that the
// firmware passes in a1. Nothing about the machine is hard-coded elsewhere:
// RAM, harts, firmware-reserved memory, boot arguments and the power-off
// device all come from here.
#ifndef FDT_H
#define FDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDT_MAX_HARTS  64 // /cpus entries remembered; more are counted and reported
#define FDT_MAX_RANGES 16 // memory ranges and reserved regions each

struct fdt_range {
    uint64_t base, size;
    const char *name; // node name (points into the DTB), or "/memreserve/"
};

struct fdt_hart {
    unsigned long hartid; // the cpu node's reg
    bool enabled;         // status absent, "okay" or "ok"
    bool has_mmu;         // mmu-type present and not "riscv,none": can run S-mode
    const char *isa;      // riscv,isa (points into the DTB), or NULL
};

struct fdt_info {
    uintptr_t dtb; // where the blob is, and its totalsize: keep it out of free memory
    size_t dtb_size;
    const char *model;
    struct fdt_range memory[FDT_MAX_RANGES]; // every reg range of every memory node
    int nmemory;
    struct fdt_range reserved[FDT_MAX_RANGES]; // /reserved-memory children and /memreserve/
    int nreserved;
    struct fdt_hart harts[FDT_MAX_HARTS]; // /cpus/cpu@*, in device-tree order
    int nharts;
    int nharts_dropped;       // cpu nodes beyond FDT_MAX_HARTS
    int ndropped_ranges;      // memory or reserved ranges beyond FDT_MAX_RANGES
    uint64_t timebase_hz;     // /cpus timebase-frequency (rate of the time CSR)
    uint32_t cbom_block_size; // riscv,cbom-block-size of the first cpu that has one, else 0
    const char *bootargs;     // /chosen/bootargs, or NULL
    uintptr_t finisher;       // reg of the sifive,test0/test1 node, or 0
    uintptr_t htif_tohost;    // spike's HTIF tohost register, from the ucb,htif0 node's reg, or 0
};

extern struct fdt_info fdt_info; // filled by fdt_parse() at boot

// Parse the blob at dtb into *fi. Returns 0, or -1 after printing why.
int fdt_parse(uintptr_t dtb, struct fdt_info *fi);

#endif
