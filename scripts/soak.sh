#!/bin/bash
# Crash soak of firedrill-agent (issue 13): N cycles, each applying one fault kind or
# two at once to a host made of a network namespace, a veth to a peer namespace and a
# workload cgroup (all made here, named fdsoak-<pid>), SIGKILLing the agent at a random
# moment around the apply, then
#   restart   (--no-watcher) a new agent on the same state directory, then stopped;
#   watcher   the watcher restarts the killed agent, which is then stopped;
#   finish    the watcher may not restart it (--max-restarts 0) and finishes the
#             journal itself: the agent never comes back;
#   controller (with FIREDRILL_BIN, the controller binary) the agent under a controller
#             (firedrill serve --insecure on the host namespace's loopback, lease grace
#             2 s) holds a blackhole from it beside the faults applied locally, and the
#             controller is SIGKILLed instead: everything must be reverted within
#             grace + 1 s (counted as "late" otherwise).
# After each cycle nothing may be left: no BPF program the agent held still loaded,
# no frozen cgroup, traffic flows, exec works in the workload, the boot hooks have run
# where power was lost, the journal owes nothing. Prints a table: cycles, residue by
# kind, worst time from the SIGKILL until everything was back.
#
#   scripts/soak.sh 1000                 (root; FIREDRILL_AGENT=path of the binary)
#   SOAK_SEED=7 scripts/soak.sh 50       (reproducible choice of kinds and moments)
# Exit 0 when no cycle left residue.
set -u
N=${1:-50}
BIN=${FIREDRILL_AGENT:-$(cd "$(dirname "$0")/.." && pwd)/build/agent/firedrill-agent}
CTL_BIN=${FIREDRILL_BIN:-}
GRACE_MS=2000
[ "$(id -u)" = 0 ] || { echo "soak.sh: needs root (namespaces, cgroups, BPF)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "soak.sh: no agent binary at $BIN (set FIREDRILL_AGENT)" >&2; exit 2; }
RANDOM=${SOAK_SEED:-$$}

TAG=fdsoak-$$
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$CGROOT" ] || { echo "soak.sh: no cgroup v2 mount" >&2; exit 2; }
CG=$CGROOT/$TAG
WL=$CG/workload
DIR=$(mktemp -d /tmp/$TAG.XXXX)
HNS=$TAG-h; PNS=$TAG-p
HIF=fds$(( $$ % 100000 ))h; PIF=fds$(( $$ % 100000 ))p
SUB=$(( $$ % 200 + 20 ))
HIP=10.209.$SUB.1; PIP=10.209.$SUB.2; PORT=7301
AGENT_PID=

log() { echo "[soak] $*" >&2; }

cleanup() {
  [ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
  [ -n "$CONTROLLER_PID" ] && kill -9 "$CONTROLLER_PID" 2>/dev/null
  for pid in $(jobs -p); do kill -9 "$pid" 2>/dev/null; done
  if [ -d "$CG" ]; then
    for c in $(find "$CG" -depth -type d); do
      echo 1 > "$c/cgroup.kill" 2>/dev/null
      echo 0 > "$c/cgroup.freeze" 2>/dev/null
    done
    sleep 0.2
    find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null
  fi
  ip netns pids "$PNS" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns del "$HNS" 2>/dev/null; ip netns del "$PNS" 2>/dev/null
  rm -rf "$DIR"
}
DONE=0
# The table; also for a run cut short (SIGINT, SIGTERM, a timeout): the cycles done.
report() {
  printf '\n%-10s %8s\n' "cycles" "$DONE"
  for r in bpf frozen traffic exec boot journal agent late refused; do printf '%-10s %8s\n' "$r" "${RESIDUE[$r]}"; done
  printf '%-10s %6s ms  (SIGKILL of the agent to: thawed, traffic flows, exec works)\n' "worst" "$WORST_MS"
  [ -n "$CTL_BIN" ] && printf '%-10s %6s ms  (SIGKILL of the controller to: reverted; grace %s ms)\n' "worst ctl" "$WORST_CTL_MS" "$GRACE_MS"
  for k in "${!BY_KIND[@]}"; do printf '  residue %-30s %s\n' "$k" "${BY_KIND[$k]}"; done
}
trap cleanup EXIT
trap 'report; exit 130' INT TERM

mkdir -p "$WL" "$CG/agent" "$CG/infra" || exit 2
ip netns add "$HNS" && ip netns add "$PNS" || exit 2
ip link add "$HIF" netns "$HNS" type veth peer name "$PIF" netns "$PNS" || exit 2
ip -n "$HNS" addr add $HIP/24 dev "$HIF"; ip -n "$PNS" addr add $PIP/24 dev "$PIF"
ip -n "$HNS" link set lo up; ip -n "$PNS" link set lo up
ip -n "$HNS" link set "$HIF" up; ip -n "$PNS" link set "$PIF" up
# The peer's server: what "traffic flows" is checked against.
ip netns exec "$PNS" socat TCP-LISTEN:$PORT,bind=$PIP,reuseaddr,fork SYSTEM:'echo ok' >/dev/null 2>&1 &
cp /bin/sleep "$DIR/fdsoak-wl"
# The workload's service, and the boot hook that starts it again after a power loss.
start_workload() {
  sh -c "echo \$\$ > $WL/cgroup.procs && exec $DIR/fdsoak-wl 3600" >/dev/null 2>&1 &
}
HOOK="echo booted >> $DIR/booted; $DIR/fdsoak-wl 3600 >/dev/null 2>&1 &"

workload_running() { [ -n "$(cat $WL/cgroup.procs 2>/dev/null)" ]; }
frozen() { grep -q '^frozen 1' "$WL/cgroup.events" 2>/dev/null; }
traffic() { ip netns exec "$HNS" timeout 1 socat -T1 - TCP:$PIP:$PORT,connect-timeout=0.3 </dev/null 2>/dev/null | grep -q ok; }
exec_works() { timeout 3 sh -c "echo \$\$ > $WL/cgroup.procs && exec /bin/true" 2>/dev/null; }
# The BPF programs a process holds (their ids), as bpftool lists them.
progs_of() {
  [ -n "$1" ] || return 0
  bpftool prog show 2>/dev/null | awk -v pid="($1)" '
    /^[0-9]+:/ { id = $1; sub(":", "", id) }
    /pids / && index($0, pid) { print id }'
}
# Of the ids given, those still loaded: held by nothing of ours any more, a leak.
still_loaded() {
  local id n=0
  for id in "$@"; do bpftool prog show id "$id" >/dev/null 2>&1 && n=$((n + 1)); done
  echo $n
}

# agent MODE: starts the agent in the host namespace and the agent cgroup; sets AGENT_PID.
# nsenter, not ip netns exec: that mounts a sysfs of the namespace over /sys, and the
# agent would find no cgroup v2 mount (and refuse freeze and power loss).
agent() {
  local mode=$1 extra=()
  case $mode in
    restart) extra=(--no-watcher) ;;
    finish) extra=(--max-restarts 0) ;;
    controller) extra=(--controller 127.0.0.1:7399 --insecure --lease-grace 2s) ;;
  esac
  sh -c "echo \$\$ > $CG/agent/cgroup.procs && exec nsenter --net=/run/netns/$HNS $BIN --id $TAG --local-socket $DIR/sock \
    --state-dir $DIR/state --interface $HIF --workload-cgroup /$TAG/workload --boot-hook '$HOOK' \
    --boot-hook-timeout 5s --log-level info ${extra[*]}" >> "$DIR/agent.log" 2>&1 &
  AGENT_PID=$!
}
ready_count() { grep -c '\[agent\] ready' "$DIR/agent.log" 2>/dev/null; }
wait_ready() {  # wait_ready N: until the log says ready N times
  local i
  for i in $(seq 1 200); do
    [ "$(ready_count)" -ge "$1" ] && return 0
    sleep 0.05
  done
  return 1
}
worker_of() { cat /proc/$1/task/$1/children 2>/dev/null | awk '{ print $1 }'; }
ctl() { "$BIN" ctl --socket "$DIR/sock" --timeout 10s "$@" >/dev/null 2>&1; }

spec_of() {
  case $1 in
    blackhole) echo 'network { blackhole {} }' ;;
    drop) echo 'network { drop { percent: 100 percent_set: true } }' ;;
    partition) echo "network { partition { peer_cidrs: \"$PIP/32\" } }" ;;
    kill) echo "process { kill { select { workload_cgroups: \".\" } } }" ;;
    keep_down) echo "process { keep_down { select { workload_cgroups: \".\" } kill_running: true } }" ;;
    freeze) echo "process { freeze { cgroups: \"/$TAG/workload\" } }" ;;
    power_loss) echo 'power_loss {}' ;;
  esac
}
# The controller, in the host namespace on its loopback (the agent's allow list keeps
# its stream up through any network fault).
CONTROLLER_PID=
controller_start() {
  nsenter --net=/run/netns/$HNS "$CTL_BIN" serve --insecure --listen 127.0.0.1:7399 --state-dir "$DIR/ctl" \
    --api "$DIR/api.sock" --lease-grace 2s >> "$DIR/controller.log" 2>&1 &
  CONTROLLER_PID=$!
  for _ in $(seq 1 100); do [ -S "$DIR/api.sock" ] && return 0; sleep 0.05; done
  return 1
}
agent_live() { "$CTL_BIN" agents --api "$DIR/api.sock" 2>/dev/null | grep -q "1 live"; }

KINDS=(blackhole drop partition kill keep_down freeze power_loss)
MODES=(restart watcher finish)
[ -n "$CTL_BIN" ] && MODES+=(controller)
declare -A RESIDUE=([bpf]=0 [frozen]=0 [traffic]=0 [exec]=0 [boot]=0 [journal]=0 [agent]=0 [late]=0 [refused]=0)
declare -A BY_KIND
WORST_MS=0
WORST_CTL_MS=0
FAILED=0
left_late=0

for cycle in $(seq 1 "$N"); do
  workload_running || start_workload
  rm -f "$DIR/booted"
  : > "$DIR/agent.log"
  mode=${MODES[$((RANDOM % ${#MODES[@]}))]}
  k1=${KINDS[$((RANDOM % 7))]}; kinds=("$k1")
  if [ $((RANDOM % 3)) = 0 ]; then
    k2=${KINDS[$((RANDOM % 7))]}
    # Network kinds share one classifier: one network fault and one other.
    case "$k1,$k2" in blackhole,*|drop,*|partition,*) case $k2 in blackhole|drop|partition) k2=freeze ;; esac ;; esac
    [ "$k2" != "$k1" ] && kinds+=("$k2")
  fi
  if [ "$mode" = controller ]; then
    rm -f "$DIR/api.sock"
    controller_start || { log "cycle $cycle: the controller did not start"; cat "$DIR/controller.log" >&2; exit 2; }
    # A fault of the controller's own, beside the local ones: the partition of the
    # peer's address (the local kinds stay off the network here).
    for i in "${!kinds[@]}"; do case ${kinds[$i]} in blackhole|drop|partition) kinds[$i]=freeze ;; esac; done
  fi
  agent "$mode"
  if ! wait_ready 1; then
    log "cycle $cycle: the agent did not start"; cat "$DIR/agent.log" >&2
    RESIDUE[agent]=$((RESIDUE[agent] + 1)); FAILED=1; kill -9 "$AGENT_PID" 2>/dev/null; AGENT_PID=; continue
  fi
  watcher=$AGENT_PID
  target=$AGENT_PID
  [ "$mode" != restart ] && target=$(worker_of "$AGENT_PID")
  if [ "$mode" = controller ]; then
    for _ in $(seq 1 100); do agent_live && break; sleep 0.1; done
    "$CTL_BIN" inject -l '' --spec "network { partition { peer_cidrs: \"$PIP/32\" } }" --for 60s --detach \
      --api "$DIR/api.sock" >> "$DIR/controller.log" 2>&1 || log "cycle $cycle: inject through the controller failed"
    target=$CONTROLLER_PID
  fi
  i=0; ctl_pids=(); rm -f "$DIR"/apply-*.out
  for k in "${kinds[@]}"; do
    "$BIN" ctl --socket "$DIR/sock" --timeout 10s apply --id "c$cycle-$i" --for 30s --spec "$(spec_of "$k")" \
      > "$DIR/apply-$i.out" 2>&1 &
    ctl_pids+=($!)
    i=$((i + 1))
  done
  # SIGKILL somewhere between just before the apply lands and well after it.
  sleep "0.$(printf '%03d' $((RANDOM % 400)))"
  progs=($(progs_of "$target"))
  killed_at=$(date +%s%N)
  kill -9 "$target" 2>/dev/null
  wait "${ctl_pids[@]}" 2>/dev/null
  case $mode in
    restart)
      agent restart
      # The log holds the killed agent's "ready" too: the restarted one is the second.
      wait_ready 2 || { log "cycle $cycle: the restarted agent did not come up"; RESIDUE[agent]=$((RESIDUE[agent] + 1)); }
      ;;
    watcher)
      wait_ready 2 || { log "cycle $cycle: the watcher did not restart the agent"; RESIDUE[agent]=$((RESIDUE[agent] + 1)); }
      ;;
    finish)
      for _ in $(seq 1 200); do kill -0 "$watcher" 2>/dev/null || break; sleep 0.05; done
      ;;
  esac
  if [ "$mode" = controller ]; then
    # Everything reverted by the dead-man switch within grace + 1 s.
    left_late=1
    while [ $(( ($(date +%s%N) - killed_at) / 1000000 )) -le $((GRACE_MS + 1000)) ]; do
      if ! frozen && traffic; then left_late=0; break; fi
      sleep 0.05
    done
    if [ "$left_late" = 1 ]; then
      for _ in $(seq 1 100); do if ! frozen && traffic; then break; fi; sleep 0.1; done
      log "cycle $cycle: reverted only $(( ($(date +%s%N) - killed_at) / 1000000 )) ms after the controller's SIGKILL"
    fi
    ctl_ms=$(( ($(date +%s%N) - killed_at) / 1000000 ))
    [ "$ctl_ms" -gt "$WORST_CTL_MS" ] && WORST_CTL_MS=$ctl_ms
    CONTROLLER_PID=
  fi
  # Time until it is all back (bounded: 15 s).
  for _ in $(seq 1 150); do
    if ! frozen && traffic && exec_works; then break; fi
    sleep 0.1
  done
  back_ms=$(( ($(date +%s%N) - killed_at) / 1000000 ))
  [ "$mode" != controller ] && [ "$back_ms" -gt "$WORST_MS" ] && WORST_MS=$back_ms
  # Stop what runs (SIGTERM reverts) and look for what is left.
  if kill -0 "$AGENT_PID" 2>/dev/null; then
    now_target=$AGENT_PID
    [ "$mode" != restart ] && now_target=$(worker_of "$AGENT_PID")
    progs+=($(progs_of "$now_target"))
    kill -TERM "$AGENT_PID"
    for _ in $(seq 1 200); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$AGENT_PID" 2>/dev/null
  fi
  wait "$AGENT_PID" 2>/dev/null
  AGENT_PID=
  left=()
  # The kernel frees a dead process's programs soon after, not at once.
  for _ in $(seq 1 20); do [ "$(still_loaded "${progs[@]}")" = 0 ] && break; sleep 0.1; done
  [ "$(still_loaded "${progs[@]}")" != 0 ] && left+=(bpf)
  frozen && left+=(frozen)
  traffic || left+=(traffic)
  exec_works || left+=(exec)
  # Power was lost and nothing else keeps the service down: the boot hooks must have
  # brought it back.
  if [[ " ${kinds[*]} " == *" power_loss "* && " ${kinds[*]} " != *" kill"* && " ${kinds[*]} " != *" keep_down "* ]] &&
     ! workload_running; then
    left+=(boot)
  fi
  [ -s "$DIR/state/journal" ] && left+=(journal)
  # A soak of faults that were refused proves nothing: a refusal is a failure here.
  grep -q ACK_REFUSED "$DIR"/apply-*.out 2>/dev/null && { left+=(refused); cat "$DIR"/apply-*.out >&2; }
  [ "$mode" = controller ] && [ "$left_late" = 1 ] && left+=(late)
  left_late=0
  for r in "${left[@]}"; do
    RESIDUE[$r]=$((RESIDUE[$r] + 1))
    BY_KIND["${kinds[*]}/$r"]=$(( ${BY_KIND["${kinds[*]}/$r"]:-0} + 1 ))
  done
  if [ ${#left[@]} -gt 0 ]; then
    FAILED=1
    log "cycle $cycle ($mode: ${kinds[*]}): residue ${left[*]}"
    cp "$DIR/agent.log" "/tmp/$TAG-cycle$cycle.log"
    log "  agent log kept in /tmp/$TAG-cycle$cycle.log"
    # Clear it, so that the next cycle starts clean.
    echo 0 > "$WL/cgroup.freeze" 2>/dev/null
    rm -rf "$DIR/state"
  fi
  DONE=$cycle
  [ $((cycle % 50)) = 0 ] && log "$cycle of $N cycles"
done

report
exit $FAILED
