#!/usr/bin/env bash
# Host side of the vm_smoke test: compiles dahdi_probe.c with plain gcc into a fresh share
# directory, copies smoke.sh next to it and runs it in the DAHDI test VM (run-vm.sh).
#
#   tests/vm/vm_smoke.sh [--span-type t1|e1] [--pairs N] [--trunkwatch PATH] [WORKDIR]
#
# WORKDIR (default: a new directory under /tmp) becomes the share; it keeps console.log,
# sysfs.txt and dahdi_cfg.log afterwards. --trunkwatch copies a host-built trunkwatch binary
# into the share and has the guest check with ldd that all its libraries are present in the
# standard image (add missing ones to build-image.sh's list, or use run-vm.sh --for-binary).
# Exit status: the guest's (0 = all checks passed), 77 = skipped (prints "SKIP: reason").
# Environment: TW_VM_TIMEOUT (seconds, default 600), and run-vm.sh's (TW_VM_CACHE, TW_VM_IMAGE).
set -euo pipefail

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
span_type=t1
pairs=2
trunkwatch=""
workdir=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --span-type) span_type=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --trunkwatch) trunkwatch=$2; shift 2 ;;
    -*) echo "vm_smoke: unknown option $1" >&2; exit 2 ;;
    *) workdir=$1; shift ;;
  esac
done

command -v gcc >/dev/null || { echo "SKIP: gcc not installed"; exit 77; }
[[ -r /usr/include/dahdi/user.h ]] ||
  { echo "SKIP: /usr/include/dahdi/user.h missing (package dahdi-source)"; exit 77; }

if [[ -z "$workdir" ]]; then
  workdir=$(mktemp -d /tmp/tw-vm-smoke.XXXXXX)
else
  rm -rf "$workdir"
  mkdir -p "$workdir"
fi
gcc -O2 -Wall -Wextra -Werror -o "$workdir/dahdi_probe" "$here/dahdi_probe.c"
cp "$here/smoke.sh" "$workdir/smoke.sh"
chmod 755 "$workdir/smoke.sh"

args=(--share "$workdir" --guest-script smoke.sh --pairs "$pairs" --span-type "$span_type"
  --check-binary dahdi_probe --timeout "${TW_VM_TIMEOUT:-600}")
if [[ -n "$trunkwatch" ]]; then
  cp "$trunkwatch" "$workdir/trunkwatch"
  args+=(--check-binary trunkwatch)
fi
echo "vm_smoke: share $workdir" >&2
exec "$here/run-vm.sh" "${args[@]}"
