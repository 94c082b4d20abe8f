// kmain: what the boot hart does after entry.S, in order. Read this file
// first; each step is a call into arch/riscv/ or mm/.
//
//   1. traps and the SBI console, so that anything that goes wrong is reported
//   2. the device tree: RAM, reserved regions, harts, bootargs, the finisher
//   3. the buddy allocator over RAM less firmware, kernel image and DTB; the slab
//      allocator on top of it
//   4. the other harts, started with SBI HSM
//   5. the mode /chosen/bootargs asks for: the default tour, ktest, bench
//   6. power off, with an exit code QEMU passes on
#include <string.h>

#include "../arch/riscv/cpu.h"
#include "../arch/riscv/fdt.h"
#include "../arch/riscv/power.h"
#include "../arch/riscv/riscv.h"
#include "../arch/riscv/sbi.h"
#include "../arch/riscv/smp.h"
#include "../arch/riscv/timer.h"
#include "../lib/ktest.h"
#include "../mm/buddy.h"
#include "../mm/slab.h"
#include "kernel.h"

extern char _start[], _end[]; // the image, from linker/kernel.ld

struct mem_region kernel_ram; // the RAM range the buddy allocator manages
static struct mem_region reserved[FDT_MAX_RANGES + 2];
static const char *reserved_name[FDT_MAX_RANGES + 2];
static int nreserved;
size_t cache_line_size;

// "128 MiB", "256 KiB", "40 KiB": sizes as people read them.
static void print_region(const char *what, uint64_t base, uint64_t size, const char *name)
{
    uint64_t v = size;
    const char *unit = "B";
    if (size >= (1ULL << 30) && size % (1ULL << 30) == 0)
        v = size >> 30, unit = "GiB";
    else if (size >= (10ULL << 20) || (size >= (1 << 20) && size % (1 << 20) == 0))
        v = (size + (1 << 19)) >> 20, unit = "MiB"; // rounded
    else if (size >= 1024)
        v = (size + 512) >> 10, unit = "KiB";
    printk("  %-9s %#010llx-%#010llx %6llu %s%s%s\n", what, (unsigned long long)base,
           (unsigned long long)(base + size), (unsigned long long)v, unit,
           name && name[0] ? "  " : "", name ? name : "");
}

static void add_reserved(uint64_t base, uint64_t size, const char *name)
{
    // Whole pages only, and only what lies inside the RAM we manage.
    uint64_t lo = base & ~(uint64_t)(PAGE_SIZE - 1);
    uint64_t hi = ALIGN_UP(base + size, PAGE_SIZE);
    lo = MAX(lo, (uint64_t)kernel_ram.base);
    hi = MIN(hi, (uint64_t)(kernel_ram.base + kernel_ram.size));
    if (lo >= hi)
        return;
    reserved[nreserved] = (struct mem_region){lo, hi - lo};
    reserved_name[nreserved++] = name;
}

// RAM less the reserved regions (which may overlap), printed in address order.
static void print_free_ranges(void)
{
    uintptr_t at = kernel_ram.base, end = kernel_ram.base + kernel_ram.size;
    while (at < end) {
        uintptr_t next_start = end, skip_to = at;
        for (int i = 0; i < nreserved; i++) {
            uintptr_t b = reserved[i].base, e = b + reserved[i].size;
            if (b <= at && e > at)
                skip_to = MAX(skip_to, e); // at is inside a reserved region
            else if (b > at)
                next_start = MIN(next_start, b);
        }
        if (skip_to > at) {
            at = skip_to;
            continue;
        }
        print_region("free", at, next_start - at, "");
        at = next_start;
    }
}

static void memory_init(const struct fdt_info *fi)
{
    // The zone is the RAM range holding the kernel; QEMU virt has just one.
    uintptr_t k = (uintptr_t)_start;
    for (int i = 0; i < fi->nmemory; i++)
        if (fi->memory[i].base <= k && k - fi->memory[i].base < fi->memory[i].size)
            kernel_ram = (struct mem_region){fi->memory[i].base, fi->memory[i].size};
    if (kernel_ram.size == 0)
        panic("no memory node in the device tree covers the kernel at %p", (void *)_start);

    for (int i = 0; i < fi->nreserved; i++) // firmware (OpenSBI), from /reserved-memory
        add_reserved(fi->reserved[i].base, fi->reserved[i].size, fi->reserved[i].name);
    add_reserved((uintptr_t)_start, (uintptr_t)(_end - _start), "kernel image");
    add_reserved(fi->dtb, fi->dtb_size, "device tree");

    printk("memory map (from the device tree):\n");
    for (int i = 0; i < fi->nmemory; i++)
        print_region("RAM", fi->memory[i].base, fi->memory[i].size,
                     fi->memory[i].base == kernel_ram.base ? "" : "(not used: one zone only)");
    for (int i = 0; i < nreserved; i++)
        print_region("reserved", reserved[i].base, reserved[i].size, reserved_name[i]);
    print_free_ranges();
    if (fi->ndropped_ranges)
        panic("fdt: more than %d memory or reserved ranges; raise FDT_MAX_RANGES", FDT_MAX_RANGES);

    if (buddy_init(kernel_ram.base, kernel_ram.size, reserved, nreserved) != 0)
        panic("buddy_init failed");
    // slab_debug= and slab_panic_on_report= took effect in check_bootargs.
    if (slab_init(PAGE_SIZE, cache_line_size) != 0)
        panic("slab_init failed");
    buddy_set_reclaim_hook(slab_shrink); // a failed page request first shrinks the caches
}

// The default mode: show what came up, then a short run on every cpu: a
// page from the buddy allocator and a few kmalloc objects, filled and freed.
static void hello(void *arg)
{
    int *ok = arg, cpu = cpu_id();
    static const size_t sizes[] = {8, 100, 1000, 5000};
    void *obj[ARRAY_SIZE(sizes)];
    void *page = alloc_pages(GFP_KERNEL, 0);
    bool good = page != NULL;
    if (page)
        memset(page, cpu, PAGE_SIZE);
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        obj[i] = kmalloc(sizes[i], GFP_KERNEL);
        good = good && obj[i] != NULL;
        if (obj[i])
            memset(obj[i], cpu, sizes[i]);
    }
    printk("cpu %d (hart %lu): page %p, kmalloc 8/100/1000/5000 B at %p %p %p %p\n", cpu, r_tp(),
           page, obj[0], obj[1], obj[2], obj[3]);
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
        kfree(obj[i]);
    if (page)
        free_pages(page, 0);
    if (good)
        __atomic_add_fetch(ok, 1, __ATOMIC_RELAXED);
}

static void count_call(void *arg)
{
    __atomic_add_fetch((int *)arg, 1, __ATOMIC_RELAXED);
}

// Until every cpu has taken n more ticks (interrupts are on: they come).
static void wait_ticks(uint64_t n)
{
    uint64_t start[NCPU];
    for (int c = 0; c < ncpu_online(); c++)
        start[c] = __atomic_load_n(&cpus[c].ticks, __ATOMIC_RELAXED);
    for (int c = 0; c < ncpu_online(); c++)
        while (__atomic_load_n(&cpus[c].ticks, __ATOMIC_RELAXED) < start[c] + n)
            cpu_relax();
}

KTEST_PARAM(reap_ms, 0, 60000, "the tour's slab reaper interval in ms (0: off; 1000 without it)");

// The slab reaper at work: every cpu used the kmalloc caches (hello), and
// now all of them are idle (this one only waits): a few rounds later no
// cpu holds an object it does not use.
static void reaper_tour(void)
{
    if (slab_reap_ms == 0) {
        printk("reaper: off (reap_ms=0)\n");
        return;
    }
    struct slab_totals a, b;
    slab_get_totals(&a);
    uint64_t r0 = slab_reap_rounds(), t0 = mycpu()->ticks;
    while (slab_reap_rounds() < r0 + 6 && mycpu()->ticks < t0 + 100UL * timer_hz())
        cpu_relax();
    slab_get_totals(&b);
    printk("reaper: every %u ms from the tick; %llu rounds later, objects in per-CPU arrays "
           "and barns %zu -> %zu, arrays %zu -> %zu, slab pages %zu -> %zu\n",
           slab_reap_ms, (unsigned long long)(slab_reap_rounds() - r0), a.cached_objs,
           b.cached_objs, a.arrays, b.arrays, a.slab_pages, b.slab_pages);
}

static int tour(void)
{
    buddyinfo();
    int ok = 0, n = ncpu_online(), calls = 0;
    run_on_all_cpus(hello, &ok);
    printk("run_on_all_cpus: %d of %d cpus done\n", ok, n);
    for (int i = 0; i < 10; i++)
        on_each_cpu(count_call, &calls);
    printk("on_each_cpu: 10 cross-calls to all %d cpus ran %d functions\n", n, calls);
    wait_ticks(3);
    irqinfo();
    stackinfo();
    slabinfo();
    reaper_tour();
    buddyinfo();
    return ok == n && calls == 10 * n ? EXIT_OK : EXIT_TESTS_FAILED;
}

int figures_main(const char *arg); // kernel/figures.c

// The bench mode hook: issue "bench" supplies a strong bench_main().
__attribute__((weak)) int bench_main(const char *arg)
{
    (void)arg;
    printk("bench: no benchmarks are built into this kernel yet\n");
    return EXIT_BAD_BOOTARGS;
}

// /chosen/bootargs: the first word picks the mode, the rest are key=value
// parameters that tests read with ktest_arg_ul() (ktest_args is all of it).
//   (none)                 the tour: harts, memory, allocators, a run on every cpu
//   ktest | ktest=<glob>   the self-tests, all or those whose suite[.case] matches
//   bench | bench=<arg>    the benchmarks (issue "bench" provides bench_main)
//   figures | figures=<s,..>  the data behind docs/figures/ (scripts/figures.py)
// Anything else is an error, so that a typo does not quietly run the wrong thing.
// "ktest", "ktest=<glob>", "bench", "bench=<arg>", "figures", "figures=<list>":
// the words that pick a mode.
static bool is_mode_word(const char *w, size_t n)
{
    static const char *const modes[] = {"ktest", "bench", "figures"};
    for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
        size_t m = strlen(modes[i]);
        if (n >= m && strncmp(w, modes[i], m) == 0 && (n == m || w[m] == '='))
            return true;
    }
    return false;
}

// Bootargs are at most one mode word and any number of key=value parameters
// (hz=..., slab_debug=..., soak_ops=...), in any order; no mode word means
// the tour. Every word is checked before anything else happens: a mode word,
// hz=1..HZ_MAX, the slab_debug options (mm/slab_debug.c checks them), or a
// parameter some test or benchmark declared with KTEST_PARAM and a number in
// its range, each key once. Anything else stops the boot with exit 3 and a
// message naming the word, so that a typo does not quietly run the wrong thing.
static int check_bootargs(const char *args)
{
    bool have_mode = false;
    for (const char *w = args ? args : ""; *w;) {
        size_t n = strcspn(w, " ");
        if (n == 0) {
            w++;
            continue;
        }
        unsigned long v;
        if (!is_mode_word(w, n) && memchr(w, '=', n) &&
            ktest_key_once(args, (size_t)(w - args), w, n) != 0)
            return EXIT_BAD_BOOTARGS;
        if (is_mode_word(w, n)) {
            if (have_mode || n >= 128) {
                printk("bootargs: \"%.*s\": one mode only, of at most 127 characters\n", (int)n, w);
                return EXIT_BAD_BOOTARGS;
            }
            have_mode = true;
        } else if (n >= 3 && strncmp(w, "hz=", 3) == 0) {
            if (!ktest_parse_ul(w + 3, n - 3, &v) || v < 1 || v > HZ_MAX) {
                printk("bootargs: \"%.*s\": want hz=1..%d\n", (int)n, w, HZ_MAX);
                return EXIT_BAD_BOOTARGS;
            }
        } else if ((n >= 11 && strncmp(w, "slab_debug=", 11) == 0) ||
                   (n >= 21 && strncmp(w, "slab_panic_on_report=", 21) == 0)) {
            // all of them at once, below
        } else if (memchr(w, '=', n) == NULL) {
            printk("bootargs: \"%.*s\" is neither a mode (ktest[=<glob>], bench[=<arg>], "
                   "figures[=<list>]) nor a key=value parameter\n",
                   (int)n, w);
            return EXIT_BAD_BOOTARGS;
        } else if (ktest_param_check(w, n) != 0) {
            return EXIT_BAD_BOOTARGS;
        }
        w += n;
    }
    return slab_debug_setup(args) == 0 ? 0 : EXIT_BAD_BOOTARGS;
}

// Run the mode the (checked) bootargs ask for.
static int run_mode(const char *args)
{
    char mode[128] = "";
    args = args ? args : "";
    ktest_args = args;
    for (const char *w = args; *w;) {
        size_t n = strcspn(w, " ");
        if (n > 0 && is_mode_word(w, n)) {
            memcpy(mode, w, n);
            mode[n] = '\0';
        }
        w += n ? n : 1;
    }
    if (mode[0] == '\0') {
        // The other modes count and compare: the tests turn it on themselves.
        slab_reap_ms = (unsigned)ktest_arg_ul("reap_ms", SLAB_REAP_MS);
        return tour();
    }
    if (strncmp(mode, "ktest", 5) == 0) {
        int failed = ktest_run(mode[5] ? mode + 6 : NULL);
        return failed == KTEST_NO_MATCH ? EXIT_BAD_BOOTARGS : failed ? EXIT_TESTS_FAILED : EXIT_OK;
    }
    if (strncmp(mode, "figures", 7) == 0)
        return figures_main(mode[7] ? mode + 8 : NULL);
    return bench_main(mode[5] ? mode + 6 : NULL);
}

// hz=N (checked): the tick rate; HZ_DEFAULT without one.
static unsigned boot_hz(const char *args)
{
    unsigned long v = HZ_DEFAULT;
    for (const char *w = args ? args : ""; *w; w += strcspn(w, " ")) {
        while (*w == ' ')
            w++;
        if (strncmp(w, "hz=", 3) == 0)
            ktest_parse_ul(w + 3, strcspn(w + 3, " "), &v);
    }
    return (unsigned)v;
}

void kmain(unsigned long hartid, uintptr_t dtb)
{
    stacks_init();
    trap_init_hart();
    sbi_init();
    printk("\nrvslab: booting on hart %lu; firmware %s %lu.%lu, SBI v%lu.%lu%s%s%s%s\n", hartid,
           sbi_impl_name(), sbi.impl_version >> 16, sbi.impl_version & 0xffff,
           sbi.spec_version >> 24, sbi.spec_version & 0xffffff, sbi.hsm ? " HSM" : "",
           sbi.ipi ? " IPI" : "", sbi.dbcn ? " DBCN" : "", sbi.srst ? " SRST" : "");

    struct fdt_info *fi = &fdt_info;
    if (fdt_parse(dtb, fi) != 0)
        panic("cannot read the device tree at %p", (void *)dtb);
    ktest_args = fi->bootargs ? fi->bootargs : "";
    if (check_bootargs(fi->bootargs) != 0) { // before anything it could change
        printk("rvslab: powering off (exit %d)\n", EXIT_BAD_BOOTARGS);
        power_set_finisher(fi->finisher);
        power_set_htif(fi->htif_tohost);
        power_off(EXIT_BAD_BOOTARGS);
    }
    power_set_finisher(fi->finisher);
    power_set_htif(fi->htif_tohost);
    if (fi->finisher == 0 && fi->htif_tohost == 0)
        printk("no sifive,test finisher (nor HTIF): QEMU's exit status will not say pass or "
               "fail\n");
    bool cbom_ok = fi->cbom_block_size >= 8 && fi->cbom_block_size <= PAGE_SIZE &&
                   IS_POWER_OF_2(fi->cbom_block_size);
    cache_line_size = cbom_ok ? fi->cbom_block_size : 64;
    printk("machine: %s, %d harts in /cpus, timebase %llu Hz, cache line %zu bytes%s\n",
           fi->model ? fi->model : "?", fi->nharts, (unsigned long long)fi->timebase_hz,
           cache_line_size, cbom_ok ? "" : " (assumed)");
    if (fi->bootargs)
        printk("bootargs: %s\n", fi->bootargs);

    memory_init(fi);
    timer_init(fi, boot_hz(fi->bootargs));
    smp_boot(fi, hartid);
    printk("%d cpus online\n", ncpu_online());

    int code = run_mode(fi->bootargs);
    printk("rvslab: powering off (exit %d)\n", code);
    power_off(code);
}
