#!/usr/bin/env bash
# Checks the systemd units offline (there is no systemd as PID 1 to start them here):
# `systemd-analyze verify` against a root that holds the real binaries at the units'
# ExecStart paths and this system's own units, then `systemd-analyze security
# --offline=true`, which fails if a unit's exposure rises above what deploy/README.md
# states (agent 4.1, controller 1.7; the scale's tenths, as --threshold takes them).
#
#   deploy/systemd/check-units.sh BUILD_DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:?usage: check-units.sh BUILD_DIR}")
root=$build/units-check
trap 'rm -rf "$root"' EXIT
rm -rf "$root"
mkdir -p "$root/usr/sbin" "$root/usr/bin" "$root/etc/systemd/system" "$root/lib/systemd"
cp "$build/agent/firedrill-agent" "$root/usr/sbin/firedrill-agent"
cp "$build/controller/firedrill" "$root/usr/bin/firedrill"
cp -r /lib/systemd/system "$root/lib/systemd/"
cp "$here/firedrill-agent.service" "$here/firedrill.service" "$root/etc/systemd/system/"

status=0
for unit in firedrill-agent firedrill; do
  if ! out=$(systemd-analyze verify --root="$root" "/etc/systemd/system/$unit.service" 2>&1) || [ -n "$out" ]; then
    echo "check-units: $unit.service does not verify:" >&2
    echo "$out" >&2
    status=1
  fi
done
declare -A limit=([firedrill-agent]=41 [firedrill]=17)
for unit in firedrill-agent firedrill; do
  out=$(systemd-analyze security --offline=true --threshold="${limit[$unit]}" --root="$root" \
        "/etc/systemd/system/$unit.service" 2>&1) || {
    echo "$out" >&2
    echo "check-units: $unit.service exposure is above ${limit[$unit]} (tenths)" >&2
    status=1
    continue
  }
  echo "$out" | grep 'Overall exposure'
done
exit $status
