#!/usr/bin/env bash
# boot-host.sh LAB_DIR HOST [SERVICE...]: what a lab host does when it boots. Starts each of the
# host's services (listed in LAB_DIR/hosts/HOST/services at `lab.sh up`) under
# supervise.sh in the host's network namespace, detached, and returns. Below the host's
# workload cgroup W, the supervisor of service S runs in W/init/S and the service in
# W/S, so that a fault can name one service (workload_cgroups: [S]). A service whose
# supervisor still runs is left alone, so running this twice is harmless.
#
# It is the --boot-hook of the host's firedrill-agent (run when power is restored) and
# lab.sh runs it for the first boot (naming SERVICEs to start only those, in order).
set -euo pipefail
lab_dir=${1:?usage: boot-host.sh LAB_DIR HOST}
host=${2:?usage: boot-host.sh LAB_DIR HOST}
shift 2
only=("$@")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/topology.sh
source "$here/lib/topology.sh"
# shellcheck disable=SC1091
source "$lab_dir/lab.env"

host_dir=$lab_dir/hosts/$host
[ -f "$host_dir/services" ] || { echo "boot-host: no host $host in $lab_dir" >&2; exit 1; }
ip=$(fdl_host_field "$host" ip)
dc=$(fdl_host_field "$host" dc)
rack=$(fdl_host_field "$host" rack)

populated() { grep -qx 'populated 1' "$1/cgroup.events" 2>/dev/null; }

start() {
  local svc=$1 dir=$host_dir/$1 cg=$FDL_LAB_CGROUP/hosts/$host/$1
  local init=$FDL_LAB_CGROUP/hosts/$host/init/$1
  local -a cmd
  case "$svc" in
    redis) cmd=(redis-server "$dir/redis.conf") ;;
    sentinel) cmd=(redis-sentinel "$dir/sentinel.conf") ;;
    # The web service finds Redis by name, through the lab's resolver: the host's own
    # resolv.conf is the lab's, bound over /etc/resolv.conf in a mount namespace of
    # the service's own (the machine's is never touched), which keeps no copy of the
    # lab's data file systems (with-resolver.sh says why). Slave propagation: where
    # the machine's mounts are shared, later mounts and unmounts still reach it.
    web) cmd=(unshare -m --propagation slave "$here/with-resolver.sh" "$lab_dir/resolv.conf" "$lab_dir/hosts"
              /usr/bin/python3 "$here/web.py" --bind "$ip" --port "$FDL_WEB_PORT"
              --host "$host" --dc "$dc" --rack "$rack"
              --redis "redis.$FDL_DNS_DOMAIN:$FDL_REDIS_PORT") ;;
    dns) cmd=(/usr/sbin/dnsmasq --keep-in-foreground --conf-file="$dir/dnsmasq.conf") ;;
    haproxy) cmd=(haproxy -db -f "$dir/haproxy.cfg") ;;
    prometheus) cmd=(prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data"
                     --storage.tsdb.retention.time=1d --web.listen-address="$ip:$FDL_PROMETHEUS_PORT") ;;
    # lab.sh --controllers 2. PostgreSQL as the postgres user, on the host's data address
    # and a socket in its directory, in an IPC namespace of its own (its shared memory
    # goes with its last process, whatever kills it).
    postgres) cmd=(unshare --ipc setpriv --reuid=postgres --regid=postgres --init-groups --
                   /usr/lib/postgresql/15/bin/postgres -D "$dir/data" -c "listen_addresses=$ip"
                   -c "port=$FDL_PG_PORT" -c "unix_socket_directories=$dir" -c max_connections=50
                   -c shared_buffers=32MB) ;;
    # A controller (flags written by lab.sh up), from the repository root where the
    # experiments' probe commands are found; FDL_LAB_NAME tells them which lab.
    controller)
      mapfile -t args <"$dir/args"
      cmd=(env FDL_LAB_NAME="$FDL_LAB_NAME" FDL_LAB_STATE_ROOT="$(dirname "$lab_dir")"
           /bin/sh -c 'cd "$0" && exec "$@"' "$FDL_LAB_REPO" "$FDL_LAB_FIREDRILL" "${args[@]}") ;;
    *) echo "boot-host: $host: unknown service '$svc'" >&2; return 1 ;;
  esac
  mkdir -p "$cg" "$init"
  if populated "$init"; then
    echo "boot-host: $host: $svc already running"
    return 0
  fi
  # The shell joins the cgroup before it execs, so nothing ever runs outside the host's;
  # setsid keeps the caller's terminal and signals away.
  TZ=UTC setsid nsenter --net="/run/netns/$FDL_LAB_NAME-$host" -- /bin/sh -c \
    'echo $$ > "$0/cgroup.procs" && exec "$@"' "$init" "$here/supervise.sh" "$cg" "$svc" "${cmd[@]}" \
    </dev/null >>"$dir/$svc.log" 2>&1 &
  echo "boot-host: $host: started $svc"
}

if [ ${#only[@]} -gt 0 ]; then
  for svc in "${only[@]}"; do
    grep -qx -- "$svc" "$host_dir/services" || { echo "boot-host: $host runs no $svc" >&2; exit 1; }
    start "$svc"
  done
  exit 0
fi
while read -r svc; do
  [ -n "$svc" ] && start "$svc"
done <"$host_dir/services"
exit 0
