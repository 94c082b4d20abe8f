// Self-tests of the boot facts (kernel only: they look at the real machine).
//   tp_is_hartid        every cpu's tp holds the hart id it was started as
//   cpu_ids_unique      cpu_id() is dense and unique, and agrees with sscratch
//   all_harts_online    every S-mode-capable hart in /cpus came online
//   reserved_not_free   firmware, kernel image and DTB frames are reserved
//   free_memory_is_free every frame the allocator hands out lies outside them
//   fdt.*               the device-tree reader on a made-up machine QEMU cannot describe
#include <stdio.h>
#include <string.h>

#include "../../arch/riscv/cpu.h"
#include "../../arch/riscv/fdt.h"
#include "../../arch/riscv/riscv.h"
#include "../../arch/riscv/sbi.h"
#include "../../kernel/kernel.h"
#include "../../lib/ktest.h"
#include "../../mm/buddy.h"
#include "../../mm/slab.h"

// Every free frame, below the zone's min watermark too (__GFP_MEMALLOC),
// with no failure message: for tests that take them all on purpose.
#define GFP_ALL (GFP_KERNEL | __GFP_MEMALLOC | __GFP_NOWARN)

extern char _start[], _end[];

struct seen {
    unsigned long tp, sscratch;
    int runs;
};
static struct seen seen[NCPU];

static void record(void *arg)
{
    (void)arg;
    int c = cpu_id();
    seen[c].tp = r_tp();
    seen[c].sscratch = csr_read(sscratch);
    __atomic_add_fetch(&seen[c].runs, 1, __ATOMIC_RELAXED);
}

static const struct fdt_hart *fdt_hart(unsigned long hartid)
{
    for (int i = 0; i < fdt_info.nharts; i++)
        if (fdt_info.harts[i].hartid == hartid)
            return &fdt_info.harts[i];
    return NULL;
}

KTEST(boot, tp_is_hartid)
{
    memset(seen, 0, sizeof(seen));
    run_on_all_cpus(record, NULL);
    for (int c = 0; c < ncpu_online(); c++) {
        EXPECT_EQ(t, seen[c].runs, 1);
        EXPECT_EQ(t, seen[c].tp, cpus[c].hartid); // the id HSM started it as
        EXPECT_NE(t, fdt_hart(seen[c].tp), NULL); // ... which /cpus lists
        for (int d = 0; d < c; d++)
            EXPECT_NE(t, seen[c].tp, seen[d].tp);
    }
}

KTEST(boot, cpu_ids_unique)
{
    memset(seen, 0, sizeof(seen));
    run_on_all_cpus(record, NULL);
    int n = ncpu_online();
    ASSERT(t, n >= 1 && n <= NCPU);
    for (int c = 0; c < NCPU; c++) {
        EXPECT_EQ(t, seen[c].runs, c < n ? 1 : 0); // each index 0..n-1 exactly once
        if (c < n)
            EXPECT_EQ(t, seen[c].sscratch, c);
    }
}

KTEST(boot, all_harts_online)
{
    ASSERT_GE(t, fdt_info.nharts, 1);
    const struct fdt_hart *boot = fdt_hart(cpus[0].hartid);
    ASSERT_NE(t, boot, NULL); // the boot hart is in /cpus
    int expect = 1;           // the boot hart is cpu 0 whatever its node says: it runs
    for (int i = 0; i < fdt_info.nharts; i++) {
        const struct fdt_hart *h = &fdt_info.harts[i];
        if (h == boot)
            continue;
        int cpu = -1;
        for (int c = 0; c < ncpu_online(); c++)
            if (cpus[c].hartid == h->hartid)
                cpu = c;
        if (!h->enabled || !h->has_mmu || expect == NCPU || !sbi.hsm) {
            EXPECT_EQ(t, cpu, -1); // skipped or parked: never started
            continue;
        }
        expect++;
        EXPECT_GT(t, cpu, 0);
        if (cpu > 0) {
            EXPECT(t, __atomic_load_n(&cpus[cpu].online, __ATOMIC_ACQUIRE));
            EXPECT_EQ(t, sbi_hart_status(h->hartid), SBI_HSM_STARTED); // the firmware agrees
        }
    }
    EXPECT_EQ(t, ncpu_online(), expect);
}

// The regions that must never be free: firmware's, the kernel's, the DTB's.
struct region {
    uintptr_t base, end;
    const char *what;
};

static int must_keep(struct region *r, int max)
{
    int n = 0;
    for (int i = 0; i < fdt_info.nreserved && n < max; i++)
        r[n++] = (struct region){fdt_info.reserved[i].base,
                                 fdt_info.reserved[i].base + fdt_info.reserved[i].size,
                                 fdt_info.reserved[i].name};
    if (n < max)
        r[n++] = (struct region){(uintptr_t)_start, (uintptr_t)_end, "kernel image"};
    if (n < max)
        r[n++] = (struct region){fdt_info.dtb, fdt_info.dtb + fdt_info.dtb_size, "device tree"};
    return n;
}

KTEST(boot, reserved_not_free)
{
    struct region r[FDT_MAX_RANGES + 2];
    int n = must_keep(r, ARRAY_SIZE(r));
    EXPECT_GT(t, fdt_info.nreserved, 0); // OpenSBI always reserves its own memory
    for (int i = 0; i < n; i++) {
        unsigned long bad = 0, pages = 0;
        for (unsigned long pfn = r[i].base >> PAGE_SHIFT;
             pfn < ALIGN_UP(r[i].end, PAGE_SIZE) >> PAGE_SHIFT; pfn++) {
            if (!pfn_valid(pfn))
                continue; // outside the RAM we manage
            pages++;
            struct page *p = pfn_to_page(pfn);
            bad += !(p->flags & PG_reserved) || (p->flags & PG_buddy);
        }
        if (bad)
            ktest_fail(t, __FILE__, __LINE__, "%lu of %lu frames of %s [%#lx, %#lx) not reserved",
                       bad, pages, r[i].what, (unsigned long)r[i].base, (unsigned long)r[i].end);
    }
    // Managed frames are exactly the ones not reserved.
    unsigned long reserved = 0;
    for (unsigned long pfn = min_pfn; pfn < max_pfn; pfn++)
        reserved += (pfn_to_page(pfn)->flags & PG_reserved) != 0;
    EXPECT_EQ(t, nr_managed_pages() + reserved, max_pfn - min_pfn);
    EXPECT_EQ(t, (uint64_t)min_pfn << PAGE_SHIFT, kernel_ram.base);
    EXPECT_EQ(t, (uint64_t)max_pfn << PAGE_SHIFT, kernel_ram.base + kernel_ram.size);
}

KTEST(boot, free_memory_is_free)
{
    struct region r[FDT_MAX_RANGES + 2];
    int n = must_keep(r, ARRAY_SIZE(r));
    slab_reclaim(GFP_KERNEL); // what the slab layer caches, which running dry would reclaim
    size_t before = nr_free_pages(), got = 0, bad = 0;
    // Take every free frame, chained through the frames themselves (writing
    // to firmware memory would also trap: PMP guards it).
    void **chain = NULL, **p;
    while ((p = alloc_pages(GFP_ALL, 0)) != NULL) {
        for (int i = 0; i < n; i++)
            if ((uintptr_t)p < r[i].end && (uintptr_t)p + PAGE_SIZE > r[i].base) {
                if (bad++ < 5)
                    ktest_fail(t, __FILE__, __LINE__, "frame %p handed out, inside %s", p,
                               r[i].what);
            }
        *p = chain;
        chain = p;
        got++;
    }
    EXPECT_EQ(t, got, before);
    EXPECT_EQ(t, bad, 0);
    while (chain) {
        p = chain;
        chain = *p;
        EXPECT_EQ(t, free_pages(p, 0), 0);
    }
    EXPECT_EQ(t, nr_free_pages(), before);
}

// ---- fdt: the device-tree reader on a hand-made blob -------------------------
//
// QEMU always describes harts 0..n-1, all usable. This blob has what it
// cannot: sparse hart ids, a disabled hart, harts without an MMU, and the
// nodes and cells a reader can get wrong.

struct fdt_writer {
    uint8_t st[1536], str[256];
    size_t nst, nstr;
};

static void w32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

static void emit(struct fdt_writer *w, const void *data, size_t len)
{
    if (w->nst + len + 3 > sizeof(w->st))
        panic("fdt test: structure buffer too small");
    memcpy(w->st + w->nst, data, len);
    w->nst += len;
    while (w->nst % 4)
        w->st[w->nst++] = 0;
}

static void emit32(struct fdt_writer *w, uint32_t v)
{
    uint8_t b[4];
    w32(b, v);
    emit(w, b, 4);
}

static void begin(struct fdt_writer *w, const char *name)
{
    emit32(w, 1); // FDT_BEGIN_NODE
    emit(w, name, strlen(name) + 1);
}

static void end(struct fdt_writer *w)
{
    emit32(w, 2); // FDT_END_NODE
}

static void prop(struct fdt_writer *w, const char *name, const void *val, size_t len)
{
    size_t off = 0; // names are stored once, as dtc does
    while (off < w->nstr && strcmp((char *)w->str + off, name) != 0)
        off += strlen((char *)w->str + off) + 1;
    if (off == w->nstr) {
        if (off + strlen(name) + 1 > sizeof(w->str))
            panic("fdt test: strings buffer too small");
        memcpy(w->str + off, name, strlen(name) + 1);
        w->nstr += strlen(name) + 1;
    }
    emit32(w, 3); // FDT_PROP
    emit32(w, (uint32_t)len);
    emit32(w, (uint32_t)off);
    emit(w, val, len);
}

static void prop_str(struct fdt_writer *w, const char *name, const char *s)
{
    prop(w, name, s, strlen(s) + 1);
}

// A property of 32-bit cells.
static void prop_cells(struct fdt_writer *w, const char *name, int n, const uint32_t *cells)
{
    uint8_t b[32];
    for (int i = 0; i < n; i++)
        w32(b + 4 * i, cells[i]);
    prop(w, name, b, 4 * (size_t)n);
}
#define CELLS(w, name, ...)                                                                        \
    prop_cells((w), (name), sizeof((uint32_t[]){__VA_ARGS__}) / 4, (uint32_t[]){__VA_ARGS__})

static void cpu_node(struct fdt_writer *w, uint32_t hartid, const char *status, const char *mmu)
{
    char name[16];
    snprintf(name, sizeof(name), "cpu@%x", hartid);
    begin(w, name);
    prop_str(w, "device_type", "cpu");
    CELLS(w, "reg", hartid);
    if (status)
        prop_str(w, "status", status);
    if (mmu)
        prop_str(w, "mmu-type", mmu);
    if (hartid == 5) {
        CELLS(w, "riscv,cbom-block-size", 128);
        prop_str(w, "riscv,isa", "rv64imac_zicsr_sstc");
    }
    begin(w, "interrupt-controller"); // a child of a cpu: not a hart
    prop_str(w, "compatible", "riscv,cpu-intc");
    end(w);
    end(w);
}

static uint8_t blob[2048] __attribute__((aligned(8)));

static size_t make_blob(void)
{
    static struct fdt_writer w;
    memset(&w, 0, sizeof(w));
    begin(&w, "");
    CELLS(&w, "#address-cells", 2);
    CELLS(&w, "#size-cells", 2);
    prop_str(&w, "model", "rvslab,test");
    begin(&w, "chosen");
    prop_str(&w, "bootargs", "ktest=fdt* n=3");
    end(&w);
    begin(&w, "memory@80000000");
    prop_str(&w, "device_type", "memory");
    CELLS(&w, "reg", 0, 0x80000000, 0, 0x40000000);
    end(&w);
    begin(&w, "reserved-memory");
    CELLS(&w, "#address-cells", 2);
    CELLS(&w, "#size-cells", 2);
    begin(&w, "firmware@80000000");
    CELLS(&w, "reg", 0, 0x80000000, 0, 0x80000);
    end(&w);
    begin(&w, "pool"); // dynamic: size only, no reg
    CELLS(&w, "size", 0, 0x100000);
    end(&w);
    end(&w);
    begin(&w, "cpus");
    CELLS(&w, "#address-cells", 1);
    CELLS(&w, "#size-cells", 0);
    CELLS(&w, "timebase-frequency", 1000000);
    cpu_node(&w, 5, "okay", "riscv,sv39");
    cpu_node(&w, 9, "disabled", "riscv,sv39");
    cpu_node(&w, 12, NULL, NULL);
    cpu_node(&w, 16, "okay", "riscv,none");
    begin(&w, "cpu-map"); // not a cpu
    end(&w);
    end(&w);
    begin(&w, "soc");
    CELLS(&w, "#address-cells", 2);
    CELLS(&w, "#size-cells", 2);
    begin(&w, "test@100000");
    prop(&w, "compatible", "sifive,test1\0sifive,test0\0syscon", 33);
    CELLS(&w, "reg", 0, 0x100000, 0, 0x1000);
    end(&w);
    end(&w);
    end(&w);
    emit32(&w, 9); // FDT_END

    // header (40 bytes), one /memreserve/ entry and the terminator, structure, strings
    size_t off_rsv = 40, off_st = off_rsv + 32, off_str = off_st + w.nst;
    size_t total = off_str + w.nstr;
    if (total > sizeof(blob))
        panic("fdt test: blob buffer too small");
    memset(blob, 0, sizeof(blob));
    uint32_t hdr[10] = {0xd00dfeed,
                        (uint32_t)total,
                        (uint32_t)off_st,
                        (uint32_t)off_str,
                        (uint32_t)off_rsv,
                        17,
                        16,
                        0,
                        (uint32_t)w.nstr,
                        (uint32_t)w.nst};
    for (int i = 0; i < 10; i++)
        w32(blob + 4 * i, hdr[i]);
    w32(blob + off_rsv + 4, 0x90000000); // /memreserve/ 0x90000000, 0x2000
    w32(blob + off_rsv + 12, 0x2000);
    memcpy(blob + off_st, w.st, w.nst);
    memcpy(blob + off_str, w.str, w.nstr);
    return total;
}

KTEST(fdt, parses_a_made_up_machine)
{
    static struct fdt_info fi;
    size_t total = make_blob();
    ASSERT_EQ(t, fdt_parse((uintptr_t)blob, &fi), 0);
    EXPECT_EQ(t, fi.dtb_size, total);
    EXPECT(t, fi.model && strcmp(fi.model, "rvslab,test") == 0);
    EXPECT(t, fi.bootargs && strcmp(fi.bootargs, "ktest=fdt* n=3") == 0);
    ASSERT_EQ(t, fi.nmemory, 1);
    EXPECT_EQ(t, fi.memory[0].base, 0x80000000);
    EXPECT_EQ(t, fi.memory[0].size, 0x40000000);
    ASSERT_EQ(t, fi.nreserved, 2); // the /memreserve/ entry and firmware@; "pool" has no reg
    EXPECT_EQ(t, fi.reserved[0].base, 0x90000000);
    EXPECT_EQ(t, fi.reserved[0].size, 0x2000);
    EXPECT_EQ(t, fi.reserved[1].base, 0x80000000);
    EXPECT_EQ(t, fi.reserved[1].size, 0x80000);
    EXPECT_EQ(t, fi.timebase_hz, 1000000);
    EXPECT_EQ(t, fi.cbom_block_size, 128);
    EXPECT_EQ(t, fi.finisher, 0x100000);
    ASSERT_EQ(t, fi.nharts, 4); // not cpu-map, not the interrupt controllers
    static const struct fdt_hart want[] = {{5, true, true, "rv64imac_zicsr_sstc"},
                                           {9, false, true, NULL},
                                           {12, true, false, NULL},
                                           {16, true, false, NULL}};
    for (int i = 0; i < 4; i++) {
        EXPECT_EQ(t, fi.harts[i].hartid, want[i].hartid);
        EXPECT_EQ(t, fi.harts[i].enabled, want[i].enabled);
        EXPECT_EQ(t, fi.harts[i].has_mmu, want[i].has_mmu);
        EXPECT(t, want[i].isa ? fi.harts[i].isa && strcmp(fi.harts[i].isa, want[i].isa) == 0
                              : fi.harts[i].isa == NULL);
    }
}

KTEST(fdt, rejects_broken_blobs)
{
    static struct fdt_info fi;
    make_blob();
    ASSERT_EQ(t, fdt_parse((uintptr_t)blob, &fi), 0); // intact, it parses
    blob[0] ^= 0xff;                                  // bad magic
    EXPECT_EQ(t, fdt_parse((uintptr_t)blob, &fi), -1);
    blob[0] ^= 0xff;
    EXPECT_EQ(t, fdt_parse((uintptr_t)blob + 4, &fi), -1); // misaligned
    w32(blob + 36, 8); // structure block cut to its first two tokens
    EXPECT_EQ(t, fdt_parse((uintptr_t)blob, &fi), -1);
}
