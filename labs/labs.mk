# The labs (docs/labs/): make lab-start LAB=x, make grade LAB=x, make lab-check.
#
#   make lab-start LAB=buddy   branch lab-buddy from HEAD with the lab's code stubbed out
#   make grade LAB=buddy       build this tree's kernel and score the lab's graded tests
#   make lab-check             every lab: the reference scores full marks, its stub 0
#
# lab-check runs in make test: each lab is two plain cases in build/results,
# lab-LAB-reference (graded on build/kernel.elf) and lab-LAB-stub (a copy of
# the tree with the stubs in build/labs/LAB/tree, built there). The stub
# copies are built one after another, each with -j2.

LABS := $(notdir $(patsubst %/stubs,%,$(wildcard labs/*/stubs)))
LAB  ?=
LAB_CPUS ?= 4
LAB_TIMEOUT ?= 60
LAB_GRADE = scripts/lab grade --cpus $(LAB_CPUS) --timeout $(LAB_TIMEOUT) --qemu $(QEMU) --bios $(OPENSBI)

define need_lab
	@if [ -z "$(LAB)" ] || ! echo " $(LABS) " | grep -q " $(LAB) "; then \
		echo "make $@: say which lab: LAB=one of: $(LABS)" >&2; exit 2; fi
endef

lab-start:
	$(need_lab)
	@scripts/lab start $(LAB)

grade:
	$(need_lab)
	@$(MAKE) --no-print-directory all || { echo "make grade: the kernel does not build"; \
		$(LAB_GRADE) $(LAB) --kernel /nonexistent/kernel.elf; exit 1; }
	@$(LAB_GRADE) $(LAB) --kernel $(K)/kernel.elf

lab-check: all
	@scripts/run-test lab-markers 60 --plain -- scripts/lab check
	@status=0; for l in $(LABS); do \
		scripts/run-test lab-$$l-reference 600 --plain -- \
			$(LAB_GRADE) $$l --kernel $(K)/kernel.elf --expect full \
			--results build/labs/$$l/grade-reference || status=1; \
		scripts/run-test lab-$$l-stub 600 --plain -- \
			scripts/lab-stub-check $$l build/labs/$$l/tree $(LAB_GRADE) || status=1; \
	done; exit $$status

.PHONY: lab-start grade lab-check
