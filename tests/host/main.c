// Host test runner: the portable self-tests (tests/kernel/*, the same files
// the kernel runs) plus host-only ones, on the real mm/ code over a region
// of host memory, with threads as cpus. Prints KTAP like the kernel.
//
//   ktest-asan [--cpus N] [--mem MiB] [key=value ...] [filter]
// Exit status: 0 pass, 1 tests failed, 3 a bad parameter or a filter that
// matches no test (as the kernel's bootargs).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "lib/ktest.h"
#include "mm/buddy.h"
#if __has_include("mm/slab.h")
#include "mm/slab.h"
#define HAVE_SLAB 1
#endif

size_t host_mem_bytes;

int main(int argc, char **argv)
{
    const char *filter = NULL;
    size_t mem_mib = 64;
    static char args[512];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cpus") == 0 && i + 1 < argc)
            host_ncpu = atoi(argv[++i]);
        else if (strcmp(argv[i], "--mem") == 0 && i + 1 < argc)
            mem_mib = strtoul(argv[++i], NULL, 0);
        else if (strchr(argv[i], '=')) { // key=value parameters, checked as the kernel does
            size_t n = strlen(argv[i]);
            bool slab_opt = strncmp(argv[i], "slab_debug=", 11) == 0 ||
                            strncmp(argv[i], "slab_panic_on_report=", 21) == 0;
            if ((!slab_opt && ktest_param_check(argv[i], n) != 0) ||
                ktest_key_once(args, strlen(args), argv[i], n) != 0)
                return 3;
            snprintf(args + strlen(args), sizeof(args) - strlen(args), "%s ", argv[i]);
        } else {
            filter = argv[i];
        }
    }
    ktest_args = args;
    if (host_ncpu < 1 || host_ncpu > NCPU) {
        fprintf(stderr, "--cpus must be 1..%d\n", NCPU);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    host_mem_bytes = mem_mib << 20;
    host_ram_init(host_mem_bytes);
#ifdef HAVE_SLAB
    if (slab_debug_setup(args) != 0) // slab_debug=FZPU[,names] as on the kernel command line
        return 3;
    if (slab_init(PAGE_SIZE, 64) != 0) {
        printk("panic: slab_init failed\n");
        return 1;
    }
    buddy_set_reclaim_hook(slab_shrink);
#endif
    int failed = ktest_run(filter);
    return failed == KTEST_NO_MATCH ? 3 : failed ? 1 : 0;
}
