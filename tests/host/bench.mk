# The host side of make bench: rvslab's mm/ as a malloc replacement and one
# malloc benchmark harness, run side by side with glibc, mimalloc, jemalloc
# and tcmalloc. Included by the top-level Makefile (after host.mk).
#
#   build/host/librvslab.so  lib/ + mm/ + tests/host/{malloc,platform}_shim.c:
#                            LD_PRELOAD=build/host/librvslab.so any-program
#   build/host/malloc_bench  the harness (bench/malloc_bench.c)
#   host-bench               full run (~1 min): table, host.json and PNGs in bench/results/
#   host-bench-quick         tiny run into build/bench/: proves it all runs (for make test)
#   host-budget              bench/host_budget.py: the library's instruction ceilings (for make test)
#   preload-test             python3 and sqlite3 on librvslab.so, output compared (for make test)
#   slots-test               tests/host/preload_slots.c on librvslab.so: a cpu slot per live
#                            thread, given back at exit and reused (KTAP; for make test)
#   stress-test              bench/preload/stress.c on librvslab.so with 8 to 1000 threads:
#                            each runs to the end, no block corrupted (for make test)
#   stress-bench             the same, larger, beside glibc, mimalloc, jemalloc and tcmalloc:
#                            CPU time and peak RSS (for make bench; bench/results/stress.md)
#   spawn-bench              a fork+exec chain (bench/preload/spawn.c) on each allocator and
#                            on a library with no code (for make bench; bench/results/spawn.md)
#   bench-deps               scripts/deps.sh bench: install missing Debian packages
#
# The two test targets go through scripts/run-test as plain cases (pass iff
# exit 0); without scripts/run-test they just run the command. Either way a
# failing case makes the target fail (bench-quick runs both with make -k).

HOST_OUT   ?= build/host
BENCH_CC   ?= gcc
BENCH_WARN := -Wall -Wextra
# Same sources as the host tests, built like a release libc: optimised, no
# sanitizers, no asserts. Hidden visibility: a preloaded library interposes
# every symbol it exports, so only the malloc family and rvslab_* leave it.
# tests/host/shim/platform_inline.h makes cpu_id & co. inline, as the
# kernel's are. RVSLAB_HEAP_MB (default 1024) sizes its heap at run time.
# NCPU is its number of cpu slots: a thread owns one while it lives, and
# threads beyond SHIM_NCPU - SHIM_NCPU/16 share the rest (platform_shim.c).
SHIM_NCPU  ?= 128
SHIM_CFLAGS := -std=gnu11 -O2 -g -fPIC -DNDEBUG -DRVSLAB_HOST -fvisibility=hidden \
	-ftls-model=initial-exec $(BENCH_WARN) -I. -Itests/host/shim -DNCPU=$(SHIM_NCPU)
SHIM_SRCS  := $(filter-out lib/ktest.c,$(wildcard lib/*.c)) $(wildcard mm/*.c) \
	tests/host/platform_shim.c tests/host/shim_heap.c tests/host/malloc_shim.c
SHIM_HDRS  := $(wildcard lib/*.h mm/*.h tests/host/shim/*.h)
# -fno-builtin: the compiler must not pair up and delete a malloc and its free.
BENCH_CFLAGS := -std=gnu11 -O2 -g -fno-builtin $(BENCH_WARN)
BENCH_SRCS := bench/malloc_bench.c bench/bench_util.c

$(HOST_OUT)/librvslab.so: $(SHIM_SRCS) $(SHIM_HDRS) tests/host/bench.mk
	@mkdir -p $(@D)
	$(BENCH_CC) $(SHIM_CFLAGS) -shared -Wl,--no-undefined -Wl,-z,now -o $@ $(SHIM_SRCS)

$(HOST_OUT)/malloc_bench: $(BENCH_SRCS) bench/bench.h tests/host/bench.mk
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $(BENCH_SRCS) -lpthread -ldl -lm

# $(call bench_case,NAME,SECONDS): scripts/run-test as a plain case, if there.
bench_case = $(if $(wildcard scripts/run-test),scripts/run-test $(1) $(2) --plain --,)

bench-deps:
	@scripts/deps.sh bench

host-bench: bench-deps $(HOST_OUT)/librvslab.so $(HOST_OUT)/malloc_bench
	python3 bench/run.py --bench $(HOST_OUT)/malloc_bench --shim $(HOST_OUT)/librvslab.so

host-bench-quick: bench-deps $(HOST_OUT)/librvslab.so $(HOST_OUT)/malloc_bench
	$(call bench_case,host-bench-quick,300) env BENCH_QUICK=1 \
		python3 bench/run.py --bench $(HOST_OUT)/malloc_bench --shim $(HOST_OUT)/librvslab.so

# The library's instruction budgets (callgrind, exact) as ceilings, and the
# check itself: with every limit at 97% of today's counts it must fail.
host-budget: bench-deps $(HOST_OUT)/librvslab.so $(HOST_OUT)/malloc_bench
	$(call bench_case,host-budget,300) python3 bench/host_budget.py \
		--bench $(HOST_OUT)/malloc_bench --shim $(HOST_OUT)/librvslab.so
	$(call bench_case,host-budget-over,300) scripts/expect-exit 1 python3 bench/host_budget.py \
		--bench $(HOST_OUT)/malloc_bench --shim $(HOST_OUT)/librvslab.so --pct 97

preload-test: bench-deps $(HOST_OUT)/librvslab.so
	$(call bench_case,preload,300) bench/preload-check.sh $(HOST_OUT)/librvslab.so

$(HOST_OUT)/preload_slots: tests/host/preload_slots.c tests/host/bench.mk
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -pthread -o $@ $< -ldl

slots-test: $(HOST_OUT)/librvslab.so $(HOST_OUT)/preload_slots
	$(if $(wildcard scripts/run-test),scripts/run-test preload-slots 120 --,) \
		env LD_PRELOAD=$(abspath $(HOST_OUT)/librvslab.so) $(HOST_OUT)/preload_slots

$(HOST_OUT)/stress: bench/preload/stress.c tests/host/bench.mk
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -pthread -o $@ $<

stress-test: $(HOST_OUT)/librvslab.so $(HOST_OUT)/stress
	$(call bench_case,stress,600) python3 bench/stress.py --check --timeout 300 \
		--stress $(HOST_OUT)/stress --shim $(HOST_OUT)/librvslab.so

$(HOST_OUT)/spawn: bench/preload/spawn.c tests/host/bench.mk
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $<

$(HOST_OUT)/empty.so: bench/preload/empty.c tests/host/bench.mk
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -shared -fPIC -o $@ $<

stress-bench: bench-deps $(HOST_OUT)/librvslab.so $(HOST_OUT)/stress
	python3 bench/stress.py --stress $(HOST_OUT)/stress --shim $(HOST_OUT)/librvslab.so

spawn-bench: bench-deps $(HOST_OUT)/librvslab.so $(HOST_OUT)/spawn $(HOST_OUT)/empty.so
	python3 bench/stress.py --spawn $(HOST_OUT)/spawn --empty $(HOST_OUT)/empty.so \
		--shim $(HOST_OUT)/librvslab.so

.PHONY: bench-deps host-bench host-bench-quick host-budget preload-test slots-test stress-test stress-bench \
	spawn-bench
