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
PASSWORD=bench-admin-password

./dev build >/dev/null  # the release site and the agent simulator

ulimit -n 16384
DATA=$(mktemp -d /tmp/flotilla-fanout.XXXXXX)
cleanup() {
  [ -n "${SIM:-}" ] && kill "$SIM" 2>/dev/null || true
  [ -n "${PANEL:-}" ] && kill -INT "$PANEL" 2>/dev/null && wait "$PANEL" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

BASE="http://localhost:$PORT"
LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=flotilla FLOTILLA_DATA_DIR="$DATA" \
  FLOTILLA_ADMIN_PASSWORD="$PASSWORD" FLOTILLA_LISTEN="127.0.0.1:$PORT" FLOTILLA_HEARTBEAT_SECS=10 \
  FLOTILLA_LOG=warn target/release/flotilla-panel >"$DATA/panel.log" 2>&1 &
PANEL=$!
for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
curl -sf -c "$DATA/cookies" -H 'Accept: application/json' \
  -d "username=admin&password=$PASSWORD" "$BASE/api/login" >/dev/null
KEY=$(curl -sf -b "$DATA/cookies" -H 'Accept: application/json' \
  -d 'label=bench&expires_in_hours=1&max_uses=0' "$BASE/api/create_key" | sed -E 's/.*"secret":"([^"]+)".*/\1/')

target/release/flotilla-agent-sim --panel "$BASE" --enrolment-key "$KEY" --answer-commands \
  --loopback-sources --count "$AGENTS" --duration-secs 900 --ramp-per-sec 200 >"$DATA/sim.log" 2>&1 &
SIM=$!

python3 bench/config_fanout.py "$BASE" "$PASSWORD" "$DATA/sim.log" "$PANEL" "$AGENTS" "$CLUSTERS"
