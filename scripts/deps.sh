#!/usr/bin/env bash
# Install what rvslab needs on Debian 12, only if something is missing.
# Quick and silent when everything is there; make runs it before every build.
#   scripts/deps.sh [bench] [figures]  check, install what is missing (apt-get update once)
#   scripts/deps.sh --check [bench]    only check; exit 1 and name what is missing
# "bench" adds what make bench and the host bench in make test use;
# "figures" what make figures uses (gnuplot for the .png figures).
set -euo pipefail

check_only=false bench=false figures=false
for arg in "$@"; do
    case $arg in
    --check) check_only=true ;;
    bench) bench=true ;;
    figures) figures=true ;;
    *) echo "usage: scripts/deps.sh [--check] [bench] [figures]" >&2; exit 2 ;;
    esac
done

cross=${CROSS_COMPILE:-riscv64-unknown-elf-}
missing=()

need_cmd() { # need_cmd COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need_file() { # need_file GLOB PACKAGE
    compgen -G "$1" >/dev/null || missing+=("$2")
}
need_pkg() { # need_pkg PACKAGE: installed per dpkg (libraries have no command)
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$1")
}

need_cmd "${cross}gcc" gcc-riscv64-unknown-elf
need_cmd qemu-system-riscv64 qemu-system-misc
need_file /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin opensbi
need_file /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs picolibc-riscv64-unknown-elf
need_cmd gdb-multiarch gdb-multiarch
need_cmd clang clang
need_file '/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a' libclang-rt-14-dev
need_cmd python3 python3
need_cmd timeout coreutils
if $figures; then
    need_cmd gnuplot gnuplot-nox
fi
if $bench; then
    need_cmd gcc gcc
    need_cmd taskset util-linux
    need_cmd valgrind valgrind
    need_cmd callgrind_annotate valgrind
    need_cmd gnuplot gnuplot-nox
    need_cmd sqlite3 sqlite3
    if command -v dpkg-query >/dev/null 2>&1; then
        need_pkg libmimalloc-dev
        need_pkg libjemalloc-dev
        need_pkg libgoogle-perftools-dev
    fi
fi

((${#missing[@]} == 0)) && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

echo "deps: missing: ${missing[*]}" >&2
if $check_only || ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: install these Debian packages (or their equivalents) and try again" >&2
    exit 1
fi
sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || { echo "deps: not root and no sudo" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq </dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
echo "deps: installed ${missing[*]}" >&2
