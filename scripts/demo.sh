#!/usr/bin/env bash
# The main job: builds firedrill and shows it at work. (Becomes the Pangyo game day on
# the lab fleet once the lab lands; until then it shows this kernel's features.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
./build/agent/firedrill-agent features
