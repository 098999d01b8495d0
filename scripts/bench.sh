#!/usr/bin/env bash
# Builds nightshift and the benchmarks in build/ (scripts/build.sh), then runs the benchmark suite
# (bench/run_all.sh) and prints its tables: machine limits, kernels against them, and training
# tokens/s side by side with PyTorch. Extra arguments go to bench/end_to_end.py, e.g.
#   scripts/bench.sh --presets gpt-tiny --threads 2 --ttl ''
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec bench/run_all.sh build "$@"
