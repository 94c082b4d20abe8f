#!/usr/bin/env bash
# Real programs on rvslab's malloc: python3 (bench/preload/alloc_heavy.py),
# sqlite3 (bench/preload/sqlite.sql), bench/preload/align_check.c (every
# block aligned as promised), fork_check.c (fork from a threaded program:
# no child hangs) and free_check.c's mallinfo (the mallinfo family's
# numbers) each run on glibc's malloc and again with
# LD_PRELOAD=librvslab.so; the outputs must be the same. Then heap_check.c's
# limits, memory and faults against glibc's, and spawn.c's fork+exec chain:
# its page faults against a library with no code. Exits nonzero on a
# mismatch, a crash, a number out of bounds, or a preload that did not take
# (ld.so only warns).
#
#   bench/preload-check.sh [build/host/librvslab.so]
set -uo pipefail

shim=$(realpath "${1:-build/host/librvslab.so}") || exit 1
here=$(dirname "$0")/preload
# The real interpreter, not a version manager's shell-script shim.
py=/usr/bin/python3
[[ -x $py ]] || py=$(command -v python3)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# check NAME CMD...: run CMD without and with the preload, compare stdout+stderr.
check() {
    local name=$1
    shift
    rm -f "$tmp/db"
    if ! "$@" >"$tmp/$name.ref" 2>&1; then
        echo "not ok $name: fails even without the preload"; cat "$tmp/$name.ref"
        failed=1
        return
    fi
    rm -f "$tmp/db"
    LD_PRELOAD=$shim "$@" >"$tmp/$name.out" 2>&1
    local rc=$?
    if ((rc != 0)); then
        echo "not ok $name: exit $rc on librvslab.so"; tail -20 "$tmp/$name.out"
        failed=1
    elif ! cmp -s "$tmp/$name.ref" "$tmp/$name.out"; then
        echo "not ok $name: output differs on librvslab.so"
        diff "$tmp/$name.ref" "$tmp/$name.out" | head -20
        failed=1
    else
        echo "ok $name: $(wc -l <"$tmp/$name.out") lines, same as on glibc ($(tail -1 "$tmp/$name.out" | cut -c1-60))"
    fi
}

# The preload must really be there: the process sees rvslab's own symbol.
if ! LD_PRELOAD=$shim $py -c 'import ctypes; ctypes.CDLL(None).rvslab_held_bytes' 2>/dev/null; then
    echo "not ok preload: $shim did not load into $py"
    exit 1
fi
check python env PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 \
    $py "$here/alloc_heavy.py"
check sqlite3 sqlite3 "$tmp/db" -init /dev/null -batch -bail -cmd ".read $here/sqlite.sql" .quit
# C checks: build each, run it on both.
for c in align fork heap free; do
    if ! gcc -O1 -fno-builtin -Wall -pthread -o "$tmp/${c}_check" "$here/${c}_check.c"; then
        echo "not ok $c: bench/preload/${c}_check.c did not build"
        failed=1
    fi
done
[[ -x $tmp/align_check ]] && check align "$tmp/align_check"
[[ -x $tmp/fork_check ]] && check fork "$tmp/fork_check"
[[ -x $tmp/fork_check ]] && check fork-single "$tmp/fork_check" single
# Bad frees: each kind stops the program (abort, as glibc's checks do) with
# a report that names it; under RVSLAB_CHECK_=1 the report is made, the bad
# free ignored, and no block is then handed out twice.
if [[ -x $tmp/free_check ]]; then
    check mallinfo "$tmp/free_check" mallinfo
    for kind in "interior:pointer into an object" "double:double free" "double-big:double free" \
        "immediate:double free" "stack:invalid pointer" "global:invalid pointer" \
        "large:never handed out" "freed-big:invalid pointer" "realloc:use after free"; do
        mode=${kind%%:*} want=${kind#*:}
        out=$(LD_PRELOAD=$shim "$tmp/free_check" "$mode" 2>&1)
        rc=$?
        if ((rc == 134)) && [[ $out == *"$want"* && $out != *"went on"* ]]; then
            echo "ok bad-free-$mode: aborted with \"$want\""
        else
            echo "not ok bad-free-$mode: exit $rc (want 134, SIGABRT) and \"$want\" in: ${out:0:300}"
            failed=1
        fi
        out=$(RVSLAB_CHECK_=1 LD_PRELOAD=$shim "$tmp/free_check" "$mode" 2>&1)
        rc=$?
        if ((rc == 0)) && [[ $out == *"$want"* && $out == *"handed out twice: no"* ]]; then
            echo "ok bad-free-$mode-go-on: RVSLAB_CHECK_=1 reported it and went on, heap intact"
        else
            echo "not ok bad-free-$mode-go-on: exit $rc under RVSLAB_CHECK_=1: ${out:0:300}"
            failed=1
        fi
    done
    msg=$(RVSLAB_CHECK_=7 LD_PRELOAD=$shim "$tmp/free_check" stack 2>&1)
    if [[ $msg == *"RVSLAB_CHECK_=7: want 1"* && $msg != *"went on"* ]]; then
        echo "ok bad-free-env: RVSLAB_CHECK_=7 refused with a message, the default kept"
    else
        echo "not ok bad-free-env: RVSLAB_CHECK_=7: '${msg:0:200}'"
        failed=1
    fi
fi
if [[ -x $tmp/heap_check ]]; then
    check heap-grow "$tmp/heap_check" grow
    check heap-limit bash -c "ulimit -v 1000000 && exec $tmp/heap_check limit"
    # Under ulimit -v 200M, blocks of each size: at least 90% of what glibc
    # gives (big blocks take just their frames there, packed end to end).
    for size in 1000 40960 102400 1048576 4194304; do
        ref=$(bash -c "ulimit -v 200000 && exec $tmp/heap_check fill $size")
        out=$(LD_PRELOAD=$shim bash -c "ulimit -v 200000 && exec $tmp/heap_check fill $size")
        if [[ $ref =~ ^[0-9]+$ && $out =~ ^[0-9]+$ ]] && ((out * 10 >= ref * 9)); then
            echo "ok heap-limit-fill: ulimit -v 200M, $size-byte blocks: $((out >> 10)) MiB, glibc $((ref >> 10)) MiB"
        else
            echo "not ok heap-limit-fill: ulimit -v 200M, $size-byte blocks: '$out' KiB, glibc '$ref' KiB (want at least 90%)"
            failed=1
        fi
    done
    # The least of five runs: resident memory varies run to run (by 250 KiB
    # after the 400 MB run, on either malloc).
    least_rss() {
        local best= v
        for _ in 1 2 3 4 5; do
            v=$("$@") || return 1
            [[ $v =~ ^[0-9]+$ ]] || return 1
            [[ -z $best ]] || ((v < best)) && best=$v
        done
        echo "$best"
    }
    # Resident KiB, ours against glibc's: within SLACK KiB, or within PCT % of
    # glibc's plus SLACK.
    compare_rss() {
        local name=$1 what=$2 mode=$3 slack=$4 pct=$5 ref out
        ref=$(least_rss "$tmp/heap_check" "$mode")
        out=$(least_rss env LD_PRELOAD="$shim" "$tmp/heap_check" "$mode")
        if [[ $ref =~ ^[0-9]+$ && $out =~ ^[0-9]+$ ]] &&
            ((out <= ref + slack || out * 100 <= (ref + slack) * (100 + pct))); then
            echo "ok $name: $what ${out} KiB resident, glibc ${ref} KiB"
        else
            echo "not ok $name: $what '${out}' KiB resident, glibc '${ref}' KiB" \
                "(want within ${slack} KiB or ${pct}%)"
            failed=1
        fi
    }
    # RVSLAB_HEAP_MB caps the heap, rounded up to 16 MiB (1 MiB blocks: each takes a little more
    # than 1 MiB, so a little less than the cap in blocks); ulimit -v stops a
    # cap that is not honoured. Garbage is refused with a message, and ignored.
    for cap in 256M:256 1G:1024 320:320; do
        v=$(RVSLAB_HEAP_MB=${cap%%:*} LD_PRELOAD=$shim bash -c "ulimit -v 4000000 && exec $tmp/heap_check cap")
        want=${cap##*:}
        if [[ $v =~ ^[0-9]+$ ]] && ((v > want * 9 / 10 && v <= want)); then
            echo "ok heap-cap: RVSLAB_HEAP_MB=${cap%%:*} gave $v MiB in 1 MiB blocks"
        else
            echo "not ok heap-cap: RVSLAB_HEAP_MB=${cap%%:*} gave '$v' MiB (want 90-100% of $want)"
            failed=1
        fi
    done
    for bad in 1X abc 99999999999999999999 0 -5; do
        msg=$(RVSLAB_HEAP_MB=$bad LD_PRELOAD=$shim "$tmp/heap_check" rss 2>&1 >/dev/null)
        if [[ $msg == *"RVSLAB_HEAP_MB=$bad: want a size"* ]]; then
            echo "ok heap-env: RVSLAB_HEAP_MB=$bad refused with a message"
        else
            echo "not ok heap-env: RVSLAB_HEAP_MB=$bad: no message ('$msg')"
            failed=1
        fi
    done
    compare_rss heap-rss "at start-up" rss 1024 0
    # After 400 MB allocated and freed: the anonymous memory (the heap's,
    # and the program's own) is what a malloc gives back or keeps. All of
    # RSS adds the pages of mapped files, libc's code and ours, whose count
    # moves by 200 KiB run to run (page cache fault-around) on either malloc:
    # shown, and held to the same 10% with that much slack.
    compare_rss heap-free "after 400 MB allocated and freed, anonymous:" free-anon 0 10
    compare_rss heap-free-all "after 400 MB allocated and freed, all of RSS:" free 256 10
    # A loop that allocates and frees 256 KiB, 400 times: the heap keeps
    # what each round takes again instead of giving it back and faulting it
    # in the next round (it did: 48 faults a round).
    faults=$(LD_PRELOAD=$shim "$tmp/heap_check" rounds)
    ref=$("$tmp/heap_check" rounds)
    if [[ $faults =~ ^[0-9]+$ ]] && ((faults <= 400)); then
        echo "ok heap-rounds: 400 rounds of 1024 x 256 B allocated and freed: $faults page faults, glibc $ref"
    else
        echo "not ok heap-rounds: 400 rounds of 1024 x 256 B: '$faults' page faults (want at most one a round), glibc $ref"
        failed=1
    fi
    # Growing one block 64 KiB at a time to 256 MiB: in place, or by mremap
    # once it is big; a handful of copies at most (it was one per step).
    copies=$(LD_PRELOAD=$shim "$tmp/heap_check" realloc)
    if [[ $copies =~ ^[0-9]+$ ]] && ((copies <= 8)); then
        echo "ok realloc: 4096 steps of 64 KiB to 256 MiB copied the block $copies times"
    else
        echo "not ok realloc: 4096 steps of 64 KiB to 256 MiB: '$copies' copies (want at most 8)"
        failed=1
    fi
fi
# A fork+exec chain (spawn.c, 51 processes): the page faults librvslab.so
# adds to each process, over a library with no code preloaded the same way
# (empty.c). Per process the library writes about 5 pages of its own data,
# 19 of heap at start-up and 14 copied after the fork, and spares glibc's
# malloc its 9 (the README's fork+exec section): 29, and room for what
# the host's fault-around moves. A heap whose first block is 16 MiB
# instead of 512 KiB adds 5 (mem_map written as that block is split).
SPAWN_EXTRA=36
if gcc -O1 -Wall -o "$tmp/spawn" "$here/spawn.c" &&
    gcc -O1 -Wall -shared -fPIC -o "$tmp/empty.so" "$here/empty.c"; then
    faults() { LD_PRELOAD=$1 "$tmp/spawn" 50 top | sed -n 's/.* \([0-9]*\) page faults$/\1/p'; }
    base=$(faults "$tmp/empty.so") ours=$(faults "$shim")
    if [[ $base =~ ^[0-9]+$ && $ours =~ ^[0-9]+$ ]] && ((ours - base <= SPAWN_EXTRA * 51)); then
        echo "ok spawn-faults: a fork+exec chain of 51: $ours page faults, $(((ours - base) / 51)) a process over an empty library ($base)"
    else
        echo "not ok spawn-faults: a fork+exec chain of 51: '$ours' page faults against '$base' with an empty library (want at most $SPAWN_EXTRA more a process)"
        failed=1
    fi
else
    echo "not ok spawn-faults: bench/preload/spawn.c or empty.c did not build"
    failed=1
fi
exit $failed
