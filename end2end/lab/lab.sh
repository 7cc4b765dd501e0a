#!/usr/bin/env bash
# The Flotilla edge lab: N simulated edge nodes on this machine, each a network namespace on a
# bridge with its own hostname (UTS namespace), its own mounts (mount namespace: data disks,
# GlusterFS state), its own glusterd and dockerd and (optionally) its own agent.
# Every command is idempotent and safe after a crash. Needs root.
#
#   lab.sh up [N]                    bridge + N nodes with a running dockerd and glusterd each
#                                    (default 3); their disks: end2end/lab/storage.sh
#   lab.sh agents PANEL_URL KEY [NODE...]  start agents (default: every node) enrolling with KEY;
#                                    for an https:// panel, FLOTILLA_CA_FILE names its CA
#   lab.sh stop-agent NODE...        stop a node's agent (SIGKILL: the node just vanishes)
#   lab.sh start-agent NODE...       start it again (it reuses its stored token)
#   LAB_AGENT_PROFILE=NAME lab.sh agents|start-agent …   an agent with an identity of its own
#                                    (state, panel URL and CA kept apart under NAME), to enrol
#                                    the nodes with a second panel and come back to the first
#   lab.sh image                     build the test image flotilla-lab/busybox:1 into every node
#   lab.sh registry TLS_DIR          a private registry (Debian's docker-registry, htpasswd auth,
#                                    TLS from TLS_DIR/panel.pem, .key, ca.pem) on 10.77.0.1:5000,
#                                    trusted by every node's dockerd, holding the test images
#                                    flotilla/hello:1 and flotilla/job:1 (user lab, REGISTRY_PASSWORD)
#   lab.sh vip-holders ADDR          the nodes whose eth0 carries ADDR (one per line)
#   lab.sh failover NODE ADDR        crash NODE (which holds ADDR) and print the ms until another
#                                    node carries ADDR (gives up after 10 s)
#   lab.sh crash NODE                power loss: link down, every process and container killed
#                                    (glusterd, bricks and FUSE clients too; the disks keep their
#                                    data, the FUSE mounts are gone when it boots)
#   lab.sh partition NODE            the node's link down, everything on it still running (heal
#                                    brings the link back)
#   lab.sh heal NODE                 the link of a partitioned node up again
#   lab.sh kill-mount-client NODE    kill the FUSE client of the node's volume mount (the mount
#                                    stays, dead, as after a client crash)
#   lab.sh revive NODE               power back on after a crash: boots its firmware slot, link up,
#                                    dockerd (unless the firmware is bad) and agent started again
#   lab.sh reboot NODE [DOWN_SECS]   graceful reboot: agent, KeepAlived and dockerd (with its
#                                    containers) stopped with SIGTERM, link down, the rest killed;
#                                    after DOWN_SECS (3) it boots like revive. The node's firmware
#                                    installer runs it detached (it must survive the agent)
#   lab.sh make-firmware VERSION OUT [bad]  write a lab firmware file (bad: its node never becomes
#                                    healthy: no dockerd when it is booted)
#   lab.sh firmware NODE             booted=SLOT version=V committed=SLOT next=SLOT|- (A/B slots of
#                                    end2end/lab/firmware-installer.sh, the installer agents get)
#   lab.sh docker NODE ARGS...       run the docker CLI against a node's engine
#   lab.sh gluster NODE ARGS...      run the gluster CLI against a node's glusterd
#   lab.sh glusterd NODE stop|start  stop or start a node's glusterd alone
#   lab.sh exec NODE CMD...          run a command inside a node (its network, hostname, mounts)
#   lab.sh keepalived-conf NODE      the KeepAlived configuration the node's agent wrote
#   lab.sh ps NODE                   names of the processes in a node's network namespace
#   lab.sh status                    what is running
#   lab.sh down                      stop everything and remove every trace
#
# Nodes are named n1..nN, with hostnames edge-1..edge-N and addresses 10.77.0.11.. on a bridge
# that lives in a network namespace of its own (flt-sw, "the lab's switch"); the host reaches it
# through one veth, flt-br0 (10.77.0.1/24), which stays up while the lab is up: the nodes' links
# going down and up (crash, reboot) happen out of the host's sight, so a browser on the host does
# not take them for a change of its network (Chromium fails requests in flight with
# ERR_NETWORK_CHANGED when any host link changes). Override with LAB_SUBNET (first three
# octets), LAB_STATE, LAB_RUN.
set -euo pipefail

SUBNET=${LAB_SUBNET:-10.77.0}
BRIDGE=flt-br0
BRIDGE_IP="$SUBNET.1"
# The switch: a network namespace holding the bridge (br0), the host's uplink and every node's
# link (vfltK).
SWITCH=flt-sw
STATE=${LAB_STATE:-/var/lib/flotilla-lab}
RUN=${LAB_RUN:-/run/flotilla-lab}
LAB_DIR=$(cd "$(dirname "$0")" && pwd)
# Agents started with a profile keep their state, panel URL and CA apart from the default ones.
PROFILE=${LAB_AGENT_PROFILE:+-$LAB_AGENT_PROFILE}
AGENT_BIN=${AGENT_BIN:-$(cd "$LAB_DIR/../.." && pwd)/target/debug/flotilla-agent}
FIRMWARE_INSTALLER="$LAB_DIR/firmware-installer.sh"
# How long a reboot waits for the agent, KeepAlived and dockerd (stopping containers) to exit.
REBOOT_STOP_WAIT=${REBOOT_STOP_WAIT:-15}
DOCKERD_WAIT=${DOCKERD_WAIT:-90}

log() { printf 'lab: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

ns() { echo "flt-$1"; }
node_index() { echo "${1#n}"; }
node_ip() { echo "$SUBNET.$((10 + $(node_index "$1")))"; }
sock() { echo "$RUN/$1/docker.sock"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
nodes() { ls "$RUN" 2>/dev/null | grep -E '^n[0-9]+$' | sort -V || true; }

# shellcheck source=end2end/lab/storage.sh
. "$LAB_DIR/storage.sh"

ensure_bridge() {
  ip netns list | grep -qw "$SWITCH" || ip netns add "$SWITCH"
  ip -n "$SWITCH" link set lo up
  ip -n "$SWITCH" link show br0 >/dev/null 2>&1 || ip -n "$SWITCH" link add br0 type bridge
  ip -n "$SWITCH" link set br0 up
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type veth peer name uplink netns "$SWITCH"
  fi
  ip -n "$SWITCH" link set uplink master br0 up
  ip addr show dev "$BRIDGE" | grep -q " $BRIDGE_IP/24" || ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # The panel's agent listener and the registry answer the lab on the host.
  iptables -C INPUT -i "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -I INPUT -i "$BRIDGE" -j ACCEPT
}

# Handles on this machine's own network and UTS namespaces, so a node's firmware installer (run
# by its agent inside the node) can start a reboot outside the node it powers off.
ensure_host_ns() {
  mkdir -p "$RUN/host-ns"
  local t
  for t in net uts; do
    mountpoint -q "$RUN/host-ns/$t" && continue
    : > "$RUN/host-ns/$t"
    mount --bind "/proc/$$/ns/$t" "$RUN/host-ns/$t"
  done
}

ensure_node() {
  local n=$1 i; i=$(node_index "$n")
  local netns; netns=$(ns "$n")
  mkdir -p "$RUN/$n" "$STATE/$n"
  ip netns list | grep -qw "$netns" || ip netns add "$netns"
  if ! ip -n "$SWITCH" link show "vflt$i" >/dev/null 2>&1; then
    ip -n "$SWITCH" link add "vflt$i" type veth peer name eth0 netns "$netns"
  fi
  ip -n "$SWITCH" link set "vflt$i" master br0 up
  ip -n "$netns" link set lo up
  ip -n "$netns" addr show dev eth0 | grep -q " $(node_ip "$n")/24" \
    || ip -n "$netns" addr add "$(node_ip "$n")/24" dev eth0
  ip -n "$netns" link set eth0 up
  # Stable per-node identity (the host's /etc/machine-id is shared by every namespace).
  [ -s "$STATE/$n/machine-id" ] || head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STATE/$n/machine-id"
  # A/B firmware slots (slot a = lab-1.0.0, committed) and the installer the agent is given;
  # the booted slot's version goes to firmware-version.
  firmware "$n" init
  # A holder process owns the node's UTS namespace (its hostname) and mount namespace (its disks;
  # mounts made on the host still reach it, its own stay inside); daemons join them.
  if ! alive "$RUN/$n/holder.pid"; then
    nsenter --net="/var/run/netns/$netns" unshare --uts --mount --propagation slave --fork \
      sh -c "hostname edge-$i; exec sleep infinity" >/dev/null 2>&1 &
    local outer=$!
    local holder=""
    for _ in $(seq 50); do
      holder=$(pgrep -P "$outer" -x sleep || true)
      [ -n "$holder" ] && break
      sleep 0.1
    done
    [ -n "$holder" ] || die "$n: holder did not start"
    echo "$holder" > "$RUN/$n/holder.pid"
  fi
  storage_start "$n"
  ensure_dockerd "$n"
}

ensure_dockerd() {
  local n=$1 i; i=$(node_index "$n")
  local holder; holder=$(cat "$RUN/$n/holder.pid")
  if ! alive "$RUN/$n/dockerd.pid"; then
    # After a crash the pid in containerd's pid file may belong to another process by now;
    # dockerd would wait for that "containerd" forever.
    rm -f "$(sock "$n")" "$RUN/$n/exec/containerd/containerd.pid"
    mkdir -p "$RUN/$n/exec" "$STATE/$n/docker"
    # Swarm pulls every task's image (with the service's registry credentials) like on a real
    # node; images only loaded locally (lab.sh image) are used after the pull fails at once
    # (nothing leaves the lab).
    nsenter -t "$holder" --net --uts --mount \
      setsid dockerd \
        --data-root "$STATE/$n/docker" \
        --exec-root "$RUN/$n/exec" \
        --pidfile "$RUN/$n/dockerd.pid" \
        -H "unix://$(sock "$n")" \
        --bip "172.31.$i.1/24" \
        --cgroup-parent "/flotilla-lab-$n" \
        >"$RUN/$n/dockerd.log" 2>&1 < /dev/null &
  fi
}

# The node's A/B firmware installer (its state lives in $STATE/NODE/firmware).
firmware() { LAB_STATE="$STATE" LAB_RUN="$RUN" "$FIRMWARE_INSTALLER" "$@"; }

wait_dockerd() {
  local n=$1
  for _ in $(seq "$DOCKERD_WAIT"); do
    if docker -H "unix://$(sock "$n")" version --format '{{.Server.Version}}' >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  tail -20 "$RUN/$n/dockerd.log" >&2 || true
  die "$n: dockerd did not come up within ${DOCKERD_WAIT}s"
}

# The agent is installed like on a real node: a root-owned copy, so KeepAlived (with
# enable_script_security) may run its health and notify helpers as root.
install_agent() {
  [ -x "$AGENT_BIN" ] || die "agent binary $AGENT_BIN not found (cargo build -p agent)"
  install -d -m 755 "$STATE/bin"
  install -m 755 "$AGENT_BIN" "$STATE/bin/flotilla-agent.new"
  mv -f "$STATE/bin/flotilla-agent.new" "$STATE/bin/flotilla-agent"
}

start_agent() {
  local n=$1 panel=$2 key=$3
  alive "$RUN/$n/agent.pid" && return 0
  [ -x "$STATE/bin/flotilla-agent" ] || install_agent
  local holder; holder=$(cat "$RUN/$n/holder.pid")
  echo "$panel" > "$RUN/$n/panel-url$PROFILE"
  # An https:// panel with a private CA: FLOTILLA_CA_FILE when the agents are first started,
  # remembered for later restarts.
  local ca=${FLOTILLA_CA_FILE:-}
  if [ -z "$ca" ] && [ -f "$RUN/$n/ca-file$PROFILE" ]; then ca=$(cat "$RUN/$n/ca-file$PROFILE"); fi
  echo "$ca" > "$RUN/$n/ca-file$PROFILE"
  local extra=()
  [ -n "$key" ] && extra+=(--enrolment-key "$key")
  [ -n "$ca" ] && extra+=(--ca-file "$ca")
  firmware "$n" init
  env -u FLOTILLA_CA_FILE nsenter -t "$holder" --net --uts --mount setsid "$STATE/bin/flotilla-agent" \
    --panel "$panel" "${extra[@]}" \
    --firmware-installer "$STATE/$n/firmware-installer" \
    --state-dir "$STATE/$n/agent$PROFILE" \
    --docker-host "unix://$(sock "$n")" \
    --machine-id-file "$STATE/$n/machine-id" \
    --firmware-version-file "$STATE/$n/firmware-version" \
    --disk-path "$STATE/$n" \
    >>"$RUN/$n/agent.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$n/agent.pid"
  log "$n: agent started (pid $(cat "$RUN/$n/agent.pid"))"
}

stop_pidfile() {
  local f=$1 signal=${2:-TERM}
  if alive "$f"; then
    local pid; pid=$(cat "$f")
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# Kills a reboot of node $1 that is under way (the detached one leads its own process group: all
# of it).
stop_reboot() {
  local f="$RUN/$1/reboot.pid" pid
  pid=$(cat "$f" 2>/dev/null || true)
  # (The pid is ours, or no longer a reboot of this node: nothing to stop.)
  if [ -n "$pid" ] && [ "$pid" != "$$" ] && [[ "$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline")" == *" reboot $1"* ]]; then
    if [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ]; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done
    log "$1: reboot under way (pid $pid) stopped"
  fi
  rm -f "$f"
}

# A live process (a zombie has exited; this machine's init may be slow to reap it).
running() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [[ "$s" != Z* ]]; }

teardown_node() {
  local n=$1 i; i=$(node_index "$n")
  local netns; netns=$(ns "$n")
  # A reboot under way would boot the node again behind our back.
  stop_reboot "$n"
  stop_pidfile "$RUN/$n/agent.pid" TERM
  stop_pidfile "$RUN/$n/dockerd.pid" TERM
  # Anything still inside the node's network namespace (containerd, shims, GlusterFS, holder).
  if ip netns list | grep -qw "$netns"; then
    for pid in $(ip netns pids "$netns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  stop_pidfile "$RUN/$n/holder.pid" KILL
  # Containers live in Docker's cgroups, outside the namespace's process list.
  for cg in /sys/fs/cgroup/*/flotilla-lab-"$n" /sys/fs/cgroup/flotilla-lab-"$n"; do
    [ -d "$cg" ] || continue
    find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # Mounts left under the node's directories (overlay layers, netns files, shm).
  local m
  for m in $(awk -v a="$RUN/$n" -v b="$STATE/$n" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  ip -n "$SWITCH" link del "vflt$i" 2>/dev/null || true
  ip netns del "$netns" 2>/dev/null || true
  # The node's mounts went with its mount namespace; a loop device still attached to its disks
  # (a process of the node that outlived it) is detached.
  local img dev
  for img in "$STATE/$n"/disks/*.img; do
    [ -e "$img" ] || continue
    for dev in $(losetup -j "$img" -O NAME -n 2>/dev/null); do losetup -d "$dev" 2>/dev/null || true; done
  done
  rm -rf "${RUN:?}/$n" "${STATE:?}/$n"
}

cmd_up() {
  local count=${1:-3}
  [[ "$count" =~ ^[1-9]$ ]] || die "node count must be 1..9"
  command -v dockerd >/dev/null || die "dockerd not installed (apt-get install docker.io)"
  mkdir -p "$RUN" "$STATE"
  ensure_host_ns
  ensure_bridge
  for i in $(seq "$count"); do ensure_node "n$i"; done
  for i in $(seq "$count"); do wait_dockerd "n$i"; done
  for i in $(seq "$count"); do storage_wait "n$i"; done
  log "up: $count node(s) on $BRIDGE ($BRIDGE_IP)"
}

cmd_agents() {
  local panel=${1:?panel URL}; local key=${2:-}; shift 2 || shift $#
  local targets=("$@"); [ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(nodes)
  install_agent
  for n in "${targets[@]}"; do
    [ -d "$RUN/$n" ] || die "$n is not up"
    start_agent "$n" "$panel" "$key"
  done
}

cmd_stop_agent() {
  for n in "$@"; do stop_pidfile "$RUN/$n/agent.pid" KILL; log "$n: agent stopped"; done
}

cmd_start_agent() {
  for n in "$@"; do
    [ -f "$RUN/$n/panel-url$PROFILE" ] || die "$n: agents were never started (use: lab.sh agents)"
    start_agent "$n" "$(cat "$RUN/$n/panel-url$PROFILE")" ""
  done
}

TEST_IMAGE=flotilla-lab/busybox:1

# A FROM-scratch image with Debian's static busybox: no registry is reachable from the lab.
cmd_image() {
  [ -x /bin/busybox ] || die "busybox-static is not installed"
  local first="" tmp
  for n in $(nodes); do
    if docker -H "unix://$(sock "$n")" image inspect "$TEST_IMAGE" >/dev/null 2>&1; then
      first=${first:-$n}
      continue
    fi
    if [ -z "$first" ]; then
      tmp=$(mktemp -d)
      cp /bin/busybox "$tmp/busybox"
      printf 'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\nCMD ["sleep", "3600"]\n' > "$tmp/Dockerfile"
      docker -H "unix://$(sock "$n")" build -q -t "$TEST_IMAGE" "$tmp" >/dev/null
      rm -rf "$tmp"
      first=$n
    else
      docker -H "unix://$(sock "$first")" save "$TEST_IMAGE" | docker -H "unix://$(sock "$n")" load -q >/dev/null
    fi
  done
  log "image $TEST_IMAGE on every node"
}

REGISTRY="$BRIDGE_IP:5000"
REGISTRY_USER=lab
REGISTRY_PASSWORD=${REGISTRY_PASSWORD:-lab-registry-secret}
# Where every lab dockerd (they share this file system) looks for a registry's CA.
REGISTRY_CERTS=/etc/docker/certs.d/$REGISTRY

# Images with busybox's applets linked in (RUN in exec form needs no shell): an HTTP service on
# port 8080 that answers with $NODE (give it NODE={{.Node.Hostname}}: its node's hostname) or the
# container's hostname, and a job that exits 0.
build_registry_images() {
  local n=$1 tmp; tmp=$(mktemp -d)
  cp /bin/busybox "$tmp/busybox"
  cat >"$tmp/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
DOCKERFILE
  cp "$tmp/Dockerfile" "$tmp/Dockerfile.hello"
  printf '%s\n' 'CMD ["/bin/sh", "-c", "mkdir -p /www && echo ${NODE:-$(hostname)} > /www/index.html && echo serving on ${NODE:-$(hostname)} && exec httpd -f -p 8080 -h /www"]' >>"$tmp/Dockerfile.hello"
  cp "$tmp/Dockerfile" "$tmp/Dockerfile.job"
  printf '%s\n' 'CMD ["/bin/sh", "-c", "echo job done on $(hostname)"]' >>"$tmp/Dockerfile.job"
  docker -H "unix://$(sock "$n")" build -q -f "$tmp/Dockerfile.hello" -t "$REGISTRY/flotilla/hello:1" "$tmp" >/dev/null
  docker -H "unix://$(sock "$n")" build -q -f "$tmp/Dockerfile.job" -t "$REGISTRY/flotilla/job:1" "$tmp" >/dev/null
  rm -rf "$tmp"
}

cmd_registry() {
  local tls=${1:?TLS directory with panel.pem, panel.key and ca.pem}
  command -v docker-registry >/dev/null || die "docker-registry is not installed"
  command -v htpasswd >/dev/null || die "htpasswd (apache2-utils) is not installed"
  local dir="$STATE/registry"
  mkdir -p "$dir/data" "$RUN"
  mkdir -p "$REGISTRY_CERTS"
  cp "$tls/ca.pem" "$REGISTRY_CERTS/ca.crt"
  if ! alive "$RUN/registry.pid"; then
    cp "$tls/panel.pem" "$dir/cert.pem"
    install -m 600 "$tls/panel.key" "$dir/key.pem"
    htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASSWORD" >"$dir/htpasswd" 2>/dev/null
    cat >"$dir/config.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: $REGISTRY
  tls:
    certificate: $dir/cert.pem
    key: $dir/key.pem
auth:
  htpasswd:
    realm: flotilla-lab
    path: $dir/htpasswd
CONFIG
    setsid docker-registry serve "$dir/config.yml" >"$RUN/registry.log" 2>&1 </dev/null &
    echo $! >"$RUN/registry.pid"
    local up=""
    for _ in $(seq 50); do
      if curl -s -o /dev/null --cacert "$tls/ca.pem" "https://$REGISTRY/v2/"; then up=1; break; fi
      sleep 0.2
    done
    [ -n "$up" ] || { cat "$RUN/registry.log" >&2; die "the registry did not start"; }
  fi
  local first; first=$(nodes | head -1)
  [ -n "$first" ] || die "no lab node is up"
  if ! docker -H "unix://$(sock "$first")" image inspect "$REGISTRY/flotilla/hello:1" >/dev/null 2>&1; then
    build_registry_images "$first"
  fi
  # Push with a throwaway CLI config: no credential stays behind on this machine.
  local cfg; cfg=$(mktemp -d)
  echo "$REGISTRY_PASSWORD" | DOCKER_CONFIG=$cfg docker -H "unix://$(sock "$first")" login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" >/dev/null
  for image in hello:1 job:1; do
    DOCKER_CONFIG=$cfg docker -H "unix://$(sock "$first")" push -q "$REGISTRY/flotilla/$image" >/dev/null
  done
  rm -rf "$cfg"
  # Only the registry has them now: every node must pull (with credentials).
  for image in hello:1 job:1; do
    docker -H "unix://$(sock "$first")" image rm -f "$REGISTRY/flotilla/$image" >/dev/null 2>&1 || true
  done
  log "registry $REGISTRY (user $REGISTRY_USER) holds flotilla/hello:1 and flotilla/job:1"
}

cmd_vip_holders() {
  local addr=${1%/*}
  for n in $(nodes); do
    ip -n "$(ns "$n")" -4 -o addr show dev eth0 2>/dev/null | grep -q " $addr/" && echo "$n"
  done
  return 0
}

cmd_failover() {
  local victim=$1 addr=${2%/*}
  local others=()
  for n in $(nodes); do [ "$n" != "$victim" ] && others+=("$n"); done
  local start now
  start=$(date +%s%N)
  cmd_crash "$victim" 2>/dev/null
  while :; do
    for n in "${others[@]}"; do
      if ip -n "$(ns "$n")" -4 -o addr show dev eth0 | grep -q " $addr/"; then
        now=$(date +%s%N)
        echo "$n $(( (now - start) / 1000000 ))"
        return 0
      fi
    done
    now=$(date +%s%N)
    [ $(( (now - start) / 1000000 )) -lt 10000 ] || die "no node took $addr over within 10 s"
  done
}

cmd_crash() {
  local n=$1 i; i=$(node_index "$n")
  [ -d "$RUN/$n" ] || die "$n is not up"
  # Link first, so no FIN/RST or VRRP goodbye escapes; then everything the node runs.
  ip -n "$SWITCH" link set "vflt$i" down
  # A power loss during a reboot: the node stays off until revived.
  stop_reboot "$n"
  for pid in $(ip netns pids "$(ns "$n")" 2>/dev/null); do
    [ "$pid" = "$(cat "$RUN/$n/holder.pid" 2>/dev/null)" ] || kill -KILL "$pid" 2>/dev/null || true
  done
  for cg in /sys/fs/cgroup/*/flotilla-lab-"$n" /sys/fs/cgroup/flotilla-lab-"$n"; do
    [ -d "$cg" ] && find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  done
  rm -f "$RUN/$n/agent.pid" "$RUN/$n/dockerd.pid" "$RUN/$n/glusterd.pid"
  log "$n: crashed"
}

# The FUSE client of the node's cluster-volume mount killed (as when it crashes): the mount stays,
# dead ("Transport endpoint is not connected"), and so do the bind mounts of containers using it.
# Prints the killed pid.
cmd_kill_mount_client() {
  local n=$1 pid found=""
  for pid in $(ip netns pids "$(ns "$n")"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = glusterfs ] || continue
    # The mount point is the client's last argument (the self-heal daemon has none).
    if [ "$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -v '^$' | tail -1)" = /var/lib/flotilla/volumes ]; then
      kill -KILL "$pid" && found=$pid && echo "$pid"
    fi
  done
  [ -n "$found" ] || die "$n: no FUSE client of /var/lib/flotilla/volumes"
}

cmd_partition() {
  local n=$1
  [ -d "$RUN/$n" ] || die "$n is not up"
  ip -n "$SWITCH" link set "vflt$(node_index "$n")" down
  log "$n: partitioned (link down, still running)"
}

cmd_heal() {
  local n=$1
  [ -d "$RUN/$n" ] || die "$n is not up"
  ip -n "$SWITCH" link set "vflt$(node_index "$n")" up
  log "$n: link up again"
}

cmd_revive() {
  local n=$1 i; i=$(node_index "$n")
  [ -d "$RUN/$n" ] || die "$n is not up"
  ! alive "$RUN/$n/reboot.pid" || die "$n is rebooting (pid $(cat "$RUN/$n/reboot.pid")); it comes back by itself"
  if link_up "$n"; then
    # Not powered off: only what is missing is started (no dockerd under a bad firmware).
    storage_start "$n"
    if [ "$(firmware "$n" health)" = bad ]; then
      log "$n: runs a bad firmware: no dockerd"
    else
      ensure_dockerd "$n"
      wait_dockerd "$n"
    fi
  else
    # Powered back on: it boots its firmware slot like any boot (a crash during a trial boot
    # falls back to the committed slot, as a watchdog reset would).
    boot_node "$n"
  fi
  cmd_start_agent "$n"
}

link_up() { ip -n "$SWITCH" -o link show "vflt$(node_index "$1")" 2>/dev/null | grep -q '[<,]UP[,>]'; }

# This process and its ancestors: spared when a reboot runs inside the node it reboots.
own_lineage() {
  local p=$$
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    echo "$p"
    p=$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')
  done
}

# What is left of node $1 after its link went down: processes in its namespace (but the holder
# and the caller's lineage) and in its cgroups (containers).
node_leftovers() {
  local n=$1 keep=$2 pid cg
  for pid in $(ip netns pids "$(ns "$n")" 2>/dev/null); do
    [[ "$keep" == *" $pid "* ]] || echo "$pid"
  done
  for cg in /sys/fs/cgroup/*/flotilla-lab-"$n" /sys/fs/cgroup/flotilla-lab-"$n"; do
    [ -d "$cg" ] || continue
    find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null || true
  done
}

# The shutdown half of a reboot: SIGTERM to the agent, KeepAlived (its VRRP goodbye hands a VIP
# over at once) and dockerd (which stops its containers), up to REBOOT_STOP_WAIT s for them;
# then the link goes down and whatever is left is killed, as in a crash.
shutdown_node() {
  local n=$1 i; i=$(node_index "$n")
  local keep pid f stopping=()
  keep=" $(cat "$RUN/$n/holder.pid" 2>/dev/null || true) $(own_lineage | tr '\n' ' ') "
  for f in agent dockerd; do
    if alive "$RUN/$n/$f.pid"; then stopping+=("$(cat "$RUN/$n/$f.pid")"); fi
  done
  for pid in $(ip netns pids "$(ns "$n")" 2>/dev/null); do
    # GlusterFS stops on SIGTERM and tells its peers (no I/O stall on the other nodes).
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
      glusterd | glusterfsd | glusterfs) stopping+=("$pid"); continue ;;
    esac
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = keepalived ] || continue
    # Its VRRP and checker children are stopped by the parent.
    [ "$(cat "/proc/$(ps -o ppid= -p "$pid" | tr -d ' ')/comm" 2>/dev/null)" = keepalived ] && continue
    stopping+=("$pid")
  done
  if [ ${#stopping[@]} -gt 0 ]; then
    log "$n: stopping agent, KeepAlived and dockerd (pids ${stopping[*]}, up to ${REBOOT_STOP_WAIT}s)"
    kill -TERM "${stopping[@]}" 2>/dev/null || true
    local deadline=$((SECONDS + REBOOT_STOP_WAIT)) left=("${stopping[@]}")
    while [ ${#left[@]} -gt 0 ] && [ "$SECONDS" -lt "$deadline" ]; do
      sleep 0.2
      local still=()
      for pid in "${left[@]}"; do running "$pid" && still+=("$pid"); done
      left=("${still[@]}")
    done
    [ ${#left[@]} -eq 0 ] || log "$n: still running after ${REBOOT_STOP_WAIT}s: ${left[*]} (killed)"
  fi
  ip -n "$SWITCH" link set "vflt$i" down
  for _ in $(seq 50); do
    local rest; rest=$(node_leftovers "$n" "$keep")
    [ -n "$rest" ] || break
    # shellcheck disable=SC2086
    kill -KILL $rest 2>/dev/null || true
    sleep 0.1
  done
  [ -z "$(node_leftovers "$n" "$keep")" ] || log "$n: processes left after the shutdown: $(node_leftovers "$n" "$keep" | tr '\n' ' ')"
  rm -f "$RUN/$n/agent.pid" "$RUN/$n/dockerd.pid" "$RUN/$n/glusterd.pid"
}

# Powers node $1 on: its firmware slot is booted (lab.sh's firmware-installer.sh picks it), the
# addresses of the last boot are gone, the link comes up and dockerd starts, unless the booted
# firmware is bad: then the node never becomes healthy. The agent is the caller's business.
boot_node() {
  local n=$1 i; i=$(node_index "$n")
  local netns; netns=$(ns "$n")
  firmware "$n" init
  local booted; booted=$(firmware "$n" boot) || die "$n: the firmware installer could not boot the node"
  log "$n: booting $booted"
  local addr
  for addr in $(ip -n "$netns" -4 -o addr show dev eth0 | awk '{print $4}'); do
    [ "$addr" = "$(node_ip "$n")/24" ] || ip -n "$netns" addr del "$addr" dev eth0 2>/dev/null || true
  done
  ip -n "$SWITCH" link set "vflt$i" up
  storage_start "$n" boot
  storage_wait "$n"
  if [[ " $booted " == *" health=bad "* ]]; then
    log "$n: bad firmware: dockerd not started (the node never becomes healthy)"
  else
    ensure_dockerd "$n"
    wait_dockerd "$n"
  fi
}

REBOOT_PID_FILE=""
finish_reboot() {
  if [ -n "$REBOOT_PID_FILE" ] && [ "$(cat "$REBOOT_PID_FILE" 2>/dev/null)" = "$$" ]; then
    rm -f "$REBOOT_PID_FILE"
  fi
}

cmd_reboot() {
  local n=${1:?node}; local down=${2:-3}
  [[ "$down" =~ ^[0-9]+$ ]] || die "DOWN_SECS must be a whole number of seconds"
  [[ "$n" =~ ^n[0-9]+$ ]] && [ -d "$RUN/$n" ] || die "$n is not up"
  if alive "$RUN/$n/reboot.pid" && [ "$(cat "$RUN/$n/reboot.pid")" != "$$" ]; then
    die "$n is already rebooting (pid $(cat "$RUN/$n/reboot.pid"))"
  fi
  # Where `down` (or a crash) finds a reboot under way.
  REBOOT_PID_FILE="$RUN/$n/reboot.pid"
  echo "$$" > "$REBOOT_PID_FILE"
  trap finish_reboot EXIT
  log "$n: reboot (pid $$)"
  shutdown_node "$n"
  log "$n: down for ${down}s"
  sleep "$down"
  boot_node "$n"
  if [ -f "$RUN/$n/panel-url" ]; then
    cmd_start_agent "$n"
  else
    log "$n: no agent to start (agents were never started)"
  fi
  log "$n: rebooted"
}

# A lab firmware file: version=VERSION, and health=bad for one whose node never becomes healthy.
cmd_make_firmware() {
  local version=${1:?VERSION} out=${2:?OUT} bad=${3:-}
  [[ "$version" =~ ^[A-Za-z0-9._-]+$ ]] || die "a firmware version is made of A-Z a-z 0-9 . _ -"
  [ -z "$bad" ] || [ "$bad" = bad ] || die "the third argument is 'bad' or nothing"
  { echo "version=$version"; [ -z "$bad" ] || echo "health=bad"; } > "$out"
  log "firmware $version${bad:+ (bad)} in $out"
}

cmd_firmware() {
  local n=${1:?node}
  [[ "$n" =~ ^n[0-9]+$ ]] && [ -d "$STATE/$n" ] || die "$n is not up"
  firmware "$n" status
}

cmd_status() {
  for n in $(nodes); do
    local d=down a=down
    alive "$RUN/$n/dockerd.pid" && d=up
    alive "$RUN/$n/agent.pid" && a=up
    echo "$n $(node_ip "$n") dockerd=$d agent=$a socket=$(sock "$n") firmware=$(cat "$STATE/$n/firmware-version" 2>/dev/null || echo -)"
  done
}

cmd_down() {
  if alive "$RUN/registry.pid"; then kill "$(cat "$RUN/registry.pid")" 2>/dev/null || true; fi
  rm -rf "$REGISTRY_CERTS"
  for n in $(nodes); do teardown_node "$n"; done
  # Namespaces or links of nodes whose state directory is already gone (crashed runs).
  for netns in $(ip netns list | awk '{print $1}' | grep -E '^flt-n[0-9]+$' || true); do
    teardown_node "${netns#flt-}"
  done
  # (Links of a lab from before the switch namespace lived on the host.)
  for link in $(ip -o link show | awk -F': ' '{print $2}' | grep -E '^vflt[0-9]+' | cut -d@ -f1 || true); do
    ip link del "$link" 2>/dev/null || true
  done
  ip netns del "$SWITCH" 2>/dev/null || true
  while iptables -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  while iptables -D DOCKER-USER -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  while iptables -D INPUT -i "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  ip link del "$BRIDGE" 2>/dev/null || true
  umount "$RUN/host-ns/net" "$RUN/host-ns/uts" 2>/dev/null || true
  [ "$(readlink /run/glusterd.socket 2>/dev/null)" != /run/gluster/glusterd.socket ] || rm -f /run/glusterd.socket
  rm -rf "$RUN" "$STATE"
  log "down: nothing left"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  agents) shift; cmd_agents "$@" ;;
  stop-agent) shift; cmd_stop_agent "$@" ;;
  start-agent) shift; cmd_start_agent "$@" ;;
  image) cmd_image ;;
  registry) shift; cmd_registry "$@" ;;
  keepalived-conf) shift; cat "$STATE/$1/agent/keepalived/keepalived.conf" 2>/dev/null || true ;;
  ps) shift; pids=$(ip netns pids "$(ns "$1")" | tr '\n' ','); [ -z "$pids" ] || ps -o comm= -p "${pids%,}" ;;
  vip-holders) shift; cmd_vip_holders "$@" ;;
  failover) shift; cmd_failover "$@" ;;
  crash) shift; cmd_crash "$@" ;;
  partition) shift; cmd_partition "$@" ;;
  kill-mount-client) shift; cmd_kill_mount_client "$@" ;;
  heal) shift; cmd_heal "$@" ;;
  revive) shift; cmd_revive "$@" ;;
  reboot) shift; cmd_reboot "$@" ;;
  make-firmware) shift; cmd_make_firmware "$@" ;;
  firmware) shift; cmd_firmware "$@" ;;
  docker) shift; n=$1; shift; exec docker -H "unix://$(sock "$n")" "$@" ;;
  gluster) shift; cmd_gluster "$@" ;;
  glusterd) shift; cmd_glusterd "$@" ;;
  exec) shift; cmd_exec "$@" ;;
  status) cmd_status ;;
  down) cmd_down ;;
  *) sed -n '2,/^set -euo/{/^#/p}' "$0" >&2; exit 2 ;;
esac
