#!/usr/bin/env bash
# Agent-load benchmark: the panel's RSS and CPU while N simulated agents hold one WebSocket each
# and heartbeat every 5 s (BENCH_HEARTBEAT). Bounded: N <= 10000, loopback only, stops by itself.
#
#   bench/agents.sh [AGENTS] [WINDOW_SECS]      (defaults: 1000 agents, 60 s measuring window)
#
#   BENCH_TLS=1            serve HTTPS with a throwaway CA (openssl); agents use wss:// and --ca-file
#   BENCH_DATABASE_URL=…   the panel's store (default: SQLite in a temporary directory)
#   BENCH_HEARTBEAT=10     the heartbeat period in seconds (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${1:-1000}
WINDOW=${2:-60}
PORT=${BENCH_PORT:-3999}
WARMUP=20
HEARTBEAT=${BENCH_HEARTBEAT:-5}
. bench/lib.sh
bench_start bench

SIM_TLS=()
if [ -n "${BENCH_TLS:-}" ]; then
  bench_tls
  SIM_TLS=(--ca-file "$DATA/ca.pem")
fi
BASE="$BENCH_SCHEME://localhost:$PORT"
[ -n "${BENCH_DATABASE_URL:-}" ] && export FLOTILLA_DATABASE_URL="$BENCH_DATABASE_URL"

start_panel "$DATA" "$PORT" FLOTILLA_HEARTBEAT_SECS="$HEARTBEAT"
sign_in "$BASE"
KEY=$(enrolment_key "$BASE")

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$PANEL/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PANEL/stat"; }
idle_rss=$(rss_kib)

HOLD=$(( AGENTS / 200 + WARMUP + WINDOW + 10 ))
target/release/flotilla-agent-sim --panel "$BASE" "${SIM_TLS[@]}" --enrolment-key "$KEY" \
  --loopback-sources --count "$AGENTS" --duration-secs "$HOLD" --ramp-per-sec 200 >"$DATA/sim.log" 2>&1 &
SIM=$!
started=$(date +%s.%N)

# Time until every agent is online (the simulator connects 200 a second, so at least AGENTS/200 s).
online_now() {
  "${BENCH_CURL[@]}" -b "$DATA/cookies" -H 'Accept: application/json' -d per_page=1 "$BASE/api/list_nodes" |
    sed -E 's/.*"online":([0-9]+).*/\1/'
}
all_online=""
deadline=$(( $(date +%s) + AGENTS / 200 + WARMUP ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  if [ -z "$all_online" ] && [ "$(online_now)" -ge "$AGENTS" ]; then
    all_online=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }')
  fi
  sleep 0.5
done
online=$(online_now)
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks); s0=$(date +%s.%N)
peak=0
for _ in $(seq "$WINDOW"); do
  r=$(rss_kib); [ "$r" -gt "$peak" ] && peak=$r
  sleep 1
done
t1=$(cpu_ticks); s1=$(date +%s.%N)
cpu=$(awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz / (e - s) * 100 }')
steady=$(rss_kib)
wait "$SIM" || true
beats=$(grep -o 'heartbeats=[0-9]*' "$DATA/sim.log" | tail -1)
failed=$(grep -o 'failed=[0-9]*' "$DATA/sim.log" | tail -1)

cat <<REPORT
agents online:          $online of $AGENTS ($failed, $beats)
all online after:       ${all_online:-not within $(( AGENTS / 200 + WARMUP )) s} of starting the simulator
heartbeat period:       $HEARTBEAT s
transport, store:       $BENCH_SCHEME, $(if [ -n "${BENCH_DATABASE_URL:-}" ]; then echo "${BENCH_DATABASE_URL%%:*}"; else echo sqlite; fi)
panel RSS idle:         $(( idle_rss / 1024 )) MiB
panel RSS with agents:  $(( steady / 1024 )) MiB (peak $(( peak / 1024 )) MiB over ${WINDOW} s)
panel CPU with agents:  ${cpu} % of one core (mean over ${WINDOW} s)
REPORT
