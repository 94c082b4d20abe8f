#!/usr/bin/env python3
"""Draw docs/figures/ from what the real kernel prints.

    scripts/figures.py [--kernel build/kernel.elf] [--out docs/figures]
    scripts/figures.py --check [--out build/figures]     (make test: docs-figures)

Boots QEMU twice with the bootarg "figures=..." (kernel/figures.c): one hart
for the buddy, slab, kmalloc and debug data, four harts for the boot and
per-CPU data. Both run under -icount shift=0,sleep=off, so that one thread
runs the harts in a fixed order and every run prints the same thing. Every
"@fig SECTION ..." line is data; this script only lays it out.

--check writes the figures into --out (build/figures) and compares each .txt
with the one checked in under docs/figures/; hex addresses (0x8...) count
as equal, so a figure fails only when what it shows has changed. Run
`make figures` to accept a change. Exit status 0 on a match, 1 if not.
"""

import argparse
import glob
import difflib
import os
import re
import subprocess
import sys

OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
RUNS = {
    # name: (harts, bootargs)
    "one": (1, "figures=buddy,slab,kmalloc,debug"),
    "four": (4, "figures=boot,percpu"),
}
REGEN = "make figures (scripts/figures.py)"
PAGE = 4096


def qemu_cmd(kernel, harts, args):
    return ["qemu-system-riscv64", "-machine", "virt", "-bios", OPENSBI, "-kernel", kernel,
            "-m", "128M", "-smp", str(harts), "-nographic", "-no-reboot",
            "-icount", "shift=0,sleep=off", "-append", args]


def boot(kernel, harts, args):
    cmd = qemu_cmd(kernel, harts, args)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60, text=True, errors="replace")
    out = r.stdout.replace("\r", "")
    if r.returncode != 0 or "FAILED" in out:
        sys.stderr.write(out)
        sys.exit(f"figures: the kernel run ({' '.join(cmd)}) failed, exit {r.returncode}")
    return out.splitlines()


def fields(line):
    """'@fig sec kind a=1 b=x' -> ('sec', 'kind', {'a': '1', 'b': 'x'}); 'what=' takes the rest."""
    words = line.split(" ")
    sec, kind, kv = words[1], words[2], {}
    rest = line.split(" ", 3)[3] if len(words) > 3 else ""
    m = re.search(r"\bwhat=(.*)$", rest)
    if m:
        kv["what"] = m.group(1)
        rest = rest[:m.start()]
    for w in rest.split():
        if "=" in w:
            k, v = w.split("=", 1)
            kv[k] = v
    return sec, kind, kv


def records(lines, sec, kind=None):
    out = []
    for ln in lines:
        if ln.startswith("@fig "):
            s, k, kv = fields(ln)
            if s == sec and (kind is None or k == kind):
                out.append(kv)
    return out


def header(title, harts, args, lines=()):
    h = [title, "=" * len(title), "",
         f"From the real kernel: qemu virt -smp {harts} -m 128M -icount shift=0,sleep=off,",
         f'bootargs "{args}" (kernel/figures.c). Regenerate: {REGEN}.', ""]
    return h + list(lines)


# ---- boot-harts.txt ----

HSM = {"0": "STARTED", "1": "STOPPED", "2": "START_PENDING", "3": "STOP_PENDING",
       "4": "SUSPENDED", "5": "SUSPEND_PENDING", "6": "RESUME_PENDING"}


def fig_boot(lines):
    # These lines have no kind word: "@fig boot cpu=0 hart=0 ..."
    info = {k: v for w in lines if w.startswith("@fig boot harts=")
            for k, v in (x.split("=") for x in w.split()[2:])}
    cpus = [{k: v for k, v in (x.split("=") for x in w.split()[2:])}
            for w in lines if w.startswith("@fig boot cpu=")]
    off = [{k: v for k, v in (x.split("=") for x in w.split()[3:])}
           for w in lines if w.startswith("@fig boot offline ")]
    n, boot_hart = info["ncpu"], info["boot_hart"]
    out = header("Harts and cpus at boot", 4, RUNS["four"][1], [
        f"{info['harts']} harts in the device tree's /cpus; {n} came up as cpus "
        f"(NCPU={info['NCPU']}).",
        f"OpenSBI chose hart {boot_hart} as the boot hart (it may choose another on",
        "another run; under -icount it is the same every time).", "",
        "  hart id   tp   sscratch   cpu index   how it started                 HSM status",
        "  -------   --   --------   ---------   ----------------------------   ----------"])
    for c in cpus:
        how = ("OpenSBI jumped to _start" if c["cpu"] == "0"
               else f"HSM hart_start #{c['cpu']}, opaque = {c['cpu']}")
        out.append(f"  {c['hart']:<9} {c['tp']:<4} {c['sscratch']:<10} {c['cpu']:<11} "
                   f"{how:<30} {HSM.get(c['hsm_status'], c['hsm_status'])}")
    for h in off:
        out.append(f"  {h['hart']:<9} -    -          -           never started (skipped or "
                   f"parked)   {HSM.get(h['hsm_status'], h['hsm_status'])}")
    chain = " --> ".join(f"hart {c['hart']}" + (" (boot)" if c["cpu"] == "0" else "")
                         for c in cpus)
    out += ["", "Start order (one hart at a time; the boot hart waits until each is online):",
            "", "  " + chain, "",
            "  boot hart                         started hart",
            "  ---------                         ------------",
            "  sbi_hart_start(hart, secondary_entry, cpu) ---> secondary_entry:",
            "                                                    tp       <- a0 (hart id)",
            "                                                    sscratch <- a1 (cpu index)",
            "                                                    sp       <- top of cpu_stacks[cpu]",
            "  waits for cpus[cpu].online  <------------------  secondary_main() sets it",
            ""]
    return out


# ---- buddy-split-merge.txt ----

def fig_buddy(lines):
    aside = records(lines, "buddy", "aside")[0]
    lists = records(lines, "buddy", "list")
    # op= is a call as written in C, spaces and all: it runs up to " pfn=".
    ops = []
    for w in lines:
        m = re.match(r"@fig buddy op=(.*?) (pfn=.*)$", w)
        if m:
            ops.append({"op": m.group(1),
                        **{k: v for k, v in (x.split("=", 1) for x in m.group(2).split())}})
    steps = []
    for r in lists:
        if r["step"] not in steps:
            steps.append(r["step"])
    by = {s: [r for r in lists if r["step"] == s] for s in steps}
    out = header("The buddy allocator: split, merge, and exact n-frame allocation", 1,
                 RUNS["one"][1], [
                     f"First every free block below order 12 was put aside ({aside['blocks']} "
                     f"blocks, {aside['frames']} frames),",
                     "so the run starts from whole 16 MiB blocks (order 12) only. Lists show "
                     "pfns",
                     "(physical address >> 12), the next block to be taken first.", ""])
    titles = {"start": "Start: only order-12 blocks are free",
              "alloc_pages": "After alloc_pages(GFP_KERNEL, 0)",
              "free_pages": "After free_pages(that page, 0)",
              "alloc_frames": "After alloc_frames(GFP_KERNEL, 11)",
              "free_frames": "After free_frames(those 11 frames)"}
    opname = {"alloc_pages": "alloc_pages(GFP_KERNEL, 0)", "free_pages": "free_pages(0)",
              "alloc_frames": "alloc_frames(GFP_KERNEL, 11)", "free_frames": "free_frames(11)"}
    for s in steps:
        out.append(titles.get(s, s))
        out.append("-" * len(out[-1]))
        op = next((o for o in ops if o["op"] == opname.get(s)), None)
        if op:
            what = (f"{op['splits']} splits" if "splits" in op else f"{op['merges']} merges")
            out.append(f"  {op['op']} at pfn {op['pfn']}: {what}")
        empty = []
        for r in by[s]:
            if r["count"] == "0":
                empty.append(r["order"])
                continue
            pf = r["pfns"].replace(",", " ")
            more = int(r["count"]) - len(r["pfns"].split(","))
            out.append(f"  order {int(r['order']):>2} ({PAGE << int(r['order']) >> 10:>5} KiB): "
                       f"{pf}{f' (+{more} more)' if more > 0 else ''}")
        if empty:
            out.append(f"  orders {','.join(empty)}: empty" if len(empty) > 1
                       else f"  order {empty[0]}: empty")
        if s == "alloc_frames":
            out += frame_map(by[s], op)
        out.append("")
    return out


def frame_map(rows, op):
    """The first 16 frames of the split block: which are taken, which free blocks follow."""
    base = int(op["pfn"], 16)
    n = int(op["frames"])
    state = ["A" if k < n else "?" for k in range(16)]
    for r in rows:
        for p in r["pfns"].split(","):
            if p == "-":
                continue
            p = int(p, 16) - base
            o = int(r["order"])
            for k in range(p, min(p + (1 << o), 16)):
                if 0 <= k:
                    state[k] = f"f{o}" if k == p else "."
    return ["", f"  The first 16 frames from pfn {op['pfn']} (A: one of the {n} frames taken;",
            "  fN: first frame of a free block of order N; .: rest of that block):", "",
            "  frame  " + " ".join(f"{k:>2}" for k in range(16)),
            "  state  " + " ".join(f"{s:>2}" for s in state)]


# ---- slab-layout.txt ----

def bar(width, regions, total):
    """One char per total/width bytes; regions: list of (start, end, char-or-func)."""
    out = []
    for k in range(width):
        b = k * total // width + total // width // 2
        ch = " "
        for start, end, c in regions:
            if start <= b < end:
                ch = c(b) if callable(c) else c
        out.append(ch)
    return "|" + "".join(out) + "|"


def fig_slab(lines):
    caches = {r["name"]: r for r in records(lines, "slab", "cache")}
    colours = records(lines, "slab", "colour")
    chain = records(lines, "slab", "chain")[0]
    offs = records(lines, "slab", "offslab")[0]
    rules = records(lines, "slab", "rule")
    on, off, ct = caches["fig-296"], caches["fig-1024"], caches["fig-240-ctor"]
    num, stride = int(on["num"]), int(on["stride"])
    out = header("A slab's anatomy", 1, RUNS["one"][1])
    out += [f"On-slab: {on['name']} ({on['object']}-byte objects, stride {stride}, order "
            f"{on['order']}: {num} objects per {PAGE << int(on['order'])}-byte slab)",
            "-" * 72,
            f"  struct slab (the descriptor) sits in the slab: {on['mgmt']} bytes. "
            f"Left over: {on['left']} bytes,",
            f"  so {on['colour']} colours, {on['colour_off']} bytes apart. Slabs made one "
            "after the other:", "",
            "  slab  colour  descriptor at  objects at  objects end  tail   (bytes from the "
            "slab's start)"]
    for c in colours:
        end = int(c["objects_end"])
        out.append(f"  {c['slab']:>4}  {c['colour_bytes']:>6}  {c['desc_at']:>13}  "
                   f"{c['objects_at']:>10}  {end:>11}  {int(c['slab_bytes']) - end:>4}")
    out += ["", "  The same, one character per 64 bytes (c: colour gap, D: descriptor,",
            "  o/O: objects, alternating, .: tail):", ""]
    for c in colours:
        col, at, end = int(c["colour_bytes"]), int(c["objects_at"]), int(c["objects_end"])
        regions = [(0, col, "c"), (col, at, "D"),
                   (at, end, lambda b, at=at: "oO"[((b - at) // stride) % 2]),
                   (end, PAGE, ".")]
        out.append(f"  slab {c['slab']} " + bar(64, regions, PAGE))
    out += ["", "  The free chain lives in the free objects: each free object's first word "
            "(its",
            "  bufctl) is the index of the next free object. A new slab's chain is empty",
            "  and all its objects are fresh: slab->fresh, the first never handed out, counts",
            "  up from 0, so a slab's memory is not written until its objects are used.",
            "  Slab 0 after objects 5, 2 and 9 came back (in that order) and",
            "  kmem_cache_shrink drained the array:", ""]
    ch = chain["chain"].split(",")
    out.append(f"  slab->free = {chain['free']}, slab->fresh = {chain['fresh']}   "
               f"({chain['inuse']} of {num} objects out)")
    out.append("  " + "  ->  ".join(f"obj {i} [word 0 = {nxt}]" for i, nxt in zip(ch, ch[1:])))
    out += ["",
            f"Off-slab: {off['name']} ({off['object']}-byte objects, {off['num']} per "
            f"{PAGE << int(off['order'])}-byte slab)",
            "-" * 72,
            f"  The descriptor is a {off['desc']}-byte object of {offs['desc_in']}: on-slab it "
            "would cost",
            "  an object (4056 bytes hold 3 of 1024). No tail, so one colour.", "",
            f"  {offs['desc_in']} object          slab (objects start at byte "
            f"{offs['objects_at']})",
            "  +--------------+         0       1024      2048      3072      4096",
            "  | struct slab  | s_mem   +---------+---------+---------+---------+",
            "  |  s_mem ------+-------->|  obj 0  |  obj 1  |  obj 2  |  obj 3  |",
            "  |  free, inuse |         +---------+---------+---------+---------+",
            "  +--------------+", "",
            f"With a constructor: {ct['name']} ({ct['object']}-byte objects, stride "
            f"{ct['stride']}, {ct['num']} per slab)",
            "-" * 72,
            "  A constructed free object must keep its bytes, so its bufctl gets a word of",
            f"  its own past the object (bufctl_off {ct['bufctl_off']}); the stride grows "
            f"from {ct['object']} to {ct['stride']}:", "",
            f"  0{' ' * 34}{ct['bufctl_off']}    {int(ct['bufctl_off']) + 4}   "
            f"{ct['stride']}",
            "  +-----------------------------------+------+-----+",
            "  | object (what the ctor built)      |bufctl| pad |",
            "  +-----------------------------------+------+-----+", "",
            "The waste rule: the smallest order that wastes under 1/8",
            "-" * 72,
            "  A slab costs 2^order frames (plus an off-slab descriptor's object); waste is",
            "  everything that is not an object's stride. What kmem_cache_layout() chose:", "",
            "   size  stride  order  objects  descriptor         tail  used"]
    for r in rules:
        cost = (PAGE << int(r["order"])) + int(r["desc"])
        used = int(r["num"]) * int(r["stride"]) / cost
        where = f"off-slab ({r['desc']} B)" if r["off_slab"] == "1" else f"on-slab ({r['mgmt']} B)"
        out.append(f"  {r['size']:>5}  {r['stride']:>6}  {r['order']:>5}  {r['num']:>7}  "
                   f"{where:<17} {r['left']:>5}  {100 * used:5.1f}%")
    out.append("")
    return out


# ---- kmalloc-classes.txt (+ .png) ----

def kmalloc_rows(lines):
    rows = []
    for r in records(lines, "kmalloc", "class"):
        cost = (PAGE << int(r["order"])) + int(r["desc"])
        r["used"] = 100 * int(r["num"]) * int(r["size"]) / cost
        rows.append(r)
    return rows


def fig_kmalloc(lines):
    rows = kmalloc_rows(lines)
    out = header("kmalloc's size classes", 1, RUNS["one"][1], [
        f"{len(rows)} classes: 8..64 bytes by 8, then every power of two cut in 8 steps.",
        "used = objects x size / (slab bytes + off-slab descriptor): the share of what",
        "a slab costs that holds objects. Above 32 KiB kmalloc takes frames from the",
        "buddy allocator.", "",
        "  class           size  align  order  objects  descriptor  colours   used"])
    for r in rows:
        desc = f"off ({r['desc']} B)" if r["off_slab"] == "1" else "on"
        out.append(f"  {r['name']:<14} {r['size']:>5}  {r['align']:>5}  {r['order']:>5}  "
                   f"{r['num']:>7}  {desc:<10}  {r['colour']:>7}  {r['used']:5.1f}%")
    worst = min(rows, key=lambda r: r["used"])
    out += ["", f"Lowest: {worst['name']} at {worst['used']:.1f}% (the rule: above 87.5%).", "",
            "Which class a request gets (the two byte tables, by 8 bytes up to 1 KiB and",
            "by 128 bytes up to 32 KiB):", ""]
    for r in records(lines, "kmalloc", "lookup"):
        out.append(f"  kmalloc({r['size']:>5}) -> {r['class']}")
    big = records(lines, "kmalloc", "large")[0]
    out += ["", f"  kmalloc({big['size']}) -> {big['frames']} frames from alloc_frames(), "
            f"ksize {big['ksize']}", "", "krealloc: in place while it fits and is more than a "
            "quarter used; a large block", "grows or shrinks over the frames after it:", ""]
    for r in records(lines, "kmalloc", "krealloc"):
        out.append(f"  krealloc(kmalloc({r['from']:>5}), {r['to']:>5}): ksize {r['had']:>5} -> "
                   f"{r['now']:>5}, {'moved (copied)' if r['moved'] == '1' else 'in place'}")
    out.append("")
    return out


def plot_kmalloc(lines, png):
    rows = kmalloc_rows(lines)
    data = "\n".join(f"{r['size']} {r['used']:.2f} {r['order']}" for r in rows)
    script = f"""
set terminal pngcairo size 900,420 font ",10" noenhanced
set output '{png}'
set title "kmalloc classes: share of a slab's cost that holds objects (from the real kernel)"
set logscale x 2
set xlabel "class size (bytes)"
set ylabel "used (%)"
set yrange [85:101]
set grid
set key bottom left
plot '-' using 1:2 with linespoints pt 7 ps 0.6 title "used", \\
     87.5 with lines dt 2 title "87.5% (the waste rule)"
{data}
e
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


# ---- percpu-arrays.txt ----

def fig_percpu(lines):
    arrays = records(lines, "percpu", "array")
    lsts = {r["cache"]: r for r in records(lines, "percpu", "lists")}
    drain = records(lines, "percpu", "drain")
    trace = records(lines, "percpu", "trace")
    geo = records(lines, "percpu", "cache")[0]
    out = header("Per-CPU arrays", 4, RUNS["four"][1], [
        "Workload: each cpu in turn (cpu 0, 1, 2, 3) allocates 40 + 30 x cpu objects",
        "of each cache and frees all but 10 of them. Then each cpu's array, and the",
        "objects in its spare array; last, the sheaves the cache's barn holds:", ""])
    caches = []
    for r in arrays:
        if r["cache"] not in caches:
            caches.append(r["cache"])
    for c in caches:
        rs = [r for r in arrays if r["cache"] == c]
        l = lsts[c]
        out.append(f"  {c}: limit {rs[0]['limit']}, batchcount {rs[0]['batch']}; slab lists: "
                   f"{l['full']} full, {l['partial']} partial, {l['free']} free "
                   f"({l['free_objects']} free objects)")
        lim = int(rs[0]["limit"])
        for r in rs:
            n = int(r["avail"])
            w = 40 * n // lim
            out.append(f"    cpu {r['cpu']}  avail {n:>3}/{lim:<3} [{'#' * w}{' ' * (40 - w)}]"
                       f"  spare {r.get('spare', '0'):>3}")
        out.append(f"    barn   {l['barn_full']} full and {l['barn_empty']} empty sheaves "
                   f"(at most {l['barn_max']} of each)")
        out.append("")
    out += ["Remote drain: kmem_cache_shrink(fig-64) on cpu 0 asks every cpu, by",
            "cross-call (on_each_cpu(drain_local)), to empty its own array and spare:", ""]
    for r in drain:
        if "cpu" in r:
            out.append(f"    cpu {r['cpu']}  avail now {r['avail']:>3}   cross-call functions "
                       f"run for others: {r['calls_run']}")
        else:
            out.append(f"    empty slabs given back: {r['pages_freed']} page(s)")
    out += ["", f"A trace on cpu 0: cache {geo['name']} ({geo['num']} objects per slab, limit "
            f"{geo['limit']}, batchcount {geo['batch']});",
            "130 kmem_cache_alloc, then 130 kmem_cache_free. Only the calls that went",
            "to the slab lists are shown; all the others touched the array alone, or",
            "swapped it with the spare.", "",
            "  call         event   moved  avail before -> after   slabs full/partial/free  "
            "made"]
    for t in trace:
        if "op" not in t:
            continue
        arrow = "lists -> array" if t["event"] == "refill" else "array -> lists"
        out.append(f"  {t['op']:<5} #{t['n']:<5} {t['event']:<7} {t['moved']:>5}  "
                   f"{t['avail_before']:>6} -> {t['avail_after']:<6}      "
                   f"{t['full']:>4}/{t['partial']}/{t['free']:<14}  {t['grows']:>3}   {arrow}")
    end = [t for t in trace if "avail" in t and "op" not in t]
    if end:
        out.append(f"  at the end {end[0]['avail']} objects wait in the array and "
                   f"{end[0].get('spare', '0')} in the spare")
    out.append("")
    return out


# ---- debug-report.txt ----

def fig_debug(lines):
    geo = records(lines, "debug", "cache")[0]
    dumps = {r["label"]: r for r in records(lines, "debug", "dump")}
    out = header("Debugging: red zones, poison and reports", 1, RUNS["one"][1], [
        f"Cache {geo['name']}: kmem_cache_create(..., 40, 0, SLAB_RED_ZONE | SLAB_POISON |",
        f"SLAB_STORE_USER | SLAB_CONSISTENCY, NULL): stride {geo['stride']} for a 40-byte "
        "object.", ""])
    d = dumps["allocated"]
    rl, obj, re_, bo, to = (int(d[k]) for k in ("red_left", "object", "red_end", "bufctl_off",
                                               "track_off"))
    out += ["  One object's stride (offsets from the object's first byte):", "",
            f"  -{rl:<6}0{' ' * 22}{obj:<6}{re_:<7}{bo + 4:<6}{to:<4}{int(d['stride']) - rl}",
            "  | left  | object ...           | right | bufctl|(pad)| two tracks |",
            "  | zone  |                      | zone  |       |     | alloc, free|", ""]

    def region(off):
        if off < 0:
            return "left red zone"
        if off < obj:
            return "object"
        if off < re_:
            return "right red zone"
        return "bufctl (0xfffffffe = out; else the next free index)"

    for label, what in (("allocated", "an allocated object (memset to 0x11)"),
                        ("free", "a free object (poisoned: 0x6b, last byte 0xa5)")):
        out.append(f"  Bytes of {what}:")
        for ln in lines:
            if ln.startswith(f"@fig debug bytes label={label} "):
                off = int(re.search(r"offset=(-?\d+)", ln).group(1))
                hexs = ln.split("hex=", 1)[1]
                out.append(f"    {off:>+4}: {hexs:<24}  {region(off)}")
        out.append("")
    # The reports, as printed, between the begin and end markers.
    cur = None
    for ln in lines:
        if ln.startswith("@fig debug begin "):
            _, _, kv = fields(ln)
            cur = kv["label"]
            out.append(f"Report: {kv['what']}")
            out.append("-" * len(out[-1]))
        elif ln.startswith("@fig debug end "):
            cur = None
            out.append("")
        elif cur is not None:
            out.append("  " + ln)
    v = records(lines, "debug", "validate")
    if v:
        out.append(f"slab_validate found {v[0]['found']} problem(s), repaired them; a second "
                   f"call found {v[0]['again']}.")
    out.append("")
    return out


# ---- main ----

def normalise(text):
    """What may change with any build and still leave a figure right: code
    and object addresses, and how much of RAM the boot left in small blocks
    (it moves with the kernel image's size)."""
    text = re.sub(r"0x8[0-9a-f]{7}", "0x8.......", text)
    return re.sub(r"put aside \(\d+ blocks, \d+ frames\)", "put aside (.. blocks, .. frames)", text)


# ---- the copies in the chapters ----
#
# Chapters show figures two ways: whole, between "<!-- BEGIN docs/figures/NAME
# ... -->" and "<!-- END docs/figures/NAME -->" (make figures rewrites those),
# and as excerpts, a fenced block just after a line naming figures/NAME
# (every line of it must still be a line of the figure; "..." skips lines).

EMBED = re.compile(r"(<!-- BEGIN docs/figures/([\w.-]+)[^\n]*-->\n)(.*?)(<!-- END docs/figures/\2 -->)", re.S)


def embed(text, figs):
    def sub(m):
        body = figs.get(m.group(2))
        return m.group(0) if body is None else f"{m.group(1)}```\n{body}```\n{m.group(4)}"
    return EMBED.sub(sub, text)


def stale_excerpts(text, figs):
    """(figure, line) pairs of excerpts whose line the figure no longer has."""
    bad = []
    text = EMBED.sub("", text)
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            names = re.findall(r"figures/([\w.-]+\.txt)", "\n".join(lines[max(0, i - 4):i]))
            if names and names[-1] in figs:
                have = {normalise(x).strip() for x in figs[names[-1]].split("\n")}
                for x in lines[i + 1:j]:
                    x = normalise(x).strip()
                    if x and x not in ("...", "…") and x not in have:
                        bad.append((names[-1], x))
            i = j
        i += 1
    return bad


def chapters(figs, check):
    """Rewrite (or, checking, compare) every chapter's copies; the number stale."""
    stale = 0
    for path in sorted(glob.glob("docs/*.md")):
        text = open(path).read()
        new = embed(text, figs)
        if normalise(new) != normalise(text):  # addresses move with every build
            if check:
                stale += 1
                print(f"figures: {path}: a whole copy of a figure is stale (make figures)")
            else:
                with open(path, "w") as f:
                    f.write(new)
        for name, line in stale_excerpts(new, figs):
            stale += 1
            print(f"figures: {path}: excerpt of {name} has a line the figure no longer has:\n"
                  f"    {line.strip()}")
    return stale


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel", default="build/kernel.elf")
    ap.add_argument("--out", default=None)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--no-png", action="store_true")
    a = ap.parse_args()
    out_dir = a.out or ("build/figures" if a.check else "docs/figures")
    os.makedirs(out_dir, exist_ok=True)
    runs = {name: boot(a.kernel, h, args) for name, (h, args) in RUNS.items()}
    one, four = runs["one"], runs["four"]
    figs = {"boot-harts.txt": fig_boot(four), "buddy-split-merge.txt": fig_buddy(one),
            "slab-layout.txt": fig_slab(one), "kmalloc-classes.txt": fig_kmalloc(one),
            "percpu-arrays.txt": fig_percpu(four), "debug-report.txt": fig_debug(one)}
    for name, body in figs.items():
        with open(os.path.join(out_dir, name), "w") as f:
            f.write("\n".join(body).rstrip("\n") + "\n")
    if not a.check and not a.no_png:
        plot_kmalloc(one, os.path.join(out_dir, "kmalloc-classes.png"))
    texts = {name: "\n".join(body).rstrip("\n") + "\n" for name, body in figs.items()}
    if not a.check:
        print(f"figures: wrote {len(figs)} figures to {out_dir}")
        if os.path.abspath(out_dir) == os.path.abspath("docs/figures"):
            return 1 if chapters(texts, False) else 0
        return 0
    bad = 0
    for name in figs:
        new = open(os.path.join(out_dir, name)).read()
        try:
            old = open(os.path.join("docs/figures", name)).read()
        except FileNotFoundError:
            old = ""
        if normalise(new) != normalise(old):
            bad += 1
            print(f"figures: docs/figures/{name} no longer matches the kernel:")
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), f"docs/figures/{name}",
                f"{out_dir}/{name}", n=1))
        else:
            print(f"figures: docs/figures/{name} matches")
    bad += chapters(texts, True)
    if bad:
        print(f"figures: {bad} figure(s) or copies differ: run `make figures` and look at the diff")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
