// Slab debugging, after Linux's SLUB debug options: red zones (Z), poison
// (P), the last alloc/free caller of each object (U), full checks of the
// object's slab on every free (F); reports; slab_validate.
//
// Layout of one object of a debug cache (offsets from the object, which is
// still aligned as asked; the stride c->size grows):
//
//   -red_left    0            object_size     red_end    bufctl_off   track_off   size-red_left
//   | left zone  | object ... | right zone ... (spare) | bufctl (8) | tracks    |
//
// The left zone of object 0 sits in front of the slab's first object (it is
// counted with the descriptor bytes); that of object i+1 ends object i's
// stride. Zones hold 0xbb while the object is free and 0xcc while it is out
// (Linux's SLUB_RED_INACTIVE/ACTIVE), so a check also knows the state. A free
// object of a P cache holds 0x6b with 0xa5 in its last byte.
//
// A problem is reported once, as a block of lines (one printk each, under a
// report lock so two cpus' blocks do not mix), counted in slab_error_count()
// and the cache's `errors`, and repaired: the zone or poison is rewritten and
// the allocator goes on. slab_panic_on_report=1 panics instead.

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "slab_internal.h"

#define POISON_FREE  0x6b // Linux's POISON_FREE
#define POISON_END   0xa5 // last byte of a poisoned object
#define RED_INACTIVE 0xbb
#define RED_ACTIVE   0xcc
#define RED_MIN      8 // bytes of red zone at least, on each side
#define SHOW_BYTES   8 // bytes shown after the first bad one

bool slab_panic_on_report;
static unsigned long boot_flags; // slab_debug= flags, 0: none
static char boot_names[128];     // caches they apply to ("a,b,pre*"); "": all
static struct spinlock report_lock = SPINLOCK_INIT("slab_report");
static char last_title[80]; // under report_lock

// For slab_lock_all: the report lock comes after every cache's.
void slab_debug_lock(bool lock)
{
    if (lock)
        spin_lock(&report_lock);
    else
        spin_unlock(&report_lock);
}

const char *slab_last_report(void)
{
    return last_title;
}
static uint32_t track_seq;

// ---- slab_debug= and slab_panic_on_report= ----

static int parse_flags(const char *v, size_t n, unsigned long *out)
{
    unsigned long f = 0;
    for (size_t k = 0; k < n; k++) {
        switch (v[k] | 0x20) { // either case
        case 'f':
            f |= SLAB_CONSISTENCY;
            break;
        case 'z':
            f |= SLAB_RED_ZONE;
            break;
        case 'p':
            f |= SLAB_POISON;
            break;
        case 'u':
            f |= SLAB_STORE_USER;
            break;
        case 'a':
            f |= SLAB_FAILSLAB;
            break;
        case 'h': // the debug path's checks alone: no red zones, poison or tracks
            f |= SLAB_FREE_CHECKS;
            break;
        default:
            return -EINVAL;
        }
    }
    *out = n ? f : SLAB_DEBUG_FLAGS; // "slab_debug=,name": all of F Z P U H, as Linux
    return 0;
}

int slab_debug_setup(const char *cmdline)
{
    unsigned long flags = 0;
    char names[sizeof(boot_names)] = "";
    bool panic_on = false;
    for (const char *w = cmdline ? cmdline : ""; *w;) {
        size_t n = strcspn(w, " ");
        if (n >= 11 && strncmp(w, "slab_debug=", 11) == 0) {
            const char *v = w + 11;
            size_t nv = n - 11, nf = strcspn(v, ", ");
            if (nf > nv)
                nf = nv;
            size_t nn = nf < nv ? nv - nf - 1 : 0;
            // "slab_debug=" with nothing after it is a mistake; ",names"
            // alone is not: every option for those caches, as Linux reads it.
            if (nv == 0 || parse_flags(v, nf, &flags) != 0 || nn >= sizeof(names)) {
                printk("bootargs: \"%.*s\": want slab_debug=FLAGS[,cache,prefix*...], FLAGS "
                       "from F Z P U A H; nothing changed\n",
                       (int)n, w);
                return -EINVAL;
            }
            memcpy(names, v + nf + (nn ? 1 : 0), nn);
            names[nn] = '\0';
        } else if (n >= 21 && strncmp(w, "slab_panic_on_report=", 21) == 0) {
            if (n != 22 || (w[21] != '0' && w[21] != '1')) {
                printk("bootargs: \"%.*s\": want slab_panic_on_report=0 or 1; nothing changed\n",
                       (int)n, w);
                return -EINVAL;
            }
            panic_on = w[21] == '1';
        }
        w += n;
        while (*w == ' ')
            w++;
    }
    boot_flags = flags;
    strcpy(boot_names, names);
    slab_panic_on_report = panic_on;
    if (flags)
        printk("slab: debug options %s%s%s%s%s for %s\n", flags & SLAB_CONSISTENCY ? "F" : "",
               flags & SLAB_RED_ZONE ? "Z" : "", flags & SLAB_POISON ? "P" : "",
               flags & SLAB_STORE_USER ? "U" : "", flags & SLAB_FAILSLAB ? "A" : "",
               names[0] ? names : "all caches");
    return 0;
}

unsigned long slab_debug_boot_flags(const char *name)
{
    if (boot_flags == 0 || boot_names[0] == '\0')
        return boot_flags;
    for (const char *p = boot_names; *p;) {
        size_t n = strcspn(p, ",");
        bool prefix = n > 0 && p[n - 1] == '*';
        size_t m = prefix ? n - 1 : n;
        if (strncmp(p, name, m) == 0 && (prefix || name[m] == '\0'))
            return boot_flags;
        p += n + (p[n] == ',');
    }
    return 0;
}

// ---- Layout ----

void debug_layout(struct kmem_cache *c)
{
    size_t a = c->align;
    bool z = c->flags & SLAB_RED_ZONE;
    size_t red_left = z ? ALIGN_UP(RED_MIN, a) : 0;
    size_t end = ALIGN_UP(c->object_size, 8) + (z ? RED_MIN : 0);
    size_t track = (c->flags & SLAB_STORE_USER) ? 2 * sizeof(struct slab_track) : 0;
    size_t size = ALIGN_UP(end + 8 + track + red_left, a);
    c->size = (unsigned int)size;
    c->red_left = (unsigned int)red_left;
    c->track_off = (unsigned int)(size - red_left - track);
    c->bufctl_off = c->track_off - 8;
    c->red_end = z ? c->bufctl_off : 0;
}

static inline struct slab_track *tracks(struct kmem_cache *c, uint8_t *obj)
{
    return (struct slab_track *)(obj + c->track_off);
}

static void set_zones(struct kmem_cache *c, uint8_t *obj, uint8_t v)
{
    memset(obj - c->red_left, v, c->red_left);
    memset(obj + c->object_size, v, c->red_end - c->object_size);
}

static void poison(struct kmem_cache *c, uint8_t *obj)
{
    memset(obj, POISON_FREE, c->object_size - 1);
    obj[c->object_size - 1] = POISON_END;
}

void debug_init_slab(struct kmem_cache *c, struct slab *s)
{
    for (unsigned int i = 0; i < c->num; i++) {
        uint8_t *obj = index_to_obj(c, s, i);
        if (c->flags & SLAB_RED_ZONE)
            set_zones(c, obj, RED_INACTIVE);
        if (c->flags & SLAB_POISON)
            poison(c, obj);
        if (c->flags & SLAB_STORE_USER) {
            struct slab_track *t = tracks(c, obj);
            t[0] = t[1] = (struct slab_track){NULL, -1, 0};
        }
    }
}

// ---- Reports ----

void report_begin(struct kmem_cache *c, const char *title)
{
    spin_lock(&report_lock);
    snprintf(last_title, sizeof(last_title), "%s", title);
    printk("slab: =============================================================\n");
    printk("slab: BUG %s: %s\n", c ? c->name : "(no cache)", title);
}

static void print_track(const char *what, const struct slab_track *t)
{
    if (t->cpu < 0)
        printk("slab:   last %s: never\n", what);
    else
        printk("slab:   last %s: by %p on cpu %d (event %u)\n", what, t->addr, t->cpu,
               (unsigned)t->seq);
}

void report_object(struct kmem_cache *c, struct slab *s, unsigned int i)
{
    uint8_t *obj = index_to_obj(c, s, i);
    printk("slab: object %p (index %u of slab %p), object size %zu, stride %u\n", (void *)obj, i,
           (void *)(s->s_mem - s->colouroff), c->object_size, c->size);
    if (c->flags & SLAB_STORE_USER) {
        print_track("alloc", &tracks(c, obj)[0]);
        print_track("free", &tracks(c, obj)[1]);
    }
}

void report_end(struct kmem_cache *c, const char *action)
{
    printk("slab: action: %s\n", action);
    printk("slab: =============================================================\n");
    spin_unlock(&report_lock);
    slab_report_bad(c);
    if (slab_panic_on_report)
        panic("slab: stopped after the report above (slab_panic_on_report)");
}

// Check n bytes at p (offset `off` from the object) hold `want`, the last
// one `last`. On a mismatch: one report, then repair. Returns problems (0/1).
static int check_bytes(struct kmem_cache *c, struct slab *s, unsigned int i, uint8_t *p, long off,
                       size_t n, uint8_t want, uint8_t last, const char *title, const char *repair)
{
    size_t first = n, bad = 0, lastbad = 0;
    for (size_t k = 0; k < n; k++) {
        if (p[k] != (k + 1 == n ? last : want)) {
            first = MIN(first, k);
            lastbad = k;
            bad++;
        }
    }
    if (bad == 0)
        return 0;
    char found[3 * SHOW_BYTES + 1] = "", expect[3 * SHOW_BYTES + 1] = "";
    for (size_t k = first, at = 0; k < n && k < first + SHOW_BYTES; k++, at += 3) {
        snprintf(found + at, sizeof(found) - at, "%02x ", p[k]);
        snprintf(expect + at, sizeof(expect) - at, "%02x ", k + 1 == n ? last : want);
    }
    found[strlen(found) - 1] = expect[strlen(expect) - 1] = '\0'; // the last space
    report_begin(c, title);
    report_line("%zu bad bytes at offsets %ld..%ld of object %p (%p..%p)", bad, off + (long)first,
                off + (long)lastbad, (void *)index_to_obj(c, s, i), (void *)(p + first),
                (void *)(p + lastbad));
    report_line("  found    %s", found);
    report_line("  expected %s", expect);
    report_object(c, s, i);
    for (size_t k = 0; k < n; k++)
        p[k] = k + 1 == n ? last : want;
    report_end(c, repair);
    return 1;
}

static int check_zones(struct kmem_cache *c, struct slab *s, unsigned int i, uint8_t v)
{
    uint8_t *obj = index_to_obj(c, s, i);
    const char *state = v == RED_ACTIVE ? "" : " of a free object";
    char left[96], right[96];
    snprintf(left, sizeof(left), "left red zone%s overwritten (write before the object)", state);
    snprintf(right, sizeof(right), "right red zone%s overwritten (write past the end)", state);
    return check_bytes(c, s, i, obj - c->red_left, -(long)c->red_left, c->red_left, v, v, left,
                       "red zone restored") +
           check_bytes(c, s, i, obj + c->object_size, (long)c->object_size,
                       c->red_end - c->object_size, v, v, right, "red zone restored");
}

static int check_poison(struct kmem_cache *c, struct slab *s, unsigned int i)
{
    return check_bytes(c, s, i, index_to_obj(c, s, i), 0, c->object_size, POISON_FREE, POISON_END,
                       "poison overwritten (write after free)", "poison restored");
}

static void set_track(struct kmem_cache *c, uint8_t *obj, int which, const void *caller)
{
    tracks(c, obj)[which] =
        (struct slab_track){caller, cpu_id(), __atomic_add_fetch(&track_seq, 1, __ATOMIC_RELAXED)};
}

// A free object leaves its slab: check it was left alone, mark it out.
void debug_on_alloc(struct kmem_cache *c, struct slab *s, unsigned int i, const void *caller)
{
    uint8_t *obj = index_to_obj(c, s, i);
    if (c->flags & SLAB_RED_ZONE)
        check_zones(c, s, i, RED_INACTIVE);
    if (c->flags & SLAB_POISON)
        check_poison(c, s, i);
    if (c->flags & SLAB_RED_ZONE)
        set_zones(c, obj, RED_ACTIVE);
    if (c->flags & SLAB_STORE_USER)
        set_track(c, obj, 0, caller);
}

static int validate_slab_struct(struct kmem_cache *c, struct slab *s, bool verbose,
                                size_t counts[2]);

// An object comes back. obj_lookup checked its state without the lock; the
// check that counts is this one, under it: of two cpus freeing the object at
// once, the second finds it free. False: reported, not to be freed.
bool debug_on_free(struct kmem_cache *c, struct slab *s, unsigned int i, const void *caller)
{
    uint8_t *obj = index_to_obj(c, s, i);
    bufctl_t b = *slab_bufctl(c, s, i);
    if (b != BUFCTL_ACTIVE) {
        report_begin(c, "double free");
        report_line("free(%p): object %u is %s", (void *)obj, i,
                    b == BUFCTL_QUARANTINE ? "quarantined (never handed out)"
                                           : "already free, in its slab's free list");
        report_object(c, s, i);
        report_end(c, "ignored");
        return false;
    }
    if (c->flags & SLAB_CONSISTENCY) {
        size_t counts[2];
        if (validate_slab_struct(c, s, false, counts) != 0) {
            report_begin(c, "slab metadata inconsistent (found freeing an object in it)");
            validate_slab_struct(c, s, true, counts);
            report_object(c, s, i);
            report_end(c, "object freed; the slab's problems are left as found");
        }
    }
    if (c->flags & SLAB_RED_ZONE)
        check_zones(c, s, i, RED_ACTIVE);
    if (c->flags & SLAB_STORE_USER)
        set_track(c, obj, 1, caller);
    if (c->flags & SLAB_POISON)
        poison(c, obj);
    if (c->flags & SLAB_RED_ZONE)
        set_zones(c, obj, RED_INACTIVE);
    return true;
}

// ---- Validation ----

#define problem(verbose, ...)                                                                      \
    do {                                                                                           \
        bad++;                                                                                     \
        if (verbose)                                                                               \
            report_line(__VA_ARGS__);                                                              \
    } while (0)

bool slab_obj_free(const struct kmem_cache *c, const struct slab *s, unsigned int i)
{
    if (i >= s->fresh)
        return true;
    size_t n = 0;
    for (unsigned int k = s->free; k != BUFCTL_END && k < c->num && n <= c->num;
         k = *slab_bufctl(c, s, k), n++)
        if (k == i)
            return true;
    return false;
}

// One slab's own invariants: its frames, its free chain (in range, acyclic,
// as long as num - inuse), and in a debug cache its markers (objects out =
// inuse). counts[]: free objects, quarantined objects (debug caches only).
// c->node->list_lock held.
static int validate_slab_struct(struct kmem_cache *c, struct slab *s, bool verbose,
                                size_t counts[2])
{
    int bad = 0;
    char *base = s->s_mem - s->colouroff;
    struct page *pg = virt_to_page(base);
    if (pg == NULL || ((uintptr_t)base & ((PAGE_SIZE << c->order) - 1)) != 0) {
        problem(verbose, "%s: slab %p: not a slab-aligned block of RAM", c->name, (void *)base);
        return bad; // nothing below can be trusted
    }
    for (unsigned int k = 0; k < (1U << c->order); k++)
        if (!(page_flags(&pg[k]) & PG_slab) || pg[k].slab_cache != c || pg[k].slab != s)
            problem(verbose, "%s: slab %p: frame %u not marked as this slab's", c->name,
                    (void *)base, k);
    if (s->inuse > c->num)
        problem(verbose, "%s: slab %p: inuse %u of %u objects", c->name, (void *)base, s->inuse,
                c->num);
    size_t len = 0;
    for (unsigned int i = s->free; i != BUFCTL_END; i = *slab_bufctl(c, s, i)) {
        if (i >= c->num || len >= c->num ||
            (*slab_bufctl(c, s, i) >= c->num && *slab_bufctl(c, s, i) != BUFCTL_END)) {
            problem(verbose, "%s: slab %p: free chain broken at step %zu (index %u)", c->name,
                    (void *)base, len, i);
            break;
        }
        len++;
    }
    if (s->fresh > c->num || ((c->flags & SLAB_SLOW_FLAGS) && s->fresh != c->num))
        problem(verbose, "%s: slab %p: fresh objects from %u, of %u", c->name, (void *)base,
                s->fresh, c->num);
    else
        len += c->num - s->fresh;
    if (bad == 0 && len != c->num - s->inuse)
        problem(verbose, "%s: slab %p: free chain and fresh objects %zu, %u are free", c->name,
                (void *)base, len, c->num - s->inuse);
    size_t quar = 0;
    if (bad == 0 && (c->flags & SLAB_SLOW_FLAGS)) {
        size_t out = 0;
        for (unsigned int i = 0; i < c->num; i++) {
            bufctl_t b = *slab_bufctl(c, s, i);
            out += b == BUFCTL_ACTIVE || b == BUFCTL_QUARANTINE;
            quar += b == BUFCTL_QUARANTINE;
        }
        if (out != s->inuse)
            problem(verbose, "%s: slab %p: inuse %u, but %zu objects marked out", c->name,
                    (void *)base, s->inuse, out);
    }
    counts[0] = len;
    counts[1] = quar;
    return bad;
}

int validate_slab_locked(struct kmem_cache *c, struct slab *s, bool repair)
{
    size_t counts[2];
    int bad = validate_slab_struct(c, s, true, counts);
    if (bad || !repair || !(c->flags & (SLAB_RED_ZONE | SLAB_POISON)))
        return bad;
    // Zones and poison: reported, counted and repaired like any other finding.
    for (unsigned int i = 0; i < c->num; i++) {
        bufctl_t b = *slab_bufctl(c, s, i);
        bool is_free = b != BUFCTL_ACTIVE && b != BUFCTL_QUARANTINE;
        if (b == BUFCTL_QUARANTINE)
            continue;
        if (c->flags & SLAB_RED_ZONE)
            bad += check_zones(c, s, i, is_free ? RED_INACTIVE : RED_ACTIVE);
        if ((c->flags & SLAB_POISON) && is_free)
            bad += check_poison(c, s, i);
    }
    return bad;
}

// Array a of c: below 2 * NCPU, cpu a / 2's current one (a even) or its
// spare (a odd, which may be NULL); above, the barn's sheaves, full ones
// first (NULL past the last).
#define BARN_SLOTS (2 * BARN_MAX_SHEAVES)
static struct array_cache *array_at(struct kmem_cache *c, int a)
{
    if (a < 2 * NCPU) {
        struct array_cache *ac = c->array[a / 2];
        return a % 2 ? ac->spare : ac;
    }
    int k = a - 2 * NCPU;
    struct barn *b = &c->node->barn;
    struct array_cache *sh = b->full;
    if (k >= (int)b->nr_full) {
        k -= (int)b->nr_full;
        sh = b->empty;
    }
    for (; sh && k > 0; k--)
        sh = sh->spare;
    return sh;
}

// Where array a is, for a report: "cpu 3 ", "cpu 3 spare ", "barn ".
static void array_where(int a, char *buf, size_t len)
{
    if (a < 2 * NCPU)
        snprintf(buf, len, "cpu %d %s", a / 2, a % 2 ? "spare " : "");
    else
        snprintf(buf, len, "barn sheaf %d ", a - 2 * NCPU);
}

// The barn's stacks: the counts right, full sheaves holding objects and
// empty ones none, no sheaf a cpu holds too. c->node->barn.lock held.
static int validate_barn(struct kmem_cache *c)
{
    int bad = 0;
    struct barn *b = &c->node->barn;
    struct array_cache *tops[2] = {b->full, b->empty};
    unsigned int counts[2] = {b->nr_full, b->nr_empty};
    for (int h = 0; h < 2; h++) {
        unsigned int n = 0;
        for (struct array_cache *sh = tops[h]; sh && n <= BARN_MAX_SHEAVES; sh = sh->spare, n++) {
            if (h == 0 ? sh->avail == 0 : sh->avail != 0)
                problem(true, "%s: a%s sheaf in the barn holds %lu objects", c->name,
                        h == 0 ? " full" : "n empty", sh->avail);
            for (int cpu = 0; cpu < NCPU; cpu++)
                if (c->array[cpu] == sh || c->array[cpu]->spare == sh)
                    problem(true, "%s: a sheaf in the barn is cpu %d's too", c->name, cpu);
        }
        if (n != counts[h] || n > BARN_MAX_SHEAVES)
            problem(true, "%s: the barn has %u %s sheaves, its count says %u (at most %d)", c->name,
                    n, h == 0 ? "full" : "empty", counts[h], BARN_MAX_SHEAVES);
    }
    return bad;
}

// Every per-CPU array entry (current and spare arrays, and the barn's
// sheaves) is an object of c,
// at an object's first byte, not free in its slab, and in no other array
// slot. Every cpu is stopped (stop_machine), so the arrays hold still.
// c->node->list_lock held.
static int validate_arrays(struct kmem_cache *c)
{
    int bad = 0;
    spin_lock(&c->node->barn.lock);
    bad += validate_barn(c);
    for (int a = 0; a < 2 * NCPU + BARN_SLOTS; a++) {
        int cpu = a / 2;
        struct array_cache *ac = array_at(c, a);
        char where[32];
        array_where(a, where, sizeof(where));
        if (ac == NULL)
            continue;
        if (ac == &slab_no_array || ac == &slab_lazy_array) {
            if (ac->avail || ac->limit || ac->spare)
                problem(true, "%s: a shared empty array holds %lu of %u", c->name, ac->avail,
                        ac->limit);
            // A plain cache never takes the debug path, nor a debug cache the arrays'.
            if ((ac == &slab_lazy_array) != (c->limit != 0))
                problem(true, "%s: cpu %d has %s, but the cache %s per-CPU arrays", c->name, cpu,
                        ac == &slab_no_array ? "slab_no_array" : "slab_lazy_array",
                        c->limit ? "has" : "has no");
            continue;
        }
        if (ac->avail > ac->limit || ac->limit != c->limit ||
            (a < 2 * NCPU && a % 2 && ac->spare)) {
            problem(true, "%s: %sarray holds %lu of %u (cache limit %u)", c->name, where, ac->avail,
                    ac->limit, c->limit);
            continue;
        }
        for (unsigned int k = 0; k < ac->avail; k++) {
            void *obj = ac->entry[k];
            struct slab *s;
            unsigned int i;
            if (kmem_cache_of(obj) != c || (s = virt_to_page(obj)->slab) == NULL ||
                (char *)obj < s->s_mem || (i = obj_to_index(c, s, obj)) >= c->num ||
                index_to_obj(c, s, i) != obj) {
                problem(true, "%s: %sarray entry %u (%p) is not an object of this cache", c->name,
                        where, k, obj);
                continue;
            }
            if (slab_obj_free(c, s, i))
                problem(true, "%s: %sarray entry %u (%p) is also free in its slab", c->name, where,
                        k, obj);
            for (int a2 = 0; a2 <= a; a2++) {
                struct array_cache *ac2 = array_at(c, a2);
                if (ac2 == NULL)
                    continue;
                unsigned int end = a2 == a ? k : MIN(ac2->avail, ac2->limit);
                for (unsigned int k2 = 0; k2 < end; k2++)
                    if (ac2->entry[k2] == obj) {
                        char where2[32];
                        array_where(a2, where2, sizeof(where2));
                        problem(true,
                                "%s: %p is in two array slots: %sentry %u, %sentry %u "
                                "(freed twice)",
                                c->name, obj, where2, k2, where, k);
                    }
            }
        }
    }
    spin_unlock(&c->node->barn.lock);
    return bad;
}

// The whole check of one cache, every cpu stopped.
static int validate_cache(struct kmem_cache *c)
{
    int bad = 0;
    spin_lock(&c->node->list_lock);
    c->list_scans++;
    struct list_head *heads[] = {&c->node->slabs_full, &c->node->slabs_partial,
                                 &c->node->slabs_free};
    const char *names[] = {"full", "partial", "free"};
    size_t nslabs = 0, nfree_slabs = 0, free_objs = 0, quar = 0;
    for (int h = 0; h < 3; h++) {
        size_t n = 0;
        for (struct list_head *pos = heads[h]->next; pos != heads[h]; pos = pos->next) {
            if (++n > c->node->nr_slabs + 1) {
                problem(true, "%s: %s list longer than nr_slabs (%u): a cycle?", c->name, names[h],
                        c->node->nr_slabs);
                break;
            }
            struct slab *s = list_entry(pos, struct slab, list);
            size_t counts[2];
            bad += validate_slab_locked(c, s, true);
            if (validate_slab_struct(c, s, false, counts) != 0)
                continue;
            free_objs += counts[0];
            quar += counts[1];
            bool right = h == 0   ? s->inuse == c->num
                         : h == 1 ? s->inuse > 0 && s->inuse < c->num
                                  : s->inuse == 0;
            if (!right)
                problem(true, "%s: slab %p on the %s list with %u of %u objects out", c->name,
                        (void *)(s->s_mem - s->colouroff), names[h], s->inuse, c->num);
        }
        nslabs += n;
        if (h == 2)
            nfree_slabs = n;
    }
    if (nslabs != c->node->nr_slabs || nfree_slabs != c->node->nr_free_slabs)
        problem(true, "%s: %zu slabs (%zu free) on the lists, counters say %u (%u)", c->name,
                nslabs, nfree_slabs, c->node->nr_slabs, c->node->nr_free_slabs);
    if (free_objs != c->node->free_objects)
        problem(true, "%s: %zu free objects in slabs, free_objects says %zu", c->name, free_objs,
                c->node->free_objects);
    if ((c->flags & SLAB_SLOW_FLAGS) && quar != c->quarantined)
        problem(true, "%s: %zu quarantined objects, counter says %zu", c->name, quar,
                c->quarantined);
    bad += validate_arrays(c);
    spin_unlock(&c->node->list_lock);
    return bad;
}

struct validate_job {
    struct kmem_cache *c; // NULL: every cache
    int bad;
};

static void validate_stopped(void *arg)
{
    struct validate_job *job = arg;
    if (job->c) {
        job->bad = validate_cache(job->c);
        return;
    }
    spin_lock(&chain_lock);
    for (struct list_head *pos = cache_chain.next; pos != &cache_chain; pos = pos->next)
        job->bad += validate_cache(list_entry(pos, struct kmem_cache, next));
    spin_unlock(&chain_lock);
}

int slab_validate(struct kmem_cache *c)
{
    if (c == NULL || c->magic != KMEM_CACHE_MAGIC) {
        printk("slab: slab_validate(%p): %s\n", (void *)c, c ? "destroyed cache" : "NULL cache");
        return -EINVAL;
    }
    struct validate_job job = {c, 0};
    stop_machine(validate_stopped, &job);
    return job.bad;
}

int slab_validate_all(void)
{
    struct validate_job job = {NULL, 0};
    stop_machine(validate_stopped, &job);
    return job.bad;
}
