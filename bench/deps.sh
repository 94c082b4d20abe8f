#!/usr/bin/env bash
# Install what the host bench needs on Debian, only if something is missing:
# quick and silent when all is there (make runs it before every bench).
#   bench/deps.sh           check; apt-get update once + install what is missing
#   bench/deps.sh --check   only check; exit 1 and name what is missing
set -euo pipefail

check_only=false
[[ ${1:-} == --check ]] && check_only=true
missing=()

need_cmd() { # need_cmd COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need_pkg() { # need_pkg PACKAGE: installed per dpkg (libraries have no command)
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$1")
}

need_cmd gcc gcc
need_cmd python3 python3
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

((${#missing[@]} == 0)) && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

echo "bench deps: missing: ${missing[*]}" >&2
if $check_only || ! command -v apt-get >/dev/null 2>&1; then
    echo "bench deps: install these Debian packages (or their equivalents) and try again" >&2
    exit 1
fi
sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || { echo "bench deps: not root and no sudo" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq </dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
echo "bench deps: installed ${missing[*]}" >&2
