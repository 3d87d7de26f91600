#!/usr/bin/env bash
# Runs one area's benchmarks side by side and writes its table and JSON under
# bench/results/ (SUITE.txt, SUITE.json):
#   scripts/bench.sh SUITE [ARGS...]      SUITE: net, proc, evidence, fanout, degrade, power, ha, web, wire
# ARGS go to the suite's benchmark (e.g. scripts/bench.sh net --only cost).
# BUILD_DIR picks the build directory (default: build). Needs root with CAP_BPF.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/bench.sh SUITE [ARGS...]   (suites: net, proc, evidence, fanout, degrade, power, ha, web, wire)" >&2
  exit 2
}
[ $# -ge 1 ] || usage
suite=$1
shift
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/bench.sh: the benchmarks need root with CAP_BPF (run with sudo)" >&2
  exit 1
fi
BUILD_DIR=${BUILD_DIR:-build}

build() {
  scripts/install-deps.sh
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target "$@"
}

mkdir -p bench/results
case "$suite" in
  net)
    # Classifier cost (0/10/1k/10k rules), iperf3 against iptables and nftables,
    # injection latency against iptables -A and tc filter add.
    build net_bench firedrill-agent
    "$BUILD_DIR/bench/net/net_bench" --out bench/results/net.json "$@" | tee bench/results/net.txt
    ;;
  proc)
    # Kill of 1/100/1,000 processes against pkill -9 -f and a kill -9 loop; keep-down
    # exec-to-death and connections accepted over 1,000 restarts (--quick: fewer).
    build proc_bench
    "$BUILD_DIR/bench/proc/proc_bench" --json bench/results/proc.json "$@" | tee bench/results/proc.txt
    ;;
  evidence)
    # Appending one event (hash, signature, SQLite) part by part; a fan-out one by one
    # against one batch; a one-hour game day recorded, rendered and verified.
    build evidence_bench
    "$BUILD_DIR/bench/evidence/evidence_bench" --json bench/results/evidence.json "$@" | tee bench/results/evidence.txt
    ;;
  fanout)
    # One controller and 10,000 simulated agents over mTLS on loopback: ApplyFault to
    # the last ack and halt to the last confirmation (p50/p99), controller memory
    # (--quick: 1,000 agents; --agents N, --repeats N).
    build fanout_bench firedrill
    "$BUILD_DIR/bench/fanout/fanout_bench" --json bench/results/fanout.json "$@" | tee bench/results/fanout.txt
    ;;
  degrade)
    # The classifier's cost per packet with a corrupt, duplicate or delay rule against
    # none and against a matching drop rule that does nothing.
    # The connection fault proxy: added-latency error (1, 10, 100 ms), throughput and
    # CPU per GiB against direct, memory per proxied connection.
    build degrade_bench proxy_bench
    "$BUILD_DIR/bench/degrade/degrade_bench" --json bench/results/degrade.json "$@" | tee bench/results/degrade.txt
    "$BUILD_DIR/bench/degrade/proxy_bench" --json bench/results/degrade-proxy.json | tee bench/results/degrade-proxy.txt
    ;;
  power)
    # Power-loss fidelity: the start spread across 8 simulated hosts (network cut,
    # freeze, file-system shutdown, kill) kernel-timed against 0.1.0's wake-up at
    # not_before; one host's network cut to its last process dead; a data directory on a
    # loop-mounted ext4 against the host's file system; the remount after a cut with
    # 1 GiB dirty (--only spread|host|fs|remount, --hosts N, --repeats N).
    build power_bench
    "$BUILD_DIR/bench/power/power_bench" --json bench/results/power.json "$@" | tee bench/results/power.txt
    ;;
  ha)
    # Two controllers on PostgreSQL (a private server this run starts and removes) and
    # simulated agents given both: the leader SIGKILLed, to the new leader's apply acked
    # on every agent (1,000 agents, p50/p99 over repeats; target p99 under the 5 s lease
    # grace). Fan-out apply and halt on SQLite against PostgreSQL, the same 10,000
    # agents (target: PostgreSQL within 1.2x). Store appends per second, SQLite against
    # PostgreSQL as the leader (synchronous_commit on and off; --seconds S). --only
    # appends|takeover|fanout, --takeover-agents/-repeats N, --fanout-agents/-repeats N.
    build ha_bench firedrill
    "$BUILD_DIR/bench/ha/ha_bench" --json bench/results/ha.json "$@" | tee bench/results/ha.txt
    ;;
  web)
    # The dashboard in headless Chromium against one controller with simulated agents:
    # the Fleet page at 1,000 and 10,000 agents (first paint, interactive, drawn; target
    # under 1 s), the controller's extra CPU with 10 browsers on a live run page (3 probes
    # at 100 ms; target under 5% of a CPU), page weight (--quick: 1,000 agents, 3 browsers).
    build web_bench firedrill
    "$BUILD_DIR/bench/web/web_bench" --json bench/results/web.json "$@" | tee bench/results/web.txt
    ;;
  wire)
    # The transport alone on idle mTLS connections over loopback (1,000, 10,000, 19,000):
    # a bare gRPC server with the agent listener's settings against one epoll thread over
    # OpenSSL, the same certificates and messages: server RSS per connection, CPU per
    # message, fan-out to the last ack (p50/p99); then the controller's figures in
    # bench/results/fanout.json against gRPC's floor (--connections N,..., --repeats N,
    # --quick).
    build wire_bench
    "$BUILD_DIR/bench/wire/wire_bench" --json bench/results/wire.json "$@" | tee bench/results/wire.txt
    ;;
  *)
    usage
    ;;
esac
