#!/usr/bin/env bash
# Renders an evidence report page in headless Chromium and saves a PNG screenshot, to
# look at a report as a person would. Screenshots stay out of the repository.
#
#   scripts/report-screenshot.sh REPORT.html [OUT.png] [WIDTHxHEIGHT]
#   scripts/report-screenshot.sh                # the synthetic sample run, from build/
#
# With no report it builds the sample (target evidence_sample) in $BUILD_DIR (default
# build), renders it with `firedrill report`, and writes $BUILD_DIR/report-sample.png.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build}
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "report-screenshot: chromium is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/fdv-shot-XXXXXX)
trap 'rm -rf "$work"' EXIT

report=${1:-}
out=${2:-$build/report-sample.png}
size=${3:-1280x4200}
if [ -z "$report" ]; then
  cmake --build "$build" --target evidence_sample firedrill >/dev/null
  sample=$(find "$build" -name evidence_sample -type f -perm -u+x | head -1)
  fd=$(find "$build" -path '*controller/firedrill' -type f -perm -u+x | head -1)
  run=$("$sample" "$work/state.db" "$work/state")
  FIREDRILL_STATE_DIR="$work/state" "$fd" report "$run" --db "$work/state.db" --format html -o "$work/report.html"
  report="$work/report.html"
fi
[ -f "$report" ] || { echo "report-screenshot: no such file: $report" >&2; exit 1; }

timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
  --user-data-dir="$work/profile" --window-size="${size/x/,}" \
  --screenshot="$(realpath -m "$out")" "file://$(realpath "$report")" 2>"$work/chromium.log" || {
  cat "$work/chromium.log" >&2
  exit 1
}
echo "report-screenshot: wrote $out"
