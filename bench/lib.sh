# What the panel benchmarks share (sourced by bench/*.sh from the repository root): the release
# build, a scratch directory removed on exit together with the processes started here, release
# panels on loopback, the admin's sign-in and an enrolment key. Python drivers share
# bench/panel_api.py.

BENCH_PASSWORD=bench-admin-password
# curl for the panel; bench_tls adds the throwaway CA.
BENCH_CURL=(curl -sf)
BENCH_SCHEME=http
BENCH_PIDS=()
SIM=""

# bench_start NAME: builds what the benchmarks start, raises the open-file limit (the hard limit
# here is 20000) and makes $DATA, removed on exit with the simulator and every panel.
bench_start() {
  ./dev build >/dev/null  # the release site and the agent simulator
  ulimit -n 16384
  DATA=$(mktemp -d "/tmp/flotilla-$1.XXXXXX")
  trap bench_cleanup EXIT
}

bench_cleanup() {
  [ -n "${SIM:-}" ] && kill "$SIM" 2>/dev/null || true
  local p
  for p in "${BENCH_PIDS[@]}"; do
    kill -INT "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  rm -rf "$DATA"
}

# bench_tls: panels serve HTTPS with a certificate from a throwaway CA in $DATA (agents get
# `--ca-file $DATA/ca.pem`).
bench_tls() {
  end2end/lab/certs.sh "$DATA" DNS:localhost IP:127.0.0.1
  export FLOTILLA_TLS_CERT="$DATA/panel.pem" FLOTILLA_TLS_KEY="$DATA/panel.key"
  BENCH_SCHEME=https
  BENCH_CURL+=(--cacert "$DATA/ca.pem")
}

# start_panel DIR PORT [VAR=VALUE...]: a release panel on 127.0.0.1:PORT (10 s heartbeat unless
# a VAR says otherwise) with its data and log (panel.log, appended) in DIR; sets PANEL to its
# pid and returns once it answers.
start_panel() {
  local dir=$1 port=$2
  shift 2
  env LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=flotilla FLOTILLA_DATA_DIR="$dir" \
    FLOTILLA_ADMIN_PASSWORD="$BENCH_PASSWORD" FLOTILLA_LISTEN="127.0.0.1:$port" \
    FLOTILLA_HEARTBEAT_SECS=10 FLOTILLA_LOG=warn "$@" \
    target/release/flotilla-panel >>"$dir/panel.log" 2>&1 &
  PANEL=$!
  BENCH_PIDS+=("$PANEL")
  local _
  for _ in $(seq 200); do
    "${BENCH_CURL[@]}" "$BENCH_SCHEME://localhost:$port/healthz" >/dev/null && return
    sleep 0.05
  done
  echo "the panel on port $port did not start; its log:" >&2
  tail -20 "$dir/panel.log" >&2
  exit 1
}

# sign_in BASE: the admin's session cookie in $DATA/cookies.
sign_in() {
  "${BENCH_CURL[@]}" -c "$DATA/cookies" -H 'Accept: application/json' \
    -d "username=admin&password=$BENCH_PASSWORD" "$1/api/login" >/dev/null
}

# enrolment_key BASE: prints a new enrolment key without a use limit (signed in first).
enrolment_key() {
  "${BENCH_CURL[@]}" -b "$DATA/cookies" -H 'Accept: application/json' \
    -d 'label=bench&expires_in_hours=1&max_uses=0' "$1/api/create_key" |
    sed -E 's/.*"secret":"([^"]+)".*/\1/'
}
