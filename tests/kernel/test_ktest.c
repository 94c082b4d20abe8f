// The test runner's own filter: the globs `make test T=...` and the ktest=
// boot word take, since a wrong match would silently skip tests.
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
