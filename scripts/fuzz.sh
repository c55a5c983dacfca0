#!/usr/bin/env bash
# Builds the frame-decoder fuzz target with clang/libFuzzer and runs it for N seconds
# (default 60) over the seed corpus in tests/fuzz/corpus. Any crash fails the script.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTW_FUZZ=ON -DTW_TESTS=OFF >/dev/null
cmake --build build-fuzz --target fuzz_frame
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/* "$work/" 2>/dev/null || true
build-fuzz/tests/fuzz/fuzz_frame -max_total_time="$seconds" -print_final_stats=1 "$work" \
  > "$work/log" 2>&1 || { tail -50 "$work/log"; exit 1; }
grep -E "stat::number_of_executed_units" "$work/log" | sed 's/^/fuzz_frame: /'
