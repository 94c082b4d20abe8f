// ktest: a small KUnit-like self-test framework that prints KTAP version 1.
//
//   KTEST(buddy, alloc_all) { ... EXPECT(t, x == y); ASSERT(t, p != NULL); ... }
//
// Each KTEST puts a pointer to its case in the "ktest_cases" linker section;
// ktest_run() finds them all, groups them by suite and runs those that match
// the filter. The same test files link into the kernel and the host build.
#ifndef KTEST_H
#define KTEST_H

#include "platform.h"

struct ktest;

struct ktest_case {
    const char *suite;
    const char *name;
    const char *file;
    int line;
    void (*fn)(struct ktest *t);
    bool late; // KTEST_LATE: after every other case
};

struct ktest {
    const struct ktest_case *tc;
    int failures;            // EXPECT/ASSERT failures so far (atomic: any cpu may add)
    const char *skip_reason; // set by KTEST_SKIP
};

#define KTEST(suite_, name_) KTEST_CASE_(suite_, name_, false)

// A case that runs after every other case the filter selects, whatever its
// file and line: a check that judges what the whole run did (the deepest
// use of the stacks). Give it a suite of its own, since a suite runs where
// its first case would.
#define KTEST_LATE(suite_, name_) KTEST_CASE_(suite_, name_, true)

#define KTEST_CASE_(suite_, name_, late_)                                                          \
    static void ktest_##suite_##_##name_(struct ktest *t);                                         \
    static const struct ktest_case ktest_case_##suite_##_##name_ = {                               \
        #suite_, #name_, __FILE__, __LINE__, ktest_##suite_##_##name_, (late_)};                   \
    static const struct ktest_case *const ktest_ptr_##suite_##_##name_                             \
        __attribute__((used, section("ktest_cases"))) = &ktest_case_##suite_##_##name_;            \
    static void ktest_##suite_##_##name_(struct ktest *t __attribute__((unused)))

void ktest_fail(struct ktest *t, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// EXPECT records a failure and goes on; ASSERT records it and ends the case
// (it returns from the function it is written in: use it in the test body).
// A failure prints the invariant and, for the comparisons, the values seen:
//
//   # split_exact: tests/kernel/test_buddy.c:40: EXPECT(free_after <= free_before) failed:
//     free_after = 4097 (0x1001), free_before = 4096 (0x1000) (cpu 0)
//
// so prefer EXPECT_EQ/NE/LT/LE/GT/GE(t, a, b) to EXPECT(t, a < b). Each side
// is evaluated once and compared as a long long (pointers and counts alike:
// every value a test compares fits).
#define EXPECT(t, cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ktest_fail((t), __FILE__, __LINE__, "EXPECT(%s) failed", #cond);                       \
    } while (0)
#define ASSERT(t, cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            ktest_fail((t), __FILE__, __LINE__, "ASSERT(%s) failed", #cond);                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

void ktest_fail_cmp(struct ktest *t, const char *file, int line, const char *what, const char *op,
                    const char *a, const char *b, long long av, long long bv);

// The comparison as written in C, both sides kept for the message.
#define KTEST_CMP_(t, what, a, op, b, on_fail)                                                     \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (!(a_ op b_)) {                                                                         \
            ktest_fail_cmp((t), __FILE__, __LINE__, what, #op, #a, #b, a_, b_);                    \
            on_fail;                                                                               \
        }                                                                                          \
    } while (0)

#define EXPECT_EQ(t, a, b) KTEST_CMP_(t, "EXPECT", a, ==, b, (void)0)
#define EXPECT_NE(t, a, b) KTEST_CMP_(t, "EXPECT", a, !=, b, (void)0)
#define EXPECT_LT(t, a, b) KTEST_CMP_(t, "EXPECT", a, <, b, (void)0)
#define EXPECT_LE(t, a, b) KTEST_CMP_(t, "EXPECT", a, <=, b, (void)0)
#define EXPECT_GT(t, a, b) KTEST_CMP_(t, "EXPECT", a, >, b, (void)0)
#define EXPECT_GE(t, a, b) KTEST_CMP_(t, "EXPECT", a, >=, b, (void)0)
#define KTEST_END_CASE_    return // what a failed ASSERT does
#define ASSERT_EQ(t, a, b) KTEST_CMP_(t, "ASSERT", a, ==, b, KTEST_END_CASE_)
#define ASSERT_NE(t, a, b) KTEST_CMP_(t, "ASSERT", a, !=, b, KTEST_END_CASE_)
#define ASSERT_LT(t, a, b) KTEST_CMP_(t, "ASSERT", a, <, b, KTEST_END_CASE_)
#define ASSERT_LE(t, a, b) KTEST_CMP_(t, "ASSERT", a, <=, b, KTEST_END_CASE_)
#define ASSERT_GT(t, a, b) KTEST_CMP_(t, "ASSERT", a, >, b, KTEST_END_CASE_)
#define ASSERT_GE(t, a, b) KTEST_CMP_(t, "ASSERT", a, >=, b, KTEST_END_CASE_)
#define KTEST_SKIP(t, reason)                                                                      \
    do {                                                                                           \
        (t)->skip_reason = (reason);                                                               \
        return;                                                                                    \
    } while (0)

// Run every case the filter selects (ktest_filter_match: globs, commas
// between them; NULL or "" runs all). Prints KTAP; returns the number of failed cases,
// or KTEST_NO_MATCH (after saying so) when the filter names no case at all --
// unless ktest_allow_empty=1, then it prints an empty plan and returns 0.
int ktest_run(const char *filter);
#define KTEST_NO_MATCH (-1)

// Counts of the last ktest_run().
struct ktest_totals {
    int pass, fail, skip;
};
extern struct ktest_totals ktest_totals;

bool glob_match(const char *pattern, const char *s); // '*' and '?' wildcards
// The same, adding its steps to *steps: at most (strlen(pattern) + 1) *
// (strlen(s) + 1), however many stars the pattern has.
bool glob_match_steps(const char *pattern, const char *s, unsigned long *steps);
// The case suite.name runs under filter: globs separated by commas
// ("buddy*,slab.geometry*"), any of which matches the suite or suite.name;
// NULL or "" runs everything.
bool ktest_filter_match(const char *filter, const char *suite, const char *name);

// Parameters for tests and benchmarks, as "key=value" words: the kernel sets
// ktest_args to /chosen/bootargs, the host runner to its command line. Each
// key is declared once, next to the code that reads it, with its range:
//
//   KTEST_PARAM(soak_ops, 1, 1000000000, "operations in the soak, all cpus together");
//
// and the command line is checked against the declarations before anything
// runs (ktest_param_check): a key nobody declared, or a value that is not a
// number (decimal or 0x...) in range, stops the run with a message naming it.
struct ktest_param {
    const char *name;
    unsigned long min, max;
    const char *help;
};

#define KTEST_PARAM(name_, min_, max_, help_)                                                      \
    static const struct ktest_param ktest_param_##name_ = {#name_, (min_), (max_), (help_)};       \
    static const struct ktest_param *const ktest_param_ptr_##name_                                 \
        __attribute__((used, section("ktest_params"))) = &ktest_param_##name_

extern const char *ktest_args;
// The value of key (a declared parameter); dflt when the key is absent.
unsigned long ktest_arg_ul(const char *key, unsigned long dflt);
// Check one "key=value" word of n characters: 0 if key is declared and its
// value a number in range; else -1, after a message naming the word.
int ktest_param_check(const char *word, size_t n);
// Check that the key=value word w (n characters) names a key no word of
// before[0..len) named: 0 if so; else -1, after a message naming both. Two
// readers of one command line would otherwise disagree on which one counts.
int ktest_key_once(const char *before, size_t len, const char *w, size_t n);
// A whole number, decimal or 0x-hex, of exactly n characters, no sign.
bool ktest_parse_ul(const char *s, size_t n, unsigned long *value);

// A tiny deterministic PRNG (xorshift64*) for shuffles and random mixes.
static inline uint64_t ktest_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif
