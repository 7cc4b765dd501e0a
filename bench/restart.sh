#!/usr/bin/env bash
# Panel-restart benchmark: N simulated agents (flotilla-agent-sim, reconnecting with the agent's
# jittered backoff) are connected; the panel is stopped with SIGNAL (TERM: graceful, KILL: a
# crash) and started again at once on the same data. Reports the seconds until every agent is
# online again, whether /healthz answered throughout the restart (polled every 0.2 s after the
# new process started, with the sign-in page), the errors the panel logged, and whether every
# node is still there.
# Bounded: N <= 10000, loopback only, stops by itself.
#
#   bench/restart.sh [AGENTS] [TERM|KILL]        (defaults: 10000, TERM)
#
#   BENCH_DATABASE_URL=…   the panel's store (an empty PostgreSQL database; default: SQLite)
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${1:-10000}
SIGNAL=${2:-TERM}
PORT=${BENCH_PORT:-3997}
. bench/lib.sh
bench_start restart

BASE="http://localhost:$PORT"
[ -n "${BENCH_DATABASE_URL:-}" ] && export FLOTILLA_DATABASE_URL="$BENCH_DATABASE_URL"
nodes() { curl -sf -b "$DATA/cookies" -H 'Accept: application/json' -X POST "$BASE/api/list_nodes"; }
online() { nodes | sed -E 's/.*"online":([0-9]+).*/\1/'; }

start_panel "$DATA" "$PORT"
sign_in "$BASE"
KEY=$(enrolment_key "$BASE")
target/release/flotilla-agent-sim --panel "$BASE" --enrolment-key "$KEY" --loopback-sources \
  --count "$AGENTS" --duration-secs $(( AGENTS / 200 + 200 )) --ramp-per-sec 200 >"$DATA/sim.log" 2>"$DATA/sim.err" &
SIM=$!
for _ in $(seq $(( AGENTS / 200 + 60 ))); do [ "$(online)" -ge "$AGENTS" ] && break; sleep 1; done
before=$(online)
errors_before=$(grep -c ERROR "$DATA/panel.log" || true)

t0=$(date +%s.%N)
kill -"$SIGNAL" "$PANEL"
wait "$PANEL" 2>/dev/null || true
stopped=$(date +%s.%N)
start_panel "$DATA" "$PORT"
sign_in "$BASE"
misses=0; polls=0; back=""
while true; do
  polls=$((polls + 1))
  { curl -sf -m 2 "$BASE/healthz" >/dev/null && curl -sf -m 2 "$BASE/login" >/dev/null; } || misses=$((misses + 1))
  n=$(online) || n=0
  now=$(date +%s.%N)
  if [ "$n" -ge "$AGENTS" ]; then back=$now; break; fi
  awk -v a="$t0" -v b="$now" 'BEGIN { exit !(b - a > 120) }' && break
  sleep 0.2
done
after=$(online)
known=$(nodes | sed -E 's/.*"total":([0-9]+).*/\1/')
errors=$(( $(grep -c ERROR "$DATA/panel.log" || true) - errors_before ))
cat <<REPORT
agents:                 $AGENTS (online before: $before)
signal, store:          SIG$SIGNAL, $(if [ -n "${BENCH_DATABASE_URL:-}" ]; then echo postgres; else echo sqlite; fi)
panel stop took:        $(awk -v a="$t0" -v b="$stopped" 'BEGIN { printf "%.1f", b - a }') s
all online again after: $(if [ -n "$back" ]; then awk -v a="$t0" -v b="$back" 'BEGIN { printf "%.1f s", b - a }'; else echo "not within 120 s ($after online)"; fi)
/healthz and /login:    both answered $(( polls - misses )) of $polls polls after the start
nodes known after:      $known of $AGENTS
panel errors logged:    $errors
REPORT
