#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in a build directory of their own (the main
# build is g++) and runs each for a while:
#   scripts/fuzz.sh [SECONDS]        (default 20)
# FUZZ_BUILD_DIR picks the build directory (default: build-fuzz). A crash leaves its
# input as crash-* in the working directory and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
sanitizers="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
cmake -S . -B "$BUILD_DIR" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DFIREDRILL_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$sanitizers" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target command_handler_fuzz
corpus=$(mktemp -d /tmp/fdc-fuzz-XXXXXX)
trap 'rm -rf "$corpus"' EXIT
echo "fuzz: command_handler_fuzz for ${seconds}s"
"$BUILD_DIR/tests/unit/command_handler_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$corpus"
