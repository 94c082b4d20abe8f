#include "ktest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Linker-made bounds of the "ktest_cases" section (ld provides __start_/__stop_
// symbols for any section whose name is a C identifier). Weak, so a program
// with no tests at all (a fuzz target) still links: both are then NULL.
extern const struct ktest_case *const __start_ktest_cases[] __attribute__((weak));
extern const struct ktest_case *const __stop_ktest_cases[] __attribute__((weak));
extern const struct ktest_param *const __start_ktest_params[] __attribute__((weak));
extern const struct ktest_param *const __stop_ktest_params[] __attribute__((weak));

KTEST_PARAM(ktest_allow_empty, 0, 1, "1: a filter that matches no test runs none, not an error");

#define MAX_CASES 512

struct ktest_totals ktest_totals;
const char *ktest_args = "";

// On a mismatch, only the last star seen takes one more character and the
// rest of the pattern is tried again from there. Earlier stars never need
// to take more: what they would take, the last star can take instead, as
// everything between them has matched already. So each place the last
// star stops costs at most one pass over the rest of the pattern, not one
// per way of splitting the string among all the stars.
bool glob_match_steps(const char *p, const char *s, unsigned long *steps)
{
    const char *star = NULL, *star_s = NULL; // after the last '*', and where it stopped
    while (*s != '\0') {
        ++*steps;
        if (*p == '*') {
            star = ++p;
            star_s = s;
        } else if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star;
            s = ++star_s;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool glob_match(const char *p, const char *s)
{
    unsigned long steps = 0;
    return glob_match_steps(p, s, &steps);
}

bool ktest_parse_ul(const char *s, size_t n, unsigned long *value)
{
    unsigned long v = 0, base = 10;
    size_t i = 0;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, i = 2;
    if (i == n)
        return false;
    for (; i < n; i++) {
        char ch = s[i];
        unsigned d = ch >= '0' && ch <= '9'                 ? (unsigned)(ch - '0')
                     : base == 16 && ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                     : base == 16 && ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10)
                                                            : 99;
        if (d >= base || v > (~0UL - d) / base)
            return false; // not a digit, or too big for an unsigned long
        v = v * base + d;
    }
    *value = v;
    return true;
}

static const struct ktest_param *find_param(const char *key, size_t n)
{
    for (const struct ktest_param *const *p = __start_ktest_params; p < __stop_ktest_params; p++)
        if (strlen((*p)->name) == n && strncmp((*p)->name, key, n) == 0)
            return *p;
    return NULL;
}

int ktest_param_check(const char *w, size_t n)
{
    const char *eq = memchr(w, '=', n);
    size_t klen = eq ? (size_t)(eq - w) : n;
    const struct ktest_param *p = eq ? find_param(w, klen) : NULL;
    unsigned long v;
    if (p == NULL) {
        printk("bootargs: \"%.*s\": no such parameter; these are known:\n", (int)n, w);
        for (const struct ktest_param *const *q = __start_ktest_params; q < __stop_ktest_params;
             q++)
            printk("  %s=%lu..%lu  %s\n", (*q)->name, (*q)->min, (*q)->max, (*q)->help);
        return -1;
    }
    if (!ktest_parse_ul(eq + 1, n - klen - 1, &v) || v < p->min || v > p->max) {
        printk("bootargs: \"%.*s\": want %s=N, a number from %lu to %lu (%s)\n", (int)n, w, p->name,
               p->min, p->max, p->help);
        return -1;
    }
    return 0;
}

int ktest_key_once(const char *before, size_t len, const char *w, size_t n)
{
    size_t klen = strcspn(w, "= ");
    klen = MIN(klen, n);
    for (size_t i = 0; i < len;) {
        size_t m = strcspn(before + i, " ");
        m = MIN(m, len - i);
        if (m > klen && before[i + klen] == '=' && strncmp(before + i, w, klen) == 0) {
            printk("bootargs: \"%.*s\": %.*s= was given before, as \"%.*s\"; give each key "
                   "once\n",
                   (int)n, w, (int)klen, w, (int)m, before + i);
            return -1;
        }
        i += m ? m : 1;
    }
    return 0;
}

unsigned long ktest_arg_ul(const char *key, unsigned long dflt)
{
    size_t klen = strlen(key);
    for (const char *w = ktest_args; w && *w; w++) {
        bool word_start = w == ktest_args || w[-1] == ' ';
        if (word_start && strncmp(w, key, klen) == 0 && w[klen] == '=') {
            unsigned long v;
            size_t n = strcspn(w + klen + 1, " ");
            return ktest_parse_ul(w + klen + 1, n, &v) ? v : dflt; // checked at start-up
        }
    }
    return dflt;
}

void ktest_fail(struct ktest *t, const char *file, int line, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    __atomic_add_fetch(&t->failures, 1, __ATOMIC_RELAXED);
    printk("        # %s: %s:%d: %s (cpu %d)\n", t->tc->name, file, line, msg, cpu_id());
}

// "EXPECT(a <= b) failed: a = 1 (0x1), b = 0 (0x0)": the invariant, then
// what each side was.
void ktest_fail_cmp(struct ktest *t, const char *file, int line, const char *what, const char *op,
                    const char *a, const char *b, long long av, long long bv)
{
    ktest_fail(t, file, line, "%s(%s %s %s) failed: %s = %lld (0x%llx), %s = %lld (0x%llx)", what,
               a, op, b, a, av, (unsigned long long)av, b, bv, (unsigned long long)bv);
}

bool ktest_filter_match(const char *filter, const char *suite, const char *name)
{
    char full[128], one[128];
    if (filter == NULL || filter[0] == '\0')
        return true;
    snprintf(full, sizeof(full), "%s.%s", suite, name);
    for (const char *f = filter;; f++) {
        size_t n = strcspn(f, ",");
        if (n > 0 && n < sizeof(one)) {
            memcpy(one, f, n);
            one[n] = '\0';
            if (glob_match(one, suite) || glob_match(one, full))
                return true;
        }
        f += n;
        if (*f == '\0')
            return false;
    }
}

static bool selected(const struct ktest_case *c, const char *filter)
{
    return ktest_filter_match(filter, c->suite, c->name);
}

// Order cases by file, then line, so output is the same on every build;
// late cases after all others.
static int case_before(const struct ktest_case *a, const struct ktest_case *b)
{
    if (a->late != b->late)
        return b->late;
    int d = strcmp(a->file, b->file);
    return d < 0 || (d == 0 && a->line < b->line);
}

static int collect(const struct ktest_case **out, const char *filter)
{
    int n = 0;
    for (const struct ktest_case *const *p = __start_ktest_cases; p < __stop_ktest_cases; p++) {
        if (!selected(*p, filter))
            continue;
        if (n == MAX_CASES)
            panic("ktest: more than %d cases", MAX_CASES);
        int i = n++;
        while (i > 0 && case_before(*p, out[i - 1])) { // insertion sort
            out[i] = out[i - 1];
            i--;
        }
        out[i] = *p;
    }
    return n;
}

// Cases of one suite may come from several places; group by first appearance.
static bool suite_seen_before(const struct ktest_case **cs, int i)
{
    for (int j = 0; j < i; j++)
        if (strcmp(cs[j]->suite, cs[i]->suite) == 0)
            return true;
    return false;
}

static int run_suite(const struct ktest_case **cs, int n, int first, int number)
{
    const char *suite = cs[first]->suite;
    int total = 0, pass = 0, fail = 0, skip = 0;
    for (int i = first; i < n; i++)
        total += strcmp(cs[i]->suite, suite) == 0;

    printk("    KTAP version 1\n    # Subtest: %s\n    1..%d\n", suite, total);
    int k = 0;
    for (int i = first; i < n; i++) {
        if (strcmp(cs[i]->suite, suite) != 0)
            continue;
        struct ktest t = {.tc = cs[i], .failures = 0, .skip_reason = NULL};
        cs[i]->fn(&t);
        k++;
        if (t.failures > 0) {
            fail++;
            printk("    not ok %d %s\n", k, cs[i]->name);
        } else if (t.skip_reason) {
            skip++;
            printk("    ok %d %s # SKIP %s\n", k, cs[i]->name, t.skip_reason);
        } else {
            pass++;
            printk("    ok %d %s\n", k, cs[i]->name);
        }
    }
    printk("# %s: pass:%d fail:%d skip:%d total:%d\n", suite, pass, fail, skip, total);
    printk("%s %d %s\n", fail ? "not ok" : "ok", number, suite);
    ktest_totals.pass += pass;
    ktest_totals.fail += fail;
    ktest_totals.skip += skip;
    return fail;
}

int ktest_run(const char *filter)
{
    static const struct ktest_case *cs[MAX_CASES];
    int n = collect(cs, filter);
    if (n == 0 && !ktest_arg_ul("ktest_allow_empty", 0)) {
        printk("ktest: no test matches \"%s\" (a suite, or suite.case, with * and ?; commas "
               "between several)\n",
               filter ? filter : "");
        return KTEST_NO_MATCH;
    }
    int nsuites = 0;
    for (int i = 0; i < n; i++)
        nsuites += !suite_seen_before(cs, i);

    memset(&ktest_totals, 0, sizeof(ktest_totals));
    printk("KTAP version 1\n1..%d\n", nsuites);
    int number = 0;
    for (int i = 0; i < n; i++)
        if (!suite_seen_before(cs, i))
            run_suite(cs, n, i, ++number);
    printk("# Totals: pass:%d fail:%d skip:%d total:%d\n", ktest_totals.pass, ktest_totals.fail,
           ktest_totals.skip, n);
    return ktest_totals.fail;
}
