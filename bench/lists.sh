#!/usr/bin/env bash
# List-render benchmark: the node list and the cluster list at fleet size. AGENTS simulated agents
# (flotilla-agent-sim --answer-commands, a fake node: no Docker, nothing written) are grouped into
# clusters of 10 (3 managers, 7 workers) built by the panel's own workflows; then each list page
# is rendered on the server (`SsrMode::Async`, the admin's session) 200 times with `ab -c 2` on
# loopback, and one page of the node list is asked of the server function. Bounded: loopback
# only, stops by itself.
#
#   bench/lists.sh [AGENTS]      (default 5000 agents, so 500 clusters; at most 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${1:-5000}
[ "$AGENTS" -le 10000 ] || { echo "at most 10000 agents" >&2; exit 2; }
CLUSTERS=$(( AGENTS / 10 ))
PORT=${BENCH_PORT:-3997}
. bench/lib.sh
bench_start lists

BASE="http://localhost:$PORT"
[ -n "${BENCH_DATABASE_URL:-}" ] && export FLOTILLA_DATABASE_URL="$BENCH_DATABASE_URL"
start_panel "$DATA" "$PORT"
sign_in "$BASE"
KEY=$(enrolment_key "$BASE")

target/release/flotilla-agent-sim --panel "$BASE" --enrolment-key "$KEY" --answer-commands \
  --loopback-sources --count "$AGENTS" --duration-secs 3600 --ramp-per-sec 200 >"$DATA/sim.log" 2>&1 &
SIM=$!

python3 bench/lists_setup.py "$BASE" "$BENCH_PASSWORD" "$AGENTS" "$CLUSTERS"

COOKIE=$(awk '$6 == "flotilla_session" {print $6 "=" $7}' "$DATA/cookies")
render() { # path
  ab -q -n 200 -c 2 -C "$COOKIE" -H 'Accept: text/html' "$BASE$1" >"$DATA/ab.txt" 2>&1
  local p50 p99 size errors non2xx
  p50=$(awk '$1 == "50%" {print $2}' "$DATA/ab.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$DATA/ab.txt")
  size=$(awk '/^Document Length/ {print $3}' "$DATA/ab.txt")
  # ab counts a body of another length than the first as failed: relative times ("5 s ago")
  # make lengths differ, so only connect, receive and exception failures are errors.
  errors=$(grep -o 'Connect: [0-9]*, Receive: [0-9]*, Length: [0-9]*, Exceptions: [0-9]*' "$DATA/ab.txt" |
    awk -F'[:,] *' '{print $2 + $4 + $8}')
  non2xx=$(awk '/^Non-2xx responses/ {print $3}' "$DATA/ab.txt")
  printf '%-40s p50 %4s ms  p99 %4s ms  %7s bytes  errors %s  non-2xx %s\n' "$1" "$p50" "$p99" "$size" \
    "${errors:-0}" "${non2xx:-0}"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$PANEL/status"; }

measure() {
  render "/nodes"
  render "/nodes?page=50"
  render "/nodes?q=sim-04&sort=last_seen&dir=desc"
  render "/nodes?status=offline"
  render "/clusters"
  render "/clusters?page=5"
  api=$(curl -s -o /dev/null -w '%{time_total} %{size_download}' -b "$DATA/cookies" -H 'Accept: application/json' \
    -d per_page=50 "$BASE/api/list_nodes")
  echo "list_nodes (one page of 50, JSON):        $api (s, bytes)"
}

echo "agents: $AGENTS in $CLUSTERS clusters of 10; panel RSS $(( $(rss_kib) / 1024 )) MiB"
echo "-- with every agent connected (simulator and panel share the machine's 2 cores)"
measure
kill "$SIM" 2>/dev/null; wait "$SIM" 2>/dev/null || true; SIM=""
sleep 5
echo "-- the same fleet and clusters with the simulator stopped (every node offline, no load)"
measure
