#!/usr/bin/env bash
# lab.sh: a simulated fleet on one machine for firedrill game days.
# See deploy/lab/README.md, or run: deploy/lab/lab.sh --help
set -euo pipefail

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LAB_ROOT/../.." && pwd)
# shellcheck source=lib/topology.sh
source "$LAB_ROOT/lib/topology.sh"

usage() {
  cat <<EOF
lab.sh - the firedrill lab fleet: two data centres and an ops network on one machine

SYNOPSIS
  deploy/lab/lab.sh up [--placement single-site|two-site] [--controllers 1|2] [OPTIONS]
  deploy/lab/lab.sh down [--keep-state] [--purge] [OPTIONS]
  deploy/lab/lab.sh status [OPTIONS]

DESCRIPTION
  up builds the fleet: data centre pangyo (racks p1, p2) and data centre chuncheon
  (racks c1, c2), two hosts per rack, and an ops network for HAProxy, the probes, the
  controller and a Prometheus that scrapes every agent, the controller and HAProxy.
  Every host is a network namespace with its own cgroup and its own
  firedrill-agent (tags dc, rack, host and the host's roles), a data interface eth0
  that faults act on, and a management interface mgmt0 on a separate network that
  faults never touch. Redis, Sentinel, HAProxy and a web service run from Debian's
  packages, started by each host's boot hook, so that they come back when the power
  does. The placement decides where Redis and its Sentinels live:
    single-site  primary and replica in pangyo, two of three Sentinels in pangyo
    two-site     primary in pangyo, replica in chuncheon, Sentinels in pangyo,
                 chuncheon and ops (default)
  With --controllers 2 there is no controller in ops: one runs in each data centre's
  ops segment (host pg-ops in pangyo, cc-ops in chuncheon), both on one PostgreSQL in
  chuncheon's (cc-ops): Debian's postgresql-15, a cluster made with initdb in the
  lab's state directory and run by the lab as the postgres user in cc-ops's
  namespace, never the machine's PostgreSQL service. pangyo's controller leads at the
  start, chuncheon's follows; every agent is given both (pangyo's first). Each of the
  two hosts runs an agent as well, so that a site's power loss cuts its controller's
  power too; the controllers and PostgreSQL are services of their host, restarted by
  its supervisor and by its boot hook when the power comes back.

  up waits until Redis replicates, the Sentinels have a quorum and HAProxy serves; on
  failure or interruption it takes down whatever it built.

  down stops every process the lab started (agents first, so that they revert their
  faults), removes its cgroups, namespaces, bridges and veths and its state directory.
  It works on a half-built lab too, and does nothing when there is no lab. The
  controller's store (runs, signed evidence, its key) is evidence, not lab: it is kept
  for the next up unless --purge. With --controllers 2 the database and both
  controllers' state live in the state directory and go with it (save reports first).

  status lists hosts, agents, services, each Sentinel's primary and HAProxy's backends.
  Exit 0 when the lab is up, 3 when it is down.

OPTIONS
  --placement P   single-site or two-site (up only; default two-site)
  --controllers N  1 (default): one controller in ops on SQLite; 2: one in each data
                  centre on a PostgreSQL in chuncheon (up only; needs the controller)
  --name NAME     the lab's name and prefix of its namespaces and links (default fdl;
                  'fdl' followed by up to two letters or digits): two labs can coexist
  --agent PATH    the firedrill-agent binary (default: \$FDL_AGENT, else build/agent/
                  firedrill-agent of this checkout)
  --firedrill PATH  the firedrill binary, whose \`serve\` is the lab's controller
                  (default: \$FDL_FIREDRILL, else build/controller/firedrill)
  --controller WHEN  yes, no or auto (default): run the controller in ops, with every
                  agent connected to it over the management network; auto runs it
                  when the firedrill binary has \`serve\`
  --keep-state    down: keep the state directory (logs) instead of removing it
  --purge         down: remove the controller's store and evidence as well
  -h, --help      this text

FILES
  /run/firedrill-lab/NAME/          state: lab.env, per-host configs, logs, agent sockets
    hosts/HOST/agent.sock           the agent's local control socket (firedrill-agent ctl)
    hosts/HOST/*.log                the agent's and each service's log
    controller.sock                 the controller's API: export FIREDRILL_API=this path
    hosts/{pg-ops,cc-ops}/controller.sock  with --controllers 2: each controller's API
    hosts/cc-ops/postgres/          with --controllers 2: the PostgreSQL cluster and log
  /var/lib/firedrill-lab/NAME/controller/   the controller's store, evidence, key and log
  <cgroup2>/firedrill-lab/NAME/     hosts/HOST/SERVICE (workloads), agents/HOST

EXAMPLES
  deploy/lab/lab.sh up --placement single-site
  FIREDRILL_API=/run/firedrill-lab/fdl/controller.sock build/controller/firedrill run experiments/pangyo-fire.yaml
  build/agent/firedrill-agent ctl --socket /run/firedrill-lab/fdl/hosts/p1-h1/agent.sock status
  deploy/lab/bin/lab-redis primary
  deploy/lab/lab.sh down
EOF
}

die() { echo "lab.sh: $*" >&2; exit 1; }
say() { echo "lab.sh: $*"; }

command=""
placement=two-site
name=${FDL_LAB_NAME:-fdl}
agent=${FDL_AGENT:-}
firedrill=${FDL_FIREDRILL:-}
controller=auto
controllers=1
keep_state=0
purge=0
up_done=0
while [ $# -gt 0 ]; do
  case "$1" in
    up | down | status) [ -z "$command" ] || die "one command at a time ('$command' and '$1')"; command=$1 ;;
    --placement) placement=${2:?--placement needs a value}; shift ;;
    --placement=*) placement=${1#*=} ;;
    --name) name=${2:?--name needs a value}; shift ;;
    --name=*) name=${1#*=} ;;
    --agent) agent=${2:?--agent needs a value}; shift ;;
    --agent=*) agent=${1#*=} ;;
    --firedrill) firedrill=${2:?--firedrill needs a value}; shift ;;
    --firedrill=*) firedrill=${1#*=} ;;
    --controller) controller=${2:?--controller needs a value}; shift ;;
    --controller=*) controller=${1#*=} ;;
    --controllers) controllers=${2:?--controllers needs a value}; shift ;;
    --controllers=*) controllers=${1#*=} ;;
    --keep-state) keep_state=1 ;;
    --purge) purge=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see lab.sh --help)" ;;
  esac
  shift
done
[ -n "$command" ] || { usage >&2; exit 2; }
case " $FDL_PLACEMENTS " in *" $placement "*) ;; *) die "--placement '$placement': expected single-site or two-site" ;; esac
case "$controller" in yes | no | auto) ;; *) die "--controller '$controller': expected yes, no or auto" ;; esac
case "$controllers" in 1 | 2) ;; *) die "--controllers '$controllers': expected 1 or 2" ;; esac
[ "$controllers" = 1 ] || [ "$controller" != no ] || die "--controllers 2 needs the controller (not --controller no)"
[[ "$name" =~ ^fdl[a-z0-9]{0,2}$ ]] || die "--name '$name': expected 'fdl' followed by up to two letters or digits"
[ "$(id -u)" -eq 0 ] || die "needs root (namespaces, cgroups, eBPF agents)"

STATE_ROOT=${FDL_LAB_STATE_ROOT:-/run/firedrill-lab}
LAB_DIR=$STATE_ROOT/$name
EVIDENCE_DIR=${FDL_LAB_EVIDENCE_ROOT:-/var/lib/firedrill-lab}/$name/controller
CG2=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' /proc/self/mountinfo)
[ -n "$CG2" ] || die "no cgroup v2 mount on this host (the lab's hosts are cgroups)"
CG_REL=firedrill-lab/$name
CG_LAB=$CG2/$CG_REL
FABRIC=$name-fabric

ns_of() { echo "$name-$1"; }
ns_exists() { [ -e "/run/netns/$1" ]; }
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" -- "$@"; }
# Hosts with an agent: the fleet's eight, and the controllers' two with --controllers 2.
agent_hosts() {
  fdl_host_names
  if [ "$controllers" = 2 ]; then fdl_controller_host_names; fi
}
all_hosts() { agent_hosts; echo ops; }
PG_BIN=/usr/lib/postgresql/15/bin

# Serialises up and down of one lab name (status does not take it). Whatever the lab
# starts is started with fd 9 closed, or it would hold the lock for its whole life.
lock() {
  local file=/run/lock/firedrill-lab-$name.lock
  exec 9>"$file"
  flock -w 120 9 || die "another lab.sh up/down of '$name' holds $file"
}

# ------------------------------------------------------------------ down

# SIGTERM to a pid only if it lives in this lab's cgroup: never a process we did not start.
term_lab_pid() {
  local pid=$1
  [ -n "$pid" ] && [ -r "/proc/$pid/cgroup" ] || return 0
  grep -q "/$CG_REL/" "/proc/$pid/cgroup" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
}

cgroup_populated() { grep -qx 'populated 1' "$1/cgroup.events" 2>/dev/null; }

# Stops service SVC of host H as its host would: SIGTERM to its supervisor (which
# passes it on to the service and waits), then up to SECONDS for the service to go.
stop_service() {
  local h=$1 svc=$2 seconds=$3 pid deadline
  local init=$CG_LAB/hosts/$h/init/$svc cg=$CG_LAB/hosts/$h/$svc
  [ -r "$init/cgroup.procs" ] || return 0
  while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$init/cgroup.procs"
  deadline=$((SECONDS + seconds))
  while [ $SECONDS -lt $deadline ] && { cgroup_populated "$cg" || cgroup_populated "$init"; }; do sleep 0.2; done
}

do_down() {
  local pid h ns deadline leftovers=0
  # Agents first, politely: each reverts its faults (lifts blackholes, thaws cgroups).
  if [ -d "$LAB_DIR/hosts" ]; then
    for h in $(fdl_host_names) $(fdl_controller_host_names); do
      pid=$(cat "$LAB_DIR/hosts/$h/agent.pid" 2>/dev/null || true)
      term_lab_pid "$pid"
    done
    deadline=$((SECONDS + 5))
    while [ $SECONDS -lt $deadline ] && cgroup_populated "$CG_LAB/agents"; do sleep 0.2; done
    # Then the controller, so that it closes its store and evidence cleanly.
    term_lab_pid "$(cat "$LAB_DIR/controller.pid" 2>/dev/null || true)"
    deadline=$((SECONDS + 5))
    while [ $SECONDS -lt $deadline ] && cgroup_populated "$CG_LAB/controller"; do sleep 0.2; done
    # --controllers 2: both controllers, then PostgreSQL (a clean shutdown; its IPC
    # namespace, and with it its shared memory, goes with its last process).
    for h in $(fdl_controller_host_names); do stop_service "$h" controller 5; done
    stop_service "$FDL_PG_HOST" postgres 15
  fi
  # Then everything else the lab started, at once, frozen or not.
  if [ -d "$CG_LAB" ]; then
    echo 1 >"$CG_LAB/cgroup.kill"
    deadline=$((SECONDS + 10))
    while cgroup_populated "$CG_LAB"; do
      [ $SECONDS -lt $deadline ] || { echo "lab.sh: processes left in $CG_LAB after cgroup.kill" >&2; leftovers=1; break; }
      sleep 0.1
    done
    find "$CG_LAB" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [ ! -d "$CG_LAB" ] || { echo "lab.sh: could not remove cgroup $CG_LAB" >&2; leftovers=1; }
    rmdir "$CG2/firedrill-lab" 2>/dev/null || true
  fi
  # The data images, once nothing runs that holds files there.
  if [ -d "$LAB_DIR/hosts" ]; then remove_data_fs || leftovers=1; fi
  # Anything else inside the lab's namespaces (a shell someone opened there) is the lab's too.
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$name-" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null || true); do kill -KILL "$pid" 2>/dev/null || true; done
    # Deleting the fabric namespace takes its bridges and veth ends; a host's takes the rest.
    ip netns delete "$ns" 2>/dev/null || { echo "lab.sh: could not delete namespace $ns" >&2; leftovers=1; }
  done
  if [ "$keep_state" = 1 ]; then
    if [ -d "$LAB_DIR" ]; then say "state kept in $LAB_DIR"; fi
  else
    rm -rf "$LAB_DIR"
    rmdir "$STATE_ROOT" 2>/dev/null || true
  fi
  if [ "$purge" = 1 ]; then
    rm -rf "$EVIDENCE_DIR"
    rmdir "$(dirname "$EVIDENCE_DIR")" "$(dirname "$(dirname "$EVIDENCE_DIR")")" 2>/dev/null || true
  elif [ -d "$EVIDENCE_DIR" ]; then
    say "the controller's store and evidence are kept in $EVIDENCE_DIR (--purge removes them)"
  fi
  [ "$leftovers" = 0 ] || return 1
  return 0
}

# ------------------------------------------------------------------ up: network

make_fabric() {
  local dc br
  ip netns add "$FABRIC"
  in_ns "$FABRIC" ip link set lo up
  for dc in pangyo chuncheon ops; do
    br=$name-${FDL_DC_BRIDGE[$dc]}
    in_ns "$FABRIC" ip link add "$br" type bridge
    in_ns "$FABRIC" ip addr add "${FDL_DC_GW[$dc]}/${FDL_DC_PREFIX[$dc]}" dev "$br"
    in_ns "$FABRIC" ip link set "$br" up
  done
  # The management segment is pure L2: no address here, so nothing routes into it.
  in_ns "$FABRIC" ip link add "$name-br-mgmt" type bridge
  in_ns "$FABRIC" ip link set "$name-br-mgmt" up
  # The fabric is the only router: between the lab's own networks, nowhere else.
  in_ns "$FABRIC" sysctl -qw net.ipv4.ip_forward=1
}

make_host_net() {
  local h=$1 ns dc ip mgmt net
  ns=$(ns_of "$h")
  dc=$(fdl_host_field "$h" dc)
  ip=$(fdl_host_field "$h" ip)
  mgmt=$(fdl_host_field "$h" mgmt)
  ip netns add "$ns"
  in_ns "$ns" ip link set lo up
  in_ns "$FABRIC" ip link add "$name-$h-d" type veth peer name eth0 netns "$ns"
  in_ns "$FABRIC" ip link add "$name-$h-m" type veth peer name mgmt0 netns "$ns"
  in_ns "$FABRIC" ip link set "$name-$h-d" master "$name-${FDL_DC_BRIDGE[$dc]}" up
  in_ns "$FABRIC" ip link set "$name-$h-m" master "$name-br-mgmt" up
  in_ns "$ns" ip addr add "$ip/${FDL_DC_PREFIX[$dc]}" dev eth0
  in_ns "$ns" ip addr add "$mgmt/24" dev mgmt0
  in_ns "$ns" ip link set eth0 up
  in_ns "$ns" ip link set mgmt0 up
  # Routes to the other lab networks only: there is no default route in the lab.
  for net in "${FDL_DC_NET[@]}"; do
    [ "$net" = "${FDL_DC_NET[$dc]}" ] && continue
    in_ns "$ns" ip route add "$net" via "${FDL_DC_GW[$dc]}" dev eth0
  done
}

# ------------------------------------------------------------------ up: services

primary_ip() { fdl_host_field "$(fdl_hosts_with "$placement" redis-primary)" ip; }

# A Redis host's data directory is a small ext4 image of its own on a loop device, so
# that a power loss with lose_unsynced can shut it down without flushing (the agent's
# --data-dir). The loop device is recorded before it is mounted: do_down unmounts and
# detaches whatever was made, also after a half-built up.
make_data_fs() {
  local h=$1 data=$LAB_DIR/hosts/$1/redis/data img=$LAB_DIR/hosts/$1/redis-data.img loop
  mkdir -p "$data"
  truncate -s 64M "$img"
  mkfs.ext4 -q -F "$img" || die "mkfs.ext4 $img failed"
  loop=$(losetup --find --show "$img") || die "losetup $img failed (no free loop device?)"
  echo "$loop" >"$LAB_DIR/hosts/$h/redis-data.loop"
  mount -t ext4 -o noatime "$loop" "$data" || die "mount $loop at $data failed"
}

# Unmounts and detaches the data images of the lab's hosts (do_down).
remove_data_fs() {
  local f h data loop
  for f in "$LAB_DIR"/hosts/*/redis-data.loop; do
    [ -e "$f" ] || continue
    h=$(dirname "$f")
    data=$h/redis/data
    loop=$(cat "$f")
    if mountpoint -q "$data"; then
      umount "$data" 2>/dev/null || umount -l "$data" || { echo "lab.sh: could not unmount $data" >&2; return 1; }
    fi
    # Only the loop device this lab attached to its own image.
    if losetup "$loop" 2>/dev/null | grep -qF "$h/redis-data.img"; then
      losetup -d "$loop" || { echo "lab.sh: could not detach $loop" >&2; return 1; }
    fi
    rm -f "$f"
  done
}

write_redis_conf() {
  local h=$1 role=$2 dir=$LAB_DIR/hosts/$1/redis
  mkdir -p "$dir"
  make_data_fs "$h"
  {
    echo "# generated by lab.sh up ($placement); Sentinel rewrites it on failover"
    echo "bind $(fdl_host_field "$h" ip)"
    echo "port $FDL_REDIS_PORT"
    echo "protected-mode no"
    echo "daemonize no"
    echo "dir $dir/data"
    echo 'logfile ""'
    # Durable on its own host (AOF, fsync every second), so that a restarted primary
    # comes back with its data rather than empty; no RDB snapshots.
    echo "appendonly yes"
    echo "appendfsync everysec"
    echo 'save ""'
    echo "repl-ping-replica-period 1"
    echo "repl-timeout 5"
    if [ "$role" = redis-replica ]; then echo "replicaof $(primary_ip) $FDL_REDIS_PORT"; fi
  } >"$dir/redis.conf"
}

write_sentinel_conf() {
  local h=$1 dir=$LAB_DIR/hosts/$1/sentinel
  mkdir -p "$dir"
  {
    echo "# generated by lab.sh up ($placement); Sentinel rewrites it as it learns"
    echo "bind $(fdl_host_field "$h" ip)"
    echo "port $FDL_SENTINEL_PORT"
    echo "protected-mode no"
    echo "daemonize no"
    echo "dir $dir"
    echo 'logfile ""'
    echo "sentinel resolve-hostnames no"
    echo "sentinel monitor $FDL_MASTER_NAME $(primary_ip) $FDL_REDIS_PORT 2"
    # Tuned for a failover well inside 30 s: 3 s without an answer is subjectively
    # down; quorum 2 of 3 makes it objectively down and elects a leader within about a
    # second; promotion is immediate. 3 s rather than less keeps a busy two-core CI
    # machine from failing over on a scheduling hiccup. When two Sentinels split the
    # vote, the next election waits twice the failover timeout: 5 s keeps that retry
    # at 10 s (the default of 3 minutes would miss any target).
    echo "sentinel down-after-milliseconds $FDL_MASTER_NAME 3000"
    echo "sentinel failover-timeout $FDL_MASTER_NAME 5000"
    echo "sentinel parallel-syncs $FDL_MASTER_NAME 1"
  } >"$dir/sentinel.conf"
}

write_haproxy_conf() {
  local dir=$LAB_DIR/hosts/ops/haproxy h
  mkdir -p "$dir"
  {
    echo "# generated by lab.sh up: the web service, backends in both data centres"
    echo "global"
    echo "  maxconn 512"
    echo "  stats socket $dir/haproxy.sock mode 600 level admin"
    echo "defaults"
    echo "  mode http"
    echo "  timeout connect 500ms"
    echo "  timeout client 5s"
    echo "  timeout server 2s"
    echo "  timeout check 500ms"
    # A request that meets a dead backend is sent to another one.
    echo "  retries 2"
    echo "  option redispatch"
    echo "frontend web"
    echo "  bind $FDL_OPS_IP:$FDL_HAPROXY_PORT"
    echo "  default_backend web"
    # HAProxy's own Prometheus exporter, scraped by the lab's Prometheus.
    echo "frontend metrics"
    echo "  bind $FDL_OPS_IP:$FDL_HAPROXY_METRICS_PORT"
    echo "  http-request use-service prometheus-exporter if { path /metrics }"
    echo "  no log"
    echo "backend web"
    echo "  balance roundrobin"
    echo "  option httpchk GET /healthz"
    echo "  default-server inter 500ms fastinter 250ms downinter 1s fall 2 rise 2"
    for h in $(fdl_hosts_with "$placement" web); do
      echo "  server $h $(fdl_host_field "$h" ip):$FDL_WEB_PORT check"
    done
  } >"$dir/haproxy.cfg"
}

# The lab's resolver in ops: every host as <host>.lab, and the service names (redis.lab:
# the Redis primary where it was put). Nothing outside .lab is answered or forwarded.
# The hosts' resolv.conf names it (the web services bind it over /etc/resolv.conf in a
# mount namespace of their own).
write_dns_conf() {
  local dir=$LAB_DIR/hosts/ops/dns h
  mkdir -p "$dir"
  {
    echo "# generated by lab.sh up: the lab's resolver"
    echo "port=$FDL_DNS_PORT"
    echo "listen-address=$FDL_OPS_IP"
    echo "bind-interfaces"
    echo "no-resolv"
    echo "no-hosts"
    echo "local=/$FDL_DNS_DOMAIN/"
    echo "user=root"
    echo "pid-file=$dir/dnsmasq.pid"
    echo "host-record=redis.$FDL_DNS_DOMAIN,$(fdl_host_field p1-h1 ip)"
    for h in $(fdl_host_names) ops; do
      echo "host-record=$h.$FDL_DNS_DOMAIN,$(fdl_host_field "$h" ip)"
    done
  } >"$dir/dnsmasq.conf"
  printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$FDL_OPS_IP" >"$LAB_DIR/resolv.conf"
}

# The lab's Prometheus (in ops, on the ops data network) scrapes every agent on its
# management address, the controller and HAProxy's exporter each second, so that a
# drill's seconds show in its graphs. Its data lives in the lab's state directory.
write_prometheus_conf() {
  local dir=$LAB_DIR/hosts/ops/prometheus h
  mkdir -p "$dir/data"
  {
    echo "# generated by lab.sh up"
    echo "global:"
    echo "  scrape_interval: 1s"
    echo "  scrape_timeout: 900ms"
    echo "  evaluation_interval: 1s"
    echo "scrape_configs:"
    echo "  - job_name: firedrill-agent"
    echo "    static_configs:"
    for h in $(fdl_host_names); do
      echo "      - targets: ['$(fdl_host_field "$h" mgmt):$FDL_AGENT_METRICS_PORT']"
      echo "        labels: {host: $h, dc: $(fdl_host_field "$h" dc), rack: $(fdl_host_field "$h" rack)}"
    done
    if [ "$controllers" = 2 ]; then
      echo "  - job_name: firedrill-controller"
      echo "    static_configs:"
      for h in $(fdl_controller_host_names); do
        echo "      - targets: ['$(fdl_host_field "$h" mgmt):$FDL_CONTROLLER_METRICS_PORT']"
        echo "        labels: {host: $h, dc: $(fdl_host_field "$h" dc)}"
      done
    elif [ "$controller" = yes ]; then
      echo "  - job_name: firedrill-controller"
      echo "    static_configs:"
      echo "      - targets: ['$FDL_OPS_MGMT_IP:$FDL_CONTROLLER_METRICS_PORT']"
    fi
    echo "  - job_name: haproxy"
    echo "    static_configs:"
    echo "      - targets: ['$FDL_OPS_IP:$FDL_HAPROXY_METRICS_PORT']"
  } >"$dir/prometheus.yml"
}

# --controllers 2: the PostgreSQL cluster both controllers share, made with Debian's
# initdb in the lab's state directory (cc-ops's), owned and run by the postgres user
# (boot-host.sh starts it), listening on cc-ops's data address only, with a password
# for the controllers' role (firedrill) from the lab's networks and trust on its Unix
# socket in the same directory, for the lab itself.
init_postgres() {
  local dir=$LAB_DIR/hosts/$FDL_PG_HOST/postgres net
  id postgres >/dev/null 2>&1 || die "no postgres user (run scripts/install-deps.sh: postgresql-15)"
  [ -x "$PG_BIN/initdb" ] || die "no $PG_BIN/initdb (run scripts/install-deps.sh: postgresql-15)"
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  install -m 600 -o postgres -g postgres "$LAB_DIR/postgres.password" "$dir/pwfile"
  setpriv --reuid=postgres --regid=postgres --init-groups -- "$PG_BIN/initdb" -D "$dir/data" -U firedrill \
    -E UTF8 --locale=C --auth-local=trust --auth-host=scram-sha-256 --pwfile="$dir/pwfile" --no-sync \
    --no-instructions >"$dir/initdb.log" 2>&1 || die "initdb failed (see $dir/initdb.log)"
  rm -f "$dir/pwfile"
  for net in "${FDL_DC_NET[@]}"; do
    echo "host firedrill firedrill $net scram-sha-256" >>"$dir/data/pg_hba.conf"
  done
}

pg_local() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
pg_ready() { pg_local "$PG_BIN/pg_isready" -q -h "$LAB_DIR/hosts/$FDL_PG_HOST/postgres" -p "$FDL_PG_PORT"; }
make_database() {
  pg_local "$PG_BIN/psql" -qX -h "$LAB_DIR/hosts/$FDL_PG_HOST/postgres" -p "$FDL_PG_PORT" -U firedrill -d postgres \
    -c "CREATE DATABASE firedrill" >/dev/null
}

# --controllers 2: a controller's flags (one a line, read by boot-host.sh) and its
# store URL, which holds the password, in a file only root reads (--config).
write_controller_conf() {
  local h=$1 dir=$LAB_DIR/hosts/$1/controller dc other mgmt
  dc=$(fdl_host_field "$h" dc)
  mgmt=$(fdl_host_field "$h" mgmt)
  mkdir -p "$dir/state"
  (umask 077 && printf 'store: postgres://firedrill:%s@%s:%s/firedrill\n' "$(cat "$LAB_DIR/postgres.password")" \
    "$(fdl_host_field "$FDL_PG_HOST" ip)" "$FDL_PG_PORT" >"$dir/store.yaml")
  {
    echo serve
    echo --config; echo "$dir/store.yaml"
    echo --insecure
    echo --fleet; echo "lab-$name"
    echo --controller-id; echo "$dc"
    echo --listen; echo "$mgmt:$FDL_CONTROLLER_PORT"
    echo --advertise; echo "$mgmt:$FDL_CONTROLLER_PORT"
    echo --api; echo "$LAB_DIR/hosts/$h/controller.sock"
    echo --state-dir; echo "$dir/state"
    echo --metrics-listen; echo "$mgmt:$FDL_CONTROLLER_METRICS_PORT"
    # It refuses to target its own data centre, unless the other one has a controller.
    echo --controller-domain; echo "dc=$dc"
    if "$firedrill" serve --help 2>/dev/null | grep -- '--peer-domain' >/dev/null; then
      for other in $(fdl_controller_host_names); do
        [ "$other" = "$h" ] || { echo --peer-domain; echo "dc=$(fdl_host_field "$other" dc)"; }
      done
    fi
  } >"$dir/args"
}

# The host's services file names what its boot hook starts; the Redis role is only in
# the generated redis.conf, since Sentinel moves it.
write_host_services() {
  local h=$1 svc
  mkdir -p "$LAB_DIR/hosts/$h"
  : >"$LAB_DIR/hosts/$h/services"
  for svc in $(fdl_services "$placement" "$h"); do
    case "$svc" in
      redis-primary | redis-replica) write_redis_conf "$h" "$svc"; svc=redis ;;
      sentinel) write_sentinel_conf "$h" ;;
      haproxy) write_haproxy_conf ;;
      prometheus) write_prometheus_conf ;;
      dns) write_dns_conf ;;
      web) mkdir -p "$LAB_DIR/hosts/$h/web" ;;
      postgres) init_postgres ;;
      controller) write_controller_conf "$h" ;;
    esac
    echo "$svc" >>"$LAB_DIR/hosts/$h/services"
  done
}

# Tags: where the host is, and what it runs at the start (a failover moves the Redis
# primary; the tag says where it was put).
host_tags() {
  local h=$1 svc
  echo "dc=$(fdl_host_field "$h" dc)"
  echo "rack=$(fdl_host_field "$h" rack)"
  echo "host=$h"
  echo "lab=$name"
  echo "placement=$placement"
  for svc in $(fdl_services "$placement" "$h"); do
    case "$svc" in
      redis-primary) echo "redis=primary" ;;
      redis-replica) echo "redis=replica" ;;
      *) echo "$svc=true" ;;
    esac
  done
}

controller_list() {
  local h list=""
  for h in $(fdl_controller_host_names); do list+="${list:+,}$(fdl_host_field "$h" mgmt):$FDL_CONTROLLER_PORT"; done
  echo "$list"
}

start_agent() {
  local h=$1 dir=$LAB_DIR/hosts/$1 cg=$CG_LAB/agents/$1
  local -a args
  mkdir -p "$cg" "$dir/agent"
  host_tags "$h" >"$dir/tags"
  args=(--id "$h" --tags-file "$dir/tags"
        --interface eth0
        --allow "$FDL_MGMT_CIDR"
        --workload-cgroup "$CG_REL/hosts/$h"
        --boot-hook "$LAB_ROOT/boot-host.sh $LAB_DIR $h"
        --state-dir "$dir/agent"
        --local-socket "$dir/agent.sock"
        --metrics-listen "$(fdl_host_field "$h" mgmt):$FDL_AGENT_METRICS_PORT"
        --no-watcher)  # agent.pid is the agent itself: the tests read its BPF fds and signal it
  if [ -e "$dir/redis-data.loop" ]; then args+=(--data-dir "$dir/redis/data"); fi
  if [ "$controllers" = 2 ]; then
    # Both controllers, pangyo's first; plaintext: the management network is the lab's own.
    args+=(--controller "$(controller_list)" --insecure)
  elif [ "$controller" = yes ]; then
    # Plaintext, as the lab's controller: the management network is the lab's own.
    args+=(--controller "$FDL_OPS_MGMT_IP:$FDL_CONTROLLER_PORT" --insecure)
  fi
  # The agent is not a workload: its own cgroup, outside the host's, so that a power
  # loss of the host does not kill the thing that restores the power.
  setsid nsenter --net="/run/netns/$(ns_of "$h")" -- /bin/sh -c \
    'echo $$ > "$0/cgroup.procs" && echo $$ > "$1" && shift && exec "$@"' \
    "$cg" "$dir/agent.pid" "$agent" "${args[@]}" </dev/null >>"$dir/agent.log" 2>&1 9>&- &
}

# The controller lives in ops, outside both data centres (the lesson of 2022: the
# tools to fail over must not burn with the site). It listens for agents on the
# management network, serves its API on a Unix socket in the lab's state directory,
# runs the probes from ops, and works from the repository root, where the experiments'
# probe commands (deploy/lab/bin/...) are found; FDL_LAB_NAME in its environment tells
# them which lab they probe.
start_controller() {
  local cg=$CG_LAB/controller
  mkdir -p "$EVIDENCE_DIR" "$cg"
  (
    cd "$REPO"
    export FDL_LAB_NAME=$name FDL_LAB_STATE_ROOT=$STATE_ROOT
    setsid nsenter --net="/run/netns/$(ns_of ops)" -- /bin/sh -c \
      'echo $$ > "$0/cgroup.procs" && echo $$ > "$1" && shift && exec "$@"' \
      "$cg" "$LAB_DIR/controller.pid" "$firedrill" serve --insecure \
      --listen "$FDL_OPS_MGMT_IP:$FDL_CONTROLLER_PORT" --api "$LAB_DIR/controller.sock" \
      --state-dir "$EVIDENCE_DIR" --controller-domain dc=ops \
      --metrics-listen "$FDL_OPS_MGMT_IP:$FDL_CONTROLLER_METRICS_PORT" \
      </dev/null >>"$EVIDENCE_DIR/controller.log" 2>&1 9>&- &
  )
}

# --controllers 2: PostgreSQL first (cc-ops's boot hook, that service only), its
# database, then pangyo's controller, which takes the lease, then chuncheon's, which
# follows. The agents come next, given both.
start_controllers() {
  local pg=$FDL_PG_HOST h
  "$LAB_ROOT/boot-host.sh" "$LAB_DIR" "$pg" postgres >/dev/null 9>&-
  wait_for "PostgreSQL in $pg (see $LAB_DIR/hosts/$pg/postgres/postgres.log)" 60 pg_ready
  make_database || die "could not create the database firedrill"
  say "postgresql: $(fdl_host_field "$pg" ip):$FDL_PG_PORT in $pg, cluster $LAB_DIR/hosts/$pg/postgres/data"
  for h in $(fdl_controller_host_names); do
    "$LAB_ROOT/boot-host.sh" "$LAB_DIR" "$h" controller >/dev/null 9>&-
    if [ "$h" = "$pg_host" ]; then
      wait_for "the controller in $h to lead (see $LAB_DIR/hosts/$h/controller/controller.log)" 60 controller_leads "$h"
    else
      wait_for "the controller in $h to follow (see $LAB_DIR/hosts/$h/controller/controller.log)" 60 controller_follows "$h"
    fi
  done
}

controller_sees_every_agent() {
  local out h
  out=$("$firedrill" agents --api "$api" 2>/dev/null) || return 1
  for h in $(agent_hosts); do grep -qw -- "$h" <<<"$out" || return 1; done
}

# --controllers 2: what a controller's log last said of the leader lease: leads,
# follows, or nothing yet.
controller_role() {
  local log=$LAB_DIR/hosts/$1/controller/controller.log line
  line=$(grep -E 'leader lease: leading as|leader lease: no longer leading|a follower until' "$log" 2>/dev/null | tail -1)
  case "$line" in
    *"leading as"*) echo leader ;;
    "") echo starting ;;
    *) echo follower ;;
  esac
}
controller_leads() { [ "$(controller_role "$1")" = leader ]; }
controller_follows() { [ "$(controller_role "$1")" = follower ]; }

wait_for() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  # In a subshell: a redirection of a function call stays in force while a signal's
  # trap runs, and would swallow what the EXIT trap says.
  until ("$@") >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "lab.sh: timed out after ${seconds}s waiting for $what" >&2; return 1; }
    sleep 0.3
  done
}

agent_answers() { "$agent" ctl --socket "$LAB_DIR/hosts/$1/agent.sock" status; }

ops_cli() { in_ns "$(ns_of ops)" timeout 2 redis-cli "$@"; }

replica_in_sync() {
  local r
  r=$(fdl_hosts_with "$placement" redis-replica)
  ops_cli -h "$(fdl_host_field "$r" ip)" -p "$FDL_REDIS_PORT" INFO replication | tr -d '\r' | grep -qx 'master_link_status:up'
}

sentinels_have_quorum() {
  local s
  for s in $(fdl_sentinel_addrs "$placement"); do
    ops_cli -h "${s%:*}" -p "${s#*:}" SENTINEL ckquorum "$FDL_MASTER_NAME" | grep -q '^OK' || return 1
    # Each Sentinel must know the other two, or a failover could not be authorised.
    [ "$(ops_cli -h "${s%:*}" -p "${s#*:}" SENTINEL sentinels "$FDL_MASTER_NAME" | grep -cx name)" -ge 2 ] || return 1
  done
}

haproxy_serves() { in_ns "$(ns_of ops)" curl -sf -m 2 "http://$FDL_OPS_IP:$FDL_HAPROXY_PORT/"; }
web_resolves_redis() {
  local h
  for h in $(fdl_hosts_with "$placement" web); do
    in_ns "$(ns_of ops)" curl -sf -m 3 "http://$(fdl_host_field "$h" ip):$FDL_WEB_PORT/redis" >/dev/null || return 1
  done
}

prometheus_ready() { in_ns "$(ns_of ops)" curl -sf -m 2 "http://$FDL_OPS_IP:$FDL_PROMETHEUS_PORT/-/ready"; }

do_up() {
  local h
  [ -n "$agent" ] || agent=$REPO/build/agent/firedrill-agent
  [ -x "$agent" ] || die "no firedrill-agent at $agent (build it: cmake --build build --target firedrill-agent, or give --agent)"
  agent=$(readlink -f "$agent")
  [ -n "$firedrill" ] || firedrill=$REPO/build/controller/firedrill
  if [ "$controller" = auto ]; then
    if [ -x "$firedrill" ] && "$firedrill" serve --help >/dev/null 2>&1; then controller=yes; else controller=no; fi
  fi
  if [ "$controller" = yes ]; then
    [ -x "$firedrill" ] || die "no firedrill at $firedrill (build it, or give --firedrill, or --controller no)"
    firedrill=$(readlink -f "$firedrill")
  fi
  if [ "$controllers" = 2 ]; then controller=yes; fi
  for c in ip nsenter setsid flock mkfs.ext4 losetup mountpoint redis-server redis-sentinel redis-cli haproxy prometheus /usr/sbin/dnsmasq unshare curl socat /usr/bin/python3; do
    command -v "$c" >/dev/null || die "'$c' is missing (run scripts/install-deps.sh)"
  done
  if [ -f "$LAB_DIR/lab.env" ] || ns_exists "$FABRIC" || [ -d "$CG_LAB" ]; then
    die "lab '$name' is already up, or half there (run: deploy/lab/lab.sh down --name $name)"
  fi

  # Whatever stops up half way (a failed step, Ctrl-C, a kill) takes the lab down.
  trap 'exit 130' INT TERM
  # shellcheck disable=SC2154  # rc is assigned inside the trap
  trap 'rc=$?; if [ "$up_done" != 1 ]; then echo "lab.sh: up failed or interrupted; taking down what was built" >&2; do_down || true; fi; exit $rc' EXIT
  if [ "$controllers" = 2 ]; then
    command -v openssl >/dev/null || die "'openssl' is missing (run scripts/install-deps.sh)"
    pg_host=$(fdl_controller_host_names | head -1)
    api=$LAB_DIR/hosts/$pg_host/controller.sock
  else
    api=$LAB_DIR/controller.sock
  fi
  say "bringing up lab '$name' ($placement, $controllers controller(s))"
  mkdir -p "$LAB_DIR/hosts" "$CG_LAB/hosts" "$CG_LAB/agents"
  cat >"$LAB_DIR/lab.env" <<EOF
FDL_LAB_NAME=$name
FDL_LAB_PLACEMENT=$placement
FDL_LAB_DIR=$LAB_DIR
FDL_LAB_CGROUP=$CG_LAB
FDL_LAB_CGROUP_REL=$CG_REL
FDL_LAB_AGENT=$agent
FDL_LAB_ROOT=$LAB_ROOT
FDL_LAB_CONTROLLER=$controller
FDL_LAB_FIREDRILL=$firedrill
FDL_LAB_API=$api
FDL_LAB_CONTROLLERS=$controllers
FDL_LAB_CONTROLLER_HOSTS="$(if [ "$controllers" = 2 ]; then echo $(fdl_controller_host_names); fi)"
FDL_LAB_REPO=$REPO
FDL_LAB_CONTROLLER_STATE=$EVIDENCE_DIR
FDL_LAB_PROMETHEUS=http://$FDL_OPS_IP:$FDL_PROMETHEUS_PORT
EOF
  fdl_sentinel_addrs "$placement" >"$LAB_DIR/sentinels"

  make_fabric
  for h in $(all_hosts); do make_host_net "$h"; done
  say "network: fabric $FABRIC, bridges $name-br-{pg,cc,ops,mgmt}, $(all_hosts | wc -l) hosts"

  # The controllers' role's password, before their hosts' services are written.
  if [ "$controllers" = 2 ]; then (umask 077 && openssl rand -hex 16 >"$LAB_DIR/postgres.password"); fi
  for h in $(all_hosts); do write_host_services "$h"; done
  if [ "$controllers" = 2 ]; then
    start_controllers
  elif [ "$controller" = yes ]; then
    start_controller
  fi
  for h in $(agent_hosts); do start_agent "$h"; done
  for h in $(agent_hosts); do wait_for "the agent of $h (see $LAB_DIR/hosts/$h/agent.log)" 60 agent_answers "$h"; done
  say "agents: $(agent_hosts | wc -l) up"
  if [ "$controllers" = 2 ]; then
    wait_for "the leader to see every agent (see $LAB_DIR/hosts/$pg_host/controller/controller.log)" 60 controller_sees_every_agent
    say "controllers: pangyo's leads (API $api), chuncheon's follows; every agent connected to the leader"
  elif [ "$controller" = yes ]; then
    wait_for "the controller to see every agent (see $EVIDENCE_DIR/controller.log)" 60 controller_sees_every_agent
    say "controller: in ops, API $LAB_DIR/controller.sock, every agent connected"
  fi

  for h in $(all_hosts); do "$LAB_ROOT/boot-host.sh" "$LAB_DIR" "$h" >/dev/null 9>&-; done
  wait_for "the Redis replica to sync" 30 replica_in_sync
  wait_for "the Sentinels to see each other and a quorum" 40 sentinels_have_quorum
  wait_for "HAProxy to serve the web service" 20 haproxy_serves
  wait_for "the web services to find Redis by name" 20 web_resolves_redis
  wait_for "Prometheus to be ready (see $LAB_DIR/hosts/ops/prometheus/prometheus.log)" 30 prometheus_ready
  up_done=1
  say "lab '$name' is up"
  do_status
}

# ------------------------------------------------------------------ status

svc_state() {
  local h=$1 svc=$2
  if cgroup_populated "$CG_LAB/hosts/$h/$svc"; then echo "$svc:up"; else echo "$svc:DOWN"; fi
}

agent_state() {
  local h=$1 pid out n
  pid=$(cat "$LAB_DIR/hosts/$h/agent.pid" 2>/dev/null || true)
  if [ -z "$pid" ] || ! grep -q "/$CG_REL/agents/" "/proc/$pid/cgroup" 2>/dev/null; then
    echo "DEAD"
    return
  fi
  if out=$("$FDL_LAB_AGENT" ctl --socket "$LAB_DIR/hosts/$h/agent.sock" status 2>/dev/null); then
    n=$(grep -c 'fault_id:' <<<"$out" || true)
    echo "pid $pid, $n fault(s)"
  else
    echo "pid $pid, no answer"
  fi
}

do_status() {
  local h svc s answer line ip role
  # Status reports what it finds; a host that does not answer is a finding, not an error.
  set +e +o pipefail
  if [ ! -f "$LAB_DIR/lab.env" ]; then
    echo "lab '$name' is down"
    return 3
  fi
  # shellcheck disable=SC1091
  source "$LAB_DIR/lab.env"
  placement=$FDL_LAB_PLACEMENT
  echo "lab '$name': placement $placement, state $LAB_DIR, cgroup $CG_LAB"
  controllers=${FDL_LAB_CONTROLLERS:-1}
  if [ "$controllers" = 2 ]; then
    for h in $(fdl_controller_host_names); do
      if cgroup_populated "$CG_LAB/hosts/$h/controller"; then s="up, $(controller_role "$h")"; else s=DOWN; fi
      echo "controller $h ($(fdl_host_field "$h" dc)): $s (agents on $(fdl_host_field "$h" mgmt):$FDL_CONTROLLER_PORT); API $LAB_DIR/hosts/$h/controller.sock"
    done
    if cgroup_populated "$CG_LAB/hosts/$FDL_PG_HOST/postgres"; then s=up; else s=DOWN; fi
    echo "postgresql $FDL_PG_HOST: $s ($(fdl_host_field "$FDL_PG_HOST" ip):$FDL_PG_PORT)"
  elif [ "${FDL_LAB_CONTROLLER:-no}" = yes ]; then
    if cgroup_populated "$CG_LAB/controller"; then s=up; else s=DOWN; fi
    echo "controller: $s in ops (agents on $FDL_OPS_MGMT_IP:$FDL_CONTROLLER_PORT); export FIREDRILL_API=$FDL_LAB_API"
  else
    echo "controller: none (agents obey their local sockets only)"
  fi
  printf '%-6s %-10s %-6s %-12s %-24s %s\n' HOST DC RACK IP AGENT SERVICES
  for h in $(all_hosts); do
    line=""
    for svc in $(cat "$LAB_DIR/hosts/$h/services"); do line+="$(svc_state "$h" "$svc") "; done
    if [ "$h" = ops ]; then s="(none: ops)"; else s=$(agent_state "$h"); fi
    ns_exists "$(ns_of "$h")" || s="NO NAMESPACE"
    printf '%-6s %-10s %-6s %-12s %-24s %s\n' "$h" "$(fdl_host_field "$h" dc)" \
      "$(fdl_host_field "$h" rack)" "$(fdl_host_field "$h" ip)" "$s" "$line"
  done
  echo "redis:"
  for h in $(fdl_hosts_with "$placement" redis-primary) $(fdl_hosts_with "$placement" redis-replica); do
    ip=$(fdl_host_field "$h" ip)
    role=$(ops_cli -h "$ip" -p "$FDL_REDIS_PORT" INFO replication 2>/dev/null | tr -d '\r' |
           awk -F: '/^role:/ {r = $2} /^master_host:/ {m = $2} /^master_link_status:/ {l = $2}
                    END { if (r == "") print "unreachable"; else if (r == "master") print "primary";
                          else print "replica of " m " (link " l ")" }')
    echo "  $h $ip: $role"
  done
  echo "sentinels (who each says is the primary):"
  for s in $(cat "$LAB_DIR/sentinels"); do
    answer=$(ops_cli -h "${s%:*}" -p "${s#*:}" --raw SENTINEL get-master-addr-by-name "$FDL_MASTER_NAME" 2>/dev/null | paste -sd: || true)
    echo "  $s: ${answer:-unreachable}"
  done
  echo "redis primary: $("$LAB_ROOT/bin/lab-redis" --name "$name" primary 2>/dev/null || echo none reachable)"
  local up
  up=$(in_ns "$(ns_of ops)" curl -sf -m 2 "http://$FDL_OPS_IP:$FDL_PROMETHEUS_PORT/api/v1/targets?state=active" 2>/dev/null |
    python3 -c 'import json,sys; t=json.load(sys.stdin)["data"]["activeTargets"]; print("%d of %d targets up" % (sum(x["health"] == "up" for x in t), len(t)))' 2>/dev/null ||
    echo "not answering")
  echo "prometheus: http://$FDL_OPS_IP:$FDL_PROMETHEUS_PORT in ops, $up"
  echo "haproxy backends:"
  echo "show stat" | timeout 2 socat stdio "unix-connect:$LAB_DIR/hosts/ops/haproxy/haproxy.sock" 2>/dev/null |
    awk -F, '$1 == "web" && $2 != "FRONTEND" && $2 != "BACKEND" { printf "  %s %s\n", $2, $18 }' || echo "  (haproxy not answering)"
  return 0
}

case "$command" in
  up) lock; do_up ;;
  down)
    lock
    do_down
    say "lab '$name' is down"
    ;;
  status)
    if [ -f "$LAB_DIR/lab.env" ]; then
      # shellcheck disable=SC1091
      source "$LAB_DIR/lab.env"
    fi
    do_status
    ;;
esac
