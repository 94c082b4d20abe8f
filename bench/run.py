#!/usr/bin/env python3
"""Run malloc_bench once per allocator, side by side, and report.

  bench/run.py [--bench build/host/malloc_bench] [--shim build/host/librvslab.so]

Each allocator is the same harness under LD_PRELOAD (glibc: no preload),
pinned with taskset (threaded workloads on cores 0,1, the rest on core 1),
one fresh process per workload. Timing: median of BENCH_RUNS runs (default
5), runs interleaved across allocators so drift hits all alike. Memory: one
--mem run per workload, and one more column, rvslab-kmalloc: the same
harness calling rvslab's kmalloc/kfree directly (--kmalloc), for the memory
workloads (chunk, sweep) and a utilisation-by-size curve (sweep-LO-HI, one
process per size group and allocator). Instructions: one callgrind run per
allocator plus one on the empty stub, whose count is subtracted (the loop's
own cost).

Writes the markdown tables (also to stdout), memory.md, host.json and PNG
plots to bench/results/, or to build/bench/ with BENCH_QUICK=1: tiny sizes,
1 run, no callgrind, only to prove everything runs. No number is asserted,
except one property: neither rvslab column holds a frame after free-all +
reclaim, in any memory run (and chunk and sweep were measured for both).
"""
import argparse, glob, json, os, platform, re, shutil, statistics, subprocess, sys, tempfile, time

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
RUNS = 1 if QUICK else int(os.environ.get("BENCH_RUNS", "5"))
SCALE = 0.001 if QUICK else 1.0
MEM_SCALE = 0.001 if QUICK else 0.25
# sweep and its size groups run at full size (64 and 8 MiB live, each well
# under a second); the harness never goes below 1 MiB live, whatever the scale.
SWEEP_SCALE = MEM_SCALE if QUICK else 1.0
MEM_SCALES = {"sweep": SWEEP_SCALE}
MEM_WORKLOADS = ["chunk", "sweep"]  # the memory section's, with every column
KMALLOC = "rvslab-kmalloc"  # malloc_bench --kmalloc on librvslab.so: kmalloc, no rounding
GOAL = 87.5  # util at peak on chunk and sweep, and ahead of mimalloc
CG_SCALE = 0.01  # callgrind: 20000 ops per loop is plenty for a per-op count
SIZES = (32, 64, 256, 1024)
WORKLOADS = ([f"hot-{s}" for s in SIZES] + [f"b16-{s}" for s in SIZES] +
             [f"b1024-{s}" for s in SIZES] + ["mix", "chunk", "sweep", "regrow", "thr-1", "thr-2"])
CACHE_WORKLOADS = ["cache-hot-64", "cache-b16-64", "cache-b1024-64"]  # rvslab only
CG_WORKLOADS = [w for w in WORKLOADS if not w.startswith("thr") and w != "regrow"] + CACHE_WORKLOADS
BASE = "mimalloc"  # ratios are to this one
SHIM = None  # librvslab.so, absolute
UTIL_MIN = 64 << 10  # utilisation shown only when at least this much is live

# Debian package and library file of each peer; glibc needs no preload.
PEERS = [("mimalloc", "libmimalloc2.0", "libmimalloc.so.2"),
         ("jemalloc", "libjemalloc2", "libjemalloc.so.2"),
         ("tcmalloc", "libtcmalloc-minimal4", "libtcmalloc_minimal.so.4")]


def find_lib(pkg, soname):
    """The library's path: from the package's file list, else the loader cache, else a glob."""
    out = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True).stdout \
        if shutil.which("dpkg") else ""
    for line in out.splitlines():
        if line.endswith("/" + soname) and os.path.exists(line):
            return line
    for ldc in ("ldconfig", "/sbin/ldconfig"):
        try:
            out = subprocess.run([ldc, "-p"], capture_output=True, text=True).stdout
        except OSError:
            continue
        for line in out.splitlines():
            if line.strip().startswith(soname + " ") and "=>" in line:
                return line.split("=>")[1].strip()
    arch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("gcc") else ""
    for d in (f"/usr/lib/{arch}", f"/lib/{arch}", "/usr/lib64", "/usr/lib"):
        hits = glob.glob(os.path.join(d, soname + "*"))
        if hits:
            return sorted(hits)[0]
    return None


def run_bench(args, preload, cpus, env_extra=None, prefix=()):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    env.update(env_extra or {})
    cmd = list(prefix) + list(args)
    if cpus and shutil.which("taskset"):
        cmd = ["taskset", "-c", cpus] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} (LD_PRELOAD={preload}) exited {p.returncode}:\n"
                           f"{p.stdout}{p.stderr}")
    if ("--kmalloc" in args) != ("ALLOCATOR rvslab kmalloc" in p.stdout):
        raise RuntimeError(f"{' '.join(cmd)}: --kmalloc and the harness disagree:\n{p.stdout}")
    on_rvslab = "ALLOCATOR rvslab" in p.stdout
    if on_rvslab != (preload is not None and preload == SHIM):
        raise RuntimeError(f"{' '.join(cmd)}: LD_PRELOAD={preload} but rvslab "
                           f"{'active' if on_rvslab else 'not loaded'}:\n{p.stderr}")
    return p.stdout


def parse(out, tag):
    """{name: {key: value}} from the harness's 'TAG name=... k=v' lines."""
    res = {}
    for line in out.splitlines():
        if line.startswith(tag + " "):
            kv = dict(f.split("=", 1) for f in line.split()[1:])
            name = kv.pop("name")
            res[name] = {k: (v if k in ("unit", "probe") else float(v)) for k, v in kv.items()}
    return res


def cpus_for(w):
    n = os.cpu_count() or 1
    if w.startswith("thr"):
        return "0,1" if n >= 2 else "0"
    return "1" if n >= 2 else "0"


def time_all(bench, allocs):
    ns, ticks = {}, {}
    for r in range(RUNS):
        for a, pre in allocs:
            for w in WORKLOADS + (CACHE_WORKLOADS if a == "rvslab" else []):
                out = run_bench([bench, "--scale", str(SCALE), w], pre, cpus_for(w))
                for name, v in parse(out, "RESULT").items():
                    ns.setdefault((a, name), []).append(v["ns"])
                for name, v in parse(out, "TICKS").items():
                    ticks.setdefault((a, name), []).append(v)
        print(f"# run {r + 1}/{RUNS} done", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in ns.items()}
    tick_med = {k: {f: (statistics.median(x[f] for x in v) if f != "unit" else v[0][f])
                    for f in v[0]} for k, v in ticks.items()}
    return med, tick_med


def flags(a):
    return ["--kmalloc"] if a == KMALLOC else []


def mem_run(bench, a, pre, w, scale):
    out = run_bench([bench, "--mem"] + flags(a) + ["--scale", str(scale), w], pre, cpus_for(w))
    return {(a, name): v for name, v in parse(out, "MEM").items()}


def mem_all(bench, allocs):
    """Every workload on every allocator; the kmalloc column only the memory workloads."""
    mem = {}
    for a, pre in allocs:
        for w in WORKLOADS + (CACHE_WORKLOADS if a == "rvslab" else []):
            mem.update(mem_run(bench, a, pre, w, MEM_SCALES.get(w, MEM_SCALE)))
    for w in MEM_WORKLOADS:
        mem.update(mem_run(bench, KMALLOC, SHIM, w, MEM_SCALES.get(w, MEM_SCALE)))
    return mem


def size_groups():
    """The curve's size ranges: 1..8, then quarter octaves up to 64 KiB (whole ones if QUICK)."""
    steps = 1 if QUICK else 4
    groups = [(1, 8)]
    for k in range(3, 16):
        b = 1 << k
        groups += [(b + b * j // steps + 1, b + b * (j + 1) // steps) for j in range(steps)]
    return groups


def size_curve(bench, mem_allocs):
    """Utilisation by size: one process per size group and allocator (RSS never shrinks back)."""
    mem = {}
    for lo, hi in size_groups():
        for a, pre in mem_allocs:
            mem.update(mem_run(bench, a, pre, f"sweep-{lo}-{hi}", SWEEP_SCALE))
    return mem


def callgrind_runs(bench, allocs, workloads):
    """Instructions per op of each (allocator, workload), the empty stub's
    count subtracted (callgrind dumps one part per workload loop); also the
    dump files (in tmp, which the caller removes) and op counts."""
    tmp = tempfile.mkdtemp(prefix="rvslab-cg-")
    counts, ops, files = {}, {}, {}
    for a, pre in [("empty", None)] + allocs:
        args = [bench, "--scale", str(CG_SCALE)] + (["--empty"] if a == "empty" else []) + \
            workloads
        out = run_bench(args, pre, "1", {"RVSLAB_HEAP_MB": "256"},
                        ["valgrind", "--tool=callgrind", "--collect-atstart=no",
                         f"--callgrind-out-file={tmp}/cg.{a}"])
        for name, v in parse(out, "RESULT").items():
            ops[(a, name)] = v["ops"]
        for f in glob.glob(f"{tmp}/cg.{a}.*"):
            text = open(f).read()
            m, s = re.search(r"^desc: Trigger: Client Request: (\S+)", text, re.M), \
                re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if m and s:
                counts[(a, m.group(1))] = int(s.group(1))
                files[(a, m.group(1))] = f
    iop = {}
    for (a, w), c in counts.items():
        if a != "empty" and ("empty", w) in counts and (a, w) in ops:
            iop[(a, w)] = (c - counts[("empty", w)]) / ops[(a, w)]
    return iop, files, ops, tmp


def callgrind_counts(bench, shim, workloads):
    """{workload: instructions per op} of librvslab.so (bench/host_budget.py)."""
    global SHIM
    SHIM = shim  # run_bench checks that this preload is the one that took
    iop, _, _, tmp = callgrind_runs(bench, [("rvslab", shim)], workloads)
    shutil.rmtree(tmp, ignore_errors=True)
    return {w: v for (a, w), v in iop.items()}


def callgrind_all(bench, allocs, outdir):
    """Instructions per op: callgrind dumps one part per workload loop."""
    if not shutil.which("valgrind"):
        return {}, {}
    iop, files, ops, tmp = callgrind_runs(bench, allocs, CG_WORKLOADS)
    # Where rvslab's time goes: its hot pair and its random mix, by function.
    notes = {}
    for w in ("hot-64", "mix", "cache-hot-64"):
        f = files.get(("rvslab", w))
        if f and shutil.which("callgrind_annotate"):
            txt = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100",
                                  "--auto=no", f], capture_output=True, text=True).stdout
            notes[w] = top_functions(txt, ops[("rvslab", w)])
            dst = os.path.join(outdir, f"callgrind-rvslab-{w}.out")
            shutil.copyfile(f, dst)
            os.chmod(dst, 0o644)
    shutil.rmtree(tmp, ignore_errors=True)
    return iop, notes


def top_functions(txt, nops, n=12):
    """Self cost per op by function, from callgrind_annotate's listing."""
    total, cost = None, {}
    for line in txt.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?)(?:\s+\[(.*)\])?$", line)
        if not m:
            continue
        ir, where = int(m.group(1).replace(",", "")), m.group(2)
        if where == "PROGRAM TOTALS":
            total = ir
            continue
        fn = where.split(":", 1)[1] if ":" in where else where
        # Collection is switched on inside main: callers up the stack carry the
        # whole count, not their own; leave them out.
        if total and ir >= 0.99 * total:
            continue
        cost[fn] = cost.get(fn, 0) + ir  # inlined parts (file page.h, ...) join their function
    rows = sorted(cost.items(), key=lambda kv: -kv[1])[:n]
    return [(fn, ir / nops) for fn, ir in rows]


def fmt(x, spec):
    return "–" if x is None else format(x, spec)


def table(allocs, ns, iop, mem):
    lines = ["| allocator | workload | ns/op | × " + BASE + " | instr/op | util peak | util end "
             "| held after free-all |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    names = [a for a, _ in allocs]
    for w in WORKLOADS + CACHE_WORKLOADS:
        plain = w[len("cache-"):] if w.startswith("cache-") else w
        for a in names:
            if (a, w) not in ns:
                continue
            base = ns.get((BASE, plain))
            m = mem.get((a, w), {})
            # A few live objects say nothing about utilisation: one slab or page.
            big = m.get("req_peak", 0) >= UTIL_MIN
            up = m["req_peak"] / m["held_peak"] if big and m.get("held_peak") else None
            ue = m["req_end"] / m["held_end"] if big and m.get("held_end") else None
            after = m.get("held_after")
            held = "–" if after is None else (f"{after / 4096:.0f} pages" if m["probe"] == "frames"
                                             else f"{after / 1024:.0f} KiB rss")
            label = a + (" kmem_cache" if w.startswith("cache-") else "")
            lines.append(f"| {label} | {plain} | {ns[(a, w)]:.1f} | "
                         f"{fmt(ns[(a, w)] / base if base else None, '.2f')} | "
                         f"{fmt(iop.get((a, w)), '.0f')} | {fmt(up and 100 * up, '.0f')}% | "
                         f"{fmt(ue and 100 * ue, '.0f')}% | {held} |".replace("–%", "–"))
    return "\n".join(lines)


def summary(allocs, ns):
    """Workloads down, allocators across: ns/op and the ratio to BASE."""
    names = [a for a, _ in allocs]
    lines = ["| workload | " + " | ".join(names) + " | rvslab kmem_cache |",
             "|---|" + "---:|" * (len(names) + 1)]
    for w in WORKLOADS:
        base = ns.get((BASE, w))
        cells = []
        for a, ww in [(a, w) for a in names] + [("rvslab", "cache-" + w)]:
            v = ns.get((a, ww))
            cells.append("" if v is None else
                         f"{v:.1f}" + (f" ({v / base:.2f}×)" if base and a != BASE else ""))
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ticks_table(allocs, ticks):
    lines = ["| allocator | unit | malloc median | mean | p99 | max | free median | mean | p99 | max |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for a, _ in allocs:
        t = ticks.get((a, "chunk"))
        if t:
            lines.append(f"| {a} | {t['unit']} | " + " | ".join(
                f"{t[k]:.0f}" for k in ("a_med", "a_mean", "a_p99", "a_max",
                                        "f_med", "f_mean", "f_p99", "f_max")) + " |")
    return "\n".join(lines)


def plots(allocs, ns, outdir):
    if not shutil.which("gnuplot"):
        return []
    series = [(a, a, "") for a, _ in allocs] + [("rvslab-kmem_cache", "rvslab", "cache-")]
    names = [s[0] for s in series]
    dat = os.path.join(outdir, "host-ns.dat")
    with open(dat, "w") as f:
        f.write("workload " + " ".join(names) + "\n")
        for w in WORKLOADS:
            f.write(w + " " + " ".join(f"{ns[(a, p + w)]:.3f}" if (a, p + w) in ns else "-"
                                       for _, a, p in series) + "\n")
    made = []
    for png, title, ylabel, col in (
            ("host-ns.png", "ns per malloc+free pair (lower is better)", "ns/op", "column(i)"),
            ("host-ratio.png", f"time relative to {BASE} (lower is better)", f"× {BASE}",
             f"column(i)/column({names.index(BASE) + 2})" if BASE in names else None)):
        if col is None:
            continue
        script = f"""
set terminal pngcairo size 1400,600 noenhanced font ",10"
set output "{os.path.join(outdir, png)}"
set title "{title} — {platform.node()}"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set logscale y
set ylabel "{ylabel}"
set xtics rotate by -45
set grid ytics
set key top left
plot for [i=2:{len(names) + 1}] "{dat}" using ({col}):xtic(1) title columnheader(i)
"""
        p = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
        if p.returncode == 0:
            made.append(png)
        else:
            print(p.stderr, file=sys.stderr)
    return made


# ---- the memory section ----

MEM_LABEL = {KMALLOC: "rvslab-kmalloc", "rvslab": "rvslab (preload)"}
RVSLAB_COLS = (KMALLOC, "rvslab")


def util(m):
    """Requested / held at peak, in %; None without a measure."""
    return 100 * m["req_peak"] / m["held_peak"] if m and m.get("held_peak") else None


def mib(b):
    return f"{b / (1 << 20):.2f} MiB"


def held_after(m):
    return (f"{m['held_after'] / 4096:.0f} pages" if m["probe"] == "frames"
            else f"{m['held_after'] / 1024:.0f} KiB rss")


def verdicts(mem):
    """Per rvslab column: (utils by workload, >= GOAL on all, ahead of mimalloc on all or None)."""
    mim = {w: util(mem.get(("mimalloc", w))) for w in MEM_WORKLOADS}
    out = {}
    for a in RVSLAB_COLS:
        u = {w: util(mem.get((a, w))) for w in MEM_WORKLOADS}
        high = all(x is not None and x >= GOAL for x in u.values())
        ahead = None if None in mim.values() else \
            all(u[w] is not None and u[w] > mim[w] for w in MEM_WORKLOADS)
        out[a] = (u, high, ahead)
    return out


def same_rvslab(mem):
    peaks = [[mem.get((a, w), {}).get("held_peak") for w in MEM_WORKLOADS] for a in RVSLAB_COLS]
    return None not in peaks[0] and peaks[0] == peaks[1]


def memory_section(names, mem, curve_png):
    """Markdown lines: chunk and sweep side by side, the goal, how held is measured."""
    md = ["## Memory: requested / held at peak", "",
          f"Goal: util = requested / held at peak >= {GOAL}% on chunk and on sweep, "
          "and ahead of mimalloc, for both rvslab columns. A benchmark target, measured and "
          "reported here, never asserted. What make test does check: both rvslab columns hold "
          "0 pages after free-all + slab_reclaim.", ""]
    v = verdicts(mem)
    md += ["| rvslab column | " + " | ".join(f"{w} util" for w in MEM_WORKLOADS) +
           f" | >= {GOAL}% on both | ahead of mimalloc on both | goal met |",
           "|---|" + "---:|" * len(MEM_WORKLOADS) + "---|---|---|"]
    for a, (u, high, ahead) in v.items():
        md.append(f"| {MEM_LABEL[a]} | " +
                  " | ".join(fmt(u[w], ".1f") + ("%" if u[w] is not None else "")
                             for w in MEM_WORKLOADS) +
                  f" | {'yes' if high else 'no'} | "
                  f"{'mimalloc not measured' if ahead is None else 'yes' if ahead else 'no'} | "
                  f"{'yes' if high and ahead else 'no'} |")
    md += ["", "Columns: **rvslab-kmalloc** is the kernel allocator called directly through the "
           "host build (`malloc_bench --kmalloc`: `kmalloc(size)`, or `kmalloc_aligned` when more "
           "than 8-byte alignment is asked for), exactly the sizes requested; **rvslab (preload)** "
           "is librvslab.so's malloc, which rounds requests above 8 B up to a multiple of 16 "
           "(malloc's 16-byte alignment) before calling kmalloc; then glibc and the peers, "
           "through LD_PRELOAD. Every column gets the same sequence of requests." +
           (" The two rvslab columns hold the same here: malloc's rounding moved no request "
            "to another kmalloc class." if same_rvslab(mem) else ""), "",
           "How *held* is measured (they differ):", "",
           "* rvslab columns: bytes of the frames taken from rvslab's buddy allocator (slabs with "
           "their on-slab metadata, kmalloc's whole-frame blocks), read with `rvslab_held_bytes()` "
           "at each sample, minus what was taken at start-up. Its `struct page` array (48 B per "
           "4 KiB frame of the whole heap, made at start-up, as a kernel's mem_map) is not "
           "counted. Held after free-all is read after `rvslab_reclaim()` (slab_reclaim), in "
           "4 KiB pages, and must be 0.",
           "* glibc, mimalloc, jemalloc, tcmalloc: growth of the process RSS (/proc/self/statm) "
           "over the baseline, every page of each block touched: it includes their metadata and "
           "anything they keep touched, at page granularity. Held after free-all is RSS above the "
           "baseline, with no reclaim call: memory the allocator kept (cached, or not returned "
           "to the kernel).",
           "* Held at peak: the largest sample (every 256 allocations and at the end of the fill); "
           "requested at peak: the live requested bytes then. Each workload is a fresh process.",
           "", "Workloads: **chunk** is rslab's simple-chunk-allocator bench (8..16384 B, "
           "alignment 1..64, the 7 oldest freed on ~every 10th step, until 16 MiB are live); "
           "**sweep** draws sizes log-uniformly from 1 B..64 KiB (fixed seed), one allocation in "
           "four followed by the free of a random live block, until 64 MiB are live, then frees "
           "everything." + (" With BENCH_QUICK both stop at 1 MiB, and so does each size group "
                            "of the curve (whole octaves)." if QUICK else ""), ""]
    for w in MEM_WORKLOADS:
        md += [f"### {w}", "",
               "| allocator | held measured as | requested at peak | held at peak | util "
               "| held after free-all |", "|---|---|---:|---:|---:|---:|"]
        for a in [KMALLOC] + names:
            m = mem.get((a, w))
            if m is None:
                continue
            u = util(m)
            md.append(f"| {MEM_LABEL.get(a, a)} | "
                      f"{'buddy frames' if m['probe'] == 'frames' else 'RSS growth'} | "
                      f"{mib(m['req_peak'])} | {mib(m['held_peak'])} | "
                      f"{fmt(u, '.1f')}{'%' if u is not None else ''} | {held_after(m)} |")
        md.append("")
    if curve_png:
        md += ["### Utilisation by block size", "",
               "The sweep again, one size group at a time (1..8 B, then quarter octaves up to "
               "64 KiB; 8 MiB live each, one process per group and allocator): util at peak "
               "against the group's middle size. Table in memory.md.", "",
               f"![util by size]({curve_png})", ""]
    return md


def curve_table(names, curve):
    cols = [KMALLOC] + names
    md = ["| sizes (B) | " + " | ".join(MEM_LABEL.get(a, a) for a in cols) + " |",
          "|---|" + "---:|" * len(cols)]
    for lo, hi in size_groups():
        cells = [util(curve.get((a, f"sweep-{lo}-{hi}"))) for a in cols]
        md.append(f"| {lo}..{hi} | " + " | ".join(fmt(c, ".1f") for c in cells) + " |")
    return md


def curve_plot(names, curve, outdir):
    """util % against size, one line per allocator; None without gnuplot."""
    if not shutil.which("gnuplot") or not curve:
        return None
    cols = [KMALLOC] + names
    dat = os.path.join(outdir, "memory-sizes.dat")
    with open(dat, "w") as f:
        f.write("size " + " ".join(MEM_LABEL.get(a, a).replace(" ", "_") for a in cols) + "\n")
        for lo, hi in size_groups():
            cells = [util(curve.get((a, f"sweep-{lo}-{hi}"))) for a in cols]
            f.write(f"{(lo * hi) ** 0.5:.1f} " +
                    " ".join("-" if c is None else f"{c:.2f}" for c in cells) + "\n")
    png = "memory-sizes.png"
    # The rvslab columns thick, kmalloc's dashed on top: they coincide where
    # malloc's rounding to 16 changes no class.
    style = {KMALLOC: "lw 2 dt 2 lc rgb 'red'", "rvslab": "lw 3 lc rgb 'dark-red'"}
    lines = [f'"{dat}" using 1:{i + 2} with linespoints {style.get(a, "lw 1")} '
             f'title "{MEM_LABEL.get(a, a)}"' for i, a in enumerate(cols)]
    lines = lines[1:2] + lines[:1] + lines[2:]  # kmalloc drawn after the preload line
    script = f"""
set terminal pngcairo size 1400,600 noenhanced font ",10"
set output "{os.path.join(outdir, png)}"
set title "util = requested / held at peak, by block size (higher is better) — {platform.node()}"
set datafile missing "-"
set logscale x 2
set xrange [1:65536]
set yrange [0:110]
set xlabel "block size (bytes, middle of the group)"
set ylabel "util %"
set grid
set key bottom right
plot {", ".join(lines)}, \\
     {GOAL} with lines dashtype 2 lc rgb "black" title "goal {GOAL}%"
"""
    p = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr, file=sys.stderr)
        return None
    return png


def leak_check(mem):
    """Failures: an rvslab column holding frames after free-all + reclaim, or not measured."""
    bad = [f"{a}/{w} holds {m['held_after'] / 4096:.0f} pages after free-all + reclaim"
           for (a, w), m in sorted(mem.items()) if a in RVSLAB_COLS and m["held_after"]]
    bad += [f"{a}/{w} not measured" for a in RVSLAB_COLS for w in MEM_WORKLOADS
            if (a, w) not in mem]
    return bad


def machine():
    cpu = "?"
    try:
        cpu = re.search(r"^model name\s*:\s*(.*)$", open("/proc/cpuinfo").read(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    vers = []
    for pkg in ["libc6"] + [p for _, p, _ in PEERS]:
        v = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                           text=True).stdout if shutil.which("dpkg-query") else ""
        vers.append(f"{pkg} {v or '?'}")
    return (f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}; " + ", ".join(vers))


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default="build/host/malloc_bench")
    ap.add_argument("--shim", default="build/host/librvslab.so")
    ap.add_argument("--out", default="build/bench" if QUICK else "bench/results")
    o = ap.parse_args()
    os.makedirs(o.out, exist_ok=True)
    t0, load0 = time.time(), loadavg()
    global SHIM
    SHIM = os.path.abspath(o.shim)
    if not os.path.exists(SHIM):
        sys.exit(f"run.py: {SHIM} not built")
    allocs = [("rvslab", SHIM), ("glibc", None)]
    missing = []
    for name, pkg, soname in PEERS:
        path = find_lib(pkg, soname)
        (allocs.append((name, path)) if path else missing.append(name))
    ns, ticks = time_all(o.bench, allocs)
    mem = mem_all(o.bench, allocs)
    curve = size_curve(o.bench, [(KMALLOC, SHIM)] + allocs)
    iop, notes = ({}, {}) if QUICK else callgrind_all(o.bench, allocs, o.out)
    pngs = plots(allocs, ns, o.out)
    names = [a for a, _ in allocs]
    curve_png = curve_plot(names, curve, o.out)
    mem_md = memory_section(names, mem, curve_png)

    md = [f"# Host malloc bench{' (BENCH_QUICK: tiny sizes, numbers mean nothing)' if QUICK else ''}",
          "", f"Machine: {machine()}.",
          f"Median of {RUNS} run(s); one op = one malloc + one free; ns/op from CLOCK_MONOTONIC "
          "around the loop (harness loop included); instr/op from callgrind with the empty-stub "
          "loop subtracted; util = bytes requested / bytes held, shown when at least "
          f"{UTIL_MIN >> 10} KiB are live (rvslab: frames taken from its buddy allocator; others: "
          "RSS growth, every page of each block touched); held after free-all: rvslab after "
          "slab_reclaim, others RSS. rvslab's heap is address space reserved in pieces "
          "(512 KiB first, doubling to 16 MiB, then a quarter of the heap or more) and its "
          "pages fault at first touch, outside the timed malloc; the others fault (and call "
          "mmap/brk) inside theirs.",
          "", f"ns/op (× {BASE}):", "", summary(allocs, ns), "", "All numbers:", "",
          table(allocs, ns, iop, mem), "",
          f"## chunk workload (rslab's simple-chunk-allocator bench): ticks per call", "",
          ticks_table(allocs, ticks), ""] + mem_md
    if missing:
        md += [f"Not measured (library not found): {', '.join(missing)}.", ""]
    for w, rows in notes.items():
        md += [f"## callgrind: rvslab {w}, instructions per op by function (self cost)", "",
               "| function | Ir/op |", "|---|---:|"] + \
              [f"| {fn} | {v:.1f} |" for fn, v in rows] + [""]
    md += [f"![ns per op](host-ns.png)" if "host-ns.png" in pngs else "",
           f"![ratio to {BASE}](host-ratio.png)" if "host-ratio.png" in pngs else "",
           "", f"Took {time.time() - t0:.0f} s. Load average just before the run: {load0} "
          "(well above 0 means other work shared the cores: instr/op is exact regardless, "
          "ns/op is not)."]
    text = "\n".join(md) + "\n"
    open(os.path.join(o.out, "host.md"), "w").write(text)
    mmd = [f"# Host memory bench{' (BENCH_QUICK: tiny sizes, numbers mean nothing)' if QUICK else ''}",
           "", f"Machine: {machine()}. Written by bench/run.py with host.md.", ""] + mem_md
    if curve:
        mmd += ["Util at peak by size group (%):", ""] + curve_table(names, curve) + [""]
    open(os.path.join(o.out, "memory.md"), "w").write("\n".join(mmd) + "\n")
    json.dump({"ns": {f"{a}/{w}": v for (a, w), v in ns.items()},
               "instr": {f"{a}/{w}": v for (a, w), v in iop.items()},
               "mem": {f"{a}/{w}": v for (a, w), v in {**mem, **curve}.items()},
               "ticks": {f"{a}/{w}": v for (a, w), v in ticks.items()}},
              open(os.path.join(o.out, "host.json"), "w"), indent=1)
    print(text)
    bad = leak_check({**mem, **curve})
    for b in bad:
        print(f"FAIL: {b}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
