#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan, UBSan) in a build directory of their
# own (the main build is g++; the directory is kept, so a second run rebuilds only what
# changed) and runs each for a while:
#   scripts/fuzz.sh [SECONDS] [TARGET...]   (default 20 s each, every target)
# The targets are tests/fuzz/*_fuzz.cpp (each added in tests/fuzz/fuzz.cmake with what it
# links); a new file there is fuzzed here and in CI with no edit to this script. CI runs
# `scripts/fuzz.sh 20` after scripts/test.sh; a long run is e.g. `scripts/fuzz.sh 3600`.
# FUZZ_BUILD_DIR picks the build directory (default: build-fuzz); FUZZ_CORPUS_DIR keeps
# each target's corpus between runs (default: a fresh temporary one). A crash leaves its
# input as crash-* in the working directory and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
# -O1 and line tables only, as fuzzing builds usually are: a fraction of the compile
# time of -O2 -g with sanitizers, the same findings, stack traces with lines.
flags="-O1 -gline-tables-only -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
cmake -S . -B "$BUILD_DIR" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DFIREDRILL_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_C_FLAGS_FUZZ="$flags" -DCMAKE_CXX_FLAGS_FUZZ="$flags" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${targets[@]}"
corpora=${FUZZ_CORPUS_DIR:-}
if [ -z "$corpora" ]; then
  corpora=$(mktemp -d /tmp/fdc-fuzz-XXXXXX)
  trap 'rm -rf "$corpora"' EXIT
fi
# Seeds beside the corpus: the shipped experiments for the loader; for every target, the
# inputs of past findings kept under tests/fuzz/seeds/TARGET, so each is tried again first.
seeds_of() {
  case $1 in
    experiment_loader_fuzz) echo experiments ;;
  esac
  if [ -d "tests/fuzz/seeds/$1" ]; then echo "tests/fuzz/seeds/$1"; fi
}
status=0
for t in "${targets[@]}"; do
  mkdir -p "$corpora/$t"
  mapfile -t seeds < <(seeds_of "$t")
  echo "fuzz: $t for ${seconds}s"
  # libFuzzer's progress (a line per new input) goes to a log; its final stats are
  # shown, and the whole log when it failed.
  log="$corpora/$t.log"
  if "$BUILD_DIR/tests/unit/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_funcs=0 \
      -print_final_stats=1 "$corpora/$t" "${seeds[@]}" >"$log" 2>&1; then
    grep -aE '^(Done|stat::)' "$log" || true
  else
    cat "$log"
    echo "fuzz: $t FAILED (its input is the crash-* file above)" >&2
    status=1
  fi
done
exit $status
