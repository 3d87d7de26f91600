#!/usr/bin/env bash
# The Pangyo game day on the lab fleet: installs and builds what it needs, then runs
# three drills, each on a lab of its own (up, run through the controller, save the
# run's evidence report, down):
#   1. two-site placement, one controller in ops: experiments/pangyo-fire.yaml
#   2. single-site placement, the same
#   3. two-site placement with two controllers on PostgreSQL (lab.sh --controllers 2),
#      one in each data centre: experiments/pangyo-fire-controllers.yaml, where the fire
#      also cuts the power of pangyo's controller, which leads; chuncheon's takes over
# Prints the verdicts with their reports' paths at the end.
#
#   scripts/demo.sh            the game day (a two-minute power loss per placement)
#   scripts/demo.sh --short    the CI variant (35 s per drill)
#
# Exit 0 when firedrill told the designs apart as expected (two-site passed,
# single-site failed) and survived its own fire (the third drill passed on the
# controller in chuncheon), 1 otherwise. FIREDRILL_BUILD_DIR picks another build
# directory (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

experiment=experiments/pangyo-fire.yaml
case "${1:-}" in
  --short) experiment=experiments/pangyo-fire-ci.yaml ;;
  "") ;;
  -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

declare -A verdict report handover

# The run's record as JSON from the first controller (API socket) that has it whole:
# with two controllers the one that started the run may be gone.
run_json() {
  local id=$1 api
  shift
  for api in "$@"; do
    if FIREDRILL_API=$api "$firedrill" show "$id" --json 2>/dev/null; then return 0; fi
  done
  return 1
}

# Follows run ID to its end at whichever controller leads: when the one followed stops
# reporting (it burned), the next is asked, for at most ten minutes.
follow_run() {
  local id=$1 deadline=$((SECONDS + 600)) api phase
  shift
  while [ $SECONDS -lt $deadline ]; do
    for api in "$@"; do
      FIREDRILL_API=$api "$firedrill" show "$id" --follow --quiet >/dev/null 2>&1 || true
      phase=$(run_json "$id" "$@" | jq -r '.phase // ""' 2>/dev/null || true)
      [ "$phase" = RUN_PHASE_DONE ] && return 0
    done
    sleep 1
  done
  return 1
}

# drill NAME PLACEMENT CONTROLLERS EXPERIMENT
drill() {
  local key=$1 placement=$2 controllers=$3 file=$4 id base api h
  local -a apis=()
  echo
  echo "=== $key: lab up ($placement, $controllers controller(s))"
  "$lab" down >/dev/null
  "$lab" up --placement "$placement" --controllers "$controllers" --controller yes --agent "$agent" \
    --firedrill "$firedrill" | sed 's/^/  /'
  # shellcheck disable=SC1091
  source /run/firedrill-lab/fdl/lab.env
  apis=("$FDL_LAB_API")
  for h in ${FDL_LAB_CONTROLLER_HOSTS:-}; do
    [ "$FDL_LAB_DIR/hosts/$h/controller.sock" = "$FDL_LAB_API" ] || apis+=("$FDL_LAB_DIR/hosts/$h/controller.sock")
  done
  base=$reports/$key
  # Every controller's public key, while all are up: the report's parts are signed by
  # whichever led when they were written, and its seal by the one that renders it.
  : >"$base.keys.pem"
  for api in "${apis[@]}"; do FIREDRILL_API=$api "$firedrill" keys export >>"$base.keys.pem"; done
  echo "=== $key: firedrill run $file"
  # Machine-readable answers (--json), read with jq: the run's id from the start, its
  # outcome from the finished record.
  id=$(FIREDRILL_API=${apis[0]} "$firedrill" run "$file" --detach --json | jq -r .run_id)
  if [ -z "$id" ] || [ "$id" = null ]; then
    verdict[$key]="verdict: none (the run did not start)"
    report[$key]="(no run)"
    "$lab" down | sed 's/^/  /'
    return 0
  fi
  follow_run "$id" "${apis[@]}" || echo "  the run $id did not end within ten minutes" >&2
  base=$reports/$key-$id
  mv "$reports/$key.keys.pem" "$base.keys.pem"
  run_json "$id" "${apis[@]}" >"$base.run.json" || true
  verdict[$key]=$(jq -r '"verdict: " + ((.outcome // "RUN_OUTCOME_UNSPECIFIED") | sub("RUN_OUTCOME_"; "")) + " - " + (.reason // "")' \
    "$base.run.json" 2>/dev/null || echo "verdict: none (no record of run $id)")
  report[$key]="(report failed)"
  # Rendered by the first controller that answers (with two, the survivor), verified
  # against the controllers' public keys exported before the run.
  for api in "${apis[@]}"; do
    if FIREDRILL_API=$api "$firedrill" report "$id" --format html -o "$base.html" 2>/dev/null &&
       FIREDRILL_API=$api "$firedrill" report "$id" --format json -o "$base.json"; then
      "$firedrill" report verify "$base.html" --keys "$base.keys.pem" | tail -1 | sed 's/^/  /' &&
        report[$key]=$base.html
      break
    fi
  done
  if [ "$controllers" = 2 ]; then
    # The report's account of the takeover (timeline.handovers).
    handover[$key]=$(jq -c '[.. | objects | select(has("handovers")) | .handovers[]] | first // empty' \
      "$base.json" 2>/dev/null || true)
    echo "  handover: ${handover[$key]:-none in the report}"
    echo "  controllers after the drill:"
    "$lab" status | grep -E '^(controller|postgresql) ' | sed 's/^/    /'
  fi
  "$lab" down | sed 's/^/  /'
}

drill two-site two-site 1 "$experiment"
drill single-site single-site 1 "$experiment"
drill two-controllers two-site 2 experiments/pangyo-fire-controllers.yaml

echo
echo "=== The Pangyo game day, both designs, and firedrill's own fire"
for key in two-site single-site two-controllers; do
  printf '  %-16s %s\n  %-16s report: %s\n' "$key" "${verdict[$key]}" "" "${report[$key]}"
done
printf '  %-16s handover: %s\n' "" "${handover[two-controllers]:-none in the report}"
rc=0
if [[ "${verdict[two-site]}" == "verdict: PASSED"* && "${verdict[single-site]}" == "verdict: FAILED"* ]]; then
  echo "  firedrill told them apart: the two-site design fails over; the single-site one cannot."
else
  echo "  unexpected verdicts: two-site should pass and single-site fail" >&2
  rc=1
fi
if [[ "${verdict[two-controllers]}" == "verdict: PASSED"* && -n "${handover[two-controllers]:-}" ]]; then
  echo "  firedrill survived its own fire: the run went on at chuncheon's controller when pangyo's burned."
else
  echo "  firedrill did not survive its own fire: the run with two controllers should pass on chuncheon's," \
    "its report showing the handover" >&2
  rc=1
fi
exit $rc
