#!/usr/bin/env bash
# Installs what building and testing conjure needs, on Debian or Ubuntu: only the packages that are
# missing, so a machine that has them all runs no apt at all. The peers of `conjure bench --compare`
# (oneDNN, OpenBLAS) are optional: if they cannot be installed the build goes on without them. The
# Python package's tests run on the system's python3 with Debian's numpy and pytest; PyTorch, their
# oracle, is optional too (without it those tests skip, saying so).
set -euo pipefail

# zlib1g-dev: the conjure tool reads the gzip IDX files of Fashion-MNIST with zlib.
# clang (with its runtime libraries: libFuzzer, sanitizers) and valgrind: make test's checking builds.
required=(cmake gcc make libc6-dev libpthreadpool-dev zlib1g-dev python3 python3-numpy python3-pytest
          clang libclang-rt-dev valgrind)
optional=(libdnnl-dev libopenblas-dev python3-torch)
# --demo (make demo): also the data `conjure train` trains on.
if [ "${1:-}" = "--demo" ]; then
    required+=(dataset-fashion-mnist)
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: not a Debian-like system; install yourself: cmake, a C11 compiler, make, pthreadpool," \
         "zlib, the Fashion-MNIST IDX files for conjure train (--data DIR)" \
         "(and optionally oneDNN and OpenBLAS for conjure bench --compare)" >&2
    exit 0
fi

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

missing_of() {
    local p
    for p in "$@"; do
        installed "$p" || echo "$p"
    done
}

mapfile -t missing_required < <(missing_of "${required[@]}")
mapfile -t missing_optional < <(missing_of "${optional[@]}")
if [ ${#missing_required[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "install-deps: missing packages: ${missing_required[*]} ${missing_optional[*]};" \
         "run as root (or install sudo) to install them" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt=("${sudo[@]}" apt-get -y -q -o Dpkg::Use-Pty=0)
echo "install-deps: installing ${missing_required[*]} ${missing_optional[*]}"
"${apt[@]}" update
if [ ${#missing_required[@]} -gt 0 ]; then
    "${apt[@]}" install --no-install-recommends "${missing_required[@]}"
fi
if [ ${#missing_optional[@]} -gt 0 ]; then
    "${apt[@]}" install --no-install-recommends "${missing_optional[@]}" ||
        echo "install-deps: warning: could not install ${missing_optional[*]}; conjure bench --compare" \
             "will lack those peers" >&2
fi
