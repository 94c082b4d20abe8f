# rvslab: make | make run | make test | make debug | make clean
#
#   make run  [CPUS=4] [MEM=128M]          boot, show the harts and memory, power off
#   make test                             host tests, kernel self-tests (1 to 8 cpus, three machines), harness self-check, labs, benches
#   make test-long                        what make test has no time for: the 32-cpu run, 20 s irq_atomic runs, sifive_u (.ci/run runs it)
#   make test T='glob'                     the fast loop: only the matching self-tests, host (ASan) and one kernel boot
#   make test-full T='glob'                every run of make test, each filtered
#   make debug                            QEMU waits for gdb-multiarch (scripts/gdbinit)
#   make test-harness                     only the harness self-check (fail/panic/trap/hang)
#   make test-dtb                         boot tests with harts QEMU cannot describe
#   make test-sifive-u                    the self-tests on -machine sifive_u (no finisher, no Zba/Zbb; in test-long)
#   make test-spike                       the self-tests on -machine spike (HTIF power-off)
#   make test-ncpu32                      the self-tests built for 32 cpus, on 33 harts (one parked; in test-long)
#   make test-soak-small                  the soak with tiny soak_ops on 1 and 4 harts
#   make run BOOTARGS='ktest=boot*'        any bootargs: ktest[=glob,...], bench[=arg], figures[=list], key=value
#   make figures                          redraw docs/figures/ from the kernel (scripts/figures.py)
#   make lab-start LAB=buddy              the labs (docs/labs/): branch lab-buddy, the lab's code stubbed out
#   make grade LAB=buddy                  score this tree on the lab's graded self-tests (one boot each)
#   make lab-check                        every lab: the reference scores full marks, its stub 0

SHELL   := /bin/bash
# Build directory (the harness self-check kernel gets its own).
K       ?= build
CPUS    ?= 4
MEM     ?= 128M
# Most cpus the kernel is built for; harts beyond it are parked.
NCPU    ?= 8
# ktest filter for make test: a suite, or suite.case, with * and ? (e.g. T='buddy*').
# A run may find none of its own (host-only and kernel-only suites), but a
# filter that matches no test in any run fails (scripts/ktap.py).
T       ?=
KTEST_FILTER := $(T)
export KTEST_FILTER
# What every ktest run gets with the filter.
KTEST_WORDS = ktest$(if $(T),=$(T) ktest_allow_empty=1)
# The interrupt suites (irq, irq_stacks, and any other irq_*) again at each
# tick rate here: one run each, on TEST_CPUS harts. With T, the filter instead.
IRQ_HZ_LADDER ?= 100 1000 10000
IRQ_WORDS = $(if $(T),$(KTEST_WORDS),ktest=irq*)
RESULTS ?= build/results
TEST_CPUS    ?= 4
# Seconds one kernel test run may take before it counts as hung.
TEST_TIMEOUT ?= 120
export RESULTS

# Missing tools? scripts/deps.sh installs the Debian packages (quick no-op
# when all is there). It runs before anything else, once per make (not in
# sub-makes), for every goal but clean.
ifeq ($(filter clean,$(MAKECMDGOALS)),)
ifndef RVSLAB_DEPS_OK
DEPS_STATUS := $(shell scripts/deps.sh 1>&2; echo $$?)
ifneq ($(DEPS_STATUS),0)
$(error scripts/deps.sh failed: install the packages it names and try again)
endif
export RVSLAB_DEPS_OK := 1
endif
endif

# The cross toolchain, found the way xv6 does; CROSS_COMPILE= overrides.
ifndef CROSS_COMPILE
CROSS_COMPILE := $(shell if riscv64-unknown-elf-objdump -i 2>&1 | grep -q 'elf64-littleriscv'; \
	then echo 'riscv64-unknown-elf-'; \
	elif riscv64-linux-gnu-objdump -i 2>&1 | grep -q 'elf64-littleriscv'; \
	then echo 'riscv64-linux-gnu-'; \
	else echo 'riscv64-unknown-elf-'; fi)
endif
CC      := $(CROSS_COMPILE)gcc
OBJDUMP := $(CROSS_COMPILE)objdump
NM      := $(CROSS_COMPILE)nm

QEMU    ?= qemu-system-riscv64
OPENSBI ?= /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin
GDB     ?= gdb-multiarch
GDBPORT ?= 1234

# rv64imac/lp64 is a picolibc multilib; the assembler also wants zicsr and
# zifencei named, but the multilib is chosen by the link's -march. Our own
# code also uses Zba and Zbb (RVA22's address and bit instructions: sh3add
# makes an array element's address in one, three times in every per-CPU
# alloc or free; QEMU's virt and spike cpus have them); entry.S stops with a
# message on a hart without them. BITMANIP= builds for plain rv64imac, as
# for the U54 cores of sifive_u (test-sifive-u).
BITMANIP   ?= _zba_zbb
MARCH_CC   := -march=rv64imac_zicsr_zifencei$(BITMANIP) -mabi=lp64 -mcmodel=medany
MARCH_LINK := -march=rv64imac -mabi=lp64 -mcmodel=medany
WERROR  ?= -Werror
CFLAGS  := $(MARCH_CC) --specs=picolibc.specs -std=gnu11 -O2 -g \
	-Wall -Wextra $(WERROR) -ffreestanding -fno-common -fno-stack-protector \
	-fno-omit-frame-pointer -fno-pie -I. -Iarch/riscv/include -DNCPU=$(NCPU) $(EXTRA_CFLAGS)
ifdef KTEST_SELFCHECK
CFLAGS  += -DKTEST_SELFCHECK
endif
ASFLAGS := $(MARCH_CC) -g -I.
# Integer-only printf: no floating point in the kernel.
LDFLAGS := $(MARCH_LINK) --specs=picolibc.specs -nostartfiles -static -no-pie \
	-T linker/kernel.ld -DPICOLIBC_INTEGER_PRINTF_SCANF -Wl,--no-warn-rwx-segments

# Every .c and .S below joins the kernel: new files in mm/ and lib/ need no edit here.
SRCS := $(wildcard arch/riscv/*.S arch/riscv/*.c kernel/*.c lib/*.c mm/*.c tests/kernel/*.c)
OBJS := $(patsubst %,$(K)/%.o,$(basename $(SRCS)))

all: $(K)/kernel.elf $(K)/kernel.asm $(K)/kernel.sym

# Rebuild everything when the flags change (CROSS_COMPILE, NCPU, KTEST_SELFCHECK, ...).
$(K)/.flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $@

# The public fast paths are leaves that tail-call their slow paths: no
# frame, so the slow path's return address is the fast path's caller
# (mm/slab_fast.c).
$(K)/mm/slab_fast.o: CFLAGS += -fomit-frame-pointer

$(K)/%.o: %.c $(K)/.flags
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(K)/%.o: %.S $(K)/.flags
	@mkdir -p $(@D)
	$(CC) $(ASFLAGS) -MMD -MP -c -o $@ $<

$(K)/kernel.elf: $(OBJS) linker/kernel.ld
	$(CC) $(LDFLAGS) -o $@ $(OBJS)

$(K)/kernel.asm: $(K)/kernel.elf
	$(OBJDUMP) -S $< > $@

$(K)/kernel.sym: $(K)/kernel.elf
	$(NM) -n $< > $@

-include $(OBJS:.o=.d)

# $(call qemu,KERNEL_DIR,CPUS[,MEM]): QEMU virt with OpenSBI, the kernel, no display.
qemu = $(QEMU) -machine virt -bios $(OPENSBI) -kernel $(1)/kernel.elf -m $(or $(3),$(MEM)) -smp $(2) \
	-nographic -no-reboot

run: all
	$(call qemu,$(K),$(CPUS)) $(if $(BOOTARGS),-append "$(BOOTARGS)")

debug: all
	@echo "*** QEMU waits for gdb on port $(GDBPORT); quit gdb to stop QEMU"
	$(call qemu,$(K),$(CPUS)) -S -gdb tcp::$(GDBPORT) & qpid=$$!; \
	$(GDB) -q -x scripts/gdbinit -ex 'target remote :$(GDBPORT)' $(K)/kernel.elf; \
	kill $$qpid 2>/dev/null; wait $$qpid 2>/dev/null; true

# ---- tests -------------------------------------------------------------------
#
# Every run leaves build/results/NAME.log (scripts/run-test); scripts/ktap.py
# reads them all and prints the verdicts and the last line, "N passed, N failed".

-include tests/host/host.mk
-include tests/kernel/soak.mk
-include tests/host/bench.mk
-include bench/kernel.mk
-include labs/labs.mk
ifeq ($(wildcard tests/host/host.mk),)
host-test:
	@echo "host-test: tests/host/host.mk not there yet"
endif

# make test: everything (test-full). make test T=glob: the fast loop
# (test-quick): only the matching self-tests, on the host under ASan and in
# one kernel boot, nothing else. make test-full T=glob runs every run of the
# full suite, each filtered.
ifeq ($(T),)
test: test-full
else
test: test-quick
endif

test-quick:
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	@if scripts/run-test host-build 900 --gate -- $(MAKE) --no-print-directory $(HOST_OUT)/ktest-asan; then \
		scripts/run-test host-asan 600 -- $(HOST_OUT)/ktest-asan --cpus $(HOST_CPUS) \
			ktest_allow_empty=1 '$(T)'; \
	fi || true
	@if scripts/run-test kernel-build 900 --gate -- $(MAKE) --no-print-directory all; then \
		scripts/run-test kernel-cpus$(TEST_CPUS) $(TEST_TIMEOUT) -- \
			$(call qemu,$(K),$(TEST_CPUS)) -append "$(KTEST_WORDS)"; \
	fi || true
	@python3 scripts/ktap.py $(RESULTS)

# Builds run as "gate" steps: a build that breaks counts as one failed case
# (and its tests then do not run), so the summary line always appears.
test-full:
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	@scripts/run-test host 3600 --gate -- $(MAKE) --no-print-directory host-test || true
	@if scripts/run-test kernel-build 900 --gate -- $(MAKE) --no-print-directory all; then \
		scripts/run-test kernel-cpus$(TEST_CPUS) $(TEST_TIMEOUT) -- \
			$(call qemu,$(K),$(TEST_CPUS)) -append "$(KTEST_WORDS)"; \
		scripts/run-test kernel-cpus1-64M $(TEST_TIMEOUT) -- \
			$(call qemu,$(K),1,64M) -append "$(KTEST_WORDS)"; \
		scripts/run-test kernel-cpus2-16M $(TEST_TIMEOUT) -- \
			$(call qemu,$(K),2,16M) -append "$(KTEST_WORDS)"; \
		scripts/run-test kernel-cpus8-1G $(TEST_TIMEOUT) -- \
			$(call qemu,$(K),8,1G) -append "$(KTEST_WORDS)"; \
		scripts/run-test kernel-cpus4-slab-debug $(TEST_TIMEOUT) -- \
			$(call qemu,$(K),4,256M) -append "$(KTEST_WORDS) slab_debug=FZPU"; \
		for hz in $(IRQ_HZ_LADDER); do \
			scripts/run-test kernel-irq-hz$$hz $(TEST_TIMEOUT) -- \
				$(call qemu,$(K),$(TEST_CPUS)) -append "$(IRQ_WORDS) hz=$$hz"; \
		done; \
		scripts/run-test docs-figures 60 --plain -- \
			python3 scripts/figures.py --check --kernel $(K)/kernel.elf --out $(K)/figures; \
		$(MAKE) --no-print-directory test-dtb test-spike test-soak-small; \
	fi || true
	@$(MAKE) --no-print-directory test-harness || true
	@$(MAKE) --no-print-directory lab-check || true
	@$(MAKE) --no-print-directory bench-quick || true
	@python3 scripts/ktap.py $(RESULTS)

# Harts QEMU itself never describes: the boot self-tests on a device tree
# where hart 2 is disabled and hart 3 has no mmu-type (OpenSBI may disable it
# too). Both must be skipped, not waited for.
test-dtb: all
	@$(QEMU) -machine virt,dumpdtb=$(K)/virt-4.dtb -smp 4 -m $(MEM) -nographic 2>/dev/null
	@python3 scripts/dtb-variant.py $(K)/virt-4.dtb $(K)/virt-4-skip.dtb --disable 2 --no-mmu 3
	@scripts/run-test kernel-dtb-skip-harts $(TEST_TIMEOUT) -- \
		$(call qemu,$(K),4) -dtb $(K)/virt-4-skip.dtb -append "$(if $(T),$(KTEST_WORDS),ktest=boot)"

# Another machine: QEMU's sifive_u (a HiFive Unleashed) has a monitor core
# without S-mode (hart 0, skipped) and no sifive,test finisher, so power-off
# must find another way out (arch/riscv/power.c) -- a hang is a timeout, a
# failure -- and the KTAP output is the verdict (scripts/ktap.py says so).
# Its U54 cores have no Zba or Zbb: the kernel is built without them, in a
# directory of its own (a second build: test-long runs it, not make test).
SIFIVE_U_K := build/rv64imac
test-sifive-u:
	@if scripts/run-test kernel-sifive-u-build 900 --gate -- \
		$(MAKE) --no-print-directory K=$(SIFIVE_U_K) BITMANIP= $(SIFIVE_U_K)/kernel.elf; then \
		scripts/run-test kernel-sifive-u $(TEST_TIMEOUT) -- \
			$(QEMU) -machine sifive_u -smp 5 -bios $(OPENSBI) -kernel $(SIFIVE_U_K)/kernel.elf \
			-nographic -no-reboot -append "$(KTEST_WORDS)"; \
	fi

# QEMU's spike has no finisher, and OpenSBI 1.1's SBI shutdown spins there:
# power-off writes the HTIF tohost register (arch/riscv/power.c), and QEMU
# must exit by itself with the kernel's code (test-harness checks 1 and 3).
spike = $(QEMU) -machine spike -bios $(OPENSBI) -kernel $(1)/kernel.elf -smp $(2) -nographic \
	-no-reboot
test-spike: all
	@scripts/run-test kernel-spike $(TEST_TIMEOUT) -- $(call spike,$(K),4) -append "$(KTEST_WORDS)"

# Per-CPU structures sized for many harts: a kernel built with NCPU=32 (in
# build/ncpu32) runs the self-tests on 32 cpus, and the 33rd hart is parked.
# 32 vcpus share the host's few cores, hence the longer limit.
NCPU32_K := build/ncpu32
# make test-long: the runs too long for make test's six minutes on two
# cores, which .ci/run runs after it: the self-tests built for 32 cpus on 33
# harts (about two minutes) and the irq_atomic tests for 20 s each on 4 and 8
# harts (tests/kernel/soak.mk). Results in build/long-results.
LONG_RESULTS := build/long-results
test-long: all
	@rm -rf $(LONG_RESULTS) && mkdir -p $(LONG_RESULTS)
	-@RESULTS=$(LONG_RESULTS) $(MAKE) --no-print-directory test-ncpu32
	-@RESULTS=$(LONG_RESULTS) $(MAKE) --no-print-directory irq-soak-runs
	-@RESULTS=$(LONG_RESULTS) $(MAKE) --no-print-directory test-sifive-u
	@python3 scripts/ktap.py $(LONG_RESULTS)

test-ncpu32:
	@if scripts/run-test kernel-ncpu32-build 900 --gate -- \
		$(MAKE) --no-print-directory K=$(NCPU32_K) NCPU=32 $(NCPU32_K)/kernel.elf; then \
		scripts/run-test kernel-ncpu32-cpus33 $$(( 3 * $(TEST_TIMEOUT) )) -- \
			$(call qemu,$(NCPU32_K),33) -append "$(KTEST_WORDS)"; \
	fi

# The harness must fail when a test fails, panics or hangs, and pass a clean
# run; and bench=budget must fail when a limit is just below a count. A kernel built with KTEST_SELFCHECK=1 (in build/selfcheck) has a case of
# each, and cases that prove the stack checks can fail: a stack used down to
# its canary (the trap-exit check panics), and one used past 75% (the late
# irq_stacks check says not ok); every check below boots one and asserts the verdict scripts/ktap.py
# gives, then stands in build/results as one plain pass/fail case.
SELFCHECK_K := build/selfcheck
# Boot words that must stop the kernel with exit 3 (name:words, + for a space).
BAD_BOOTARGS := hz-0:ktest=boot+hz=0 hz-big:ktest=boot+hz=100001 hz-word:ktest=boot+hz=fast \
	filter-no-match:ktest=bdy* filter-many-stars:ktest=*******zz slab-debug-unknown:ktest+slab_debug=XYZ \
	slab-debug-empty:ktest+slab_debug= panic-flag-word:ktest+slab_panic_on_report=yes \
	iters-negative:bench+iters=-1 soak-negative:ktest+soak_ops=-1 soak-word:ktest+soak_ops=abc \
	soak-too-big:ktest+soak_ops=99999999999 unknown-key:ktest+soak_op=5 two-modes:ktest+bench \
	figures-unknown:figures=nope figures-empty:figures= figures-empty-name:figures=boot, \
	repeated-hz:ktest=boot+hz=100+hz=1000 repeated-param:ktest=boot+soak_ops=5+soak_ops=5 \
	repeated-slab-debug:ktest=boot+slab_debug=F+slab_debug=Z
HARNESS_CASES := pass:boot.tp_is_hartid:PASS:- fail:selfcheck.fails:FAIL:not.ok \
	panic:selfcheck.panics:FAIL:panic panic-cpu1:selfcheck.panics_on_other_cpu:FAIL:panic \
	trap:selfcheck.traps:FAIL:panic hang:selfcheck.hangs:FAIL:timeout \
	recursive-lock:selfcheck.recursive_lock:FAIL:panic.*selfcheck-lock.*already.held \
	xcall-irq:selfcheck.cross_call_from_tick:FAIL:panic.*on_each_cpu.called.in.atomic.context..interrupt.handler \
	xcall-lock:selfcheck.cross_call_under_lock:FAIL:panic.*on_each_cpu.called.in.atomic.context..spin.lock.held \
	task-stack-overflow:selfcheck.overflows_task_stack:FAIL:panic.*cpu.0.s.task.stack.overflowed \
	irq-stack-overflow:selfcheck.overflows_irq_stack:FAIL:panic.*cpu.0.s.interrupt.stack.overflowed \
	deep-task-stack:selfcheck.deep_task_stack,irq_stacks:FAIL:not.ok:.irq_stacks \
	deep-irq-stack:selfcheck.deep_irq_stack,irq_stacks:FAIL:not.ok:.irq_stacks
test-harness: all $(HOST_OUT)/ktest-asan
	@$(MAKE) --no-print-directory K=$(SELFCHECK_K) KTEST_SELFCHECK=1 $(SELFCHECK_K)/kernel.elf
	@scripts/run-test harness-budget-over 300 --plain -- scripts/expect-exit 1 \
		$(call qemu,$(K),8) -icount shift=0,sleep=off -append "bench=budget budget_pct=99"
	@for c in $(BAD_BOOTARGS); do \
		IFS=: read name args <<< "$$c"; \
		scripts/run-test harness-bootargs-$$name 60 --plain -- scripts/expect-exit 3 \
			$(call qemu,$(K),1,64M) -append "$${args//+/ }" || exit 1; done
	@for ext in zba zbb; do \
		scripts/run-test harness-no-$$ext 60 --plain -- bash -c \
			'$(call qemu,$(K),2,64M) -cpu rv64,'$$ext'=false | grep "lacks the Zba or Zbb"' \
			|| exit 1; done
	@scripts/run-test harness-host-bad-param 60 --plain -- scripts/expect-exit 3 \
		$(HOST_OUT)/ktest-asan soak_ops=abc
	@scripts/run-test harness-host-no-match 60 --plain -- scripts/expect-exit 3 \
		$(HOST_OUT)/ktest-asan 'bdy*'
	@scripts/run-test harness-host-many-stars 60 --plain -- scripts/expect-exit 3 \
		$(HOST_OUT)/ktest-asan '*******zz'
	@scripts/run-test harness-host-repeated-key 60 --plain -- scripts/expect-exit 3 \
		$(HOST_OUT)/ktest-asan soak_ops=5 soak_ops=6 'ktest*'
	@scripts/run-test harness-filter-no-match 60 --plain -- scripts/ktap-filter-check
	@scripts/run-test harness-spike-bad-bootargs 60 --plain -- scripts/expect-exit 3 \
		$(call spike,$(K),1) -append "ktest hz=0"
	@scripts/run-test harness-spike-fail 60 --plain -- scripts/expect-exit 1 \
		$(call spike,$(SELFCHECK_K),2) -append "ktest=selfcheck.fails"
	@status=0; for c in $(HARNESS_CASES); do \
		IFS=: read name filter verdict reason <<< "$$c"; \
		scripts/run-test harness-$$name 120 --plain -- scripts/harness-check $$verdict $$reason \
			$(SELFCHECK_K)/results-$$name -- \
			$(call qemu,$(SELFCHECK_K),2) -append "ktest=$$filter" || status=1; \
	done; exit $$status

# docs/figures/: the pictures the chapters show, drawn by scripts/figures.py
# from what the kernel prints in its figures mode (kernel/figures.c). The
# docs-figures case of make test redraws them into build/figures and fails
# when one differs from the checked-in file.
figures: all
	@scripts/deps.sh figures
	python3 scripts/figures.py --kernel $(K)/kernel.elf --out docs/figures

clean:
	rm -rf build

FORCE:
.PHONY: all run debug figures test test-quick test-full test-long test-dtb test-sifive-u test-spike test-ncpu32 test-harness host-test clean FORCE
.DELETE_ON_ERROR:
