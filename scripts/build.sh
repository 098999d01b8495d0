#!/usr/bin/env bash
# Configures and builds nightshift in build/ (Release, -O3 -march=native).
# NIGHTSHIFT_WERROR=ON in the environment makes every warning an error (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNIGHTSHIFT_WERROR="${NIGHTSHIFT_WERROR:-OFF}" >/dev/null
cmake --build build -j"$(nproc)"
