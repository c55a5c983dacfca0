#!/bin/bash
# Guest side of the vm_tap test (tests/vm/tap/test_vm_tap.cpp starts it through
# tests/vm/run-vm.sh --pairs 2; docs/vm-tests.md, "The tap test").
#
# The share holds trunkwatch and tw_dahdi_feed; tap_scenario.toml and the high-risk
# destination file (data/) are next to this script. Pair 1 (spans A1 -> B1)
# carries what the PBX transmits, pair 2 (A2 -> B2) what the carrier transmits: the feeder
# writes on A1/A2, the daemon taps B1 (span) + B2 (carrier_span), as a card on a real PRI tap.
#
#  1. Traffic and lifecycle (daemon 1): the daemon is started as the systemd unit's ExecStart
#     does, the feeder plays the scenario in real time; meanwhile `status` and `calls` while
#     calls are up, SIGHUP with a good changed config (reloads 1), SIGHUP with a bad one (the
#     log shows file:line:column and "stays in force", the daemon runs on), and SIGTERM while
#     the last call is up (exit 0; that call is recorded with end_reason "shutdown").
#  2. Alarms (daemon 2): the peers of the tapped spans are destroyed and recreated
#     (DAHDI_DYNAMIC_DESTROY/CREATE: the tapped span goes RED, then clears), one tapped span is
#     unassigned and assigned again (dahdi_span_assignments: the daemon loses the span, retries
#     every 5 s and reopens it), then one more call is fed to show the reopened span decodes.
#
# Everything the host checks goes to /share/out: records (calls.jsonl, calls.sqlite), the
# truth, the feeder's stats, the daemon logs and exit codes, `status --json` / `calls --json`
# at each step (status-*.json, calls-*.json), steps.txt (what happened when) and checks.txt
# (PASS/FAIL lines of the checks made here). Exit status 0 when every check here passed.
set -uo pipefail

share=${TW_SHARE:-/share}
out=$share/out
tw=$share/trunkwatch
feed=$share/tw_dahdi_feed
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
scenario=$here/tap_scenario.toml
conf=/tmp/trunkwatch.toml
sock=/tmp/tw-ctl
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
step() {  # what happened, stamped with seconds since the script started
  local ms=$(($(now_ms) - t0))
  printf '[%4d.%03d] %s\n' $((ms / 1000)) $((ms % 1000)) "$*" | tee -a "$out/steps.txt" >&2
}
pass() { echo "PASS $*" | tee -a "$out/checks.txt"; }
fail() { echo "FAIL $*" | tee -a "$out/checks.txt"; failures=$((failures + 1)); }
check() {  # description command...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# Writes the daemon's configuration: $1 records dir, $2 site name, $3 extra text (a bad key).
write_config() {
  cat >"$conf" <<EOF
[site]
name = "$2"
remote_access = ["2125550199"]
$3
[numbers]
high_risk_file = "$here/high-risk-destinations.toml"

[notices]
mask_digits = false

[email]
spool_dir = "/tmp/tw-spool"

[daemon]
records_dir = "$1"
control_socket = "$sock"
log_target = "stderr"
log_level = "info"
block_ms = 20
json_records = true

[[span]]
span = $pbx_b
carrier_span = $car_b
switchtype = "ni2"
pbx_side = "user"
name = "vm tap"
EOF
}

# `trunkwatch status --json` into status-NAME.json (and the human form into status-NAME.txt).
status() {
  "$tw" status --socket "$sock" --json >"$out/status-$1.json" 2>>"$out/control-errors.txt"
  local rc=$?
  "$tw" status --socket "$sock" >"$out/status-$1.txt" 2>&1
  return $rc
}
calls() {
  "$tw" calls --socket "$sock" --json >"$out/calls-$1.json" 2>>"$out/control-errors.txt"
  local rc=$?
  "$tw" calls --socket "$sock" >"$out/calls-$1.txt" 2>&1
  return $rc
}
# Polls status until its JSON matches the pattern; status-NAME.json keeps the last answer.
wait_status() {  # name pattern seconds
  local deadline=$(($(now_ms) + $3 * 1000))
  while :; do
    if "$tw" status --socket "$sock" --json >"$out/status-$1.json" 2>/dev/null &&
      grep -qE "$2" "$out/status-$1.json"; then
      "$tw" status --socket "$sock" >"$out/status-$1.txt" 2>&1
      step "status $1: matched /$2/"
      return 0
    fi
    if [[ $(now_ms) -gt $deadline ]]; then
      step "status $1: /$2/ not seen within $3 s"
      return 1
    fi
    sleep 0.3
  done
}
# Starts the daemon in the background, as the unit's ExecStart does; sets $daemon_pid.
start_daemon() {  # log-name
  rm -f "$sock"
  # ExecStart=@BINDIR@/trunkwatch run --config /etc/trunkwatch/trunkwatch.toml
  env -u NOTIFY_SOCKET -u WATCHDOG_USEC "$tw" run --config "$conf" 2>"$out/$1.log" &
  daemon_pid=$!
  step "$1 started, pid $daemon_pid"
  local deadline=$(($(now_ms) + 30000))
  until "$tw" status --socket "$sock" --json >/dev/null 2>&1; do
    if ! kill -0 "$daemon_pid" 2>/dev/null || [[ $(now_ms) -gt $deadline ]]; then
      step "$1 did not answer on $sock"
      cat "$out/$1.log"
      return 1
    fi
    sleep 0.2
  done
  step "$1 answers on $sock"
}
stop_daemon() {  # log-name: SIGTERM, wait, exit code into NAME.exit
  kill -TERM "$daemon_pid"
  local rc=0
  wait "$daemon_pid" || rc=$?
  echo "$rc" >"$out/$1.exit"
  step "$1 exited with $rc"
  return "$rc"
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

step "tap test: pairs $pbx_a->$pbx_b (PBX) and $car_a->$car_b (carrier), $TW_SPAN_TYPE"

# ---- 1. traffic and lifecycle ---------------------------------------------------------------
write_config /tmp/tw-lib "vm tap" ""
cp "$conf" "$out/trunkwatch.toml"
"$tw" check-config "$conf" >"$out/check-config.txt" 2>&1
check "check-config accepts the test configuration" test $? -eq 0
if ! start_daemon daemon1; then
  fail "daemon 1 starts and answers on its control socket"
  exit 1
fi
status start
check "status at start: span $pbx_b, alarms ok" \
  grep -q "\"span\":$pbx_b,.*\"alarms\":\"ok\"" "$out/status-start.json"

"$feed" feed "$scenario" --pbx-span "$pbx_a" --carrier-span "$car_a" --truth "$out/truth.jsonl" \
  --stats "$out/feed-stats.json" 2>"$out/feed.log" &
feed_pid=$!
feed_t0=$(now_ms)
step "feeder started, pid $feed_pid"

at 20
status during
calls during
step "status and calls while calls are up:" \
  "$(grep -o '"calls_up":[0-9]*' "$out/status-during.json" | tail -n1)"
check "status answers while calls are up" grep -q '"ok":true' "$out/status-during.json"
check "calls lists the calls up" grep -q '"calling"' "$out/calls-during.json"

at 26
write_config /tmp/tw-lib "vm tap, reloaded" ""
cp "$conf" "$out/trunkwatch-reloaded.toml"
kill -HUP "$daemon_pid"
step "SIGHUP with a good changed configuration"
wait_status reload-good '"reloads":1' 5
check "a good reload counts (reloads 1)" test $? -eq 0

at 32
write_config /tmp/tw-lib "vm tap, broken" 'timezone = "Europe/Atlantis"
colour = "blue"'
cp "$conf" "$out/trunkwatch-bad.toml"
kill -HUP "$daemon_pid"
step "SIGHUP with a bad configuration"
sleep 1.5
status reload-bad
check "the daemon runs on after a bad reload" kill -0 "$daemon_pid"
check "a bad reload does not count (reloads still 1)" \
  grep -q '"reloads":1' "$out/status-reload-bad.json"
check "the log names the error as file:line:column" \
  grep -qE "$conf:[0-9]+:[0-9]+: " "$out/daemon1.log"
check "the log says the running configuration stays in force" \
  grep -q 'stays in force' "$out/daemon1.log"
write_config /tmp/tw-lib "vm tap, reloaded" ""

at 72
status before-term
calls before-term
step "before SIGTERM: $(grep -o '"calls_up":[0-9]*' "$out/status-before-term.json" | tail -n1)"
check "a call is up when SIGTERM comes" grep -q '"calling"' "$out/calls-before-term.json"
stop_daemon daemon1
check "daemon 1 exits 0 on SIGTERM" test "$(cat "$out/daemon1.exit")" -eq 0

wait "$feed_pid"
feed_rc=$?
echo "$feed_rc" >"$out/feed.exit"
step "feeder exited with $feed_rc: $(tail -n1 "$out/feed.log")"
check "the feeder played the scenario without errors" test "$feed_rc" -eq 0
cp /tmp/tw-lib/calls.jsonl /tmp/tw-lib/calls.sqlite /tmp/tw-lib/alerts.jsonl "$out/" 2>/dev/null
grep -q '"end_reason":"shutdown"' "$out/calls.jsonl" 2>/dev/null
check "the call up at SIGTERM is recorded with end_reason shutdown" test $? -eq 0

# ---- 2. alarms --------------------------------------------------------------------------------
write_config /tmp/tw-lib2 "vm tap, alarms" ""
if ! start_daemon daemon2; then
  fail "daemon 2 starts and answers on its control socket"
  exit 1
fi
wait_status alarm-start '"alarms":"ok"' 5
check "daemon 2 starts with the span out of alarm" test $? -eq 0
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

# The tapped PBX-side span itself goes away (unassigned) and comes back.
dev=$(span_dev "$pbx_b")
dahdi_span_assignments remove "/sys/bus/dahdi_devices/devices/$dev" >>"$out/alarm-cmds.txt" 2>&1
step "unassigned span $pbx_b ($dev)"
wait_status gone '"alarms":"red,los"' 6
check "status shows the vanished span in alarm (red,los)" test $? -eq 0
check "daemon 2 runs on without the span" kill -0 "$daemon_pid"
dahdi_span_assignments auto "/sys/bus/dahdi_devices/devices/$dev" >>"$out/alarm-cmds.txt" 2>&1
step "assigned $dev again: span $(cat "/sys/bus/dahdi_spans/devices/span-$pbx_b/name" 2>/dev/null)"
"$feed" spanconfig "$pbx_b" "$dchan" >>"$out/alarm-cmds.txt" 2>&1
step "configured span $pbx_b's channels"
wait_status back '"alarms":"ok"' 12
check "the daemon reopens the span within its 5 s retry (alarms ok)" test $? -eq 0
check "the log says the span is back" grep -q "card span $pbx_b is back" "$out/daemon2.log"

# One more call through the reopened span.
cat >/tmp/after.toml <<'EOF'
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
EOF
cp /tmp/after.toml "$out/after.toml"
"$feed" feed /tmp/after.toml --pbx-span "$pbx_a" --carrier-span "$car_a" \
  --truth "$out/truth-after.jsonl" --stats "$out/feed-after-stats.json" 2>"$out/feed-after.log"
check "the feeder plays the call after the alarms" test $? -eq 0
sleep 1
status after
stop_daemon daemon2
check "daemon 2 exits 0 on SIGTERM" test "$(cat "$out/daemon2.exit")" -eq 0
cp /tmp/tw-lib2/calls.jsonl "$out/calls-after.jsonl" 2>/dev/null
check "the call after the alarms is recorded" \
  grep -q '"called":"3055550100"' "$out/calls-after.jsonl"

dmesg | grep -iE 'dahdi|span' | grep -v 'Expected seq no' | tail -n 60 >"$out/dmesg.txt"
step "done: $failures check(s) failed"
[[ $failures -eq 0 ]]
