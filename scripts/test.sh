#!/usr/bin/env bash
# Sets up, builds under AddressSanitizer + UndefinedBehaviorSanitizer, and runs every test:
# the unit and integration tests, the libFuzzer target briefly over its seed corpus, and the
# test of the installed service on the real DAHDI driver in a qemu VM (vm_tap, docs/vm-tests.md)
# whenever the machine can run it (root: the VM image is built with debootstrap; qemu comes
# from Debian's packages). Otherwise that test is skipped and the run says why.
#
#   scripts/test.sh            everything (the VM test when root)
#   scripts/test.sh --no-vm    everything but the VM tests
#   scripts/test.sh --vm-all   also vm_smoke, the VM harness's own check of the driver
#
# The VM image builds in the background while the code compiles (about 4 minutes, then
# cached in /var/cache/trunkwatch-vm). The sanitizer build uses -O1 -g1: half the compile time
# of -O2 -g on these 2-core machines, the same checks, line numbers in every report; and
# without -DNDEBUG: assert()s (ours and the libraries') are checked too.
set -euo pipefail
cd "$(dirname "$0")/.."
vm=1
vm_labels=(-LE vm_extra)
case "${1:-}" in
  --no-vm) vm=0 vm_labels=(-LE vm) ;;
  --vm-all) vm_labels=() ;;
  "") ;;
  *) echo "usage: scripts/test.sh [--no-vm|--vm-all]" >&2; exit 2 ;;
esac
vm_image_pid=
mkdir -p build-asan
if [[ $vm -eq 1 && $(id -u) -eq 0 ]]; then
  scripts/setup.sh --vm
  tests/vm/build-image.sh >build-asan/vm-image.log 2>&1 &
  vm_image_pid=$!
else
  scripts/setup.sh
  if [[ $vm -eq 1 ]]; then
    echo "test.sh: not root, so no VM image can be built: the tests on the real DAHDI driver" \
      "will be skipped unless the image is cached (docs/vm-tests.md)"
  fi
fi
jobs=$(nproc)
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" \
  -DTW_SANITIZE=ON -DTW_WERROR=ON >/dev/null
cmake --build build-asan -j "$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The fuzzer first, so that ctest's summary is the last thing printed.
scripts/fuzz.sh 30
if [[ -n "$vm_image_pid" ]] && ! wait "$vm_image_pid"; then
  echo "test.sh: building the VM image failed (build-asan/vm-image.log):" >&2
  tail -20 build-asan/vm-image.log >&2
fi
ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900 "${vm_labels[@]}"
