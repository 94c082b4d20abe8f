# make bench: the benchmarks, kernel side here, host side in
# tests/host/bench.mk. Included by the top-level Makefile.
#
#   make bench               everything (a few minutes): the kernel runs below, then
#                            host-bench; writes bench/results/ and prints the tables
#   make kernel-bench        only the kernel: bench/results/kernel.md + kernel-*.png
#   make bench-quick         each bench once at a tiny size, host-budget, preload-test and slots-test
#                            (make test runs this)
#
# The kernel runs, all on 8 harts (BENCH_CPUS), logs in build/bench/:
#   kernel-icount-{1,2}   bootargs "bench" under -icount, twice: counts must repeat
#   kernel-wall-{1..3}    bootargs "bench=wall", multi-threaded TCG, wall clock
#   hotpath.md            bench/hotpath.py: the hot pair traced, per function
#   hotpath-cycle.md      the same for the refill/flush cycle
# A run is never a test: no time is asserted anywhere.

BENCH_CPUS     ?= 8
BENCH_OUT      ?= bench/results
BENCH_LOGS     ?= build/bench
BENCH_WALL_RUNS ?= 3
# Exact, repeatable instruction counts (README, "Benchmarks").
ICOUNT         := -icount shift=0,sleep=off
BENCH_QEMU      = $(call qemu,$(K),$(1)) -append "$(2)" </dev/null

# gnuplot draws the plots: scripts/deps.sh installs it if it is missing.
kernel-bench-deps:
	@scripts/deps.sh bench

kernel-bench: all kernel-bench-deps
	@mkdir -p $(BENCH_LOGS) $(BENCH_OUT)
	@for n in 1 2; do echo "bench: kernel, -icount, $(BENCH_CPUS) harts (run $$n of 2)"; \
		timeout 300 $(call BENCH_QEMU,$(BENCH_CPUS),bench) $(ICOUNT) \
			> $(BENCH_LOGS)/kernel-icount-$$n.log 2>&1 || \
			{ tail -20 $(BENCH_LOGS)/kernel-icount-$$n.log; exit 1; }; done
	@for n in $$(seq $(BENCH_WALL_RUNS)); do \
		echo "bench: kernel, wall clock, $(BENCH_CPUS) harts (run $$n of $(BENCH_WALL_RUNS))"; \
		timeout 300 $(call BENCH_QEMU,$(BENCH_CPUS),bench=wall) \
			> $(BENCH_LOGS)/kernel-wall-$$n.log 2>&1 || \
			{ tail -20 $(BENCH_LOGS)/kernel-wall-$$n.log; exit 1; }; done
	@echo "bench: kernel, hot-path traces (the hot pair, the refill/flush cycle)"
	@python3 bench/hotpath.py $(K) --qemu $(QEMU) --bios $(OPENSBI) \
		--out $(BENCH_LOGS)/hotpath.md >/dev/null
	@python3 bench/hotpath.py $(K) --qemu $(QEMU) --bios $(OPENSBI) --cycle --pairs 3 \
		--out $(BENCH_LOGS)/hotpath-cycle.md >/dev/null
	@python3 bench/kernel_report.py $(BENCH_LOGS) $(BENCH_OUT) --qemu $(QEMU) >/dev/null
	@echo "bench: wrote $(BENCH_OUT)/kernel.md and its plots"

# The host part only when tests/host/bench.mk is there to provide it.
BENCH_HOST := $(if $(wildcard tests/host/bench.mk),host-bench,)

bench: kernel-bench
	@$(if $(BENCH_HOST),$(MAKE) --no-print-directory $(BENCH_HOST) stress-bench spawn-bench,echo "bench: no host bench (tests/host/bench.mk) yet")
	@echo; echo "================ make bench: results ================"; echo
	@cat $(BENCH_OUT)/kernel.md
	@if [ -n "$(BENCH_HOST)" ] && [ -f $(BENCH_OUT)/host.md ]; then echo; cat $(BENCH_OUT)/host.md; fi
	@if [ -f $(BENCH_OUT)/stress.md ]; then echo; cat $(BENCH_OUT)/stress.md; fi
	@if [ -f $(BENCH_OUT)/spawn.md ]; then echo; cat $(BENCH_OUT)/spawn.md; fi

# For make test: prove each bench runs, at a tiny size. bench=quick does every
# kernel part (-icount and wall-clock code paths) in well under a second.
# bench=budget counts the fast paths at full size on 8 harts and fails when
# one is over its budget (kernel/bench.c, "Budgets"): counts, not times.
bench-quick: all
	-scripts/run-test kernel-bench-quick 120 --plain -- \
		$(call qemu,$(K),4) $(ICOUNT) -append "bench=quick"
	-scripts/run-test kernel-budget 300 --plain -- \
		$(call qemu,$(K),$(BENCH_CPUS)) $(ICOUNT) -append "bench=budget"
	$(if $(BENCH_HOST),-@$(MAKE) -k --no-print-directory host-bench-quick host-budget preload-test slots-test stress-test)

.PHONY: bench kernel-bench kernel-bench-deps bench-quick
