#!/usr/bin/env bash
# Global Config fan-out benchmark: 1,000 simulated agents (flotilla-agent-sim --answer-commands,
# a fake node: no Docker, nothing written) in 8 clusters of 125 (the most a cluster holds is
# 128); a new Global Config version is saved on every cluster at once, and each agent's
# acknowledgement time is compared with its cluster's save. Bounded: loopback only, stops by
# itself.
#
#   bench/config-fanout.sh [AGENTS]      (default 1000; a multiple of 8, at most 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${1:-1000}
CLUSTERS=8
PORT=${BENCH_PORT:-3998}
. bench/lib.sh
bench_start fanout

BASE="http://localhost:$PORT"
start_panel "$DATA" "$PORT"
sign_in "$BASE"
KEY=$(enrolment_key "$BASE")

target/release/flotilla-agent-sim --panel "$BASE" --enrolment-key "$KEY" --answer-commands \
  --loopback-sources --count "$AGENTS" --duration-secs 900 --ramp-per-sec 200 >"$DATA/sim.log" 2>&1 &
SIM=$!

python3 bench/config_fanout.py "$BASE" "$BENCH_PASSWORD" "$DATA/sim.log" "$PANEL" "$AGENTS" "$CLUSTERS"
