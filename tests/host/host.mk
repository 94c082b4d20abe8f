# The host build of lib/ and mm/: the same source files as the kernel,
# compiled for this machine so sanitizers and fuzzers can run on them.
# Included by the top-level Makefile; targets: host-build, host-test, fuzz.
#
#   build/host/ktest-asan   portable self-tests + host tests, ASan + UBSan (gcc)
#   build/host/ktest-tsan   the same, ThreadSanitizer (clang): threads as cpus
#   build/host/fuzz-NAME    one libFuzzer target per tests/host/fuzz_NAME.c
#   build/host/shim-threads-tsan  librvslab.so's platform (tests/host/platform_shim.c:
#                           a cpu slot per thread, membarrier sections) with mm/ linked
#                           in, under TSan: threads come, go and share slots

HOST_CC    ?= gcc
HOST_CLANG ?= clang
HOST_OUT   := build/host
HOST_WARN  := -Wall -Wextra -Wno-unused-function
HOST_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer $(HOST_WARN) -I. -DRVSLAB_HOST

# Self-tests in tests/kernel/ are portable (mm/ and lib/ APIs only) except
# those that look at the real machine: boot facts, interrupts and cross-calls,
# and the harness self-check.
HOST_KTESTS := $(filter-out tests/kernel/test_boot.c tests/kernel/test_irq.c \
	tests/kernel/test_irq_atomic.c tests/kernel/test_reap_tick.c %selfcheck.c,\
	$(wildcard tests/kernel/test_*.c))
HOST_CORE   := $(wildcard lib/*.c) $(wildcard mm/*.c) tests/host/platform.c tests/host/ram.c
HOST_TESTS  := $(HOST_CORE) tests/host/main.c $(HOST_KTESTS) $(wildcard tests/host/test_*.c)
HOST_HDRS   := $(wildcard lib/*.h mm/*.h tests/host/*.h)
FUZZ_NAMES  := $(patsubst tests/host/fuzz_%.c,%,$(wildcard tests/host/fuzz_*.c))
FUZZ_BINS   := $(FUZZ_NAMES:%=$(HOST_OUT)/fuzz-%)
FUZZ_SECONDS ?= 5
HOST_CPUS  ?= 4

$(HOST_OUT)/ktest-asan: $(HOST_TESTS) $(HOST_HDRS)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-o $@ $(HOST_TESTS) -lpthread

$(HOST_OUT)/ktest-tsan: $(HOST_TESTS) $(HOST_HDRS)
	@mkdir -p $(@D)
	$(HOST_CLANG) $(HOST_CFLAGS) -fsanitize=thread -o $@ $(HOST_TESTS) -lpthread

# NCPU 16: 15 slots to own, so the test's 23 threads at once overflow them.
SHIM_THREADS := tests/host/shim_threads.c tests/host/platform_shim.c \
	$(filter-out lib/ktest.c,$(wildcard lib/*.c)) $(wildcard mm/*.c)
$(HOST_OUT)/shim-threads-tsan: $(SHIM_THREADS) $(HOST_HDRS) tests/host/shim/platform_inline.h
	@mkdir -p $(@D)
	$(HOST_CLANG) $(HOST_CFLAGS) -Itests/host/shim -DNCPU=16 -ftls-model=initial-exec \
		-fsanitize=thread -o $@ $(SHIM_THREADS) -lpthread

$(HOST_OUT)/fuzz-%: tests/host/fuzz_%.c $(HOST_CORE) $(HOST_HDRS)
	@mkdir -p $(@D)
	$(HOST_CLANG) $(HOST_CFLAGS) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -o $@ $< $(HOST_CORE) -lpthread

host-build: $(HOST_OUT)/ktest-asan $(HOST_OUT)/ktest-tsan $(HOST_OUT)/shim-threads-tsan $(FUZZ_BINS)

# Each run leaves its KTAP in build/results/ for scripts/ktap.py. A fuzz run
# counts as one case: it passes when the fuzzer found nothing. New corpus
# entries go to build/, the checked-in corpus is only read.
host-test: host-build
	-scripts/run-test host-asan 600 -- $(HOST_OUT)/ktest-asan --cpus $(HOST_CPUS) \
		$(if $(T),ktest_allow_empty=1 '$(T)')
	-scripts/run-test host-tsan 900 -- env TSAN_OPTIONS=halt_on_error=1 \
		$(HOST_OUT)/ktest-tsan --cpus $(HOST_CPUS) $(if $(T),ktest_allow_empty=1 '$(T)')
	-scripts/run-test host-shim-threads 300 -- env TSAN_OPTIONS=halt_on_error=1 \
		$(HOST_OUT)/shim-threads-tsan
	-scripts/run-test host-shim-threads-locked 300 -- env TSAN_OPTIONS=halt_on_error=1 \
		RVSLAB_LOCKED_SECTIONS=1 $(HOST_OUT)/shim-threads-tsan
	-@for f in $(FUZZ_NAMES); do \
		mkdir -p $(HOST_OUT)/corpus-$$f tests/host/corpus/$$f; \
		scripts/run-test fuzz-$$f $$(( $(FUZZ_SECONDS) + 60 )) --plain -- \
			$(HOST_OUT)/fuzz-$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			$(HOST_OUT)/corpus-$$f tests/host/corpus/$$f; \
	done

# Long fuzzing: make fuzz FUZZ_SECONDS=600. Grows the checked-in corpus.
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_NAMES); do \
		mkdir -p tests/host/corpus/$$f; \
		$(HOST_OUT)/fuzz-$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			tests/host/corpus/$$f || exit 1; \
	done

.PHONY: host-build host-test fuzz
