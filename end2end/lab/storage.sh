# The storage of a lab node, sourced by lab.sh: what a real edge node's OS provides for cluster
# volumes, per node, as on separate machines (docs/lab.md, "Storage"):
#
#   /var/lib/flotilla/bricks     a loop-backed XFS data disk (GlusterFS bricks, replicated mode)
#   /var/lib/flotilla/snapshots  a loop-backed btrfs disk (subvolumes and snapshots, async mode)
#   /var/lib/glusterd, /var/log/glusterfs, /run/gluster
#                                the node's own GlusterFS state, logs and sockets (bind mounts:
#                                glusterd keeps its identity there, and its socket path is fixed)
#   glusterd                     started like the OS's service, its pid in $RUN/NODE/glusterd.pid
#
# Everything is mounted in the node's mount namespace (the holder's), where its dockerd and agent
# run too: the same path on every node is a different disk, and a FUSE mount the agent makes is
# seen by that node's dockerd only. The disk images live in $STATE/NODE/disks (sparse files).

BRICKS_DISK_MB=${LAB_BRICKS_DISK_MB:-512}   # mkfs.xfs wants at least 300 MB
SNAPSHOTS_DISK_MB=${LAB_SNAPSHOTS_DISK_MB:-256}

# Runs "$@" inside node $1's namespaces (network, UTS, mount). nsenter -m starts in /.
in_node() {
  local n=$1; shift
  nsenter -t "$(cat "$RUN/$n/holder.pid")" --net --uts --mount "$@"
}

# The disk images of node $1, made once (a crash or reboot keeps the data, as a disk does).
storage_disks() {
  local n=$1 d="$STATE/$1/disks"
  mkdir -p "$d" "$STATE/$n/gluster/lib" "$STATE/$n/gluster/log" "$RUN/$n/gluster"
  if [ ! -s "$d/bricks.img" ]; then
    truncate -s "${BRICKS_DISK_MB}M" "$d/bricks.img.new"
    mkfs.xfs -q -i size=512 "$d/bricks.img.new"
    mv "$d/bricks.img.new" "$d/bricks.img"
  fi
  if [ ! -s "$d/snapshots.img" ]; then
    truncate -s "${SNAPSHOTS_DISK_MB}M" "$d/snapshots.img.new"
    mkfs.btrfs -q "$d/snapshots.img.new" >/dev/null
    mv "$d/snapshots.img.new" "$d/snapshots.img"
  fi
  # glusterd's hooks and option groups come with the package; its identity is made at first start.
  cp -an /var/lib/glusterd/. "$STATE/$n/gluster/lib/" 2>/dev/null || true
  sed 's|^end-volume|    option glusterd-sockfile /run/gluster/glusterd.socket\nend-volume|' \
    /etc/glusterfs/glusterd.vol > "$STATE/$n/gluster/glusterd.vol"
}

# Mounts node $1's disks and GlusterFS directories (what is not mounted yet) and starts its
# glusterd. Idempotent. With "boot" as $2 (after a crash or reboot) the FUSE mounts the last boot
# left are gone first, as after a power cycle (a dead FUSE client's mount answers "Transport
# endpoint is not connected"); the agent mounts its volumes again.
storage_start() {
  local n=$1 boot=${2:-}
  command -v glusterd >/dev/null || die "GlusterFS is not installed (apt-get install glusterfs-server glusterfs-client)"
  # A node brought up by an older lab.sh shares the host's mounts: its disks would land there.
  [ "$(readlink "/proc/$(cat "$RUN/$n/holder.pid")/ns/mnt")" != "$(readlink /proc/1/ns/mnt)" ] ||
    die "$n shares the host's mount namespace (brought up by an older lab.sh): run lab.sh down first"
  storage_disks "$n"
  # The CLI's default socket path resolves, through the node's own /run/gluster, to its glusterd
  # (a CLI child, glfsheal, ignores --glusterd-sock).
  [ -L /run/glusterd.socket ] || ln -sfn /run/gluster/glusterd.socket /run/glusterd.socket
  in_node "$n" sh -eu -c '
    state=$1 run=$2 disks=$3 boot=$4
    if [ "$boot" = boot ]; then
      for m in $(awk '"'"'$3 ~ /^fuse/ {print $2}'"'"' /proc/self/mounts | sort -r); do
        case "$m" in /var/lib/flotilla/*) umount -l "$m" ;; esac
      done
    fi
    mkdir -p /var/lib/glusterd /var/log/glusterfs /run/gluster \
      /var/lib/flotilla/bricks /var/lib/flotilla/snapshots /var/lib/flotilla/volumes
    mountpoint -q /var/lib/glusterd || mount --bind "$state/gluster/lib" /var/lib/glusterd
    mountpoint -q /var/log/glusterfs || mount --bind "$state/gluster/log" /var/log/glusterfs
    mountpoint -q /run/gluster || mount --bind "$run/gluster" /run/gluster
    mountpoint -q /var/lib/flotilla/bricks || mount -o loop "$disks/bricks.img" /var/lib/flotilla/bricks
    mountpoint -q /var/lib/flotilla/snapshots || mount -o loop "$disks/snapshots.img" /var/lib/flotilla/snapshots
  ' sh "$STATE/$n" "$RUN/$n" "$STATE/$n/disks" "$boot"
  if ! alive "$RUN/$n/glusterd.pid"; then
    rm -f "$RUN/$n/gluster/glusterd.socket"
    # nsenter and setsid exec (no function or subshell in between): $! is glusterd itself.
    nsenter -t "$(cat "$RUN/$n/holder.pid")" --net --uts --mount \
      setsid glusterd -N -f "$STATE/$n/gluster/glusterd.vol" \
      >>"$RUN/$n/glusterd.log" 2>&1 < /dev/null &
    echo $! > "$RUN/$n/glusterd.pid"
  fi
}

# Waits until node $1's glusterd answers its CLI.
storage_wait() {
  local n=$1
  for _ in $(seq 100); do
    in_node "$n" timeout 5 gluster --mode=script pool list >/dev/null 2>&1 && return 0
    alive "$RUN/$n/glusterd.pid" || die "$n: glusterd exited (see $RUN/$n/glusterd.log)"
    sleep 0.2
  done
  die "$n: glusterd does not answer"
}

cmd_gluster() {
  local n=${1:?node}; shift
  [ -d "$RUN/$n" ] || die "$n is not up"
  exec nsenter -t "$(cat "$RUN/$n/holder.pid")" --net --uts --mount gluster --mode=script "$@"
}

# Runs a command in node $1's namespaces (its mounts included), e.g. to read a volume's files.
cmd_exec() {
  local n=${1:?node}; shift
  [ -d "$RUN/$n" ] || die "$n is not up"
  exec nsenter -t "$(cat "$RUN/$n/holder.pid")" --net --uts --mount "$@"
}

# Stops or starts node $1's glusterd alone (its disks stay), as an operator would.
cmd_glusterd() {
  local n=${1:?node} action=${2:-}
  [ -d "$RUN/$n" ] || die "$n is not up"
  case "$action" in
    stop) stop_pidfile "$RUN/$n/glusterd.pid" TERM; log "$n: glusterd stopped" ;;
    start) storage_start "$n"; storage_wait "$n"; log "$n: glusterd started" ;;
    *) die "usage: lab.sh glusterd NODE stop|start" ;;
  esac
}
