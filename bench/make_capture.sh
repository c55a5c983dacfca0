#!/usr/bin/env bash
# The benchmarks' capture: the simulator's CALLS calls on 4 T1 spans (seed 42, a fifth with
# overlap dialing), written to OUT as pcapng (the simulator's default).
#   bench/make_capture.sh TRUNKWATCH CALLS OUT
set -euo pipefail
tw=$1
calls=$2
out=$3
scenario=$(mktemp --suffix=.toml)
trap 'rm -f "$scenario"' EXIT
cat > "$scenario" <<TOML
[scenario]
name = "bench"
start = "2027-01-05T00:00:00Z"
seed = 42
[[span]]
id = 1
type = "t1"
[[span]]
id = 2
type = "t1"
[[span]]
id = 3
type = "t1"
[[span]]
id = 4
type = "t1"
[traffic]
calls = $calls
duration_s = $((calls * 4))
overlap_share = 0.2
TOML
"$tw" simulate "$scenario" --pcap "$out" 2>&1 | tail -1
