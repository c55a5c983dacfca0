#!/usr/bin/env bash
# Boots the DAHDI test VM (qemu, software emulation) and runs one script inside it.
#
#   tests/vm/run-vm.sh --share HOSTDIR --guest-script PATH_IN_SHARE [--pairs N]
#                      [--span-type t1|e1] [--timeout SECONDS] [--check-binary PATH_IN_SHARE]...
#                      [--for-binary HOSTPATH]... [--image DIR] [--setup-script PATH_IN_SHARE]
#                      [--raw-dchan S[,S]...] [--systemd] [--quiet]
#
# HOSTDIR is shared with the guest as /share (9p). The guest init (baked into the image by
# build-image.sh) loads DAHDI with N pairs of dahdi_dynamic_loc spans wired back to back
# (pair k = spans 2k-1 and 2k), runs dahdi_cfg, then runs /share/PATH_IN_SHARE with these
# variables set:
#   TW_SHARE=/share  TW_SPAN_TYPE=t1|e1  TW_PAIRS=N  TW_SPANS=2N
#   TW_CHANS_PER_SPAN=24|31  TW_DCHAN=24|16 (span-relative)  TW_BCHANS="1-23"|"1-15,17-31"
#   TW_SPAN<s>_BASECHAN (first global channel of span s)  TW_PAIR<k>_A, TW_PAIR<k>_B (spans)
# Its exit status is written to HOSTDIR/.vm-status and returned by this script; the serial
# console goes to HOSTDIR/console.log (and to stdout unless --quiet).
#
# Exit status: the guest script's; 124 if the VM ran longer than --timeout (default 300 s)
# and was killed; 125 if the harness failed (no status written, dahdi_cfg failed, ...);
# 77 with a single line "SKIP: <reason>" if the VM cannot run here (not root, no qemu, ...).
#
# Options:
#   --pairs N           number of loc span pairs, 1..15 (default 1)
#   --span-type t1|e1   T1: 24 channels, bchan 1-23, dchan 24; E1: 31 channels, dchan 16
#   --check-binary P    run ldd on /share/P in the guest first; "not found" is a harness error
#   --for-binary H      passed to build-image.sh (install the packages H links against)
#   --image DIR         use this image directory instead of build-image.sh's cached one
#   --raw-dchan S,...   spans whose D-channel is configured `bchan=` (a clear channel: the
#                       raw HDLC bits its peer's driver sends) instead of `dchan=`
#   --setup-script P    run /share/P (bash, as root) after the share is mounted and before
#                       DAHDI loads: install units, udev rules, configuration; failing is a
#                       harness error
#   --systemd           boot systemd as PID 1 (journald, udevd, sysusers, tmpfiles; nothing
#                       else starts) and run the guest init as its service tw-vm.service;
#                       without it the init is PID 1 itself (faster, no udev, no systemd)
#   --quiet             do not copy the console to stdout
# A boot that does not reach the guest init within TW_VM_BOOT_TIMEOUT seconds (default 150) is
# killed and retried once.
# Environment: TW_VM_CACHE (image cache, see build-image.sh), TW_VM_IMAGE (default for --image),
# TW_VM_QEMU_EXTRA (extra qemu arguments, split on spaces), TW_VM_KERNEL_ARGS (appended to the
# kernel command line, e.g. "ignore_loglevel" to see every kernel message).
set -euo pipefail

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
share=""
guest_script=""
pairs=1
span_type=t1
timeout_s=300
check_binaries=()
build_args=()
image_dir=${TW_VM_IMAGE:-}
quiet=0
setup_script=""
raw_dchan=""
use_systemd=0

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit "$1"; }
skip() { echo "SKIP: $*"; exit 77; }
die() { echo "run-vm: error: $*" >&2; exit 125; }

while [[ $# -gt 0 ]]; do
  [[ "$1" == --quiet || "$1" == --systemd || "$1" == -h || "$1" == --help || $# -ge 2 ]] || usage 2
  case "$1" in
    --share) share=$2; shift 2 ;;
    --guest-script) guest_script=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --span-type) span_type=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --check-binary) check_binaries+=("$2"); shift 2 ;;
    --for-binary) build_args+=(--for-binary "$2"); shift 2 ;;
    --image) image_dir=$2; shift 2 ;;
    --setup-script) setup_script=$2; shift 2 ;;
    --raw-dchan) raw_dchan=$2; shift 2 ;;
    --systemd) use_systemd=1; shift ;;
    --quiet) quiet=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "run-vm: unknown argument: $1" >&2; usage 2 ;;
  esac
done

[[ -n "$share" && -n "$guest_script" ]] || usage 2
[[ -d "$share" ]] || die "--share $share is not a directory"
share=$(readlink -f "$share")
safe_path='^[A-Za-z0-9._+/-]+$'
for p in "$guest_script" ${setup_script:+"$setup_script"} "${check_binaries[@]+"${check_binaries[@]}"}"; do
  [[ "$p" =~ $safe_path && "$p" != /* && "/$p/" != */../* ]] ||
    die "'$p' must be a relative path inside the share (letters, digits, . _ + - /)"
done
[[ -f "$share/$guest_script" ]] || die "$share/$guest_script not found"
[[ -z "$setup_script" || -f "$share/$setup_script" ]] || die "$share/$setup_script not found"
[[ "$pairs" =~ ^[0-9]+$ && $pairs -ge 1 && $pairs -le 15 ]] || die "--pairs must be 1..15"
[[ "$span_type" == t1 || "$span_type" == e1 ]] || die "--span-type must be t1 or e1"
[[ "$timeout_s" =~ ^[0-9]+$ && $timeout_s -ge 10 ]] || die "--timeout must be a number >= 10"
[[ -z "$raw_dchan" || "$raw_dchan" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--raw-dchan takes span numbers: 2 or 2,4"

qemu=$(command -v qemu-system-x86_64 || true)
[[ -n "$qemu" ]] || skip "qemu-system-x86_64 not installed (scripts/setup.sh --vm)"
command -v timeout >/dev/null || skip "timeout (coreutils) not found"

if [[ -z "$image_dir" ]]; then
  if ! "$here/build-image.sh" --check "${build_args[@]+"${build_args[@]}"}"; then
    [[ $(id -u) -eq 0 ]] || skip "the VM image is not cached and building it needs root"
    command -v debootstrap >/dev/null || skip "debootstrap not installed (scripts/setup.sh --vm)"
    command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 (e2fsprogs) not installed"
  fi
  image_dir=$("$here/build-image.sh" "${build_args[@]+"${build_args[@]}"}") ||
    die "building the VM image failed"
fi
for f in vmlinuz initrd.img image.ext4; do
  [[ -r "$image_dir/$f" ]] || die "$image_dir/$f missing or unreadable"
done

console="$share/console.log"
status_file="$share/.vm-status"
rm -f "$status_file" "$console"
{
  printf 'TW_PAIRS=%q\n' "$pairs"
  printf 'TW_SPAN_TYPE=%q\n' "$span_type"
  printf 'TW_GUEST_SCRIPT=%q\n' "$guest_script"
  printf 'TW_CHECK_BINARIES=%q\n' "${check_binaries[*]-}"
  printf 'TW_SETUP_SCRIPT=%q\n' "$setup_script"
  printf 'TW_RAW_DCHAN_SPANS=%q\n' "$raw_dchan"
} >"$share/.vm-config"

extra=()
if [[ -n "${TW_VM_QEMU_EXTRA:-}" ]]; then
  read -ra extra <<<"$TW_VM_QEMU_EXTRA"
fi
init_args="init=/usr/local/sbin/tw-vm-init"
if [[ $use_systemd -eq 1 ]]; then
  # systemd-modules-load loads dahdi early (dahdi-linux's modules-load.d) with Debian's
  # auto_assign_spans=0, which makes the init's modprobe a no-op and leaves span assignment to
  # the dahdi tools' udev hooks, racing the init's dahdi_cfg (EINVAL on a channel of a span
  # not yet assigned). The kernel command line sets the parameter for that early load too.
  init_args="init=/lib/systemd/systemd systemd.unit=tw-vm.target systemd.show_status=error"
  init_args+=" dahdi.auto_assign_spans=1"
fi
qemu_cmd=(
  "$qemu" -accel tcg -cpu max -smp 2 -m 1024 -nographic -no-reboot -net none
  -kernel "$image_dir/vmlinuz" -initrd "$image_dir/initrd.img"
  -drive "file=$image_dir/image.ext4,format=raw,if=virtio" -snapshot
  -virtfs "local,path=$share,mount_tag=share,security_model=none"
  -append "root=/dev/vda rw console=ttyS0 loglevel=4 panic=-1 $init_args${TW_VM_KERNEL_ARGS:+ $TW_VM_KERNEL_ARGS}"
  "${extra[@]+"${extra[@]}"}"
)

# shellcheck disable=SC2317  # called from the trap
cleanup() {
  if [[ -n "${qemu_pid:-}" ]]; then
    kill "$qemu_pid" 2>/dev/null || true
  fi
  if [[ -n "${tail_pid:-}" ]]; then
    kill "$tail_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Boot watchdog: on this machine the emulated kernel once hung before reaching the init
# (console stuck after "Probing EDD", once in about 25 boots). If the init has not said "booted"
# after boot_timeout seconds, kill qemu and boot once more.
boot_timeout=${TW_VM_BOOT_TIMEOUT:-150}
start=$SECONDS
for attempt in 1 2; do
  echo "run-vm: booting $(basename "$image_dir") ($pairs $span_type pair(s), timeout ${timeout_s}s)" >&2
  rm -f "$status_file"
  timeout --kill-after=10 "$timeout_s" "${qemu_cmd[@]}" </dev/null >"$console" 2>&1 &
  qemu_pid=$!
  tail_pid=""
  if [[ $quiet -eq 0 ]]; then
    tail -n +1 -F --pid="$qemu_pid" "$console" 2>/dev/null | tr -d '\r' &
    tail_pid=$!
  fi
  booted=0
  hung=0
  boot_start=$SECONDS
  while kill -0 "$qemu_pid" 2>/dev/null; do
    if [[ $booted -eq 0 ]]; then
      if grep -q 'tw-vm-init: booted' "$console"; then
        booted=1
      elif ((SECONDS - boot_start > boot_timeout)); then
        hung=1
        kill "$qemu_pid" 2>/dev/null || true
      fi
    fi
    sleep 1
  done
  rc=0
  wait "$qemu_pid" || rc=$?
  if [[ -n "$tail_pid" ]]; then
    wait "$tail_pid" 2>/dev/null || true
  fi
  qemu_pid=""
  tail_pid=""
  [[ $hung -eq 1 ]] || break
  mv "$console" "$share/console-hung-boot.log"
  echo "run-vm: the guest did not reach its init within ${boot_timeout}s (console saved as" \
    "console-hung-boot.log; attempt $attempt of 2)" >&2
  if [[ $attempt -eq 2 ]]; then
    exit 125
  fi
done
trap - EXIT
elapsed=$((SECONDS - start))

if [[ $rc -eq 124 || $rc -eq 137 ]]; then
  echo "run-vm: timeout: the VM ran longer than ${timeout_s}s and was killed; see $console" >&2
  exit 124
fi
if [[ ! -s "$status_file" ]]; then
  echo "run-vm: error: no status from the guest (qemu exit $rc after ${elapsed}s); see $console" >&2
  exit 125
fi
status=$(<"$status_file")
[[ "$status" =~ ^[0-9]+$ ]] || die "bad status '$status' in $status_file"
if [[ $status -eq 125 ]]; then
  echo "run-vm: the guest init failed (status 125) after ${elapsed}s; see $console" >&2
else
  echo "run-vm: guest script exited with $status after ${elapsed}s (console: $console)" >&2
fi
exit "$status"
