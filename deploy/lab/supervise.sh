#!/usr/bin/env bash
# supervise.sh CGROUP NAME COMMAND [ARG...]: the lab hosts' service manager, like
# systemd's Restart=always. Runs COMMAND in the cgroup CGROUP (the service's own, as
# systemd gives each unit one) and starts it again one second after it dies, backing
# off to five seconds while it keeps dying young (a keep-down fault kills it at every
# exec). The supervisor itself lives outside the service's cgroup (in the host's
# init/NAME, as systemd lives in init.scope), so a fault on the service does not take
# the supervisor with it; a power loss kills the whole host, supervisors included, and
# the host's boot hook starts them again.
set -u
cgroup=$1
name=$2
shift 2
child=0
stop() {
  [ "$child" -gt 0 ] && kill -TERM "$child" 2>/dev/null && wait "$child" 2>/dev/null
  exit 0
}
trap stop TERM INT HUP
delay=1
while :; do
  started=$SECONDS
  # The child joins the service's cgroup before it execs: even its first instruction
  # runs there, where a keep-down fault can see it.
  (echo "$BASHPID" >"$cgroup/cgroup.procs" && exec "$@") &
  child=$!
  wait "$child"
  rc=$?
  child=0
  if [ $((SECONDS - started)) -lt 5 ]; then
    delay=$((delay < 5 ? delay + 1 : 5))
  else
    delay=1
  fi
  echo "supervise: $(date -u +%FT%T.%3NZ) $name exited with status $rc; starting again in ${delay}s"
  sleep "$delay" &
  child=$!
  wait "$child"
  child=0
done
