#!/bin/bash
# Guest side of the vm_tap test, before DAHDI loads (run-vm.sh --systemd --setup-script): installs
# trunkwatch the way docs/install.md, "With `cmake --install`", tells an administrator to, from
# the tree test_vm_tap staged on the host with `DESTDIR=SHARE/root cmake --install BUILD`, and
# writes /etc/trunkwatch/trunkwatch.toml. When the init then loads DAHDI and creates the spans,
# udev (60-trunkwatch.rules) gives the trunkwatch user its ACL entries on the device nodes and
# starts trunkwatch.service: nobody starts the daemon by hand. Output goes to the console.
set -euo pipefail

share=/share
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
# shellcheck source=tap_common.sh
. "$here/tap_common.sh"

# cmake --install (staged): bin/, lib/systemd/system/, lib/udev/rules.d/, lib/sysusers.d/,
# lib/tmpfiles.d/, share/ under /usr/local.
cp -a "$share/root/." /
echo "tap_setup: installed $(cd "$share/root" && find . -type f | sort | tr '\n' ' ')"
# The documented steps after it (the acl package is in the image).
systemd-sysusers trunkwatch.conf
systemd-tmpfiles --create trunkwatch.conf
write_config /tmp/trunkwatch.toml "vm tap" ""
install -m 0640 -g trunkwatch /tmp/trunkwatch.toml /etc/trunkwatch/trunkwatch.toml

# A sanitizer build of trunkwatch (what CI builds) does two things the unit's system-call filter
# refuses with EPERM, and dies of it: at start ASan sets RLIMIT_CORE to 0 with setrlimit
# (@resources is filtered out), at exit LeakSanitizer stops the threads with ptrace (not in
# @system-service). For such a build only, a drop-in turns both off; the sandbox stays whole.
if ldd /usr/local/bin/trunkwatch | grep -q libasan; then
  mkdir -p /etc/systemd/system/trunkwatch.service.d
  cat >/etc/systemd/system/trunkwatch.service.d/sanitizer.conf <<'EOF'
# Written by tests/vm/tap/tap_setup.sh for a sanitizer build only.
[Service]
Environment=ASAN_OPTIONS=disable_coredump=0:detect_leaks=0:abort_on_error=1
Environment=UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
EOF
  echo "tap_setup: sanitizer build: drop-in $(tr '\n' ' ' </etc/systemd/system/trunkwatch.service.d/sanitizer.conf)"
fi
systemctl daemon-reload
# systemd-modules-load loaded dahdi at boot (dahdi-linux's modules-load.d), so /dev/dahdi/ctl
# and friends exist already and need their ACL entry now; the spans come later.
udevadm control --reload
udevadm trigger --action=add --subsystem-match=dahdi --subsystem-match=dahdi_channels
udevadm settle
echo "tap_setup: $(systemctl show trunkwatch.service -p FragmentPath -p DropInPaths -p UnitFileState | tr '\n' ' ')"
echo "tap_setup: user $(id trunkwatch)"
