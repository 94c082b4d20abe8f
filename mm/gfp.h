// Allocation contexts: every request for memory says what the allocator may
// do to find it (Linux's gfp_t, "get free pages" flags). The difference that
// matters here is waiting for other cpus: when memory runs short, the
// allocator can ask every cpu to empty its per-CPU arrays (a cross-call,
// which waits for them all), or it can only empty the calling cpu's own.
// Code that must not wait -- an interrupt handler, a spin lock holder,
// a per-CPU section -- says GFP_ATOMIC or GFP_NOWAIT.
//
//   GFP_KERNEL  may wait for other cpus: global reclaim by cross-call.
//               Stops at the zone's min watermark: the reserve is not its.
//   GFP_ATOMIC  never waits: reclaims only this cpu's arrays and the empty
//               slabs it finds, then may dip into the reserve below min,
//               down to a quarter of it. For interrupt handlers.
//   GFP_NOWAIT  never waits, and leaves the reserve alone: fails early.
//
// Modifiers: __GFP_ZERO (the memory comes back zeroed), __GFP_NOWARN (a
// failure prints nothing; a caller with a fallback says so), __GFP_MEMALLOC
// (no watermark at all: for the reclaim path itself and for tests that must
// take every free frame).
//
// A may-wait request made in atomic context is a bug in the caller: it is
// reported once per call site and served as GFP_ATOMIC, so the wrong flag
// costs a message, never a deadlock (mm/buddy.c: gfp_check_context).
#ifndef GFP_H
#define GFP_H

#include "../lib/platform.h"

typedef unsigned int gfp_t;

#define __GFP_DIRECT_RECLAIM 0x01u // may wait for other cpus to give memory back
#define __GFP_HIGH           0x02u // may use the reserve below the min watermark
#define __GFP_ZERO           0x04u // zero the memory
#define __GFP_NOWARN         0x08u // no message on failure
#define __GFP_MEMALLOC       0x10u // ignore the watermarks: every free frame may go

#define GFP_KERNEL __GFP_DIRECT_RECLAIM
#define GFP_ATOMIC __GFP_HIGH
#define GFP_NOWAIT 0u

// PF_MEMALLOC in current_flags() (lib/platform.h): this context is
// reclaiming; what it allocates meanwhile does not reclaim again.
#define PF_MEMALLOC 0x1UL

// How hard a reclaim hook (mm/buddy.h) works. A failed page request asks
// for RECLAIM_FREE first, then grows the zone if it can (the host
// library's heap), and only then asks for RECLAIM_ALL: emptying every
// cpu's arrays costs their next refills, so it comes last.
enum reclaim_level {
    RECLAIM_FREE, // what no cpu holds: every cache's empty slabs
    RECLAIM_ALL,  // that, and first the arrays and the barns (as gfp allows)
};

// The gfp a request is served with. A may-wait request in atomic context
// (atomic_context() in lib/platform.h) is reported -- once per call site,
// naming the caller and the context -- and served as GFP_ATOMIC. Called
// wherever a request could wait: every page request, every new slab, a
// cpu's first allocation from a cache (its array is made then), reclaim,
// and every allocation of a debug cache. A request served from the per-CPU
// array or the slab lists never waits, and is not checked (Linux checks
// every call only with CONFIG_DEBUG_ATOMIC_SLEEP; slab_debug= here).
gfp_t gfp_report_context(gfp_t gfp, const char *ctx, const void *caller); // gfp.c
static inline gfp_t gfp_check_context(gfp_t gfp, const void *caller)
{
    const char *ctx;
    if ((gfp & __GFP_DIRECT_RECLAIM) && (ctx = atomic_context()) != NULL)
        return gfp_report_context(gfp, ctx, caller);
    return gfp;
}
unsigned long gfp_context_reports(void); // may-wait requests found in atomic context
unsigned long gfp_context_sites(void);   // call sites reported (each once)
const char *gfp_name(gfp_t gfp);         // "GFP_KERNEL", "GFP_ATOMIC|__GFP_ZERO", ...

#endif
