# make soak: the soak self-test (tests/kernel/test_soak.c) at full size on
# every cpu, twice: under multi-threaded TCG (real parallelism, whatever
# interleaving the host gives) and under -icount (single-threaded TCG, a
# deterministic interleaving: the same SOAK_SEED replays the same run).
# Included by the top-level Makefile; results in build/soak-results/.
#
#   make soak [SOAK_OPS=1000000] [SOAK_SEED=n] [SOAK_CPUS=8] [SOAK_BOOTARGS='slab_debug=FZPU']
#   make test-soak-small      (in make test) the soak with soak_ops=1 and 50 on 1 hart
#                             and 3 on 4: each cpu runs its share, at least one, and
#                             goes on until a tick came, however small the share

SOAK_OPS     ?= 1000000
SOAK_SEED    ?= $(shell date +%s)
SOAK_CPUS    ?= 8
SOAK_TIMEOUT ?= 900
SOAK_RESULTS := build/soak-results
SOAK_ARGS     = ktest=soak soak_ops=$(SOAK_OPS) soak_seed=$(SOAK_SEED) $(SOAK_BOOTARGS)

soak: all
	@rm -rf $(SOAK_RESULTS) && mkdir -p $(SOAK_RESULTS)
	@echo "soak: seed $(SOAK_SEED), $(SOAK_OPS) ops on $(SOAK_CPUS) cpus (replay: make soak SOAK_SEED=$(SOAK_SEED))"
	-@RESULTS=$(SOAK_RESULTS) scripts/run-test soak-mttcg $(SOAK_TIMEOUT) -- \
		$(call qemu,$(K),$(SOAK_CPUS)) -append "$(SOAK_ARGS)"
	-@RESULTS=$(SOAK_RESULTS) scripts/run-test soak-icount $(SOAK_TIMEOUT) -- \
		$(call qemu,$(K),$(SOAK_CPUS)) -icount shift=0,sleep=off -append "$(SOAK_ARGS)"
	@python3 scripts/ktap.py $(SOAK_RESULTS)

# name:harts:soak_ops
SOAK_SMALL := cpus1-ops1:1:1 cpus1-ops50:1:50 cpus4-ops3:4:3
test-soak-small: all
	@for c in $(SOAK_SMALL); do \
		IFS=: read name harts ops <<< "$$c"; \
		scripts/run-test kernel-soak-$$name $(TEST_TIMEOUT) -- $(call qemu,$(K),$$harts) \
			-append "$(if $(T),$(KTEST_WORDS),ktest=soak) soak_ops=$$ops"; \
	done

.PHONY: soak test-soak-small

# make test-irq-soak: the irq_atomic self-tests (tests/kernel/test_irq_atomic.c:
# interrupt handlers allocating while memory runs out) for IRQ_SOAK_SECS
# seconds each, and the reaper's stress from the tick for REAP_SOAK_ROUNDS
# rounds, on 4 and on 8 harts. make test runs them by their counts;
# make test-long (which .ci/run runs) runs these too.
IRQ_SOAK_SECS    ?= 20
REAP_SOAK_ROUNDS ?= 2000 # the reaper's stress (tests/kernel/test_reap_tick.c): 20 in make test
IRQ_SOAK_RESULTS := build/irq-soak-results

test-irq-soak: all
	@rm -rf $(IRQ_SOAK_RESULTS) && mkdir -p $(IRQ_SOAK_RESULTS)
	-@RESULTS=$(IRQ_SOAK_RESULTS) $(MAKE) --no-print-directory irq-soak-runs
	@python3 scripts/ktap.py $(IRQ_SOAK_RESULTS)

irq-soak-runs: all
	@for n in 4 8; do scripts/run-test irq-soak-cpus$$n 900 -- \
		$(call qemu,$(K),$$n) -append "ktest=irq_atomic* irq_atomic_secs=$(IRQ_SOAK_SECS)"; \
		scripts/run-test reap-soak-cpus$$n 900 -- \
		$(call qemu,$(K),$$n) -append "ktest=reap_tick* reap_tick_rounds=$(REAP_SOAK_ROUNDS)"; done

.PHONY: test-irq-soak irq-soak-runs
