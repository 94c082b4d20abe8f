// The test runner's own filter: the globs `make test T=...` and the ktest=
// boot word take, since a wrong match would silently skip tests.
#include <string.h>

#include "../../lib/ktest.h"

KTEST(ktest, glob_wildcards)
{
    EXPECT(t, glob_match("buddy", "buddy"));
    EXPECT(t, !glob_match("buddy", "buddy2"));
    EXPECT(t, glob_match("b*", "buddy"));
    EXPECT(t, glob_match("*dy", "buddy"));
    EXPECT(t, glob_match("b?ddy", "buddy"));
    EXPECT(t, !glob_match("b?dy", "buddy"));
    EXPECT(t, glob_match("*", ""));
    EXPECT(t, !glob_match("?", ""));
    EXPECT(t, glob_match("slab.*_free*", "slab.cache_free_bad"));
}

KTEST(ktest, filter_takes_suites_cases_and_comma_lists)
{
    EXPECT(t, ktest_filter_match(NULL, "buddy", "split"));
    EXPECT(t, ktest_filter_match("", "buddy", "split"));
    EXPECT(t, ktest_filter_match("buddy", "buddy", "split"));       // a suite
    EXPECT(t, ktest_filter_match("buddy.split", "buddy", "split")); // one case
    EXPECT(t, !ktest_filter_match("buddy.merge", "buddy", "split"));
    EXPECT(t, !ktest_filter_match("bud", "buddy", "split"));       // whole words only
    EXPECT(t, ktest_filter_match("irq,buddy*", "buddy", "split")); // any of a list
    EXPECT(t, ktest_filter_match("irq,slab.geo*,buddy.s*", "buddy", "split"));
    EXPECT(t, !ktest_filter_match("irq,slab*", "buddy", "split"));
    EXPECT(t, !ktest_filter_match(",", "buddy", "split")); // empty globs match nothing
    EXPECT(t, ktest_filter_match(",buddy,", "buddy", "split"));
}

// The obviously right matcher, to check the real one against: a table of
// which prefixes of the pattern match which prefixes of the string.
#define REF_MAX 16

static bool glob_reference(const char *p, const char *s)
{
    size_t np = strlen(p), ns = strlen(s);
    bool m[REF_MAX + 1][REF_MAX + 1] = {{false}}; // m[i][j]: p[0..i) matches s[0..j)
    m[0][0] = true;
    for (size_t i = 1; i <= np; i++)
        for (size_t j = 0; j <= ns; j++)
            if (p[i - 1] == '*')
                m[i][j] = m[i - 1][j] || (j > 0 && m[i][j - 1]);
            else
                m[i][j] = j > 0 && m[i - 1][j - 1] && (p[i - 1] == '?' || p[i - 1] == s[j - 1]);
    return m[np][ns];
}

// glob_match(p, s) is want, and took at most (|p| + 1) * (|s| + 1) steps.
static bool check_glob(struct ktest *t, const char *p, const char *s, bool want)
{
    unsigned long steps = 0, bound = (strlen(p) + 1) * (strlen(s) + 1);
    bool got = glob_match_steps(p, s, &steps);
    if (got == want && glob_match(p, s) == want && steps <= bound)
        return true;
    ktest_fail(t, __FILE__, __LINE__,
               "glob_match(\"%.40s\", \"%.40s\") (%zu, %zu chars) = %d in %lu steps; want %d in "
               "at most %lu",
               p, s, strlen(p), strlen(s), got, steps, want, bound);
    return false;
}

KTEST(ktest, glob_agrees_with_a_reference)
{
    static const char *const cases[][2] = {
        {"*ab", "aab"},
        {"*a", "aaab"},
        {"a*b*c", "abc"},
        {"a*b*c", "acb"},
        {"*?", ""},
        {"*?", "x"},
        {"?*", ""},
        {"**", ""},
        {"a**b", "ab"},
        {"a*", ""},
        {"*a*b", "ab"},
        {"a*b?d", "axbxbcd"},
        {"*.*", "slab.x"},
        {"*.*", "slab"},
        {"*zz", "azz"},
        {"*zz", "azza"},
        {"*z*z", "zz"},
        {"*z*z", "z"},
        {"?a*", "ba"},
        {"*a?b*", "aaxb"},
        {"*aab", "aaaab"},
        {"a*a*a", "aaaa"},
        {"*******zz", "zz"},
        {"*******zz", "z"},
        {"b*?*y", "buddy"},
        {"*?*?*?*?", "abc"},
        {"*?*?*?*?", "abcd"},
        {"", ""},
        {"", "a"},
        {"*", "anything.else"},
        {"x*y*z", "xyzyzxz"},
        {"x*y*z", "xyzyzx"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        check_glob(t, cases[i][0], cases[i][1], glob_reference(cases[i][0], cases[i][1]));
    // Random patterns over a, b, * and ? against strings over a and b.
    uint64_t rng = 42;
    int wrong = 0;
    for (int k = 0; k < 3000 && wrong < 5; k++) {
        char p[REF_MAX / 2 + 1], s[REF_MAX + 1];
        size_t np = ktest_rand(&rng) % sizeof(p), ns = ktest_rand(&rng) % sizeof(s);
        for (size_t i = 0; i < np; i++)
            p[i] = "ab*?"[ktest_rand(&rng) % 4];
        for (size_t i = 0; i < ns; i++)
            s[i] = "ab"[ktest_rand(&rng) % 2];
        p[np] = s[ns] = '\0';
        wrong += !check_glob(t, p, s, glob_reference(p, s));
    }
}

// Stars that never line up: each star could take any share of the string,
// so a matcher that tries every split is exponential in the stars (a boot
// with ktest=*******zz never finished). The step bound keeps it polynomial.
KTEST(ktest, many_stars_against_long_strings)
{
    char p[2 * 40 + 3], s[200];
    memset(s, 'a', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    for (int stars = 1; stars <= 40; stars += 3) {
        memset(p, '*', (size_t)stars); // ****zz
        strcpy(p + stars, "zz");
        check_glob(t, p, s, false);
        for (int i = 0; i < stars; i++) // *a*a*a...*b: each star may stop at any a
            p[2 * i] = '*', p[2 * i + 1] = 'a';
        strcpy(p + 2 * stars, "*b");
        check_glob(t, p, s, false);
        p[2 * stars + 1] = 'a'; // *a*a...*a matches
        check_glob(t, p, s, true);
    }
    EXPECT(t, !ktest_filter_match("*******zz", "slab", "geometry_of_every_size_class"));
    EXPECT(t, ktest_filter_match("*******zz,*****.*y*", "slab", "geometry_of_every_size"));
}
