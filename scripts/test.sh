#!/usr/bin/env bash
# Sets up, builds under AddressSanitizer + UndefinedBehaviorSanitizer, and runs every test.
# Also builds the libFuzzer target with clang and runs it briefly over the seed corpus.
#
#   scripts/test.sh        everything but the VM tests
#   scripts/test.sh --vm   also the tests on the real DAHDI driver in a qemu VM (root;
#                          docs/vm-tests.md). Their image builds in the background while the
#                          code compiles (cached afterwards); cold, they add about ten minutes
#                          on a 2-core machine, which would break the 20-minute budget of the
#                          default run, so they are opt-in there.
set -euo pipefail
cd "$(dirname "$0")/.."
vm=0
[[ "${1:-}" == "--vm" ]] && vm=1
vm_image_pid=
if [[ $vm -eq 1 && $(id -u) -eq 0 ]]; then
  scripts/setup.sh --vm
  mkdir -p build-asan
  tests/vm/build-image.sh >build-asan/vm-image.log 2>&1 &
  vm_image_pid=$!
else
  scripts/setup.sh
  [[ $vm -eq 1 ]] && echo "not root: the VM tests on the real DAHDI driver will be skipped"
fi
jobs=$(nproc)
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTW_SANITIZE=ON -DTW_WERROR=ON >/dev/null
cmake --build build-asan -j "$jobs"
if [[ -n "$vm_image_pid" ]] && ! wait "$vm_image_pid"; then
  echo "building the VM image failed (build-asan/vm-image.log):" >&2
  tail -20 build-asan/vm-image.log >&2
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The fuzzer first, so that ctest's summary is the last thing printed.
scripts/fuzz.sh 30
if [[ $vm -eq 1 ]]; then
  ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900
else
  ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900 -LE vm
fi
