#!/usr/bin/env bash
# The Pangyo game day on the lab fleet: installs and builds what it needs, then for each
# placement (two-site, then single-site) brings the lab up, runs
# experiments/pangyo-fire.yaml through the controller, saves the run's evidence report,
# and takes the lab down. Prints both verdicts with their reports' paths at the end.
#
#   scripts/demo.sh            the game day (a two-minute power loss per placement)
#   scripts/demo.sh --short    the CI variant (35 s per placement)
#
# Exit 0 when firedrill told the designs apart as expected (two-site passed,
# single-site failed), 1 otherwise. FIREDRILL_BUILD_DIR picks another build directory
# (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

experiment=experiments/pangyo-fire.yaml
case "${1:-}" in
  --short) experiment=experiments/pangyo-fire-ci.yaml ;;
  "") ;;
  -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "demo.sh: unknown argument '$1' (--short, --help)" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: the lab needs root (network namespaces, cgroups, eBPF agents); run with sudo" >&2
  exit 1
fi

scripts/install-deps.sh
build=${FIREDRILL_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target firedrill-agent firedrill

lab=deploy/lab/lab.sh
firedrill=$(cd "$build" && pwd)/controller/firedrill
agent=$(cd "$build" && pwd)/agent/firedrill-agent
reports=$repo/reports
mkdir -p "$reports"
# Whatever happens, the lab goes.
trap '"$lab" down >/dev/null 2>&1 || true' EXIT

declare -A verdict report
for placement in two-site single-site; do
  echo
  echo "=== $placement: lab up"
  "$lab" down >/dev/null
  "$lab" up --placement "$placement" --controller yes --agent "$agent" --firedrill "$firedrill" | sed 's/^/  /'
  # shellcheck disable=SC1091
  source /run/firedrill-lab/fdl/lab.env
  export FIREDRILL_API=$FDL_LAB_API
  echo "=== $placement: firedrill run $experiment"
  # Machine-readable answers (--json), read with jq: the run's id from the start, its
  # outcome from the finished record.
  id=$("$firedrill" run "$experiment" --detach --json | jq -r .run_id)
  set +e
  "$firedrill" show "$id" --follow --quiet
  rc=$?
  set -e
  if [ -n "$id" ] && [ "$id" != null ]; then
    base=$reports/pangyo-fire-$placement-$id
    "$firedrill" show "$id" --json >"$base.run.json" || true
    verdict[$placement]=$(jq -r '"verdict: " + ((.outcome // "RUN_OUTCOME_UNSPECIFIED") | sub("RUN_OUTCOME_"; "")) + " - " + (.reason // "")' \
      "$base.run.json" 2>/dev/null || echo "verdict: none (exit $rc)")
    # Verified against the controller's own public key (without one, verify says the
    # signer is not pinned and exits 3).
    "$firedrill" report "$id" --format html -o "$base.html" &&
      "$firedrill" report "$id" --format json -o "$base.json" &&
      "$firedrill" keys export -o "$base.pub" &&
      "$firedrill" report verify "$base.html" --key "$base.pub" | tail -1 | sed 's/^/  /' &&
      report[$placement]=$base.html || report[$placement]="(report failed)"
  else
    verdict[$placement]="verdict: none (the run did not start)"
    report[$placement]="(no run)"
  fi
  "$lab" down | sed 's/^/  /'
done

echo
echo "=== The Pangyo game day, both designs"
for placement in two-site single-site; do
  printf '  %-12s %s\n  %-12s report: %s\n' "$placement" "${verdict[$placement]}" "" "${report[$placement]}"
done
if [[ "${verdict[two-site]}" == "verdict: PASSED"* && "${verdict[single-site]}" == "verdict: FAILED"* ]]; then
  echo "  firedrill told them apart: the two-site design fails over; the single-site one cannot."
  exit 0
fi
echo "  unexpected verdicts: two-site should pass and single-site fail" >&2
exit 1
