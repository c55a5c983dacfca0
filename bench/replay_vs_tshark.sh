#!/usr/bin/env bash
# The whole replay (reading, decoder, trackers, rules engine with the default policy, JSON
# records and notices written to files) against tshark's dissection of the same capture, in
# one run, frames per second of CPU time (user + system: the machine is shared).
#   bench/replay_vs_tshark.sh [BUILD_DIR] [CALLS] [REPEAT] [KEEP_DIR]
# Makes a capture with the simulator (CALLS calls on 4 T1 spans, default 11000: the
# decode_vs_tshark.sh mix), times tshark once and `trunkwatch replay FILE --cdr-json F
# --alerts-json F` REPEAT times (default 3; the best run counts), prints both rates and the
# ratio. KEEP_DIR, when given, keeps the capture, the records and the notices there (to
# compare two builds' output with cmp).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
calls=${2:-11000}
repeat=${3:-3}
keep=${4:-}
tw="$build/monitor/cli/trunkwatch"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench/make_capture.sh "$tw" "$calls" "$work/big.pcap"

# CPU seconds (user + system) of a command, its output thrown away.
cpu_seconds() {
  /usr/bin/time -f "%U %S" -o "$work/time.txt" "$@" > /dev/null 2> "$work/stderr.txt" || {
    cat "$work/stderr.txt" >&2
    return 1
  }
  awk '{ printf "%.3f", $1 + $2 }' "$work/time.txt"
}

frames=$(tshark -r "$work/big.pcap" -T fields -e frame.number | wc -l)
tshark_s=$(cpu_seconds tshark -r "$work/big.pcap" -T fields -e q931.message_type -e q931.call_ref \
  -e q931.calling_party_number.digits -e q931.called_party_number.digits -e q931.cause_value)
tshark_fps=$(echo "$frames / $tshark_s" | bc)
echo "tshark: frames=$frames cpu_seconds=$tshark_s tshark_frames_per_second=$tshark_fps"

best=""
for _ in $(seq "$repeat"); do
  s=$(cpu_seconds "$tw" replay "$work/big.pcap" --cdr-json "$work/calls.jsonl" \
    --alerts-json "$work/alerts.jsonl")
  echo "replay: cpu_seconds=$s ($(tail -2 "$work/stderr.txt" | tr '\n' ' '))"
  if [ -z "$best" ] || [ "$(echo "$s < $best" | bc)" = 1 ]; then best=$s; fi
done
replay_fps=$(echo "$frames / $best" | bc)
echo "replay: frames=$frames best_cpu_seconds=$best replay_frames_per_second=$replay_fps" \
  "records=$(wc -l < "$work/calls.jsonl") notices=$(wc -l < "$work/alerts.jsonl")"
echo "replay_vs_tshark=$(echo "scale=1; $replay_fps / $tshark_fps" | bc)x"
if [ -n "$keep" ]; then
  mkdir -p "$keep"
  cp "$work/big.pcap" "$work/calls.jsonl" "$work/alerts.jsonl" "$keep/"
fi
