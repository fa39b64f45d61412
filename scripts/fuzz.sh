#!/usr/bin/env bash
# The long fuzzing run (make test does a short one): builds the libFuzzer fuzzer of tests/fuzz with
# clang + ASan + UBSan in build-fuzz, fuzzes for SECONDS (default 3600) starting from the corpus in
# the repo, then merges the inputs that add coverage into tests/fuzz/corpus (commit them) and copies
# any crash into tests/fuzz/regressions, where every build's fuzz_corpus ctest replays it.
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3600}
shift || true
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONJURE_BUILD_TOOLS=OFF \
    -DCONJURE_SANITIZE=address,undefined -DCONJURE_BUILD_FUZZERS=ON -DCONJURE_THREADPOOL=builtin >/dev/null
cmake --build build-fuzz -j"${JOBS:-2}" --target fuzz_conv2d
fuzzer=build-fuzz/tests/fuzz_conv2d
work=build-fuzz/long-run
rm -rf "$work" && mkdir -p "$work/new" "$work/crashes"
status=0
nice -n 10 "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/crashes/" \
    "$@" "$work/new" tests/fuzz/corpus tests/fuzz/regressions 2>&1 | tee "$work/log" | grep -E '^(#[0-9]+ +(pulse|DONE)|Done|stat::|fuzz_conv2d:)' || status=1
"$fuzzer" -merge=1 tests/fuzz/corpus "$work/new" >/dev/null 2>&1
for f in "$work"/crashes/*; do
    [ -e "$f" ] || continue
    cp "$f" tests/fuzz/regressions/ && echo "fuzz.sh: crash kept as tests/fuzz/regressions/$(basename "$f")" && status=1
done
echo "fuzz.sh: corpus now $(ls tests/fuzz/corpus | wc -l) inputs; log in $work/log"
exit $status
