#!/usr/bin/env bash
# Sets up, builds and runs the demo: a simulated site with two PRI spans, decoded live.
#   scripts/demo.sh [demo options, e.g. --speed 120 --no-live]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target trunkwatch
exec build/monitor/cli/trunkwatch demo "$@"
