#!/usr/bin/env bash
# The edge lab's A/B firmware installer (the part of RAUC/SWUpdate/Mender a node agent drives).
# Each node has two slots; a new firmware goes into the slot that is not running and is tried
# once on the next boot; only a commit makes it stick, otherwise the following boot falls back
# to the committed slot (as a bootloader's boot counter would).
#
#   firmware-installer.sh NODE install FILE   validate a lab firmware file, write it into the slot
#                                             not booted and try that slot on the next boot
#   firmware-installer.sh NODE reboot         reboot the node (detached: returns at once)
#   firmware-installer.sh NODE commit         the booted slot becomes the committed one
#   firmware-installer.sh NODE rollback       the next boot goes back to the committed slot
#   firmware-installer.sh NODE status         booted=S version=V committed=S next=S|-
#   firmware-installer.sh NODE boot           (lab.sh) pick the slot to boot, print
#                                             slot=S version=V health=good|bad trial=yes|no
#   firmware-installer.sh NODE health         (lab.sh) good or bad: the booted slot's health
#   firmware-installer.sh NODE init           (lab.sh) first state: slot a = lab-1.0.0, committed
#
# Lab firmware file (text): a line version=<[A-Za-z0-9._-]+> and optionally a line health=bad
# (a firmware whose node never becomes healthy: the lab starts no dockerd when it boots it).
# State: $LAB_STATE/NODE/firmware/{slot-a,slot-b,committed,booted,next}; the booted version is
# written to $LAB_STATE/NODE/firmware-version (what the agent reports). The agent is given the
# per-node wrapper $LAB_STATE/NODE/firmware-installer (which passes NODE).
set -euo pipefail

STATE=${LAB_STATE:-/var/lib/flotilla-lab}
RUN=${LAB_RUN:-/run/flotilla-lab}
SELF=$(readlink -f "${BASH_SOURCE[0]}")
LAB_SH=$(dirname "$SELF")/lab.sh
INITIAL_VERSION=lab-1.0.0
MAX_FIRMWARE_BYTES=4096

err() { printf 'firmware-installer: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

[ $# -ge 2 ] || { sed -n '2,/^set -euo/{/^#/p}' "$SELF" >&2; exit 2; }
NODE=$1 ACTION=$2
shift 2
[[ "$NODE" =~ ^n[0-9]+$ ]] || die "bad node name '$NODE'"
[ -d "$STATE/$NODE" ] || die "$NODE is not a lab node (no $STATE/$NODE)"
FW="$STATE/$NODE/firmware"

# Writes $2 into file $1 atomically (the agent may read firmware-version at any time).
put() { printf '%s\n' "$2" > "$1.tmp"; mv -f "$1.tmp" "$1"; }
get() { if [ -f "$1" ]; then tr -d ' \n' < "$1"; fi; }
other() { if [ "$1" = a ]; then echo b; else echo a; fi; }

# Checks a lab firmware file; prints "VERSION good|bad", or explains on stderr and fails.
check_firmware() {
  local f=$1 line version="" health=good size
  [ -f "$f" ] || { err "$f: not a regular file"; return 1; }
  [ -r "$f" ] || { err "$f: not readable"; return 1; }
  size=$(wc -c < "$f")
  [ "$size" -le "$MAX_FIRMWARE_BYTES" ] || { err "$f: not a lab firmware ($size bytes; a lab firmware is a few text lines)"; return 1; }
  [ "$(tr -d '\000' < "$f" | wc -c)" = "$size" ] || { err "$f: not a lab firmware (binary data)"; return 1; }
  [ "$(tr -d '\r' < "$f" | wc -c)" = "$size" ] || { err "$f: not a lab firmware (carriage returns: DOS line ends?)"; return 1; }
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ "$line" =~ ^version=([A-Za-z0-9._-]+)$ ]]; then
      [ -z "$version" ] || { err "$f: not a lab firmware (more than one version line)"; return 1; }
      version=${BASH_REMATCH[1]}
    elif [ "$line" = health=bad ]; then
      health=bad
    else
      err "$f: not a lab firmware (unexpected line '${line:0:60}'; expected version=<[A-Za-z0-9._-]+> and optionally health=bad)"
      return 1
    fi
  done < "$f"
  [ -n "$version" ] || { err "$f: not a lab firmware (no version=<[A-Za-z0-9._-]+> line)"; return 1; }
  echo "$version $health"
}

# The version and health of a slot ("- bad" for an empty or broken slot).
slot_info() { check_firmware "$FW/slot-$1" 2>/dev/null || echo "- bad"; }

# Serialises changes to the slot state (lab.sh booting while the agent commits, say).
lock() { exec 9>"$FW/.lock"; flock -w 30 9 || die "$NODE: firmware state is locked"; }

need_state() {
  if [ ! -f "$FW/committed" ] || [ ! -f "$FW/booted" ]; then die "$NODE: no firmware state (lab.sh up creates it)"; fi
}

case "$ACTION" in
  init)
    if [ ! -f "$FW/committed" ]; then
      mkdir -p "$FW"
      lock
      printf 'version=%s\n' "$INITIAL_VERSION" > "$FW/slot-a"
      put "$FW/committed" a
      put "$FW/booted" a
      rm -f "$FW/next"
      put "$STATE/$NODE/firmware-version" "$INITIAL_VERSION"
    fi
    # The installer the node's agent is given: this script for this node (re-written every
    # time, so it follows the checkout).
    wrapper="$STATE/$NODE/firmware-installer"
    {
      echo '#!/usr/bin/env bash'
      echo "# The edge lab's A/B firmware installer of $NODE: ${wrapper##*/} ACTION [FILE] (see $SELF)."
      printf 'export LAB_STATE=%q LAB_RUN=%q\n' "$STATE" "$RUN"
      printf 'exec %q %q "$@"\n' "$SELF" "$NODE"
    } > "$wrapper.tmp"
    chmod 755 "$wrapper.tmp"
    mv -f "$wrapper.tmp" "$wrapper"
    ;;
  install)
    [ $# -eq 1 ] || die "usage: install FILE"
    need_state
    info=$(check_firmware "$1") || exit 1
    lock
    booted=$(get "$FW/booted")
    target=$(other "$booted")
    cp "$1" "$FW/slot-$target.tmp"
    mv -f "$FW/slot-$target.tmp" "$FW/slot-$target"
    put "$FW/next" "$target"
    echo "installed ${info% *} into slot $target; the next boot tries it (commit once it is healthy)"
    ;;
  reboot)
    [ -d "$RUN/$NODE" ] || die "$NODE is not up"
    # Detached, and back in the host's network and UTS namespaces (lab.sh up keeps handles on
    # them): the caller, the node's agent, runs inside the node and is about to be stopped.
    host=()
    if mountpoint -q "$RUN/host-ns/net" && mountpoint -q "$RUN/host-ns/uts"; then
      host=(nsenter --net="$RUN/host-ns/net" --uts="$RUN/host-ns/uts")
    fi
    setsid nohup "${host[@]}" "$LAB_SH" reboot "$NODE" >>"$RUN/$NODE/reboot.log" 2>&1 </dev/null 9>&- &
    echo "rebooting $NODE"
    ;;
  commit)
    need_state
    lock
    booted=$(get "$FW/booted")
    put "$FW/committed" "$booted"
    rm -f "$FW/next"
    info=$(slot_info "$booted")
    echo "committed slot $booted (${info% *})"
    ;;
  rollback)
    need_state
    lock
    booted=$(get "$FW/booted") committed=$(get "$FW/committed")
    info=$(slot_info "$committed")
    if [ "$booted" = "$committed" ]; then
      # Already running the committed slot: only an install not yet booted is dropped.
      rm -f "$FW/next"
      echo "already on the committed slot $committed (${info% *})"
    else
      put "$FW/next" "$committed"
      echo "the next boot goes back to the committed slot $committed (${info% *})"
    fi
    ;;
  boot)
    need_state
    lock
    committed=$(get "$FW/committed") next=$(get "$FW/next") trial=no
    rm -f "$FW/next"
    slot=$committed
    if [ -n "$next" ] && [ "$next" != "$committed" ]; then
      if check_firmware "$FW/slot-$next" >/dev/null 2>&1; then
        slot=$next trial=yes
      else
        err "$NODE: slot $next holds no valid firmware; booting the committed slot $committed"
      fi
    fi
    put "$FW/booted" "$slot"
    info=$(slot_info "$slot")
    put "$STATE/$NODE/firmware-version" "${info% *}"
    echo "slot=$slot version=${info% *} health=${info#* } trial=$trial"
    ;;
  health)
    need_state
    info=$(slot_info "$(get "$FW/booted")")
    echo "${info#* }"
    ;;
  status)
    need_state
    booted=$(get "$FW/booted") next=$(get "$FW/next")
    info=$(slot_info "$booted")
    echo "booted=$booted version=${info% *} committed=$(get "$FW/committed") next=${next:--}"
    ;;
  *) die "unknown action '$ACTION' (install FILE, reboot, commit, rollback, status, boot, health, init)" ;;
esac
