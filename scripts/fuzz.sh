#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in a build directory of their own (the main
# build is g++; the directory is kept, so a second run rebuilds only what changed) and
# runs each for a while:
#   scripts/fuzz.sh [SECONDS] [TARGET...]   (default 20 s each, every target)
# CI runs the short version after scripts/test.sh; a long run is e.g. `scripts/fuzz.sh 3600`.
# FUZZ_BUILD_DIR picks the build directory (default: build-fuzz); FUZZ_CORPUS_DIR keeps
# each target's corpus between runs (default: a fresh temporary one). A crash leaves its
# input as crash-* in the working directory and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(command_handler_fuzz experiment_loader_fuzz report_verify_fuzz dns_fuzz)
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
sanitizers="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
cmake -S . -B "$BUILD_DIR" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DFIREDRILL_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$sanitizers" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${targets[@]}"
corpora=${FUZZ_CORPUS_DIR:-}
if [ -z "$corpora" ]; then
  corpora=$(mktemp -d /tmp/fdc-fuzz-XXXXXX)
  trap 'rm -rf "$corpora"' EXIT
fi
status=0
for t in "${targets[@]}"; do
  mkdir -p "$corpora/$t"
  seeds=()
  # The shipped experiments seed the loader.
  [ "$t" = experiment_loader_fuzz ] && seeds=(experiments)
  echo "fuzz: $t for ${seconds}s"
  if ! "$BUILD_DIR/tests/unit/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 "$corpora/$t" "${seeds[@]}"; then
    echo "fuzz: $t FAILED (its input is the crash-* file above)" >&2
    status=1
  fi
done
exit $status
