#!/usr/bin/env python3
"""Judge test runs: read every build/results/*.log that scripts/run-test left.

    scripts/ktap.py [DIR_OR_LOG ...]        (default: build/results)

A log is a program's whole output followed by run-test's trailer
(# rvslab-mode / -exit / -timeout). In ktap mode the output is KTAP version 1,
as Linux KUnit and lib/ktest.c print it:

    KTAP version 1
    1..2                         plan: two results at this level
        KTAP version 1           a suite: its cases, indented four spaces,
        # Subtest: buddy         come before the suite's own result line
        1..3
        ok 1 alloc_free
        not ok 2 split           a failed case
        ok 3 big # SKIP no RAM   a skipped case
    # buddy: pass:1 fail:1 skip:1 total:3
    not ok 1 buddy
    ...
    # Totals: pass:.. fail:.. skip:.. total:..

Lines that are not KTAP (boot messages, printk from other harts) are ignored.
Test cases are the leaves of the tree. A run FAILS on: any `not ok`, a line
that starts with "panic", a timeout, no KTAP or no plan, fewer (or more)
results than planned at any level, an unfinished suite, a nonzero exit. A
failed run counts at least one failed case.

Prints one verdict per run and, last, exactly one line `N passed, N failed`.
Exit status 1 if anything failed.
"""
import glob
import os
import re
import sys

VERSION = re.compile(r"^(KTAP version 1|TAP version 1[34])$")
PLAN = re.compile(r"^1\.\.(\d+)(\s+#.*)?$")
RESULT = re.compile(r"^(not ok|ok)\s+(\d+)(?:\s+-)?\s*([^#]*?)\s*(#\s*(.*))?$")
TOTALS = re.compile(r"^# Totals: pass:(\d+) fail:(\d+) skip:(\d+)")
TRAILER = re.compile(r"^# rvslab-(mode|exit|timeout): (\S+)")
PANIC = re.compile(r"^\s*(\[[^\]]*\]\s*)?panic\b|Kernel panic")
NO_FINISHER = re.compile(r"no sifive,test finisher")


class Level:
    """The results at one indentation while they are being read."""

    def __init__(self, indent):
        self.indent = indent
        self.plan = None
        self.results = []  # Result


class Result:
    def __init__(self, ok, number, name, directive, children):
        self.ok, self.number, self.name = ok, number, name
        self.skip = directive is not None and directive.upper().startswith("SKIP")
        self.children = children  # the Level of its subtests, or None


class Run:
    def __init__(self, name):
        self.name = name
        self.mode = "ktap"
        self.exit = None
        self.timeout = None
        self.passed = self.failed = self.skipped = 0
        self.reasons = []
        self.notes = []  # said with the verdict, pass or fail
        self.failed_cases = []

    def reason(self, why):
        if why not in self.reasons:
            self.reasons.append(why)


def check_level(run, level, where):
    """Plan and numbering of one finished level."""
    n = len(level.results)
    if level.plan is None:
        if level.indent == 0:
            run.reason("no plan line")
    elif n != level.plan:
        run.reason("%s: planned %d results, got %d" % (where, level.plan, n))
    for i, r in enumerate(level.results):
        if r.number != i + 1:
            run.reason("%s: result %d is numbered %d" % (where, i + 1, r.number))
            break


def count(run, level, path):
    """Add the leaves under level to run; returns the number that failed."""
    fails = 0
    for r in level.results:
        name = path + r.name if r.name else "%s#%d" % (path, r.number)
        if r.children is not None and r.children.results:
            check_level(run, r.children, name)
            f = count(run, r.children, name + ".")
            fails += f
            if not r.ok and f == 0 and not r.skip:
                run.failed += 1  # the suite itself failed (e.g. its init): count it
                run.failed_cases.append(name)
                fails += 1
            elif r.ok and f > 0:
                run.reason("%s: ok although %d of its cases failed" % (name, f))
        elif r.skip:
            run.skipped += 1
        elif r.ok:
            run.passed += 1
        else:
            run.failed += 1
            run.failed_cases.append(name)
            fails += 1
    return fails


def parse_ktap(run, lines):
    levels = {}  # indent -> Level being read
    started = False
    totals = None
    for raw in lines:
        line = raw.rstrip("\r\n").replace("\t", "    ")
        text = line.lstrip(" ")
        indent = len(line) - len(text)
        text = text.rstrip()
        if PANIC.search(line):
            run.reason("panic (%s)" % text[:100])
        if NO_FINISHER.search(line) and not run.notes:
            run.notes.append("no finisher on this machine: QEMU's exit status says nothing, "
                             "the KTAP output is the verdict")
        if not started:
            if indent == 0 and VERSION.match(text):
                started = True
                levels[0] = Level(0)
            continue
        if VERSION.match(text):
            if indent > 0:
                levels[indent] = Level(indent)  # a subtest starts
            continue
        m = PLAN.match(text)
        if m:
            levels.setdefault(indent, Level(indent)).plan = int(m.group(1))
            continue
        m = TOTALS.match(text)
        if m and indent == 0:
            totals = tuple(int(x) for x in m.groups())
            continue
        m = RESULT.match(text)
        if m and indent in levels:
            children = None
            # The subtests of this result are the deeper levels read since
            # the previous result at this indent.
            for d in sorted(k for k in levels if k > indent):
                lvl = levels.pop(d)
                if d == indent + 4:
                    children = lvl
            levels[indent].results.append(
                Result(m.group(1) == "ok", int(m.group(2)), m.group(3), m.group(5), children)
            )
    if not started:
        run.reason("no KTAP output")
        return
    for d in sorted(k for k in levels if k > 0):  # subtests cut short
        lvl = levels.pop(d)
        run.reason("a suite was cut short after %d results" % len(lvl.results))
        fake = Level(0)  # still count what did finish
        fake.results = lvl.results
        count(run, fake, "(unfinished).")
    top = levels[0]
    check_level(run, top, "top level")
    count(run, top, "")
    if totals is not None:
        p, f, s = totals
        if (p, f, s) != (run.passed, run.failed, run.skipped):
            run.reason(
                "totals line says pass:%d fail:%d skip:%d, results say %d/%d/%d"
                % (p, f, s, run.passed, run.failed, run.skipped)
            )


def judge(path):
    run = Run(os.path.basename(path)[: -len(".log")])
    with open(path, errors="replace") as f:
        lines = f.readlines()
    body = []
    for line in lines:
        m = TRAILER.match(line)
        if m:
            key, value = m.groups()
            if key == "mode":
                run.mode = value
            elif key == "exit":
                run.exit = int(value)
            elif key == "timeout":
                run.timeout = value
        else:
            body.append(line)
    if run.mode == "ktap":
        parse_ktap(run, body)
    if run.timeout is not None:
        run.reason("timeout after %ss" % run.timeout)
    elif run.exit is None:
        run.reason("no exit status recorded (run-test interrupted?)")
    elif run.exit != 0:
        run.reason("exit status %d" % run.exit)
    if run.mode == "plain":
        if run.reasons:
            run.failed, run.failed_cases = 1, [run.name]
        else:
            run.passed = 1
    if run.failed_cases:
        run.reason("not ok")
    if run.reasons and run.failed == 0:
        run.failed = 1  # a broken run counts as a failure even with no `not ok`
    return run


def main(argv):
    targets = argv[1:] or ["build/results"]
    logs = []
    for t in targets:
        logs += sorted(glob.glob(os.path.join(t, "*.log"))) if os.path.isdir(t) else [t]
    passed = failed = cases = 0
    if not logs:
        print("ktap: no results in %s" % " ".join(targets))
        failed = 1
    for path in logs:
        run = judge(path)
        passed += run.passed
        failed += run.failed
        if run.mode == "ktap":
            cases += run.passed + run.failed + run.skipped
        verdict = "FAIL" if run.failed else "PASS"
        extra = ", %d skipped" % run.skipped if run.skipped else ""
        why = " (%s)" % "; ".join(run.reasons + run.notes) if run.reasons or run.notes else ""
        if run.mode == "gate" and not run.failed:
            print("PASS %s: ran cleanly%s" % (run.name, why))
            continue
        print("%s %s: %d passed, %d failed%s%s" % (verdict, run.name, run.passed, run.failed, extra, why))
        for c in run.failed_cases[:20]:
            print("    not ok: %s" % c)
    # make test T=...: each run may find nothing of its own to run (a kernel
    # suite is not in the host build, and the other way round), but a filter
    # that matches no test anywhere is a typo, not a pass.
    pattern = os.environ.get("KTEST_FILTER", "")
    if pattern and logs and cases == 0:
        print("FAIL filter: T='%s' matches no test in any run" % pattern)
        failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
