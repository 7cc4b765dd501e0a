#!/usr/bin/env bash
# Two panel replicas on one PostgreSQL: AGENTS simulated agents (flotilla-agent-sim
# --answer-commands) connect to replica A; measured are the time until replica B shows them all
# online, the round trip of a command issued on B to an agent held by A (through the database)
# against one issued on A itself, the node list rendered by each replica (`ab -c 2`, 200
# requests), and both replicas' memory. Bounded: loopback and a private PostgreSQL only.
#
#   ./dev bench replicas [AGENTS]      (default 5000, at most 10000; ./dev starts PostgreSQL)
#   BENCH_DATABASE_URL=postgres://…    an empty database (required when run directly)
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${1:-5000}
[ "$AGENTS" -le 10000 ] || { echo "at most 10000 agents" >&2; exit 2; }
[ -n "${BENCH_DATABASE_URL:-}" ] || { echo "BENCH_DATABASE_URL (PostgreSQL) is required" >&2; exit 2; }
PORT_A=${BENCH_PORT:-3997}
PORT_B=$((PORT_A + 1))
. bench/lib.sh
bench_start replicas
mkdir -p "$DATA/a" "$DATA/b"

# Both on one database and one master key (the first creates it).
shared=(FLOTILLA_DATABASE_URL="$BENCH_DATABASE_URL" FLOTILLA_KEY_FILE="$DATA/master.key")
start_panel "$DATA/a" "$PORT_A" "${shared[@]}"; PANEL_A=$PANEL
start_panel "$DATA/b" "$PORT_B" "${shared[@]}"; PANEL_B=$PANEL
A="http://localhost:$PORT_A"
B="http://localhost:$PORT_B"

sign_in "$A"
KEY=$(enrolment_key "$A")

started=$(date +%s.%N)
target/release/flotilla-agent-sim --panel "$A" --enrolment-key "$KEY" --answer-commands \
  --loopback-sources --count "$AGENTS" --duration-secs 3600 --ramp-per-sec 200 >"$DATA/sim.log" 2>&1 &
SIM=$!

python3 bench/replicas_rtt.py "$A" "$B" "$BENCH_PASSWORD" "$AGENTS" "$started"

COOKIE=$(awk '$6 == "flotilla_session" {print $6 "=" $7}' "$DATA/cookies")
render() { # base label
  ab -q -n 200 -c 2 -C "$COOKIE" -H 'Accept: text/html' "$1/nodes" >"$DATA/ab.txt" 2>&1
  printf '/nodes on %-28s p50 %4s ms  p99 %4s ms  non-2xx %s\n' "$2" \
    "$(awk '$1 == "50%" {print $2}' "$DATA/ab.txt")" "$(awk '$1 == "99%" {print $2}' "$DATA/ab.txt")" \
    "$(awk '/^Non-2xx responses/ {print $3}' "$DATA/ab.txt")"
}
render "$A" "A (holds every agent)"
render "$B" "B (holds none)"
rss() { awk '/^VmRSS/ {printf "%d MiB", $2 / 1024}' "/proc/$1/status"; }
echo "RSS: A $(rss "$PANEL_A"), B $(rss "$PANEL_B")"
