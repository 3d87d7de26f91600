#!/usr/bin/env bash
# Makes the state directory of a firedrill 0.1.0 controller that the store migration
# test (tests/integration/state_migration_test.cpp) starts a newer controller on: one
# experiment run with probe samples (a file under runs/ in 0.1.0), one ad hoc inject
# (a row of 0.1.0's runs table), and a halt left in force.
#
#   sudo tests/data/state-0.1.0/make.sh [BIN_DIR]     (BIN_DIR: the 0.1.0 binaries,
#                                                      git tag v0.1.0, default /work/v0.1.0/bin)
#
# Everything runs inside a network namespace of its own (fd011-<pid>) with a veth pair
# of its own; the fault touches only that. The database is kept as SQL text
# (controller.sql, `sqlite3 .dump`); the run files as they are.
set -euo pipefail
BIN=${1:-/work/v0.1.0/bin}
HERE=$(cd "$(dirname "$0")" && pwd)
NS=fd011-$$
TMP=$(mktemp -d /tmp/fd011-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NS"
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
in_ns ip link add d0 type veth peer name d1
in_ns ip link set d0 up; in_ns ip link set d1 up
API="$TMP/api.sock"
fd() { in_ns "$BIN/firedrill" "$@" --api "$API"; }

in_ns "$BIN/firedrill" serve --insecure --listen 127.0.0.1:17911 --state-dir "$TMP/state" --api "$API" \
  --lease-grace 2s >"$TMP/controller.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$API" ] && break; sleep 0.1; done
in_ns "$BIN/firedrill-agent" --id h1 --tag dc=lab --tag rack=r1 --controller 127.0.0.1:17911 --insecure \
  --state-dir "$TMP/agent" --interface d0 --allow 127.0.0.0/8 --lease-grace 2s >"$TMP/agent.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do fd agents 2>/dev/null | grep -q "1 live" && break; sleep 0.1; done

cat >"$TMP/drill.yaml" <<'YAML'
name: migration-drill
description: made by tests/data/state-0.1.0/make.sh with firedrill 0.1.0
targets: {selector: "rack=r1"}
steps: [{fault: {network: {blackhole: {}}}, duration: 2s}]
probes: [{name: alive, interval: 200ms, command: {argv: ["true"]}}]
steady_state: {hold: 1s}
recovery: {hold: 1s}
slo:
  availability: {min: 0.5}
YAML
fd run "$TMP/drill.yaml" --quiet
fd inject -l rack=r1 --fault blackhole --for 1s --description "made by make.sh"
sleep 4
fd halt --reason "left in force by make.sh"
kill "${PIDS[0]}"; wait "${PIDS[0]}" || true

OUT="$HERE/state"
rm -rf "$OUT"
mkdir -p "$OUT"
sqlite3 "$TMP/state/controller.db" .dump >"$OUT/controller.sql"
cp -r "$TMP/state/runs" "$OUT/runs"
# The evidence key's private half stays out: the reports verify with the public key
# the database holds, and the newer controller makes a key of its own.
"$BIN/firedrill" --version >"$HERE/VERSION" 2>&1 || echo "0.1.0 (git tag v0.1.0)" >"$HERE/VERSION"
echo "wrote $OUT:"; ls -la "$OUT" "$OUT/runs"
