#!/usr/bin/env bash
# Builds the fuzz targets with clang/libFuzzer and runs each for N seconds (default 60) over
# its seed corpus: fuzz_frame (the frame decoders) over tests/fuzz/corpus, fuzz_pcapng (the
# pcapng block reader) over tests/fuzz/corpus-pcapng. Any crash fails the script.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTW_FUZZ=ON -DTW_TESTS=OFF >/dev/null
cmake --build build-fuzz --target fuzz_frame fuzz_pcapng
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in fuzz_frame:corpus fuzz_pcapng:corpus-pcapng; do
  name=${target%%:*}
  corpus=${target#*:}
  mkdir -p "$work/$name"
  cp tests/fuzz/"$corpus"/* "$work/$name/" 2>/dev/null || true
  build-fuzz/tests/fuzz/"$name" -max_total_time="$seconds" -print_final_stats=1 "$work/$name" \
    > "$work/$name.log" 2>&1 || { tail -50 "$work/$name.log"; exit 1; }
  grep -E "stat::number_of_executed_units" "$work/$name.log" | sed "s/^/$name: /"
done
