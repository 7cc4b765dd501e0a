#!/usr/bin/env bash
# WASM bytes of the release site (issue #12): every file the browser may load from /pkg (raw and
# the pre-compressed copies the panel serves), and what the first page of a signed-in user (the
# node list) needs — the main module, its JS and the chunks the split manifest lists for it.
# Usage: ./dev bench wasm   (builds the release site first)
set -euo pipefail
cd "$(dirname "$0")/.."
./dev build >/dev/null
exec python3 - target/site/pkg <<'PY'
import json, os, sys

pkg = sys.argv[1]
def size(name, ext=""):
    path = os.path.join(pkg, name + ext)
    return os.path.getsize(path) if os.path.exists(path) else 0

files = sorted(n for n in os.listdir(pkg) if n.endswith((".wasm", ".js")))
print(f"{'file':<52} {'raw':>10} {'gzip -9':>10} {'brotli 11':>10}")
for n in files:
    print(f"{n:<52} {size(n):>10,} {size(n, '.gz'):>10,} {size(n, '.br'):>10,}")

manifest = json.load(open(os.path.join(pkg, "__wasm_split_manifest.json")))
def route(name):
    keys = [k for k in manifest if k.startswith(f"__{name}_view_")]
    if len(keys) != 1:
        sys.exit(f"no single lazy view for {name} in the manifest: {sorted(manifest)}")
    return [c + ".wasm" for c in manifest[keys[0]]]

print()
largest = max((n for n in files if n.endswith(".wasm") and n != "flotilla.wasm"), key=lambda n: size(n, ".br"))
print(f"largest chunk: {largest}, {size(largest, '.br'):,} B brotli")
first = ["flotilla.wasm"] + route("nodes")
wasm_br = sum(size(n, ".br") for n in first)
wasm_raw = sum(size(n) for n in first)
print(f"{len(files)} files in /pkg ({sum(1 for n in files if n.endswith('.wasm'))} WASM modules)")
print(f"first page (/nodes, signed in): the main module + {len(first) - 1} modules ({first[-1]} and shared chunks)")
print(f"  WASM {wasm_raw:,} B raw, {sum(size(n, '.gz') for n in first):,} B gzip, {wasm_br:,} B brotli")
for name in sorted(k.split("_view_")[0].lstrip("_") for k in manifest):
    chunks = route(name)
    print(f"route {name:<12} {len(chunks):>3} files, {sum(size(n, '.br') for n in chunks):>9,} B brotli beyond the main module")
PY
