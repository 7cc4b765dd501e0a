#!/usr/bin/env bash
# The first page of a signed-in user (the node list) over a slow edge link, cold cache: Chromium
# (Debian's) with its network throttled through the DevTools protocol, against a release panel
# serving HTTPS on loopback. Reports the time until the page is live (hydrated, its route's WASM
# included), the requests, the bytes on the wire and the protocol the panel negotiated.
# Usage: ./dev bench first-load [RUNS [LATENCY_MS [KBIT_S]]]   (default 5 runs, 100 ms, 4,000 kbit/s)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
RUNS=${1:-5} LATENCY=${2:-100} KBITS=${3:-4000}

bench_start first-load
bench_tls
start_panel "$DATA" 3470
node bench/first_load.mjs "https://localhost:3470" "$BENCH_PASSWORD" "$RUNS" "$LATENCY" "$KBITS"
