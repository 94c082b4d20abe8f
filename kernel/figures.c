// The figures mode (bootarg "figures" or "figures=boot,buddy,..."): the data
// behind the pictures in docs/figures/, printed from the real allocators.
// scripts/figures.py boots QEMU with it, reads the "@fig SECTION ..." lines
// and draws the pictures; `make figures` regenerates them all, and the
// docs-figures case of `make test` fails when they no longer match.
//
// Every section sets up its own state first, so that what it prints does
// not depend on the kernel image's size or on what boot allocated: the
// buddy section puts every small free block aside and works on one block of
// MAX_ORDER; the slab sections make caches of their own. Only cpu 0 prints.
//
// This file reads the slab layer's structures (mm/slab_internal.h), as the
// white-box self-tests do: a picture of a slab needs its descriptor.
#include <stdio.h>
#include <string.h>

#include "../arch/riscv/cpu.h"
#include "../arch/riscv/fdt.h"
#include "../arch/riscv/power.h"
#include "../arch/riscv/riscv.h"
#include "../arch/riscv/sbi.h"
#include "../arch/riscv/smp.h"
#include "../mm/buddy.h"
#include "../mm/slab_internal.h"

// Every free frame, below the zone's min watermark too (__GFP_MEMALLOC),
// with no failure message: for tests that take them all on purpose.
#define GFP_ALL (GFP_KERNEL | __GFP_MEMALLOC | __GFP_NOWARN)

#define FIG(...) printk("@fig " __VA_ARGS__)

// ---- boot: hart ids, cpu indexes, tp and sscratch ----

static struct {
    unsigned long tp, sscratch;
} seen[NCPU];

// On every cpu: what its own registers say.
static void boot_probe(void *arg)
{
    (void)arg;
    int c = cpu_id();
    seen[c].tp = r_tp();
    seen[c].sscratch = csr_read(sscratch);
}

static int fig_boot(void)
{
    run_on_all_cpus(boot_probe, NULL);
    FIG("boot harts=%d ncpu=%d NCPU=%d boot_hart=%lu\n", fdt_info.nharts, ncpu_online(), NCPU,
        cpus[0].hartid);
    for (int c = 0; c < ncpu_online(); c++)
        FIG("boot cpu=%d hart=%lu tp=%lu sscratch=%lu hsm_status=%ld\n", c, cpus[c].hartid,
            seen[c].tp, seen[c].sscratch, sbi_hart_status(cpus[c].hartid));
    // Harts of /cpus that did not become a cpu: skipped or parked.
    for (int i = 0; i < fdt_info.nharts; i++) {
        bool online = false;
        for (int c = 0; c < ncpu_online(); c++)
            online |= cpus[c].hartid == fdt_info.harts[i].hartid;
        if (!online)
            FIG("boot offline hart=%lu hsm_status=%ld\n", fdt_info.harts[i].hartid,
                sbi_hart_status(fdt_info.harts[i].hartid));
    }
    return 0;
}

// ---- buddy: free lists, split, merge, exact n frames ----

#define HELD_MAX 256
static void *held[HELD_MAX];
static unsigned int held_order[HELD_MAX];

static void print_lists(const char *step)
{
    for (unsigned int o = 0; o <= MAX_ORDER; o++) {
        unsigned long pfn[8];
        size_t n = buddy_list_pfns(o, pfn, ARRAY_SIZE(pfn));
        char line[160];
        int at = 0;
        for (size_t k = 0; k < n && k < ARRAY_SIZE(pfn); k++)
            at += snprintf(line + at, sizeof(line) - at, "%s%#lx", k ? "," : "", pfn[k]);
        line[at] = '\0';
        FIG("buddy list step=%s order=%u count=%zu pfns=%s\n", step, o, n, n ? line : "-");
    }
}

// One operation's line: its first pfn, and the splits (an alloc) or merges
// (a free) it made since *last, which then moves on to now.
static void fig_buddy_op(const char *op, void *p, size_t frames, struct buddy_stats *last)
{
    struct buddy_stats now;
    buddy_get_stats(&now);
    bool alloc = strncmp(op, "alloc", 5) == 0;
    FIG("buddy op=%s pfn=%#lx frames=%zu %s=%llu\n", op,
        (unsigned long)((uintptr_t)p >> PAGE_SHIFT), frames, alloc ? "splits" : "merges",
        (unsigned long long)(alloc ? now.splits - last->splits : now.merges - last->merges));
    *last = now;
}

static int fig_buddy(void)
{
    // Put every block below MAX_ORDER aside, so the demo starts from whole
    // blocks of MAX_ORDER only, whatever boot left on the small lists.
    int nheld = 0;
    size_t frames = 0;
    for (unsigned int o = 0; o < MAX_ORDER; o++) {
        while (buddy_list_pfns(o, NULL, 0) > 0) {
            if (nheld == HELD_MAX) {
                FIG("buddy error=more than %d small blocks free\n", HELD_MAX);
                return -1;
            }
            held_order[nheld] = o;
            held[nheld++] = alloc_pages(GFP_ALL, o);
            frames += 1UL << o;
        }
    }
    FIG("buddy aside blocks=%d frames=%zu\n", nheld, frames);
    struct buddy_stats a;
    print_lists("start");

    buddy_get_stats(&a);
    void *p = alloc_pages(GFP_KERNEL, 0);
    fig_buddy_op("alloc_pages(GFP_KERNEL, 0)", p, 1, &a);
    print_lists("alloc_pages");
    free_pages(p, 0);
    fig_buddy_op("free_pages(0)", p, 1, &a);
    print_lists("free_pages");
    void *q = alloc_frames(GFP_KERNEL, 11);
    fig_buddy_op("alloc_frames(GFP_KERNEL, 11)", q, 11, &a);
    print_lists("alloc_frames");
    free_frames(q, 11);
    fig_buddy_op("free_frames(11)", q, 11, &a);
    print_lists("free_frames");

    while (nheld > 0) {
        nheld--;
        free_pages(held[nheld], held_order[nheld]);
    }
    return buddy_validate() == 0 ? 0 : -1;
}

// ---- slab: geometry, colours, the free chain ----

static void print_geometry(const char *sec, struct kmem_cache *c)
{
    struct kmem_cache_info in;
    kmem_cache_get_info(c, &in);
    FIG("%s cache name=%s object=%zu stride=%zu align=%zu order=%u num=%u off_slab=%d mgmt=%zu "
        "desc=%zu desc_cache=%s left=%zu colour=%u colour_off=%u bufctl_off=%u limit=%u "
        "batch=%u\n",
        sec, in.name, in.object_size, in.size, in.align, in.order, in.num, in.off_slab, in.mgmt,
        in.desc_bytes, c->off_slab ? c->slab_desc_cache->name : "-", in.waste, in.colour,
        in.colour_off, c->bufctl_off, in.limit, in.batchcount);
}

static void ctor_fill(void *obj)
{
    memset(obj, 0x5c, 240); // a constructed object's bytes: the free chain must not touch them
}

static int fig_slab(void)
{
    // An on-slab cache with room for four colours, an off-slab one, and one
    // with a constructor.
    struct kmem_cache *c = kmem_cache_create("fig-296", 296, 0, 0, NULL);
    struct kmem_cache *off = kmem_cache_create("fig-1024", 1024, 0, 0, NULL);
    struct kmem_cache *ctor = kmem_cache_create("fig-240-ctor", 240, 0, 0, ctor_fill);
    if (!c || !off || !ctor)
        return -1;
    print_geometry("slab", c);
    print_geometry("slab", off);
    print_geometry("slab", ctor);

    // Five slabs' worth of objects: each refill of an empty array grows one
    // slab, and cache_grow hands out the colours in turn.
    enum { NOBJ = 65 };
    static void *obj[NOBJ];
    struct slab *slabs[8];
    int nslabs = 0;
    for (int k = 0; k < NOBJ; k++) {
        obj[k] = kmem_cache_alloc(c, GFP_KERNEL);
        if (obj[k] == NULL)
            return -1;
        struct slab *s = virt_to_page(obj[k])->slab;
        bool known = false;
        for (int j = 0; j < nslabs; j++)
            known |= slabs[j] == s;
        if (!known && nslabs < (int)ARRAY_SIZE(slabs))
            slabs[nslabs++] = s;
    }
    for (int j = 0; j < nslabs; j++) {
        struct slab *s = slabs[j];
        FIG("slab colour cache=fig-296 slab=%d colour_bytes=%u desc_at=%u objects_at=%u "
            "objects_end=%lu slab_bytes=%lu\n",
            j, s->colouroff - c->mgmt, s->colouroff - c->mgmt, s->colouroff,
            (unsigned long)(s->colouroff + c->num * c->size), PAGE_SIZE << c->order);
    }

    // The free chain: three objects of the first slab go back (to this
    // cpu's array), and shrink drains the array into the slab, each object
    // pushed on the front of the chain. Then the chain is read from the
    // objects' own first words.
    struct slab *s0 = slabs[0];
    static const unsigned int back[] = {5, 2, 9};
    for (size_t b = 0; b < ARRAY_SIZE(back); b++)
        for (int k = 0; k < NOBJ; k++)
            if (obj[k] && virt_to_page(obj[k])->slab == s0 &&
                obj_to_index(c, s0, obj[k]) == back[b]) {
                kmem_cache_free(c, obj[k]);
                obj[k] = NULL;
            }
    kmem_cache_shrink(c);
    char line[160];
    int at = 0;
    for (unsigned int i = s0->free, n = 0; n <= c->num; n++) {
        if (i == BUFCTL_END || i >= c->num) {
            at += snprintf(line + at, sizeof(line) - at, "%sEND", n ? "," : "");
            break;
        }
        at += snprintf(line + at, sizeof(line) - at, "%s%u", n ? "," : "", i);
        i = *slab_bufctl(c, s0, i);
    }
    FIG("slab chain cache=fig-296 slab=0 inuse=%u free=%u fresh=%u chain=%s\n", s0->inuse, s0->free,
        s0->fresh, line);
    for (int k = 0; k < NOBJ; k++)
        kmem_cache_free(c, obj[k]);

    // The off-slab cache: where one slab's descriptor lives.
    void *o = kmem_cache_alloc(off, GFP_KERNEL);
    if (o == NULL)
        return -1;
    struct slab *so = virt_to_page(o)->slab;
    struct kmem_cache *home = kmem_cache_of(so);
    bool inside = virt_to_page(so) == virt_to_page(so->s_mem);
    FIG("slab offslab cache=fig-1024 desc_in=%s desc_in_slab=%d objects_at=%u index=%u\n",
        home ? home->name : "?", inside, so->colouroff, obj_to_index(off, so, o));
    kmem_cache_free(off, o);

    // The constructor cache keeps its bufctl past the object.
    void *co = kmem_cache_alloc(ctor, GFP_KERNEL);
    if (co == NULL)
        return -1;
    kmem_cache_free(ctor, co);
    kmem_cache_shrink(ctor);

    // The waste rule: the geometry chosen for some object sizes.
    static const size_t sizes[] = {64, 240, 296, 700, 1024, 1500, 2100, 3000, 5000, 9000, 20000};
    for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
        struct kmem_cache_info in;
        if (kmem_cache_layout(sizes[k], 0, 0, NULL, &in) != 0)
            return -1;
        FIG("slab rule size=%zu stride=%zu order=%u num=%u off_slab=%d mgmt=%zu desc=%zu "
            "left=%zu\n",
            sizes[k], in.size, in.order, in.num, in.off_slab, in.mgmt, in.desc_bytes, in.waste);
    }
    if (kmem_cache_destroy(c) || kmem_cache_destroy(off) || kmem_cache_destroy(ctor))
        return -1;
    return 0;
}

// ---- kmalloc: the classes, the lookup, large blocks, krealloc ----

static const char *class_of(size_t size)
{
    struct kmem_cache *c = kmalloc_cache(size);
    return c ? c->name : "buddy";
}

static int fig_kmalloc(void)
{
    for (int i = 0; i < KMALLOC_NR_CLASSES; i++) {
        struct kmem_cache_info in;
        kmem_cache_get_info(kmalloc_cache_index(i), &in);
        FIG("kmalloc class i=%d name=%s size=%zu align=%zu order=%u num=%u off_slab=%d desc=%zu "
            "left=%zu colour=%u\n",
            i, in.name, in.size, in.align, in.order, in.num, in.off_slab, in.desc_bytes, in.waste,
            in.colour);
    }
    static const size_t asks[] = {1, 8, 9, 64, 65, 100, 1000, 1024, 1025, 1100, 5000, 32768, 32769};
    for (size_t k = 0; k < ARRAY_SIZE(asks); k++)
        FIG("kmalloc lookup size=%zu class=%s\n", asks[k], class_of(asks[k]));

    void *big = kmalloc(40000, GFP_KERNEL);
    if (big == NULL)
        return -1;
    FIG("kmalloc large size=40000 frames=%u ksize=%zu\n", virt_to_page(big)->nr_frames, ksize(big));

    // krealloc: stays while it fits and is more than a quarter used.
    struct {
        size_t from, to;
    } steps[] = {{100, 50}, {100, 20}, {100, 104}, {100, 200}, {40000, 48000}, {40000, 20000}};
    for (size_t k = 0; k < ARRAY_SIZE(steps); k++) {
        void *p = kmalloc(steps[k].from, GFP_KERNEL);
        size_t had = ksize(p);
        void *q = krealloc(p, steps[k].to, GFP_KERNEL);
        if (q == NULL)
            return -1;
        FIG("kmalloc krealloc from=%zu to=%zu had=%zu now=%zu moved=%d\n", steps[k].from,
            steps[k].to, had, ksize(q), q != p);
        kfree(q);
    }
    kfree(big);
    return 0;
}

// ---- percpu: arrays after a workload on every cpu, a refill/flush trace ----

#define PC_CACHES 3
#define PC_HOLD   160
static struct kmem_cache *pc[PC_CACHES];
static void *pc_held[NCPU][PC_CACHES][PC_HOLD];
static int pc_turn;

// Each cpu in turn (cpu order, so that the picture repeats run after run):
// cpu k allocates 40 + 30k objects of each cache and frees all but 10 of
// them, which stay with it.
static void pc_work(void *arg)
{
    (void)arg;
    int me = cpu_id();
    while (__atomic_load_n(&pc_turn, __ATOMIC_ACQUIRE) != me)
        cpu_relax();
    int n = 40 + 30 * me;
    for (int c = 0; c < PC_CACHES; c++) {
        for (int k = 0; k < n; k++)
            pc_held[me][c][k] = kmem_cache_alloc(pc[c], GFP_KERNEL);
        for (int k = 10; k < n; k++)
            kmem_cache_free(pc[c], pc_held[me][c][k]);
    }
    __atomic_store_n(&pc_turn, me + 1, __ATOMIC_RELEASE);
}

// full, partial and free slabs of c, counted on the lists.
static void count_lists(struct kmem_cache *c, unsigned int n[3])
{
    struct list_head *heads[] = {&c->node->slabs_full, &c->node->slabs_partial,
                                 &c->node->slabs_free};
    spin_lock(&c->node->list_lock);
    for (int h = 0; h < 3; h++) {
        n[h] = 0;
        for (struct list_head *pos = heads[h]->next; pos != heads[h]; pos = pos->next)
            n[h]++;
    }
    spin_unlock(&c->node->list_lock);
}

static void print_arrays(const char *step)
{
    for (int c = 0; c < PC_CACHES; c++) {
        unsigned int n[3];
        count_lists(pc[c], n);
        struct barn *b = &pc[c]->node->barn;
        FIG("percpu lists step=%s cache=%s full=%u partial=%u free=%u free_objects=%zu "
            "barn_full=%u barn_empty=%u barn_max=%u\n",
            step, pc[c]->name, n[0], n[1], n[2], pc[c]->node->free_objects, READ_ONCE(b->nr_full),
            READ_ONCE(b->nr_empty), pc[c]->barn_max);
        for (int cpu = 0; cpu < ncpu_online(); cpu++) {
            struct array_cache *ac = pc[c]->array[cpu], *sp = ac->spare;
            FIG("percpu array step=%s cache=%s cpu=%d avail=%lu limit=%u batch=%u spare=%lu\n",
                step, pc[c]->name, cpu, READ_ONCE(ac->avail), ac->limit, ac->batchcount,
                sp ? READ_ONCE(sp->avail) : 0UL);
        }
    }
}

static int fig_percpu(void)
{
    static const size_t sizes[PC_CACHES] = {64, 256, 2048};
    static const char *const names[PC_CACHES] = {"fig-64", "fig-256", "fig-2048"};
    for (int c = 0; c < PC_CACHES; c++)
        if ((pc[c] = kmem_cache_create(names[c], sizes[c], 0, 0, NULL)) == NULL)
            return -1;
    pc_turn = 0;
    run_on_all_cpus(pc_work, NULL);
    print_arrays("workload");

    // Remote drain: shrink asks every cpu, by cross-call, to empty its own array.
    uint64_t calls[NCPU];
    for (int cpu = 0; cpu < ncpu_online(); cpu++)
        calls[cpu] = __atomic_load_n(&cpus[cpu].calls_run, __ATOMIC_RELAXED);
    size_t pages = kmem_cache_shrink(pc[0]);
    for (int cpu = 0; cpu < ncpu_online(); cpu++)
        FIG("percpu drain cache=fig-64 cpu=%d avail=%lu calls_run=%llu\n", cpu,
            READ_ONCE(pc[0]->array[cpu]->avail),
            (unsigned long long)(__atomic_load_n(&cpus[cpu].calls_run, __ATOMIC_RELAXED) -
                                 calls[cpu]));
    FIG("percpu drain cache=fig-64 pages_freed=%zu\n", pages);
    for (int cpu = 0; cpu < ncpu_online(); cpu++)
        for (int c = 0; c < PC_CACHES; c++)
            for (int k = 0; k < 10; k++)
                kmem_cache_free(pc[c], pc_held[cpu][c][k]);

    // A trace on this cpu, one cache of its own: 130 allocations, then 130
    // frees; a line for each refill and each flush.
    struct kmem_cache *t = kmem_cache_create("fig-32", 32, 0, 0, NULL);
    if (t == NULL)
        return -1;
    print_geometry("percpu", t);
    static void *tobj[130];
    for (int op = 0; op < 2 * 130; op++) {
        bool alloc = op < 130;
        int k = alloc ? op : op - 130;
        uint64_t refills = t->refills, flushes = t->flushes;
        unsigned long before = t->array[cpu_id()]->avail;
        if (alloc)
            tobj[k] = kmem_cache_alloc(t, GFP_KERNEL);
        else
            kmem_cache_free(t, tobj[k]);
        struct array_cache *ac = t->array[cpu_id()];
        if (t->refills != refills || t->flushes != flushes) {
            unsigned int n[3];
            count_lists(t, n);
            bool refill = t->refills != refills;
            // A refill filled the array and the alloc took one; a flush
            // emptied batchcount and the free added one.
            unsigned long moved = refill ? ac->avail + 1 - before : before + 1 - ac->avail;
            FIG("percpu trace op=%s n=%d event=%s moved=%lu avail_before=%lu avail_after=%lu "
                "limit=%u full=%u partial=%u free=%u grows=%llu\n",
                alloc ? "alloc" : "free", k + 1, refill ? "refill" : "flush", moved, before,
                ac->avail, ac->limit, n[0], n[1], n[2], (unsigned long long)t->grows);
        }
    }
    struct array_cache *tac = t->array[cpu_id()];
    FIG("percpu trace end avail=%lu spare=%lu\n", tac->avail, tac->spare ? tac->spare->avail : 0UL);
    int bad = 0;
    for (int c = 0; c < PC_CACHES; c++)
        bad |= kmem_cache_destroy(pc[c]);
    bad |= kmem_cache_destroy(t);
    return bad ? -1 : 0;
}

// ---- debug: red zones, poison, reports ----

static void dump_object(const char *label, struct kmem_cache *c, const uint8_t *obj)
{
    FIG("debug dump label=%s red_left=%u object=%zu red_end=%u bufctl_off=%u track_off=%u "
        "stride=%u\n",
        label, c->red_left, c->object_size, c->red_end, c->bufctl_off, c->track_off, c->size);
    // From the left zone to the bufctl word; the tracks hold addresses and
    // are shown by the reports instead.
    long from = -(long)c->red_left, to = (long)c->bufctl_off + 4;
    for (long off = from; off < to; off += 8) {
        char hex[3 * 8 + 1];
        int at = 0;
        for (long k = off; k < off + 8 && k < to; k++)
            at += snprintf(hex + at, sizeof(hex) - at, "%s%02x", k > off ? " " : "", obj[k]);
        hex[at] = '\0';
        FIG("debug bytes label=%s offset=%ld hex=%s\n", label, off, hex);
    }
}

static int fig_debug(void)
{
    unsigned long all = SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_CONSISTENCY;
    struct kmem_cache *c = kmem_cache_create("fig-debug-40", 40, 0, all, NULL);
    if (c == NULL)
        return -1;
    print_geometry("debug", c);
    uint8_t *a = kmem_cache_alloc(c, GFP_KERNEL), *b = kmem_cache_alloc(c, GFP_KERNEL);
    if (!a || !b)
        return -1;
    memset(a, 0x11, 40);
    kmem_cache_free(c, b);
    dump_object("allocated", c, a);
    dump_object("free", c, b);

    FIG("debug begin label=redzone what=a[40] = 0x00: one byte past the end, then "
        "kmem_cache_free\n");
    a[40] = 0x00;
    kmem_cache_free(c, a);
    FIG("debug end label=redzone\n");

    FIG("debug begin label=double-free what=kmem_cache_free of the same object again\n");
    kmem_cache_free(c, a);
    FIG("debug end label=double-free\n");

    FIG("debug begin label=validate what=b[3] = 0x42 after b was freed, then slab_validate\n");
    b[3] = 0x42;
    int found = slab_validate(c);
    FIG("debug end label=validate\n");
    FIG("debug validate found=%d again=%d\n", found, slab_validate(c));
    return kmem_cache_destroy(c) ? -1 : 0;
}

// ---- The mode ----

static const struct {
    const char *name;
    int (*fn)(void);
} sections[] = {{"boot", fig_boot},       {"buddy", fig_buddy},   {"slab", fig_slab},
                {"kmalloc", fig_kmalloc}, {"percpu", fig_percpu}, {"debug", fig_debug}};

#define KNOWN "boot buddy slab kmalloc percpu debug"

// arg: NULL for every section, or a comma-separated list of them. An empty
// list, or an empty name in one ("figures=", "figures=boot,"), is refused as
// bench= is: drawing nothing and passing would hide the typo.
int figures_main(const char *arg)
{
    bool want[ARRAY_SIZE(sections)];
    for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
        want[i] = arg == NULL;
    for (const char *w = arg; w;) {
        size_t n = strcspn(w, ","), i;
        for (i = 0; i < ARRAY_SIZE(sections); i++)
            if (strlen(sections[i].name) == n && strncmp(w, sections[i].name, n) == 0)
                break;
        if (i == ARRAY_SIZE(sections)) {
            if (n)
                printk("figures: unknown section \"%.*s\"; known: %s\n", (int)n, w, KNOWN);
            else
                printk("figures: \"figures=%s\" has an empty section name; known: %s\n", arg,
                       KNOWN);
            return EXIT_BAD_BOOTARGS;
        }
        want[i] = true;
        w = w[n] == ',' ? w + n + 1 : NULL;
    }
    int bad = 0;
    for (size_t i = 0; i < ARRAY_SIZE(sections); i++) {
        if (!want[i])
            continue;
        int r = sections[i].fn();
        FIG("%s done %s\n", sections[i].name, r == 0 ? "ok" : "FAILED");
        bad |= r != 0;
    }
    return bad ? EXIT_TESTS_FAILED : EXIT_OK;
}
