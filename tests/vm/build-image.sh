#!/usr/bin/env bash
# Builds the qemu image for the DAHDI-in-a-VM integration tests, or reuses a cached one.
#
#   tests/vm/build-image.sh [--cache DIR] [--for-binary PATH]... [--check] [--print-key]
#                           [--print-packages] [--force]
#
# The image is a Debian 12 (bookworm) minbase root filesystem with the Debian kernel, the real
# DAHDI driver (dahdi-dkms, built by dkms inside the chroot), the DAHDI tools, and the runtime
# libraries a trunkwatch binary built on the host needs. It lives in
#   ${TW_VM_CACHE:-/var/cache/trunkwatch-vm}/<key>/{vmlinuz,initrd.img,image.ext4,manifest.txt}
# and the directory path is printed on stdout (nothing else goes to stdout).
#
# Cache key: candidate versions of linux-image-amd64 and dahdi-dkms on the host (apt-cache
# policy), a hash of the sorted guest package list and a hash of this script (which also holds
# the guest init, so changing either rebuilds). A build goes to a temporary directory that is
# renamed into place; after a successful build, images from other kernel/DAHDI versions or
# another version of this script are removed (images of other package lists are kept).
#
# Runtime libraries: a fixed list covering what trunkwatch links (libpri, spandsp, Boost.Log,
# sqlite3, libpcap, libsndfile, libcurl, libsystemd, toml++, date-tz, libstdc++, and the ASan /
# UBSan runtimes for sanitizer builds). --for-binary PATH adds the Debian packages that own
# every library `ldd PATH` resolves on the host (via dpkg -S), which changes the key only if it
# adds a package. run-vm.sh --check-binary runs ldd in the guest and fails on "not found", so
# a missing library is an error, not a silent skip.
#
# Options:
#   --cache DIR        cache directory (default $TW_VM_CACHE or /var/cache/trunkwatch-vm)
#   --for-binary PATH  also install the packages owning PATH's shared libraries (repeatable)
#   --check            exit 0 if the image for the current key is cached, 1 if not; no build
#   --print-key        print the key and exit
#   --print-packages   print the guest package list and exit
#   --force            rebuild even if cached
# Environment: TW_VM_MIRROR overrides the Debian mirror (default: the host's apt sources).
# Needs root, debootstrap and e2fsprogs (mkfs.ext4 -d) to build; about 4 minutes uncached.
# shellcheck disable=SC2016  # apt and dpkg format strings are meant literally
set -euo pipefail

cache_dir=${TW_VM_CACHE:-/var/cache/trunkwatch-vm}
binaries=()
mode=build
force=0

die() { echo "build-image: error: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit "$1"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cache) [[ $# -ge 2 ]] || usage 2; cache_dir=$2; shift 2 ;;
    --for-binary) [[ $# -ge 2 ]] || usage 2; binaries+=("$2"); shift 2 ;;
    --check) mode=check; shift ;;
    --print-key) mode=key; shift ;;
    --print-packages) mode=packages; shift ;;
    --force) force=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "build-image: unknown argument: $1" >&2; usage 2 ;;
  esac
done

self=$(readlink -f "${BASH_SOURCE[0]}")
start_time=$SECONDS
progress() { printf 'build-image: [%3ds] %s\n' "$((SECONDS - start_time))" "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# Guest package list
# systemd, udev and acl: the tap test boots systemd as PID 1 (run-vm.sh --systemd) and installs
# trunkwatch's unit, udev rule (setfacl), sysusers and tmpfiles entries as on a real box.
base_packages=(linux-image-amd64 linux-headers-amd64 dahdi-dkms dahdi-linux dahdi libpri1.4 kmod
  systemd udev acl)
runtime_packages=(
  libpri1.4 libspandsp2 libboost-log1.74.0 libboost-filesystem1.74.0 libboost-thread1.74.0 libboost-chrono1.74.0 libboost-atomic1.74.0
  libsqlite3-0 libpcap0.8 libsndfile1 libcurl4 libsystemd0 libstdc++6 libgcc-s1 libc6
  libtomlplusplus3 libdate-tz3 libasan8 libubsan1
)

# Prints the package owning a file, trying the path as given, its real path, and the other
# side of the /usr merge (dpkg records whichever path the package shipped).
owner_of() {
  local f=$1 real cand out
  real=$(readlink -f "$f")
  for cand in "$f" "$real" "/usr${real#/usr}" "${real#/usr}"; do
    [[ -n "$cand" ]] || continue
    out=$(dpkg -S -- "$cand" 2>/dev/null | grep -v '^diversion' | head -n1 || true)
    if [[ -n "$out" ]]; then
      out=${out%%: *}  # "libfoo1:amd64: /path" or "a, b: /path"
      out=${out%%,*}
      echo "${out%%:*}"
      return 0
    fi
  done
  return 1
}

packages_for_binary() {
  local bin=$1 line lib pkg
  [[ -r "$bin" ]] || die "--for-binary: cannot read $bin"
  local ldd_out
  ldd_out=$(ldd "$bin" 2>&1) || die "--for-binary: ldd $bin failed: $ldd_out"
  if grep -q 'not found' <<<"$ldd_out"; then
    die "--for-binary: $bin has unresolved libraries on the host: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t' ' ')"
  fi
  while read -r line; do
    lib=""
    if [[ "$line" == *" => /"* ]]; then
      lib=${line#* => }
      lib=${lib%% (*}
    elif [[ "$line" == /* ]]; then
      lib=${line%% (*}
    fi
    [[ -n "$lib" ]] || continue
    pkg=$(owner_of "$lib") || die "--for-binary: no Debian package owns $lib (needed by $bin)"
    echo "$pkg"
  done <<<"$ldd_out"
}

extra_packages=()
for b in "${binaries[@]+"${binaries[@]}"}"; do
  derived=$(packages_for_binary "$b") || exit 1
  mapfile -t -O "${#extra_packages[@]}" extra_packages <<<"$derived"
done
mapfile -t packages < <(printf '%s\n' "${base_packages[@]}" "${runtime_packages[@]}" \
  "${extra_packages[@]+"${extra_packages[@]}"}" | sort -u)

# ---------------------------------------------------------------------------------------------
# Cache key
candidate() {
  local v
  v=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
  [[ -n "$v" && "$v" != "(none)" ]] || die "apt has no candidate for $1 (run apt-get update?)"
  echo "$v"
}
linux_version=$(candidate linux-image-amd64)
dahdi_version=$(candidate dahdi-dkms)
pkg_hash=$(printf '%s\n' "${packages[@]}" | sha256sum | cut -c1-12)
script_hash=$(sha256sum "$self" | cut -c1-12)
key=$(printf 'linux-%s_dahdi-%s_pkgs-%s_script-%s' "$linux_version" "$dahdi_version" \
  "$pkg_hash" "$script_hash" | tr -c 'A-Za-z0-9._+\n-' '_')

image_dir="$cache_dir/$key"
is_cached() { [[ -f "$image_dir/vmlinuz" && -f "$image_dir/initrd.img" && -f "$image_dir/image.ext4" ]]; }

case "$mode" in
  key) echo "$key"; exit 0 ;;
  packages) printf '%s\n' "${packages[@]}"; exit 0 ;;
  check) is_cached && exit 0; exit 1 ;;
esac

if [[ $force -eq 0 ]] && is_cached; then
  echo "$image_dir"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "building the image needs root"
for tool in debootstrap mkfs.ext4 chroot flock; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/setup.sh --vm installs it)"
done

mkdir -p "$cache_dir"
exec {lock_fd}>"$cache_dir/.lock"
if ! flock -n "$lock_fd"; then
  progress "waiting for another build to finish"
  flock "$lock_fd"
fi
# Someone else may have built it while we waited.
if [[ $force -eq 0 ]] && is_cached; then
  echo "$image_dir"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# Mirror and suites: the ones the host's apt uses for bookworm (deb822 or one-line sources).
mapfile -t apt_targets < <(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' \
  'Identifier: Packages' 2>/dev/null | awk '$2 ~ /^bookworm($|[-\/])/' | sort -u)
mirror=${TW_VM_MIRROR:-}
if [[ -z "$mirror" ]]; then
  for t in "${apt_targets[@]+"${apt_targets[@]}"}"; do
    [[ "${t#* }" == bookworm ]] && mirror=${t%% *}
  done
fi
[[ -n "$mirror" ]] || die "no bookworm mirror in the host's apt sources; set TW_VM_MIRROR"
guest_sources="deb $mirror bookworm main"$'\n'
for t in "${apt_targets[@]+"${apt_targets[@]}"}"; do
  [[ "${t#* }" == bookworm ]] && continue
  guest_sources+="deb ${t%% *} ${t#* } main"$'\n'
done

# ---------------------------------------------------------------------------------------------
# Build
work=$(mktemp -d "$cache_dir/.tmp-XXXXXX")
root="$work/rootfs"
log="$work/build.log"
mounted=()      # chroot API file systems
root_tmpfs=0
child=""        # the command run_logged waits for
cleanup() {
  local m i p
  # A signal while apt or dkms runs in the chroot: stop them first, or the mounts stay busy.
  # chroot execs its command, so the child itself is in the chroot; its children are found by
  # their root directory.
  [[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null
  for p in /proc/[0-9]*; do
    [[ "$(readlink "$p/root" 2>/dev/null)" == "$root" ]] && kill -KILL "${p#/proc/}" 2>/dev/null
  done
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    m=${mounted[i]}
    umount -l "$m" 2>/dev/null || true
  done
  if [[ $root_tmpfs -eq 1 ]]; then
    umount -l "$root" 2>/dev/null || true
  fi
  if [[ -n "${work:-}" && -d "$work" ]]; then
    rm -rf "$work"
  fi
  return 0  # the EXIT trap's status would become the script's
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command into the log; in the background with `wait`, so that INT/TERM interrupt the
# wait and the trap runs at once (bash defers a trap until a foreground child ends).
run_logged() {
  "$@" >>"$log" 2>&1 &
  child=$!
  if ! wait "$child"; then
    child=""
    echo "build-image: command failed: $*" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  child=""
}

# The root file system is built in RAM when there is room: dpkg's fsyncs and deleting the
# tree afterwards take minutes on a busy disk. TW_VM_BUILD_ON_DISK=1 turns this off.
mkdir -p "$root"
avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
if [[ -z "${TW_VM_BUILD_ON_DISK:-}" && ${avail_kb:-0} -gt $((4 * 1024 * 1024)) ]]; then
  mount -t tmpfs -o size=3g,mode=755 tw-vm-rootfs "$root"
  root_tmpfs=1
fi

progress "key $key"
progress "mirror $mirror; $((${#packages[@]})) guest packages"
progress "debootstrap --variant=minbase bookworm (about 40 s)"
run_logged debootstrap --variant=minbase bookworm "$root" "$mirror"

printf '%s' "$guest_sources" >"$root/etc/apt/sources.list"
# The tree is thrown away on failure, so dpkg need not fsync every file.
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/01-trunkwatch-unsafe-io"
# No docs, man pages or translations in the image.
cat >"$root/etc/dpkg/dpkg.cfg.d/01-trunkwatch-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF
# No daemons started inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

for m in proc sys dev dev/pts; do
  mkdir -p "$root/$m"
done
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount -t sysfs sysfs "$root/sys" && mounted+=("$root/sys")
mount --bind /dev "$root/dev" && mounted+=("$root/dev")
mount --bind /dev/pts "$root/dev/pts" && mounted+=("$root/dev/pts")

in_chroot() { DEBIAN_FRONTEND=noninteractive LC_ALL=C chroot "$root" "$@"; }

progress "apt-get update in the guest"
run_logged in_chroot apt-get update
progress "apt-get install ${#packages[@]} packages; dkms builds DAHDI (about 2.5 min)"
run_logged in_chroot apt-get install -y --no-install-recommends "${packages[@]}"

kernel_versions=()
for v in "$root"/boot/vmlinuz-*; do
  [[ -e "$v" ]] && kernel_versions+=("${v##*/vmlinuz-}")
done
[[ ${#kernel_versions[@]} -eq 1 ]] || die "expected one kernel in the guest, found: ${kernel_versions[*]-none}"
kver=${kernel_versions[0]}
have_module() { find "$root/lib/modules/$kver" -name "$1.ko*" -print -quit | grep -q .; }
if ! have_module dahdi_dynamic_loc; then
  progress "dkms did not build for $kver during install; running dkms autoinstall"
  run_logged in_chroot dkms autoinstall -k "$kver"
fi
for m in dahdi dahdi_dynamic dahdi_dynamic_loc 9p 9pnet_virtio; do
  have_module "$m" || die "kernel module $m missing for $kver (see dkms output above)"
done
run_logged in_chroot depmod -a "$kver"

progress "baking the guest init"
cat >"$root/usr/local/sbin/tw-vm-init" <<'GUEST_INIT'
#!/bin/bash
# The trunkwatch DAHDI test VM's init (written by tests/vm/build-image.sh; edit it there).
# PID 1 itself (init=/usr/local/sbin/tw-vm-init), or run by systemd as tw-vm.service
# (run-vm.sh --systemd: init=/lib/systemd/systemd systemd.unit=tw-vm.target).
# Mounts the basics and the 9p share, runs /share/$TW_SETUP_SCRIPT if there is one (before
# DAHDI loads, so that udev rules and units it installs see the spans appear), loads DAHDI,
# creates TW_PAIRS back-to-back pairs of dahdi_dynamic_loc spans (the D-channel of the spans in
# TW_RAW_DCHAN_SPANS configured bchan= instead of dchan=), runs /share/$TW_GUEST_SCRIPT,
# writes its exit status to /share/.vm-status and powers off. Harness failures exit with
# status 125.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
cd /

log() { printf 'tw-vm-init: %s\n' "$*"; }
finish() {
  local code=$1
  if mountpoint -q /share; then
    echo "$code" >/share/.vm-status
  fi
  log "TW-VM-EXIT $code"
  sync
  echo o >/proc/sysrq-trigger
  sleep 60
}
fail() { log "ERROR: $*"; finish 125; }

mount_fs() {  # type target [options]
  mountpoint -q "$2" && return 0
  mkdir -p "$2"
  mount -t "$1" ${3:+-o "$3"} "$1" "$2" || fail "mount -t $1 $2 failed"
}
if [[ $$ -eq 1 ]]; then
  mount_fs proc /proc
  mount_fs sysfs /sys
  mount_fs devtmpfs /dev
  mount_fs devpts /dev/pts
  mount_fs tmpfs /dev/shm mode=1777
  mount_fs tmpfs /run mode=755
  mount_fs tmpfs /tmp mode=1777
  log "booted $(uname -r) in $(cut -d' ' -f1 /proc/uptime) s"
else
  log "booted $(uname -r) in $(cut -d' ' -f1 /proc/uptime) s (under systemd)"
fi

modprobe 9pnet_virtio || fail "modprobe 9pnet_virtio"
modprobe 9p || fail "modprobe 9p"
mkdir -p /share
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /share || fail "mounting the 9p share"
[[ -r /share/.vm-config ]] || fail "/share/.vm-config missing (start the VM with tests/vm/run-vm.sh)"
# shellcheck disable=SC1091
. /share/.vm-config

pairs=${TW_PAIRS:-1}
span_type=${TW_SPAN_TYPE:-t1}
case "$span_type" in
  t1) nchans=24; dchan=24; bchans="1-23" ;;
  e1) nchans=31; dchan=16; bchans="1-15,17-31" ;;
  *) fail "unknown span type $span_type" ;;
esac

for b in ${TW_CHECK_BINARIES:-}; do
  out=$(ldd "/share/$b" 2>&1) || fail "ldd /share/$b: $out"
  if grep -q 'not found' <<<"$out"; then
    printf '%s\n' "$out"
    fail "/share/$b has libraries missing in the guest image (add them to build-image.sh)"
  fi
  log "ldd /share/$b: all libraries found"
done

if [[ -n "${TW_SETUP_SCRIPT:-}" ]]; then
  setup=/share/$TW_SETUP_SCRIPT
  [[ -f "$setup" ]] || fail "setup script '$setup' not found"
  log "running the setup script $setup"
  bash "$setup" || fail "setup script $setup failed"
fi

modprobe dahdi auto_assign_spans=1 || fail "modprobe dahdi"
modprobe dahdi_dynamic || fail "modprobe dahdi_dynamic"
modprobe dahdi_dynamic_loc || fail "modprobe dahdi_dynamic_loc"

# Channel ranges (global channel numbers) of span s, given its span-relative ranges.
shift_range() {  # "1-15,17-31" base -> "b-..,..-.."
  local out="" part lo hi
  IFS=, read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    lo=${part%-*}; hi=${part#*-}
    out+="${out:+,}$((lo + $2))-$((hi + $2))"
  done
  echo "$out"
}
conf=/etc/dahdi/system.conf
mkdir -p /etc/dahdi
{
  echo "# written by tw-vm-init: $pairs loc pair(s), $span_type"
  for ((k = 1; k <= pairs; k++)); do
    printf 'dynamic=loc,%X:0,%d,0\ndynamic=loc,%X:1,%d,0\n' "$k" "$nchans" "$k" "$nchans"
  done
  for ((s = 1; s <= 2 * pairs; s++)); do
    base=$(((s - 1) * nchans))
    if [[ ",${TW_RAW_DCHAN_SPANS:-}," == *",$s,"* ]]; then
      echo "# span $s: the D-channel too as a clear channel (raw bits)"
      echo "bchan=$((base + 1))-$((base + nchans))"
    else
      echo "bchan=$(shift_range "$bchans" "$base")"
      echo "dchan=$((base + dchan))"
    fi
  done
  echo "loadzone=us"
  echo "defaultzone=us"
} >"$conf"
log "system.conf:"
sed 's/^/    /' "$conf"
if ! dahdi_cfg -vv >/tmp/dahdi_cfg.log 2>&1; then
  cat /tmp/dahdi_cfg.log
  fail "dahdi_cfg -vv failed"
fi
cp /tmp/dahdi_cfg.log /share/dahdi_cfg.log
log "dahdi_cfg -vv: OK (output in the share as dahdi_cfg.log)"

export TW_SHARE=/share TW_SPAN_TYPE=$span_type TW_PAIRS=$pairs TW_SPANS=$((2 * pairs))
export TW_CHANS_PER_SPAN=$nchans TW_DCHAN=$dchan TW_BCHANS=$bchans
for ((s = 1; s <= 2 * pairs; s++)); do
  d=/sys/bus/dahdi_spans/devices/span-$s
  [[ -d $d ]] || fail "span $s missing in sysfs"
  base=$(cat "$d/basechan")
  [[ $base -eq $(((s - 1) * nchans + 1)) ]] || fail "span $s basechan $base, expected $(((s - 1) * nchans + 1))"
  export "TW_SPAN${s}_BASECHAN=$base"
done
for ((k = 1; k <= pairs; k++)); do
  export "TW_PAIR${k}_A=$((2 * k - 1))" "TW_PAIR${k}_B=$((2 * k))"
done
# The loc spans are in RED alarm until the peer's first tick arrives.
for ((i = 0; i < 50; i++)); do
  bad=$(grep -L '^0x0$' /sys/bus/dahdi_spans/devices/span-*/alarms 2>/dev/null || true)
  [[ -z "$bad" ]] && break
  sleep 0.1
done
[[ -z "$bad" ]] || fail "spans still in alarm: $bad"
log "$((2 * pairs)) spans up ($span_type, $nchans channels, dchan $dchan), alarms OK"

script=/share/${TW_GUEST_SCRIPT:-}
[[ -n "${TW_GUEST_SCRIPT:-}" && -f "$script" ]] || fail "guest script '$script' not found"
log "running $script"
cd /share || fail "cd /share"
if [[ -x "$script" ]]; then
  "$script"
else
  bash "$script"
fi
code=$?
cd /
log "guest script exited with $code"
finish "$code"
GUEST_INIT
chmod 755 "$root/usr/local/sbin/tw-vm-init"
# Booted with systemd (run-vm.sh --systemd), the init runs as a service once the basic system
# is up (journald, udevd with its coldplug, sysusers, tmpfiles), with its output on the console
# (run-vm.sh watches it for "booted"). Nothing else starts: no getty, no network.
cat >"$root/etc/systemd/system/tw-vm.target" <<'UNIT'
[Unit]
Description=trunkwatch DAHDI test VM
Requires=basic.target tw-vm.service
After=basic.target
AllowIsolate=yes
UNIT
cat >"$root/etc/systemd/system/tw-vm.service" <<'UNIT'
[Unit]
Description=trunkwatch DAHDI test VM init (tests/vm/build-image.sh)
After=basic.target systemd-udev-trigger.service systemd-udevd.service
[Service]
Type=exec
ExecStart=/usr/local/sbin/tw-vm-init
StandardInput=null
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
UNIT
# No first-boot questions on the console (the image has a machine id; belt and braces).
ln -sf /dev/null "$root/etc/systemd/system/systemd-firstboot.service"
echo tw-vm >"$root/etc/hostname"
: >"$root/etc/fstab"
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/dpkg/dpkg.cfg.d/01-trunkwatch-unsafe-io"

manifest="$work/manifest.txt"
{
  echo "key: $key"
  echo "built: $(date -u +%FT%TZ)"
  echo "kernel: $kver"
  echo "mirror: $mirror"
  echo "requested packages: ${packages[*]}"
  echo "installed versions:"
  in_chroot dpkg-query -W -f='  ${Package} ${Version}\n' linux-image-amd64 "linux-image-$kver" \
    dahdi-dkms dahdi-linux dahdi libpri1.4
} >"$manifest"
installed_linux=$(in_chroot dpkg-query -W -f='${Version}' linux-image-amd64)
installed_dahdi=$(in_chroot dpkg-query -W -f='${Version}' dahdi-dkms)
if [[ "$installed_linux" != "$linux_version" || "$installed_dahdi" != "$dahdi_version" ]]; then
  progress "warning: the mirror gave linux-image-amd64 $installed_linux / dahdi-dkms $installed_dahdi," \
    "the host's apt lists say $linux_version / $dahdi_version (run apt-get update on the host)"
fi

run_logged in_chroot apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
  umount "${mounted[i]}"
done
mounted=()

cp "$root/boot/vmlinuz-$kver" "$work/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$work/initrd.img"
used_mb=$(du -sm "$root" | cut -f1)
size_mb=$((used_mb + used_mb / 4 + 256))
progress "mkfs.ext4 -d (${used_mb} MB used, ${size_mb} MB image)"
run_logged mkfs.ext4 -q -F -L tw-vm-root -d "$root" "$work/image.ext4" "${size_mb}M"
if [[ $root_tmpfs -eq 1 ]]; then
  umount "$root"
  root_tmpfs=0
fi
rm -rf "$root"

chmod 755 "$work"
[[ -e "$image_dir" ]] && rm -rf "$image_dir"
mv "$work" "$image_dir"
work=""
# Stale: built from other kernel/DAHDI versions or another version of this script. Images of
# other package lists (--for-binary) built by this script from the same versions are kept.
current_prefix="linux-${linux_version}_dahdi-${dahdi_version}_pkgs-"
current_prefix=$(tr -c 'A-Za-z0-9._+\n-' '_' <<<"$current_prefix")
for old in "$cache_dir"/linux-*_dahdi-*_pkgs-*_script-* "$cache_dir"/.tmp-*; do
  [[ -e "$old" && "$old" != "$image_dir" ]] || continue
  name=$(basename "$old")
  if [[ "$name" == "$current_prefix"*"_script-$script_hash" ]]; then
    continue
  fi
  progress "removing stale $name"
  rm -rf "$old"
done
progress "done: $image_dir"
echo "$image_dir"
