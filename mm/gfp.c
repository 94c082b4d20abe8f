// Allocation contexts (mm/gfp.h): a request that may wait for other cpus,
// made where no waiting is allowed, is reported and served as GFP_ATOMIC.
#include "gfp.h"

// Call sites already reported: each is reported once (Linux's
// "sleeping function called from invalid context" warns once per site
// too). Slots are claimed with a compare-and-swap: reports come from any
// cpu, in any context, with no lock. A site past the last slot is counted
// but not printed.
#define REPORTED_SITES 64
static const void *reported[REPORTED_SITES];
static unsigned long reports, sites;

// True if caller was not reported before (and is now remembered).
static bool first_report(const void *caller)
{
    for (int i = 0; i < REPORTED_SITES; i++) {
        const void *seen = __atomic_load_n(&reported[i], __ATOMIC_ACQUIRE);
        if (seen == NULL && __atomic_compare_exchange_n(&reported[i], &seen, caller, false,
                                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return true;
        if (seen == caller)
            return false;
    }
    return false;
}

gfp_t gfp_report_context(gfp_t gfp, const char *ctx, const void *caller)
{
    __atomic_add_fetch(&reports, 1, __ATOMIC_RELAXED);
    if (first_report(caller) && __atomic_add_fetch(&sites, 1, __ATOMIC_RELAXED))
        printk("gfp: BUG: %s allocation in atomic context (%s) on cpu %d, from %p: a request "
               "there must not wait for other cpus; served as GFP_ATOMIC\n",
               gfp_name(gfp), ctx, cpu_id(), caller);
    return (gfp & ~__GFP_DIRECT_RECLAIM) | __GFP_HIGH;
}

unsigned long gfp_context_reports(void)
{
    return __atomic_load_n(&reports, __ATOMIC_RELAXED);
}

unsigned long gfp_context_sites(void)
{
    return __atomic_load_n(&sites, __ATOMIC_RELAXED);
}

const char *gfp_name(gfp_t gfp)
{
    static const char *const names[] = {
        [GFP_NOWAIT] = "GFP_NOWAIT",
        [GFP_KERNEL] = "GFP_KERNEL",
        [GFP_ATOMIC] = "GFP_ATOMIC",
        [GFP_NOWAIT | __GFP_ZERO] = "GFP_NOWAIT|__GFP_ZERO",
        [GFP_KERNEL | __GFP_ZERO] = "GFP_KERNEL|__GFP_ZERO",
        [GFP_ATOMIC | __GFP_ZERO] = "GFP_ATOMIC|__GFP_ZERO",
    };
    gfp &= ~(__GFP_NOWARN | __GFP_MEMALLOC); // the modifiers that do not change the kind
    return gfp < ARRAY_SIZE(names) && names[gfp] ? names[gfp] : "(mixed gfp flags)";
}
