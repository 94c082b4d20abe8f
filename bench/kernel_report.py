#!/usr/bin/env python3
"""Turn the kernel bench logs into bench/results/kernel.md and two plots.

    bench/kernel_report.py LOGDIR OUTDIR [--qemu QEMU]

LOGDIR holds what bench/kernel.mk left there:
  kernel-icount-1.log, kernel-icount-2.log   bootargs "bench" under -icount, twice
  kernel-wall-N.log                          bootargs "bench=wall", multi-threaded TCG
  hotpath.md                                 bench/hotpath.py's per-function table
The -icount tables are copied as the kernel printed them; the second -icount
run must print the same "@bench" lines (the counts repeat bit for bit) or this
script says where they differ and fails. Wall-clock figures are the median of
the runs. Writes OUTDIR/kernel.md, kernel-harts.png, kernel-icount.png (gnuplot)
and prints kernel.md.
"""
import argparse
import glob
import os
import platform
import re
import statistics
import subprocess
import sys


def bench_lines(path):
    with open(path, errors="replace") as f:
        return [l.rstrip("\n") for l in f if l.startswith("@bench ")]


def kv(line):
    return dict(w.split("=", 1) for w in line.split()[2:] if "=" in w)


# The same cases measured with this script at commit b9c2ad8
# (per-CPU arrays under a spin lock, interrupts never on, every free checked
# in full): instructions per alloc+free pair under -icount.
BEFORE = {
    "cache-hot-64": 252.0, "cache-cycle-64": 338.4, "kmalloc-8": 300.0, "kmalloc-64": 300.0,
    "kmalloc-512": 343.0, "kmalloc-4096": 343.0, "kmalloc-65536": 343.0,
    "pages-order0": 603.0, "pages-order3": 709.0, "frames-5": 927.0,
    "own-1": 258.6, "ring-1": 259.8, "prodcon-1": 258.7,
    "own-8": 258.6, "ring-8": 260.6, "prodcon-8": 392.1,
}


def before_after(lines):
    """Markdown: each case at commit b9c2ad8 and now."""
    now = {}
    for l in lines:
        d = kv(l)
        if l.startswith("@bench single "):
            now[d["case"]] = int(d["insns_x10"]) / 10
        elif l.startswith("@bench icount ") and d["harts"] in ("1", "8"):
            for p in ("own", "ring", "prodcon"):
                now["%s-%s" % (p, d["harts"])] = int(d[p + "_x10"]) / 10
    out = ["### Against commit b9c2ad8 (instructions per alloc+free pair, -icount)", "",
           "Before: commit b9c2ad8 (per-CPU arrays under a spin lock, interrupts off, every free "
           "checked in full). Now: this tree. own/ring/prodcon-k: the scaling patterns on k harts.",
           "", "| case | before | now | now / before |", "|---|---:|---:|---:|"]
    for name, b in BEFORE.items():
        if name in now:
            out.append("| %s | %.1f | %.1f | %.2f |" % (name, b, now[name], now[name] / b))
    return out + [""]


def kernel_tables(path):
    """The markdown the kernel printed: from the first ### heading to the power-off line."""
    out, on = [], False
    with open(path, errors="replace") as f:
        for l in f:
            l = l.rstrip("\n")
            if l.startswith("### "):
                on = True
            if l.startswith("rvslab: powering off"):
                break
            if on and not l.startswith("@bench"):
                out.append(l)
    while out and not out[-1].strip():
        out.pop()
    return out


def machine(qemu):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for l in f:
                if l.startswith("model name"):
                    cpu = l.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        qv = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        qv = "?"
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = ["?"]
    return cpu, os.cpu_count(), qv, " ".join(load)


def gnuplot(script):
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        print("kernel_report: gnuplot failed (%s): no plot" % e, file=sys.stderr)
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logdir")
    ap.add_argument("outdir")
    ap.add_argument("--qemu", default="qemu-system-riscv64")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)

    i1, i2 = (os.path.join(a.logdir, "kernel-icount-%d.log" % n) for n in (1, 2))
    b1, b2 = bench_lines(i1), bench_lines(i2)
    if not b1:
        sys.exit("kernel_report: no @bench lines in %s" % i1)
    diffs = [(x, y) for x, y in zip(b1, b2) if x != y] + ([("(length)", "")] if len(b1) != len(b2) else [])

    walls = sorted(glob.glob(os.path.join(a.logdir, "kernel-wall-*.log")))
    wall = {}  # harts -> pattern -> [kpairs/s per run]
    for w in walls:
        for l in bench_lines(w):
            if l.startswith("@bench wall "):
                d = kv(l)
                k = int(d["harts"])
                for p in ("own", "ring", "prodcon"):
                    wall.setdefault(k, {}).setdefault(p, []).append(int(d[p + "_kpairs_s"]))
    icount = {int(kv(l)["harts"]): kv(l) for l in b1 if l.startswith("@bench icount ")}

    cpu, ncpu, qv, load = machine(a.qemu)
    md = ["## Kernel (QEMU)", "",
          "Machine: %d host cores (`nproc`), %s; %s; load average when the report was written: %s."
          % (ncpu, cpu, qv, load), "",
          "Instruction counts: QEMU `-icount shift=0,sleep=off`, 8 harts booted, `rdinstret`. "
          "Run twice: " + ("**both runs printed identical counts** (%d `@bench` lines compared)."
                           % len(b1) if not diffs else
                           "**the two runs differ**: " + "; ".join("`%s` vs `%s`" % d for d in diffs[:5])),
          ""]
    md += before_after(b1)
    md += kernel_tables(i1)
    md += [""]

    if wall:
        pats = ("own", "ring", "prodcon")
        med = {k: {p: statistics.median(v[p]) for p in pats} for k, v in wall.items()}
        md += ["### Throughput vs harts (multi-threaded TCG, wall clock), median of %d runs" % len(walls), "",
               "Million alloc+free pairs per second, all harts together, and the ratio to one hart. "
               "**This host has %d cores**: QEMU runs one thread per busy hart, so past %d harts the "
               "threads share cores and the ratio says nothing about the allocator. The host was also "
               "running other work (load average above): wall-clock figures move by tens of percent "
               "from run to run; the -icount table is the one that repeats." % (ncpu, ncpu), "",
               "| harts | own: Mpairs/s | own: ratio | ring: Mpairs/s | ring: ratio | prodcon: Mpairs/s | prodcon: ratio |",
               "|---:|---:|---:|---:|---:|---:|---:|"]
        for k in sorted(med):
            cells = []
            for p in pats:
                v, b = med[k][p], med[min(med)][p]
                cells += ["%.3f" % (v / 1000), "%.2f" % (v / b if b else 0)]
            md.append("| %d | %s |" % (k, " | ".join(cells)))
        md.append("")
        dat = os.path.join(a.outdir, "kernel-harts.dat")
        with open(dat, "w") as f:
            f.write("# harts own ring prodcon (ratio to 1 hart, median)\n")
            for k in sorted(med):
                f.write("%d %s\n" % (k, " ".join("%.3f" % (med[k][p] / med[min(med)][p]) for p in pats)))
        png = os.path.join(a.outdir, "kernel-harts.png")
        if gnuplot("""set terminal pngcairo size 720,420 font ",10" noenhanced
set output '%s'
set title "rvslab in QEMU: alloc+free throughput vs harts (wall clock, %d host cores)"
set xlabel "harts"; set ylabel "throughput / 1 hart"; set key top left
set logscale x 2; set xtics (1,2,4,8); set xrange [0.9:9]; set yrange [0:*]; set grid
plot '%s' using 1:1 with lines dt 2 lc rgb "gray" title "ideal", \\
  %d title "host cores" dt 3 lc rgb "black", \\
  '' using 1:2 with linespoints lw 2 title "own objects", \\
  '' using 1:3 with linespoints lw 2 title "ring (freed by next hart)", \\
  '' using 1:4 with linespoints lw 2 title "producer/consumer"
""" % (png, ncpu, dat, ncpu)):
            md += ["![throughput vs harts](kernel-harts.png)", ""]

    if icount:
        dat = os.path.join(a.outdir, "kernel-icount.dat")
        with open(dat, "w") as f:
            f.write("# harts own ring prodcon (instructions per alloc+free pair)\n")
            for k in sorted(icount):
                d = icount[k]
                f.write("%d %s\n" % (k, " ".join("%.1f" % (int(d[p + "_x10"]) / 10)
                                                  for p in ("own", "ring", "prodcon"))))
        png = os.path.join(a.outdir, "kernel-icount.png")
        if gnuplot("""set terminal pngcairo size 720,420 font ",10" noenhanced
set output '%s'
set title "rvslab in QEMU -icount: instructions per alloc+free pair, k harts busy"
set xlabel "harts"; set ylabel "instructions / pair"; set key bottom right
set logscale x 2; set xtics (1,2,4,8); set xrange [0.9:9]; set yrange [0:*]; set grid
plot '%s' using 1:2 with linespoints lw 2 title "own objects", \\
  '' using 1:3 with linespoints lw 2 title "ring (freed by next hart)", \\
  '' using 1:4 with linespoints lw 2 title "producer/consumer"
""" % (png, dat)):
            md += ["![instructions per pair vs harts](kernel-icount.png)", ""]

    hp = os.path.join(a.logdir, "hotpath.md")
    if os.path.exists(hp):
        md += ["### Where the hot pair's instructions go", "",
               "`kmem_cache_alloc` + `kmem_cache_free` of a 64 B object, per-CPU array hit: every "
               "instruction QEMU executed between two markers (`bench=trace`, `-singlestep -d exec`), "
               "charged to the function it is in (`bench/hotpath.py`). Inlined code counts in its caller.",
               ""]
        md += open(hp).read().rstrip("\n").splitlines()
        md += [""]
    hc = os.path.join(a.logdir, "hotpath-cycle.md")
    if os.path.exists(hc):
        md += ["### Where the refill/flush cycle's instructions go", "",
               "The same trace over the refill/flush cycle (`bench=trace cycle=1`): 180 allocs then "
               "180 frees, per pair. Without -icount the tick runs: its few instructions show up as "
               "`kernelvec` and `kernel_trap`.", ""]
        md += open(hc).read().rstrip("\n").splitlines()
        md += [""]

    text = "\n".join(md) + "\n"
    with open(os.path.join(a.outdir, "kernel.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    if diffs:
        sys.exit("kernel_report: the two -icount runs differ")


if __name__ == "__main__":
    main()
