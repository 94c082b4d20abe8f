#!/usr/bin/env python3
"""Where the hot pair's instructions go: a per-function instruction count.

    bench/hotpath.py KERNEL_DIR [--qemu QEMU] [--bios FW] [--pairs N] [--out FILE.md]

Boots KERNEL_DIR/kernel.elf with bootargs "bench=trace", which runs
kmem_cache_alloc + kmem_cache_free on a 64-byte cache N times between two
marker calls (kernel/bench.c). QEMU runs one instruction per translation
block (-singlestep) and logs every block it executes (-d exec,nochain), only
for the kernel's text (-dfilter), so each log line is one guest instruction.
Every instruction between the markers is charged to the function holding its
address (from the symbol table); counts are divided by N.

No -icount needed: the trace is the instruction stream itself.
"""
import argparse
import bisect
import os
import re
import subprocess
import sys


def symbols(kdir):
    """Sorted (address, name) of the text symbols, from KERNEL_DIR/kernel.sym (nm -n)."""
    out = []
    with open(os.path.join(kdir, "kernel.sym")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[1] in "tTwW":
                out.append((int(parts[0], 16), parts[2]))
    out.sort()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kdir")
    ap.add_argument("--qemu", default="qemu-system-riscv64")
    ap.add_argument("--bios", default="/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin")
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--addr2line", default="riscv64-unknown-elf-addr2line")
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--cycle", action="store_true",
                    help="trace the refill/flush cycle (180 allocs, 180 frees) instead")
    a = ap.parse_args()

    syms = symbols(a.kdir)
    addrs = [s[0] for s in syms]
    where = {name: addr for addr, name in syms}
    start, end = where["bench_trace_start"], where["bench_trace_end"]
    text_end = max(addrs) + 0x10000
    log = os.path.join(a.kdir, "hotpath-trace.log")
    cmd = [a.qemu, "-machine", "virt", "-bios", a.bios, "-kernel",
           os.path.join(a.kdir, "kernel.elf"), "-m", "32M", "-smp", "1", "-nographic",
           "-no-reboot", "-singlestep", "-d", "exec,nochain", "-dfilter",
           "0x%x..0x%x" % (min(addrs), text_end), "-D", log,
           "-append", "bench=trace iters=%d%s" % (a.pairs, " cycle=1" if a.cycle else "")]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 or "@bench trace" not in r.stdout:
        sys.stderr.write(r.stdout[-2000:] + r.stderr[-2000:])
        sys.exit("hotpath: the trace run failed")
    n = int(re.search(r"@bench trace pairs=(\d+)", r.stdout).group(1))  # pairs traced

    pc_re = re.compile(r"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")
    counts, pcs, inside, total = {}, {}, False, 0
    with open(log) as f:
        for line in f:
            m = pc_re.match(line)
            if not m:
                continue
            pc = int(m.group(1), 16)
            if pc == start:
                inside = True
                continue
            if pc == end:
                break
            if inside:
                i = bisect.bisect_right(addrs, pc) - 1
                name = syms[i][1] if i >= 0 else "?"
                counts[name] = counts.get(name, 0) + 1
                pcs[pc] = pcs.get(pc, 0) + 1
                total += 1
    os.unlink(log)
    if not total:
        sys.exit("hotpath: no instructions between the markers")

    # The same instructions by source function, inlined ones included:
    # addr2line -i names the innermost inlined function first.
    inl = {}
    order = sorted(pcs)
    r = subprocess.run([a.addr2line, "-f", "-i", "-a", "-e", os.path.join(a.kdir, "kernel.elf")]
                       + ["0x%x" % pc for pc in order], capture_output=True, text=True)
    cur = None
    for line in r.stdout.splitlines():
        if line.startswith("0x"):
            cur, first = int(line, 16), True
        elif cur is not None and first and not line.startswith(("/", "?")) and ":" not in line:
            inl[line] = inl.get(line, 0) + pcs[cur]
            first = False

    lines = ["| function (as compiled) | instructions per pair | | source function (inlined ones too) "
             "| instructions per pair |", "|---|---:|---|---|---:|"]
    left = sorted(counts.items(), key=lambda kv: -kv[1])
    right = sorted(inl.items(), key=lambda kv: -kv[1])
    for i in range(max(len(left), len(right))):
        l = "`%s` | %.1f" % (left[i][0], left[i][1] / n) if i < len(left) else " | "
        rr = "`%s` | %.1f" % (right[i][0], right[i][1] / n) if i < len(right) else " | "
        lines.append("| %s | | %s |" % (l, rr))
    lines.append("| **total** (loop included) | **%.1f** | | | |" % (total / n))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
