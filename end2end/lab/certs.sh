#!/usr/bin/env bash
# Makes a throwaway private CA and a server certificate signed by it, with openssl:
#
#   certs.sh DIR SAN...     e.g. certs.sh /tmp/x DNS:localhost IP:127.0.0.1 IP:10.77.0.1
#
# Writes DIR/ca.pem (what agents get with --ca-file), DIR/panel.pem and DIR/panel.key (the
# panel's --tls-cert and --tls-key). ECDSA P-256, valid for two days.
set -euo pipefail
dir=${1:?directory}; shift
[ $# -gt 0 ] || { echo "certs.sh: give at least one subjectAltName (DNS:… or IP:…)" >&2; exit 2; }
command -v openssl >/dev/null || { echo "certs.sh: openssl is not installed" >&2; exit 1; }
mkdir -p "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
san=$(IFS=,; echo "$*")
openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 \
  -subj "/CN=Flotilla throwaway CA" 2>/dev/null
openssl req "${ec[@]}" -keyout "$dir/panel.key" -out "$dir/panel.csr" -subj "/CN=flotilla-panel" 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" >"$dir/panel.ext"
openssl x509 -req -in "$dir/panel.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
  -out "$dir/panel.pem" -days 2 -extfile "$dir/panel.ext" 2>/dev/null
rm -f "$dir/panel.csr" "$dir/panel.ext" "$dir/ca.srl"
chmod 600 "$dir/ca.key" "$dir/panel.key"
