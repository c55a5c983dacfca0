#!/bin/bash
# Guest side of the vm_tap test (tests/vm/tap/test_vm_tap.cpp starts it through
# tests/vm/run-vm.sh --pairs 2 --systemd --setup-script tap/tap_setup.sh; docs/vm-tests.md,
# "The tap test").
#
# systemd is PID 1. Before DAHDI loaded, tap_setup.sh installed trunkwatch as docs/install.md
# says (binary, unit, udev rule, sysusers, tmpfiles, /etc/trunkwatch/trunkwatch.toml); when the
# spans appeared, udev gave the trunkwatch user its ACL entries and started trunkwatch.service.
# Pair 1 (spans A1 -> B1) carries what the PBX transmits, pair 2 (A2 -> B2) what the carrier
# transmits: the feeder writes on A1/A2, the service taps B1 (span) + B2 (carrier_span), as a
# card on a real PRI tap. tw_dahdi_feed and tap_scenario.toml are in the share.
#
#  1. Traffic and lifecycle: the service is up (started by udev, as user trunkwatch, READY
#     through sd_notify, pinging the watchdog); the feeder plays the scenario in real time;
#     meanwhile `status` and `calls` while calls are up, `systemctl reload` with a good changed
#     config (reloads 1) and with a bad one (the journal shows file:line:column and "stays in
#     force", same main pid), and `systemctl stop` while the last call is up (Result=success;
#     that call is recorded with end_reason "shutdown").
#  2. Alarms (`systemctl start` again, fresh records): the peers of the tapped spans are
#     destroyed and recreated (DAHDI_DYNAMIC_DESTROY/CREATE: the tapped span goes RED, then
#     clears), one tapped span is unassigned and assigned again (dahdi_span_assignments: the
#     daemon loses the span, retries every 5 s and reopens the new device nodes, which udev has
#     given their ACL entries), one more call is fed to show the reopened span decodes; then
#     the daemon is killed with SIGKILL: systemd restarts it (Restart=on-failure) and the
#     stored record is still there.
#
# Everything the host checks goes to /share/out: records (calls.jsonl, calls.sqlite), the
# truth, the feeder's stats, the daemon's journal and exit statuses, `status --json` /
# `calls --json` at each step (status-*.json, calls-*.json), unit properties (unit-*.txt),
# steps.txt (what happened when) and checks.txt (PASS/FAIL lines of the checks made here).
# Exit status 0 when every check here passed.
set -uo pipefail

share=${TW_SHARE:-/share}
out=$share/out
tw=/usr/local/bin/trunkwatch
feed=$share/tw_dahdi_feed
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
# shellcheck source=tap_common.sh
. "$here/tap_common.sh"
scenario=$here/tap_scenario.toml
conf=/etc/trunkwatch/trunkwatch.toml
records=/var/lib/trunkwatch
unit=trunkwatch.service
pbx_a=$TW_PAIR1_A pbx_b=$TW_PAIR1_B
car_a=$TW_PAIR2_A car_b=$TW_PAIR2_B
dchan=$TW_DCHAN nchans=$TW_CHANS_PER_SPAN
failures=0

rm -rf "$out"
mkdir -p "$out"
: >"$out/checks.txt"
: >"$out/steps.txt"

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
t0=$(now_ms)
# Builtins only (no tee): under emulation every program started costs a good part of a second.
step() {  # what happened, stamped with seconds since the script started
  local ms=$(($(now_ms) - t0)) line
  printf -v line '[%4d.%03d] %s' $((ms / 1000)) $((ms % 1000)) "$*"
  echo "$line" >>"$out/steps.txt"
  echo "$line" >&2
}
pass() {
  echo "PASS $*" >>"$out/checks.txt"
  echo "PASS $*"
}
fail() {
  echo "FAIL $*" >>"$out/checks.txt"
  echo "FAIL $*"
  failures=$((failures + 1))
}
check() {  # description command...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# The configuration, installed as tap_setup.sh did (root:trunkwatch 0640).
install_config() {  # site-name extra-text
  write_config /tmp/trunkwatch.toml "$1" "$2"
  install -m 0640 -g trunkwatch /tmp/trunkwatch.toml "$conf"
}
prop() { systemctl show "$unit" -p "$1" --value; }
# Unit properties at a step, into unit-NAME.txt.
unit_state() {
  systemctl show "$unit" -p ActiveState -p SubState -p Result -p MainPID -p ExecMainStatus \
    -p NRestarts -p StatusText -p WatchdogTimestampMonotonic -p InvocationID >"$out/unit-$1.txt"
}
# The daemon's journal for one run of the service (its invocation), into NAME.log.
journal() {  # name invocation-id
  journalctl -o cat --no-pager "_SYSTEMD_INVOCATION_ID=$2" >"$out/$1.log" 2>&1
}
# `trunkwatch status --json` into status-NAME.json (and the human form into status-NAME.txt);
# the default control socket, /run/trunkwatch/control.
status() {
  "$tw" status --json >"$out/status-$1.json" 2>>"$out/control-errors.txt"
  local rc=$?
  "$tw" status >"$out/status-$1.txt" 2>&1
  return $rc
}
calls() {
  "$tw" calls --json >"$out/calls-$1.json" 2>>"$out/control-errors.txt"
  local rc=$?
  "$tw" calls >"$out/calls-$1.txt" 2>&1
  return $rc
}
# Runs the command every 0.2 s until it succeeds (0) or the seconds have passed (1).
wait_for() {  # seconds command...
  local deadline=$(($(now_ms) + $1 * 1000))
  shift
  until "$@"; do
    [[ $(now_ms) -gt $deadline ]] && return 1
    sleep 0.2
  done
}
status_matches() {  # name pattern: status-NAME.json keeps the last answer
  "$tw" status --json >"$out/status-$1.json" 2>/dev/null && grep -qE "$2" "$out/status-$1.json"
}
# Polls status until its JSON matches the pattern.
wait_status() {  # name pattern seconds
  if ! wait_for "$3" status_matches "$1" "$2"; then
    step "status $1: /$2/ not seen within $3 s"
    return 1
  fi
  "$tw" status >"$out/status-$1.txt" 2>&1
  step "status $1: matched /$2/"
}
# Active (Type=notify: READY=1 came) and answering on its socket.
service_ready() {
  [[ $(systemctl is-active "$unit") == active ]] && "$tw" status --json >/dev/null 2>&1
}
wait_active() {  # name seconds
  if ! wait_for "$2" service_ready; then
    step "$1: the service is $(systemctl is-active "$unit") after $2 s"
    systemctl status --no-pager "$unit" >"$out/unit-$1-status.txt" 2>&1
    return 1
  fi
  step "$1: the service is active, main pid $(prop MainPID), answering on its socket"
}
# systemctl stop, then what systemd says of the run; the journal into NAME.log.
stop_service() {  # name
  local id
  id=$(prop InvocationID)
  systemctl stop "$unit"
  step "systemctl stop: $(systemctl is-active "$unit"), result $(prop Result), status $(prop ExecMainStatus)"
  unit_state "$1-stopped"
  prop ExecMainStatus >"$out/$1.exit"
  journal "$1" "$id"
}
# Sleeps until $1 seconds after the feeder started.
at() {
  local target=$((feed_t0 + ${1%.*} * 1000)) left
  left=$((target - $(now_ms)))
  if [[ $left -gt 0 ]]; then
    sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
  fi
}
span_dev() { basename "$(readlink "/sys/bus/dahdi_spans/devices/span-$1/ddev")"; }
save_records() {  # suffix
  cp "$records/calls.jsonl" "$out/calls$1.jsonl" 2>/dev/null
  cp "$records/calls.sqlite" "$out/calls$1.sqlite" 2>/dev/null
  cp "$records/alerts.jsonl" "$out/alerts$1.jsonl" 2>/dev/null
}

step "tap test: pairs $pbx_a->$pbx_b (PBX) and $car_a->$car_b (carrier), $TW_SPAN_TYPE, $(systemctl --version | head -n1)"
check "the service taps the spans tap_common.sh names" \
  test "$pbx_b:$car_b" = "$tap_pbx_span:$tap_carrier_span"

# ---- 1. traffic and lifecycle ---------------------------------------------------------------
cp "$conf" "$out/trunkwatch.toml"
"$tw" check-config "$conf" >"$out/check-config.txt" 2>&1
check "check-config accepts the installed configuration" test $? -eq 0
if ! wait_active service-up 60; then
  fail "udev starts trunkwatch.service when the spans appear, and it becomes ready"
  journalctl -b --no-pager >"$out/journal-boot.txt" 2>&1
  exit 1
fi
unit_state start
pid1=$(prop MainPID)
invocation1=$(prop InvocationID)
# SYSTEMD_WANTS makes each span's .device unit want the service (systemd does not list that
# as the service's WantedBy).
for u in $(systemctl list-units --type=device --all --plain --no-legend | awk '/span/ {print $1}'); do
  echo "$u Wants=$(systemctl show "$u" -p Wants --value)"
done >"$out/span-devices.txt"
udevadm info "/sys/bus/dahdi_spans/devices/span-$pbx_b" >"$out/udev-span.txt" 2>&1
step "span devices: $(tr '\n' ';' <"$out/span-devices.txt")"
check "udev started the service: the span devices want it (SYSTEMD_WANTS)" \
  test "$(grep -c 'Wants=.*trunkwatch\.service' "$out/span-devices.txt")" -eq 4
check "the service is not enabled: nothing but udev started it" \
  test "$(systemctl is-enabled "$unit" 2>&1)" != enabled
check "the daemon runs as user trunkwatch" \
  test "$(awk '/^Uid:/ {print $2}' "/proc/$pid1/status")" -eq "$(id -u trunkwatch)"
check "the daemon has no capabilities" \
  grep -q '^CapEff:[[:space:]]*0*$' "/proc/$pid1/status"
getfacl -p "$(printf '/dev/dahdi/chan/%03d/%03d' "$pbx_b" "$dchan")" /dev/dahdi/ctl >"$out/acl.txt" 2>&1
check "udev gave user trunkwatch its ACL entry on the DAHDI nodes" \
  test "$(grep -c '^user:trunkwatch:rw-' "$out/acl.txt")" -eq 2
# A span whose channel nodes udev had not yet given their ACL entry when SYSTEMD_WANTS started
# the service waits for the daemon's next 5 s retry (logged as "card span N waits"), in alarm
# until then: allowed for, not a failure.
wait_status start "\"span\":$pbx_b,.*\"alarms\":\"ok\"" 20
check "status at start: span $pbx_b, alarms ok (within one retry of the start)" test $? -eq 0

"$feed" feed "$scenario" --pbx-span "$pbx_a" --carrier-span "$car_a" --truth "$out/truth.jsonl" \
  --stats "$out/feed-stats.json" 2>"$out/feed.log" &
feed_pid=$!
# The timeline runs from the moment the feeder starts playing: loading the scenario and the
# libpri stacks takes seconds under emulation on a busy host (more for a sanitizer build).
feeder_playing() { grep -q '^tw_dahdi_feed: playing' "$out/feed.log" 2>/dev/null; }
feeder_started() { feeder_playing || ! kill -0 "$feed_pid" 2>/dev/null; }  # or failed
wait_for 60 feeder_started
feeder_playing || fail "the feeder starts playing"
feed_t0=$(now_ms)
step "feeder started, pid $feed_pid, playing"

at 20
status during
calls during
unit_state during
step "status and calls while calls are up:" \
  "$(grep -o '"calls_up":[0-9]*' "$out/status-during.json" | tail -n1); unit status: $(prop StatusText)"
check "status answers while calls are up" grep -q '"ok":true' "$out/status-during.json"
check "calls lists the calls up" grep -q '"calling"' "$out/calls-during.json"
check "the daemon pings the watchdog" test "$(prop WatchdogTimestampMonotonic)" -gt 0
check "the daemon reports its status to systemd (STATUS=)" test -n "$(prop StatusText)"

at 26
install_config "vm tap, reloaded" ""
cp "$conf" "$out/trunkwatch-reloaded.toml"
systemctl reload "$unit"
step "systemctl reload with a good changed configuration: $?"
wait_status reload-good '"reloads":1' 5
check "a good reload counts (reloads 1)" test $? -eq 0

at 32
install_config "vm tap, broken" 'timezone = "Europe/Atlantis"
colour = "blue"'
cp "$conf" "$out/trunkwatch-bad.toml"
systemctl reload "$unit"
step "systemctl reload with a bad configuration: $?"
sleep 1.5
status reload-bad
unit_state reload-bad
check "the service runs on after a bad reload (active, same main pid)" \
  test "$(systemctl is-active "$unit"):$(prop MainPID)" = "active:$pid1"
check "a bad reload does not count (reloads still 1)" \
  grep -q '"reloads":1' "$out/status-reload-bad.json"
journal daemon1 "$invocation1"
check "the journal names the error as file:line:column" \
  grep -qE "$conf:[0-9]+:[0-9]+: " "$out/daemon1.log"
check "the journal says the running configuration stays in force" \
  grep -q 'stays in force' "$out/daemon1.log"
check "the daemon reads span $tap_raw_dchan_span's D-channel (bchan= in system.conf) as raw bits" \
  grep -q "D-channel of card span $tap_raw_dchan_span is a clear channel" "$out/daemon1.log"
check "span $pbx_b's D-channel (dchan=) is read in the driver's HDLC mode" \
  test "$(grep -c 'is a clear channel' "$out/daemon1.log")" -eq 1
install_config "vm tap, reloaded" ""

at 72
status before-term
calls before-term
step "before stopping: $(grep -o '"calls_up":[0-9]*' "$out/status-before-term.json" | tail -n1)"
check "a call is up when the service is stopped" grep -q '"calling"' "$out/calls-before-term.json"
stop_service daemon1
check "systemctl stop: the daemon exits 0, the unit is inactive with result success" \
  test "$(cat "$out/daemon1.exit"):$(systemctl is-active "$unit"):$(prop Result)" = "0:inactive:success"
check "no restart happened during phase 1 (the watchdog never fired)" \
  grep -q '^NRestarts=0$' "$out/unit-daemon1-stopped.txt"

wait "$feed_pid"
feed_rc=$?
echo "$feed_rc" >"$out/feed.exit"
step "feeder exited with $feed_rc: $(tail -n1 "$out/feed.log")"
check "the feeder played the scenario without errors" test "$feed_rc" -eq 0
save_records ""
check "the records belong to user trunkwatch" \
  test "$(stat -c %U "$records/calls.sqlite")" = trunkwatch
grep -q '"end_reason":"shutdown"' "$out/calls.jsonl" 2>/dev/null
check "the call up at the stop is recorded with end_reason shutdown" test $? -eq 0

# ---- 2. alarms --------------------------------------------------------------------------------
rm -f "$records"/calls.* "$records"/alerts.jsonl
install_config "vm tap, alarms" ""
systemctl start "$unit"
step "systemctl start: $?"
if ! wait_active service-up-2 30; then
  fail "the service starts again for phase 2"
  exit 1
fi
invocation2=$(prop InvocationID)
wait_status alarm-start '"alarms":"ok"' 5
check "phase 2 starts with the span out of alarm" test $? -eq 0
sysfs_alarms() { grep -H . /sys/bus/dahdi_spans/devices/span-*/alarms >>"$out/sysfs-alarms.txt"; }

# The peers of both tapped spans go away: both directions of the tap lose their signal.
echo "--- both peers destroyed" >>"$out/sysfs-alarms.txt"
"$feed" dyn-destroy loc 1:0 >>"$out/alarm-cmds.txt" 2>&1
"$feed" dyn-destroy loc 2:0 >>"$out/alarm-cmds.txt" 2>&1
step "destroyed loc 1:0 and 2:0 (spans $pbx_a and $car_a)"
wait_status alarm-red '"alarms":"red' 6
check "status shows RED when the tapped spans lose their peers" test $? -eq 0
sysfs_alarms
# Only the PBX side comes back: the carrier side is still in alarm, so the span is too.
recreate() {  # loc address: DAHDI_DYNAMIC_CREATE + channel configuration; prints the span
  local o
  o=$("$feed" dyn-create loc "$1" "$nchans" "$dchan" 2>&1)
  echo "$o" >>"$out/alarm-cmds.txt"
  step "recreated loc $1: ${o//$'\n'/; }"
  sed -n 's/^dyn-create .*: span \([0-9]*\)$/\1/p' <<<"$o"
}
pbx_a=$(recreate 1:0)
sleep 3
echo "--- loc 1:0 back" >>"$out/sysfs-alarms.txt"
sysfs_alarms
status alarm-half
check "status stays in alarm while one side of the tap still is" \
  grep -q '"alarms":"red' "$out/status-alarm-half.json"
car_a=$(recreate 2:0)
check "the recreated peers are spans $TW_PAIR1_A and $TW_PAIR2_A again" \
  test "$pbx_a:$car_a" = "$TW_PAIR1_A:$TW_PAIR2_A"
wait_status alarm-clear '"alarms":"ok"' 6
check "status shows ok again when both peers are back" test $? -eq 0
echo "--- loc 2:0 back" >>"$out/sysfs-alarms.txt"
sysfs_alarms

# The tapped PBX-side span itself goes away (unassigned) and comes back with new device
# nodes, which udev gives their ACL entry again before the daemon's retry opens them.
dev=$(span_dev "$pbx_b")
dahdi_span_assignments remove "/sys/bus/dahdi_devices/devices/$dev" >>"$out/alarm-cmds.txt" 2>&1
step "unassigned span $pbx_b ($dev)"
wait_status gone '"alarms":"red,los"' 6
check "status shows the vanished span in alarm (red,los)" test $? -eq 0
check "the service runs on without the span" test "$(systemctl is-active "$unit")" = active
dahdi_span_assignments auto "/sys/bus/dahdi_devices/devices/$dev" >>"$out/alarm-cmds.txt" 2>&1
step "assigned $dev again: span $(cat "/sys/bus/dahdi_spans/devices/span-$pbx_b/name" 2>/dev/null)"
"$feed" spanconfig "$pbx_b" "$dchan" >>"$out/alarm-cmds.txt" 2>&1
step "configured span $pbx_b's channels"
wait_status back '"alarms":"ok"' 12
check "the daemon reopens the span within its 5 s retry (alarms ok)" test $? -eq 0
journal daemon2 "$invocation2"
check "the journal says the span is back" grep -q "card span $pbx_b is back" "$out/daemon2.log"

# One more call through the reopened span.
cat >/tmp/after.toml <<'SCENARIO'
[scenario]
name = "vm-tap-after-alarms"
start = 2027-01-05T10:00:00Z
seed = 3
[audio]
enabled = true
[[span]]
id = 1
type = "t1"
[[call]]
at = 0.5
calling = "2125550120"
called = "3055550100"
ring = 0.5
answer_after = 1
talk = 4
SCENARIO
cp /tmp/after.toml "$out/after.toml"
"$feed" feed /tmp/after.toml --pbx-span "$pbx_a" --carrier-span "$car_a" \
  --truth "$out/truth-after.jsonl" --stats "$out/feed-after-stats.json" 2>"$out/feed-after.log"
check "the feeder plays the call after the alarms" test $? -eq 0
# The rules engine holds an ended call back for through_dial.end_together_s (plus a second)
# before it is stored, to see whether another leg ends with it.
wait_for 30 grep -q '"called":"3055550100"' "$records/calls.jsonl"
step "the call after the alarms is stored"
status after
journal daemon2 "$invocation2"
save_records "-after"
check "the call after the alarms is recorded" \
  grep -q '"called":"3055550100"' "$out/calls-after.jsonl"

# A crash: SIGKILL. systemd restarts the service (Restart=on-failure, RestartSec=10s); what
# was stored before stays stored.
systemctl kill -s KILL "$unit"
step "systemctl kill -s KILL"
restarted_once() { [[ $(prop NRestarts) -ge 1 ]]; }
wait_for 30 restarted_once
wait_active restarted 20
check "systemd restarts the killed daemon (NRestarts 1, active)" \
  test "$(prop NRestarts):$(systemctl is-active "$unit")" = "1:active"
unit_state restarted
check "the record stored before the kill is still there" \
  grep -q '"called":"3055550100"' "$records/calls.jsonl"
status restarted
invocation3=$(prop InvocationID)
stop_service daemon3
check "the restarted daemon stops cleanly (exit 0)" test "$(cat "$out/daemon3.exit")" -eq 0
save_records "-final"
check "the stored records survived the kill and the restart" \
  test "$(grep -c . "$out/calls-final.jsonl")" -eq "$(grep -c . "$out/calls-after.jsonl")"
step "invocations: $invocation1 $invocation2 $invocation3"

dmesg | grep -iE 'dahdi|span' | grep -v 'Expected seq no' | tail -n 60 >"$out/dmesg.txt"
journalctl -b --no-pager >"$out/journal-boot.txt" 2>&1
step "done: $failures check(s) failed"
[[ $failures -eq 0 ]]
