#!/bin/bash
# Guest side of the vm_smoke test (runs inside the VM started by tests/vm/run-vm.sh).
# Checks the loc spans exist, records what a userland program sees (device nodes, sysfs,
# /proc/dahdi, dahdi_scan, DAHDI_SPANSTAT), and runs dahdi_probe (built on the host into the
# share) to assert that HDLC frames and B-channel audio cross a span pair, then records how
# alarms are produced on a loc span and which events a reader sees.
# Full sysfs listing: /share/sysfs.txt. Exit status: 0 when every check passed.
set -uo pipefail

probe=/share/dahdi_probe
nchans=$TW_CHANS_PER_SPAN
dchan=$TW_DCHAN
spans=$TW_SPANS
a=$TW_PAIR1_A
b=$TW_PAIR1_B
failures=0

section() { printf '\n===== [%3ds] %s\n' "$SECONDS" "$*"; }
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
run_probe() {  # assertions inside the probe count as one failure of this script
  if ! "$probe" "$@"; then
    failures=$((failures + 1))
  fi
}
# Prints "path = value" for every attribute file directly under a sysfs directory (bash
# builtins only: every fork costs ~0.1 s under emulation). Multi-line values joined with '|'.
attrs() {
  local f lines IFS='|'
  for f in "$1"/*; do
    [[ -f "$f" ]] || continue
    if { mapfile -t lines <"$f"; } 2>/dev/null; then
      echo "$f = ${lines[*]}"
    else
      echo "$f (write-only)"
    fi
  done
}

section "spans"
for ((s = 1; s <= spans; s++)); do
  d=/sys/bus/dahdi_spans/devices/span-$s
  if [[ -d $d && $(cat "$d/channels") -eq $nchans && $(cat "$d/alarms") == 0x0 ]]; then
    pass "span $s: $(cat "$d/name"), $nchans channels from $(cat "$d/basechan"), alarms 0x0"
  else
    fail "span $s missing, wrong channel count or in alarm"
  fi
done

section "device nodes: ls -l /dev/dahdi /dev/dahdi/chan/*"
ls -l /dev/dahdi /dev/dahdi/chan/*

section "sysfs: /sys/bus/dahdi_spans/devices/span-*/*"
for d in /sys/bus/dahdi_spans/devices/span-*; do
  attrs "$d"
  echo "$d/ddev -> $(readlink "$d/ddev")"
done
section "sysfs: /sys/bus/dahdi_devices/devices/*/*"
for d in /sys/bus/dahdi_devices/devices/*; do attrs "$d"; done
{
  for d in /sys/bus/dahdi_spans/devices/span-* /sys/bus/dahdi_devices/devices/* \
    /sys/bus/dahdi_channels/devices/*; do
    attrs "$d"
  done
} >/share/sysfs.txt
section "sysfs: /sys/bus/dahdi_channels/devices/*/* for span $a's channel 1 and D-channel (all: sysfs.txt)"
attrs "/sys/bus/dahdi_channels/devices/dahdi!chan!$(printf '%03d' "$a")!001"
attrs "/sys/bus/dahdi_channels/devices/dahdi!chan!$(printf '%03d!%03d' "$a" "$dchan")"
echo "channel directories: $(find /sys/bus/dahdi_channels/devices/ -mindepth 1 -maxdepth 1 | wc -l)"

section "/proc/dahdi/*"
for f in /proc/dahdi/*; do
  echo "--- $f"
  cat "$f"
done
section "dahdi_scan"
dahdi_scan
section "dahdi_span_assignments list"
dahdi_span_assignments list

section "DAHDI_SPANSTAT"
mapfile -t all_spans < <(seq 1 "$spans")
run_probe spanstat "${all_spans[@]}"
run_probe params "$a" 1

section "HDLC frames on the D-channels of pair 1 (span $a <-> span $b, channel $dchan)"
run_probe hdlc "$a" "$b" "$dchan"

section "B-channel audio, span $a channel 1 -> span $b channel 1, 2 s"
run_probe audio "$a" "$b" 1 2
if [[ $TW_PAIRS -ge 2 ]]; then
  section "B-channel audio on pair 2, span $TW_PAIR2_A channel $nchans/last B -> span $TW_PAIR2_B"
  last_b=$nchans
  [[ $last_b -eq $dchan ]] && last_b=$((nchans - 1))
  run_probe audio "$TW_PAIR2_A" "$TW_PAIR2_B" "$last_b" 2
fi

section "B-channel reader that stalls (span $b channel 2)"
run_probe overrun "$b" 2

section "HDLC receiver: hand-made bit streams (span $a D-channel configured clear)"
a_base=$(cat "/sys/bus/dahdi_spans/devices/span-$a/basechan")
"$probe" chanconfig "$((a_base + dchan - 1))" clear || fail "chanconfig clear"
run_probe rawhdlc "$a" "$b" "$dchan"
"$probe" chanconfig "$((a_base + dchan - 1))" hdlcfcs || fail "chanconfig hdlcfcs"

# Watches span $b's D-channel and channel 1 for $1 seconds in the background.
watch_b() {
  rm -f /tmp/mark
  "$probe" watch "$b" "$dchan" "$1" /tmp/mark >/tmp/watch.d 2>&1 &
  "$probe" watch "$b" 1 "$1" /tmp/mark >/tmp/watch.b 2>&1 &
}
show_b_sysfs() {  # span $b and its D-channel in sysfs while a reader has it open
  local IFS='|' lines
  mapfile -t lines </sys/bus/dahdi_spans/devices/span-"$b"/alarms
  echo "sysfs span-$b/alarms = ${lines[*]}"
  attrs "/sys/bus/dahdi_channels/devices/dahdi!chan!$(printf '%03d!%03d' "$b" "$dchan")" |
    grep -E '/(alarms|in_use|blocksize) '
}
show_watch() {
  cat /tmp/watch.d /tmp/watch.b
}
expect_in_watch() {  # pattern description
  if grep -q "$1" /tmp/watch.d && grep -q "$1" /tmp/watch.b; then
    pass "$2"
  else
    fail "$2"
  fi
}

section "alarm: nothing written on span $a, all its channels closed (3 s)"
watch_b 3
wait
show_watch
if grep -q 'ELAST\|alarms 0x[1-9]' /tmp/watch.d /tmp/watch.b; then
  fail "an idle peer raised an event or alarm"
else
  pass "an idle or closed peer raises no alarm and no event; span $b channel 1 keeps reading"
fi

# Order matters: dahdi_dynamic runs every dynamic span from the core tick of the most recently
# created one (the head of its list). Unassigning that span stops them all (RED everywhere);
# unassigning another one gives its peer YELLOW. At this point the head is the last span
# created at boot, so unassigning span $a gives YELLOW; the destroy test below recreates
# span $a, which makes it the head.
section "alarm: unassign span $a (dahdi_span_assignments remove), assign it again after 4 s"
dev=$(basename "$(readlink "/sys/bus/dahdi_spans/devices/span-$a/ddev")")
watch_b 8
sleep 0.5
echo "$(date +%T.%N | cut -c1-12) dahdi_span_assignments remove /sys/bus/dahdi_devices/devices/$dev"
dahdi_span_assignments remove "/sys/bus/dahdi_devices/devices/$dev" || fail "remove"
sleep 3
"$probe" alarms
show_b_sysfs
sleep 1
touch /tmp/mark
echo "$(date +%T.%N | cut -c1-12) dahdi_span_assignments auto /sys/bus/dahdi_devices/devices/$dev"
dahdi_span_assignments auto "/sys/bus/dahdi_devices/devices/$dev" || fail "auto"
wait
show_watch
expect_in_watch 'GETEVENT 4 (ALARM)' "span $b readers get DAHDI_EVENT_ALARM when span $a is unassigned"
expect_in_watch 'alarms 0x4 (YELLOW)' "span $b shows YELLOW while span $a is unassigned"
expect_in_watch 'GETEVENT 5 (NOALARM)' "span $b readers get DAHDI_EVENT_NOALARM when span $a is assigned again"
echo "after re-assignment span $a is $(cat "/sys/bus/dahdi_spans/devices/span-$a/name")" \
  "with $(grep -c -E 'Clear|HDLC' "/proc/dahdi/$a") configured channels; configuring them again"
"$probe" spanconfig "$a" "$dchan" || fail "spanconfig $a"
run_probe hdlc "$a" "$b" "$dchan" >/tmp/hdlc.log
grep -E '^(PASS|FAIL) SABME span A->B: frame' /tmp/hdlc.log

section "alarm: destroy span $a (DAHDI_DYNAMIC_DESTROY loc 1:0), recreate it after 3.5 s"
watch_b 7
sleep 0.5
echo "$(date +%T.%N | cut -c1-12) dahdi_probe dyn-destroy loc 1:0"
"$probe" dyn-destroy loc 1:0 || fail "dyn-destroy"
sleep 3
"$probe" alarms
show_b_sysfs
sleep 0.5
touch /tmp/mark
echo "$(date +%T.%N | cut -c1-12) dahdi_probe dyn-create loc 1:0 $nchans $dchan"
"$probe" dyn-create loc 1:0 "$nchans" "$dchan" || fail "dyn-create"
wait
show_watch
expect_in_watch 'GETEVENT 4 (ALARM)' "span $b readers get DAHDI_EVENT_ALARM after the peer span is destroyed"
expect_in_watch 'alarms 0x8 (RED)' "span $b shows RED while its peer is gone"
expect_in_watch 'GETEVENT 5 (NOALARM)' "span $b readers get DAHDI_EVENT_NOALARM when the peer is back"
run_probe hdlc "$a" "$b" "$dchan" >/tmp/hdlc.log
grep -E '^(PASS|FAIL) SABME span A->B: frame' /tmp/hdlc.log

section "span $a unassigned while its own channels are open (dahdi_span_assignments remove)"
rm -f /tmp/mark
"$probe" watch "$a" "$dchan" 4 /tmp/mark >/tmp/watch.d 2>&1 &
"$probe" watch "$a" 1 4 /tmp/mark >/tmp/watch.b 2>&1 &
sleep 0.5
touch /tmp/mark
dev=$(basename "$(readlink "/sys/bus/dahdi_spans/devices/span-$a/ddev")")
echo "$(date +%T.%N | cut -c1-12) dahdi_span_assignments remove /sys/bus/dahdi_devices/devices/$dev"
dahdi_span_assignments remove "/sys/bus/dahdi_devices/devices/$dev" || fail "remove"
wait
show_watch
expect_in_watch 'GETEVENT 20 (REMOVED)' "readers of an unassigned span get DAHDI_EVENT_REMOVED"
expect_in_watch 'No such device' "reads on an unassigned span then fail with ENODEV"

section "kernel messages"
dmesg | grep -iE 'dahdi|tdmo|span' | grep -v 'Expected seq no' | tail -n 40

echo
if [[ $failures -eq 0 ]]; then
  echo "SMOKE: all checks passed"
  exit 0
fi
echo "SMOKE: $failures check(s) failed"
exit 1
