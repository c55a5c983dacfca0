#!/usr/bin/env bash
# Decode speed of trunkwatch against tshark on the same large capture, frames per second.
#   bench/decode_vs_tshark.sh [BUILD_DIR] [CALLS]
# Makes a capture with the simulator (CALLS calls on 4 T1 spans, default 20000), then times
# tshark's full Q.931 dissection of it and trunkwatch's decoder (bench decode).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
calls=${2:-20000}
tw="$build/monitor/cli/trunkwatch"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench/make_capture.sh "$tw" "$calls" "$work/big.pcap"
frames=$(tshark -r "$work/big.pcap" -T fields -e frame.number | wc -l)
start=$(date +%s.%N)
tshark -r "$work/big.pcap" -T fields -e q931.message_type -e q931.call_ref \
  -e q931.calling_party_number.digits -e q931.called_party_number.digits -e q931.cause_value \
  > /dev/null
end=$(date +%s.%N)
tshark_fps=$(echo "$frames / ($end - $start)" | bc)
echo "tshark: frames=$frames seconds=$(echo "$end - $start" | bc) tshark_frames_per_second=$tshark_fps"
"$tw" bench decode "$work/big.pcap" --repeat 5 | tee "$work/tw.txt"
tw_fps=$(sed -n 's/^decode_frames_per_second=//p' "$work/tw.txt")
echo "speedup_vs_tshark=$(echo "$tw_fps / $tshark_fps" | bc)x"
