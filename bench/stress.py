#!/usr/bin/env python3
"""The threaded stress (bench/preload/stress.c) on librvslab.so, and beside it
on glibc, mimalloc, jemalloc and tcmalloc.

  bench/stress.py --stress BIN --shim librvslab.so --check
      make test: rvslab only, at a small size and in 6 rounds; every thread
      count must run to the end with no corrupted block, its peak RSS within
      RSS_PER_LIVE times the most its blocks held (+128 MiB), and its page
      faults within FAULTS_PER_PAGE per page of peak RSS. Exit 1 otherwise.
  bench/stress.py --stress BIN --shim librvslab.so [--out DIR]
      make stress-bench: every allocator at every thread count, one after
      another in one run; CPU seconds and peak RSS, and rvslab's as ratios
      to glibc's (goal: at most 1.5 of each). Writes DIR/stress.md.
  bench/stress.py --spawn BIN --empty empty.so --shim librvslab.so [--out DIR]
      make spawn-bench: a fork+exec chain of 301 processes
      (bench/preload/spawn.c) on every allocator and on a library with no
      code (empty.so), the least CPU of SPAWN_RUNS (or SPAWN_TURNS) runs taken in turns, and
      the chain's page faults (goal: rvslab within 1.1 of glibc's CPU).
      Writes DIR/spawn.md.
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import PEERS, find_lib  # noqa: E402

# (threads, ops per thread) at each size: about the same work at each count.
CHECK = [(8, 1000), (64, 150), (100, 100), (200, 50), (1000, 10)]
CHECK_ROUNDS = 6
BENCH = [(8, 20000), (64, 5000), (100, 3000), (200, 2000), (1000, 500)]
GOAL = 1.5
SPAWN, SPAWN_GOAL, SPAWN_RUNS = 300, 1.1, 5
# glibc, rvslab and empty run this many turns: the goal's ratio moves a lot
SPAWN_TURNS = 15
LINE = re.compile(r"(\d+) ops, (\d+) bad, cpu ([\d.]+) s, peak rss (\d+) KiB, "
                  r"peak live (\d+) KiB, (\d+) faults")
# make test: the heap may hold at most this many times what the blocks held at
# their peak, plus 128 MiB (a heap that grows against itself reaches 20 times).
RSS_PER_LIVE = 3
# make test: page faults per page of peak RSS. A heap that gives its memory
# back at the end of each round and faults it in again in the next takes
# one per page per round (4.8-14 in 6 rounds); one that keeps what a
# cycling program takes again, about 2 (the first round's, and the second's
# before the cycle is seen).
FAULTS_PER_PAGE = 3


def run(stress, preload, threads, ops, timeout, rounds=3):
    """(cpu s, peak rss KiB, peak live KiB, faults) of one run, or an error string."""
    env = dict(os.environ)
    if preload:
        env["LD_PRELOAD"] = preload
    try:
        p = subprocess.run([stress, str(threads), str(ops), str(rounds)], env=env, capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"did not finish in {timeout} s"
    m = LINE.search(p.stdout)
    if p.returncode != 0 or not m:
        return f"exit {p.returncode}: {(p.stderr or p.stdout).strip()[-300:]}"
    if int(m.group(2)) != 0:
        return f"{m.group(2)} corrupted blocks"
    return float(m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6))


def check(args):
    failed = 0
    for threads, ops in CHECK:
        r = run(args.stress, args.shim, threads, ops, args.timeout, CHECK_ROUNDS)
        what = f"{threads} threads x {ops} ops x {CHECK_ROUNDS} rounds"
        if not isinstance(r, str):
            per_page = r[3] / (r[1] / 4)  # 4 KiB pages
            if r[1] > RSS_PER_LIVE * r[2] + (128 << 10):
                r = (f"peak rss {r[1] >> 10} MiB for {r[2] >> 10} MiB of blocks at most "
                     f"(want at most {RSS_PER_LIVE}x + 128 MiB)")
            elif per_page > FAULTS_PER_PAGE:
                r = (f"{r[3]} page faults, {per_page:.1f} per page of peak rss (want at most "
                     f"{FAULTS_PER_PAGE}: memory given back and faulted in again each round)")
        if isinstance(r, str):
            print(f"not ok stress-{threads}: {what}: {r}")
            failed = 1
        else:
            print(f"ok stress-{threads}: {what}, no corrupted block, peak rss {r[1] >> 10} MiB "
                  f"for {r[2] >> 10} MiB of blocks, {per_page:.1f} faults a page (cpu {r[0]:.1f} s)")
    return failed


def bench(args):
    allocs = allocators(args)
    rows = []
    for threads, ops in BENCH:
        res = {}
        for name, lib in allocs:
            res[name] = run(args.stress, lib, threads, ops, args.timeout)
            print(f"stress {threads} threads x {ops} ops: {name}: {res[name]}", flush=True)
        rows.append((threads, ops, res))
    names = [n for n, _ in allocs]
    out = ["# The threaded stress: CPU time and peak RSS", "",
           "bench/preload/stress.c (each thread: random malloc/free/realloc of 1 B..1 MiB, "
           "log-uniform, every block's pattern checked, 1 free in 5 cross-thread, 3 rounds of "
           "threads), one allocator after another in one run (`make bench`). CPU is user + system "
           f"seconds; the ratios are rvslab's to glibc's (goal: at most {GOAL}).", "",
           "| threads x ops | " + " | ".join(f"{n} cpu s / MiB" for n in names) +
           " | rvslab/glibc cpu | rvslab/glibc rss | goal met |",
           "|---" * (len(names) + 4) + "|"]
    for threads, ops, res in rows:
        cells = []
        for n in names:
            r = res[n]
            cells.append(r if isinstance(r, str) else f"{r[0]:.1f} / {r[1] >> 10}")
        g, v = res["glibc"], res["rvslab"]
        if isinstance(g, str) or isinstance(v, str):
            ratio = ["-", "-", "no"]
        else:
            c, m = v[0] / g[0], v[1] / g[1]
            ratio = [f"{c:.2f}", f"{m:.2f}", "yes" if c <= GOAL and m <= GOAL else "no"]
        out.append(f"| {threads} x {ops} | " + " | ".join(cells + ratio) + " |")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "stress.md"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))
    return 0


def allocators(args):
    allocs = [("glibc", None), ("rvslab", args.shim)]
    for name, pkg, soname in PEERS:
        lib = find_lib(pkg, soname)
        if lib:
            allocs.append((name, lib))
    return allocs


def spawn_run(spawn, lib):
    """(cpu s, page faults) of one whole chain, or None."""
    env = dict(os.environ)
    if lib:
        env["LD_PRELOAD"] = lib
    p = subprocess.run([spawn, str(SPAWN), "top"], env=env, capture_output=True, text=True)
    m = re.search(r"cpu ([\d.]+) s, (\d+) page faults", p.stdout)
    return (float(m.group(1)), int(m.group(2))) if p.returncode == 0 and m else None


def spawn(args):
    """The least CPU of SPAWN_RUNS runs each (glibc, rvslab and empty:
    SPAWN_TURNS), the allocators taking turns; and the median over the turns
    of rvslab's CPU over glibc's in the same turn."""
    allocs = allocators(args) + [("empty", os.path.abspath(args.empty))]
    best, turns = {}, []
    for k in range(SPAWN_TURNS):
        turn = {}
        for name, lib in allocs:
            if k >= SPAWN_RUNS and name not in ("glibc", "rvslab", "empty"):
                continue
            v = turn[name] = spawn_run(args.spawn, lib)
            if v is not None and (name not in best or v[0] < best[name][0]):
                best[name] = v
            print(f"spawn {name}: {v}", flush=True)
        if turn.get("glibc") and turn.get("rvslab"):
            turns.append(turn["rvslab"][0] / turn["glibc"][0])
    names = [n for n, _ in allocs]
    g, v, e = best.get("glibc"), best.get("rvslab"), best.get("empty")
    ratio = f"{v[0] / g[0]:.2f}" if g and v else "-"
    to_empty = f"{v[0] / e[0]:.2f}" if e and v else "-"
    med = sorted(turns)[len(turns) // 2] if turns else None
    per_turn = f"{med:.2f} ({min(turns):.2f}-{max(turns):.2f})" if turns else "-"
    met = "yes" if med is not None and med <= SPAWN_GOAL else "no"
    out = ["# A fork+exec chain", "",
           f"bench/preload/spawn.c: {SPAWN + 1} processes, each makes 32 small blocks, forks, "
           "execs the next and waits; CPU seconds (user + system) and page faults of the whole "
           f"chain, the least CPU of {SPAWN_TURNS} runs (glibc, rvslab, empty) or {SPAWN_RUNS} "
           "(the others) taken in turns (`make spawn-bench`). \"empty\" is a library with no "
           "code (bench/preload/empty.c), preloaded the same way: what LD_PRELOAD alone costs. "
           "\"per turn\": the median (and range) over the turns of rvslab's CPU over glibc's in "
           f"the same turn, which the goal is judged by: at most {SPAWN_GOAL}.", "",
           "| " + " | ".join(f"{n} cpu s / faults" for n in names) +
           " | rvslab/glibc, least | rvslab/glibc, per turn | rvslab/empty | goal met |",
           "|---" * (len(names) + 4) + "|",
           "| " + " | ".join(f"{best[n][0]:.3f} / {best[n][1]}" if n in best else "-"
                             for n in names) + f" | {ratio} | {per_turn} | {to_empty} | {met} |"]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "spawn.md"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stress")
    ap.add_argument("--shim", required=True)
    ap.add_argument("--spawn")
    ap.add_argument("--empty")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    args.shim = os.path.abspath(args.shim)
    if args.spawn:
        if not args.empty:
            ap.error("--spawn wants --empty LIB too")
        sys.exit(spawn(args))
    if not args.stress:
        ap.error("--stress BIN is needed")
    sys.exit(check(args) if args.check else bench(args))


if __name__ == "__main__":
    main()
