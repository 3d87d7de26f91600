#!/usr/bin/env bash
# supervise.sh NAME COMMAND [ARG...]: the lab hosts' service manager, like systemd's
# Restart=always. Runs COMMAND in the foreground and starts it again one second after
# it dies, backing off to five seconds while it keeps dying young (a keep-down fault
# kills it at every exec). Lives in the service's cgroup, so a power loss (cgroup.kill)
# takes it down with its service, and the host's boot hook starts it again.
set -u
name=$1
shift
child=0
stop() {
  [ "$child" -gt 0 ] && kill -TERM "$child" 2>/dev/null && wait "$child" 2>/dev/null
  exit 0
}
trap stop TERM INT HUP
delay=1
while :; do
  started=$SECONDS
  "$@" &
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
