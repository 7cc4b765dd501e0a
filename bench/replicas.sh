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
PASSWORD=bench-admin-password

./dev build >/dev/null  # the release site and the agent simulator

ulimit -n 16384
DATA=$(mktemp -d /tmp/flotilla-replicas.XXXXXX)
mkdir -p "$DATA/a" "$DATA/b"
cleanup() {
  [ -n "${SIM:-}" ] && kill "$SIM" 2>/dev/null || true
  for p in ${PANEL_B:-} ${PANEL_A:-}; do kill -INT "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$DATA"
}
trap cleanup EXIT

start_panel() { # name port
  LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=flotilla FLOTILLA_DATA_DIR="$DATA/$1" \
    FLOTILLA_DATABASE_URL="$BENCH_DATABASE_URL" FLOTILLA_KEY_FILE="$DATA/master.key" \
    FLOTILLA_ADMIN_PASSWORD="$PASSWORD" FLOTILLA_LISTEN="127.0.0.1:$2" FLOTILLA_HEARTBEAT_SECS=10 \
    FLOTILLA_LOG=warn target/release/flotilla-panel >"$DATA/$1/panel.log" 2>&1 &
  echo $!
}
wait_up() { for _ in $(seq 100); do curl -sf "http://localhost:$1/healthz" >/dev/null && return; sleep 0.1; done; exit 1; }
PANEL_A=$(start_panel a "$PORT_A"); wait_up "$PORT_A"
PANEL_B=$(start_panel b "$PORT_B"); wait_up "$PORT_B"
A="http://localhost:$PORT_A"
B="http://localhost:$PORT_B"

curl -sf -c "$DATA/cookies" -H 'Accept: application/json' \
  -d "username=admin&password=$PASSWORD" "$A/api/login" >/dev/null
KEY=$(curl -sf -b "$DATA/cookies" -H 'Accept: application/json' \
  -d 'label=bench&expires_in_hours=1&max_uses=0' "$A/api/create_key" | sed -E 's/.*"secret":"([^"]+)".*/\1/')

started=$(date +%s.%N)
target/release/flotilla-agent-sim --panel "$A" --enrolment-key "$KEY" --answer-commands \
  --loopback-sources --count "$AGENTS" --duration-secs 3600 --ramp-per-sec 200 >"$DATA/sim.log" 2>&1 &
SIM=$!

python3 bench/replicas_rtt.py "$A" "$B" "$PASSWORD" "$AGENTS" "$started"

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
