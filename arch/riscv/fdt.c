// A minimal flattened-device-tree reader: one pass over the structure block,
// no allocation, no libfdt. Enough for the handful of nodes the kernel needs.
//
// The blob (big-endian throughout) is a header, a memory reservation block
// of (address, size) pairs, a structure block of tokens, and a strings block
// with the property names:
//   FDT_BEGIN_NODE name  ... FDT_PROP len nameoff value ...  children  FDT_END_NODE
// Properties come before a node's children, so when the first child starts
// we already know the node's #address-cells and #size-cells, which say how a
// child's reg is laid out.
#include "fdt.h"

#include <string.h>

#include "../../lib/platform.h"

#define FDT_MAGIC      0xd00dfeed
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE   2
#define FDT_PROP       3
#define FDT_NOP        4
#define FDT_END        9
#define FDT_MAX_DEPTH  16

struct fdt_info fdt_info;

static uint32_t be32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

// A reg address or size: `cells` 32-bit big-endian cells (1 or 2).
static uint64_t read_cells(const uint8_t *p, int cells)
{
    uint64_t v = 0;
    for (int i = 0; i < cells; i++)
        v = v << 32 | be32(p + 4 * i);
    return v;
}

enum kind { K_OTHER, K_ROOT, K_CPUS, K_RESERVED, K_CHOSEN };

// What we keep of one node while walking it.
struct node {
    const char *name;
    enum kind kind;
    int addr_cells, size_cells; // for the node's children (spec defaults 2 and 1)
    const uint8_t *reg;
    uint32_t reg_len;
    const char *status, *device_type, *mmu_type, *isa;
    const char *compatible; // a list of NUL-terminated strings
    uint32_t compatible_len;
};

struct walker {
    const uint8_t *p, *end; // cursor in the structure block, and its end
    const char *strings;
    uint32_t strings_size;
    struct fdt_info *fi;
    const char *error;
};

static bool has_compatible(const struct node *n, const char *want)
{
    for (uint32_t off = 0; off < n->compatible_len;) {
        const char *s = n->compatible + off;
        if (strcmp(s, want) == 0)
            return true;
        off += strlen(s) + 1;
    }
    return false;
}

// A string property is only trusted if it ends inside its value.
static const char *prop_string(const uint8_t *val, uint32_t len)
{
    return len > 0 && val[len - 1] == '\0' ? (const char *)val : NULL;
}

static void add_range(struct fdt_info *fi, struct fdt_range *arr, int *n, uint64_t base,
                      uint64_t size, const char *name)
{
    if (size == 0)
        return;
    if (*n == FDT_MAX_RANGES) {
        fi->ndropped_ranges++;
        return;
    }
    arr[(*n)++] = (struct fdt_range){base, size, name};
}

// Each (address, size) pair of n's reg, laid out as the parent says.
static void add_reg_ranges(struct fdt_info *fi, const struct node *n, const struct node *parent,
                           struct fdt_range *arr, int *count)
{
    uint32_t entry = 4 * (uint32_t)(parent->addr_cells + parent->size_cells);
    if (entry == 0 || parent->addr_cells > 2 || parent->size_cells > 2)
        return;
    for (uint32_t off = 0; off + entry <= n->reg_len; off += entry) {
        uint64_t base = read_cells(n->reg + off, parent->addr_cells);
        uint64_t size = read_cells(n->reg + off + 4 * parent->addr_cells, parent->size_cells);
        add_range(fi, arr, count, base, size, n->name);
    }
}

static void prop(struct walker *w, struct node *n, const char *name, const uint8_t *val,
                 uint32_t len)
{
    struct fdt_info *fi = w->fi;
    if (strcmp(name, "#address-cells") == 0 && len == 4)
        n->addr_cells = (int)be32(val);
    else if (strcmp(name, "#size-cells") == 0 && len == 4)
        n->size_cells = (int)be32(val);
    else if (strcmp(name, "reg") == 0)
        n->reg = val, n->reg_len = len;
    else if (strcmp(name, "status") == 0)
        n->status = prop_string(val, len);
    else if (strcmp(name, "device_type") == 0)
        n->device_type = prop_string(val, len);
    else if (strcmp(name, "mmu-type") == 0)
        n->mmu_type = prop_string(val, len);
    else if (strcmp(name, "riscv,isa") == 0)
        n->isa = prop_string(val, len);
    else if (strcmp(name, "compatible") == 0 && prop_string(val, len))
        n->compatible = (const char *)val, n->compatible_len = len;
    else if (strcmp(name, "model") == 0 && n->kind == K_ROOT)
        fi->model = prop_string(val, len);
    else if (strcmp(name, "bootargs") == 0 && n->kind == K_CHOSEN)
        fi->bootargs = prop_string(val, len);
    else if (strcmp(name, "timebase-frequency") == 0 && (len == 4 || len == 8))
        fi->timebase_hz = read_cells(val, (int)len / 4);
    else if (strcmp(name, "riscv,cbom-block-size") == 0 && len == 4 && !fi->cbom_block_size)
        fi->cbom_block_size = be32(val);
}

// A node is complete (all properties seen): file what it tells us.
static void finish(struct walker *w, const struct node *n, const struct node *parent)
{
    struct fdt_info *fi = w->fi;
    if (parent == NULL)
        return;
    if (parent->kind == K_ROOT && n->device_type && strcmp(n->device_type, "memory") == 0)
        add_reg_ranges(fi, n, parent, fi->memory, &fi->nmemory);
    if (parent->kind == K_RESERVED) // nodes with only size/alloc-ranges have no reg: skipped
        add_reg_ranges(fi, n, parent, fi->reserved, &fi->nreserved);
    if (parent->kind == K_CPUS && n->device_type && strcmp(n->device_type, "cpu") == 0 &&
        n->reg_len >= 4 * (uint32_t)parent->addr_cells && parent->addr_cells >= 1 &&
        parent->addr_cells <= 2) {
        if (fi->nharts == FDT_MAX_HARTS) {
            fi->nharts_dropped++;
        } else {
            struct fdt_hart *h = &fi->harts[fi->nharts++];
            h->hartid = read_cells(n->reg, parent->addr_cells);
            h->enabled =
                n->status == NULL || strcmp(n->status, "okay") == 0 || strcmp(n->status, "ok") == 0;
            h->has_mmu = n->mmu_type != NULL && strcmp(n->mmu_type, "riscv,none") != 0;
            h->isa = n->isa;
        }
    }
    // The test finisher sits on /soc, whose "ranges" is empty on QEMU virt
    // (child addresses are CPU addresses). We do not translate non-empty ranges.
    if ((has_compatible(n, "sifive,test1") || has_compatible(n, "sifive,test0")) &&
        n->reg_len >= 4 * (uint32_t)parent->addr_cells && fi->finisher == 0)
        fi->finisher = read_cells(n->reg, parent->addr_cells);
    // Spike's HTIF: reg is fromhost, and tohost follows 8 bytes on unless a
    // second reg entry places it (OpenSBI reads it so too). A node with no
    // reg means QEMU took both from symbols of the image it loaded.
    uint32_t entry = 4 * (uint32_t)(parent->addr_cells + parent->size_cells);
    if (has_compatible(n, "ucb,htif0") && parent->addr_cells <= 2 && parent->size_cells <= 2 &&
        n->reg_len >= entry && fi->htif_tohost == 0)
        fi->htif_tohost = n->reg_len >= 2 * entry ? read_cells(n->reg + entry, parent->addr_cells)
                                                  : read_cells(n->reg, parent->addr_cells) + 8;
}

static bool take32(struct walker *w, uint32_t *v)
{
    if (w->p + 4 > w->end) {
        w->error = "structure block ends early";
        return false;
    }
    *v = be32(w->p);
    w->p += 4;
    return true;
}

// Walk one node; w->p is just past its FDT_BEGIN_NODE token. Returns false on error.
static bool walk(struct walker *w, const struct node *parent, int depth)
{
    struct node n = {.name = (const char *)w->p, .addr_cells = 2, .size_cells = 1};
    size_t namelen = strnlen(n.name, (size_t)(w->end - w->p));
    if (w->p + namelen >= w->end) {
        w->error = "unterminated node name";
        return false;
    }
    w->p += (namelen + 1 + 3) & ~(size_t)3;
    if (depth == 0)
        n.kind = K_ROOT;
    else if (depth == 1 && strcmp(n.name, "cpus") == 0)
        n.kind = K_CPUS;
    else if (depth == 1 && strcmp(n.name, "reserved-memory") == 0)
        n.kind = K_RESERVED;
    else if (depth == 1 && (strcmp(n.name, "chosen") == 0))
        n.kind = K_CHOSEN;

    for (;;) {
        uint32_t tok;
        if (!take32(w, &tok))
            return false;
        if (tok == FDT_PROP) {
            uint32_t len, nameoff;
            if (!take32(w, &len) || !take32(w, &nameoff))
                return false;
            if (len > (size_t)(w->end - w->p) || nameoff >= w->strings_size) {
                w->error = "property runs out of the blob";
                return false;
            }
            prop(w, &n, w->strings + nameoff, w->p, len);
            w->p += (len + 3) & ~3u;
        } else if (tok == FDT_BEGIN_NODE) {
            if (depth + 1 >= FDT_MAX_DEPTH) {
                w->error = "nodes nested too deep";
                return false;
            }
            if (!walk(w, &n, depth + 1))
                return false;
        } else if (tok == FDT_END_NODE) {
            finish(w, &n, parent);
            return true;
        } else if (tok != FDT_NOP) {
            w->error = "unexpected token";
            return false;
        }
    }
}

int fdt_parse(uintptr_t dtb, struct fdt_info *fi)
{
    const uint8_t *h = (const uint8_t *)dtb;
    memset(fi, 0, sizeof(*fi));
    if (dtb == 0 || (dtb & 7) != 0 || be32(h) != FDT_MAGIC) {
        printk("fdt: no device tree at %#lx (bad address or magic)\n", (unsigned long)dtb);
        return -1;
    }
    uint32_t totalsize = be32(h + 4), off_struct = be32(h + 8), off_strings = be32(h + 12);
    uint32_t off_rsvmap = be32(h + 16), version = be32(h + 20);
    uint32_t size_strings = be32(h + 32), size_struct = be32(h + 36);
    if (version < 17 || off_struct + size_struct > totalsize ||
        off_strings + size_strings > totalsize || off_rsvmap + 16 > totalsize) {
        printk("fdt: unsupported version %u or inconsistent header\n", version);
        return -1;
    }
    fi->dtb = dtb;
    fi->dtb_size = totalsize;
    fi->timebase_hz = 10000000; // QEMU virt's, used only if /cpus does not say

    // The memory reservation block: (address, size) pairs ending with (0, 0).
    for (uint32_t off = off_rsvmap; off + 16 <= totalsize; off += 16) {
        uint64_t base = read_cells(h + off, 2), size = read_cells(h + off + 8, 2);
        if (base == 0 && size == 0)
            break;
        add_range(fi, fi->reserved, &fi->nreserved, base, size, "/memreserve/");
    }

    struct walker w = {.p = h + off_struct,
                       .end = h + off_struct + size_struct,
                       .strings = (const char *)h + off_strings,
                       .strings_size = size_strings,
                       .fi = fi};
    uint32_t tok;
    while (take32(&w, &tok) && tok == FDT_NOP)
        ;
    if (w.error == NULL && tok != FDT_BEGIN_NODE)
        w.error = "no root node";
    if (w.error == NULL)
        walk(&w, NULL, 0);
    if (w.error) {
        printk("fdt: malformed device tree: %s\n", w.error);
        return -1;
    }
    return 0;
}
