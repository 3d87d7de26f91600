#!/usr/bin/env bash
# The main job: builds firedrill and shows it at work. (Becomes the Pangyo game day on
# the lab fleet once the lab lands; until then it shows the agent dropping traffic
# between two network namespaces it creates, with its counters, and removes them.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
./build/agent/firedrill-agent features

agent=./build/agent/firedrill-agent
tag=fdn-demo-$$
host=$tag-host peer=$tag-peer
if_host=fdnd$$h if_peer=fdnd$$p
sock=/tmp/$tag.sock state=/tmp/$tag-state log=/tmp/$tag.log
agent_pid=

cleanup() {
  if [ -n "$agent_pid" ]; then kill "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; fi
  ip netns del "$host" 2>/dev/null || true
  ip netns del "$peer" 2>/dev/null || true
  rm -rf "$sock" "$state" "$log"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ctl() { "$agent" ctl --socket "$sock" "$@"; }
# "3/3 replies" for 3 pings host -> peer, 200 ms apart.
ping_peer() {
  local n
  n=$(ip netns exec "$host" ping -n -c 3 -i 0.2 -W 1 10.201.200.2 2>/dev/null | sed -n 's/.* \([0-9]*\) received.*/\1/p' || true)
  echo "ping host -> peer (10.201.200.2): ${n:-0}/3 replies"
}
counters() {
  ctl status | awk '/fault_id/ {id=$2} /packets_dropped|bytes_dropped/ {print "  " id " " $1 " " $2}'
}

say "Two network namespaces joined by a veth pair: $host (10.201.200.1) and $peer (10.201.200.2)"
ip netns add "$host"
ip netns add "$peer"
ip link add "$if_host" netns "$host" type veth peer name "$if_peer" netns "$peer"
ip -n "$host" addr add 10.201.200.1/24 dev "$if_host"
ip -n "$peer" addr add 10.201.200.2/24 dev "$if_peer"
for ns in "$host" "$peer"; do ip -n "$ns" link set lo up; done
ip -n "$host" link set "$if_host" up
ip -n "$peer" link set "$if_peer" up

say "firedrill-agent in $host, managing $if_host, local control socket $sock"
ip netns exec "$host" "$agent" --local-socket "$sock" --state-dir "$state" --interface "$if_host" >"$log" 2>&1 &
agent_pid=$!
for _ in $(seq 100); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done
ctl status >/dev/null
ping_peer

say "Drop: ICMP out of the host, 100%, for 30 s"
ctl apply --id demo-drop --for 30s --spec 'network { drop { match { protocol: L4_ICMP direction: DIRECTION_EGRESS } } }' \
  | grep status
ping_peer
counters
ctl revert --id demo-drop | grep status
ping_peer

say "Blackhole: everything, both ways, ARP included, for 2 s (the agent's own timer lifts it)"
ip -n "$host" neigh flush all
ctl apply --id demo-blackhole --for 2s --spec 'network { blackhole {} }' | grep status
ping_peer
counters
sleep 2
ping_peer

say "Partition from the peer, then SIGKILL of the agent: the kernel detaches the classifier"
ctl apply --id demo-partition --for 60s --spec 'network { partition { peer_cidrs: "10.201.200.2" } }' | grep status
ping_peer
kill -9 "$agent_pid"
wait "$agent_pid" 2>/dev/null || true
agent_pid=
ping_peer

say "Agent log"
cat "$log"
say "Done: namespaces and files removed"
