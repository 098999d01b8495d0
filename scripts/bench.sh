#!/usr/bin/env bash
# Builds nightshift and the benchmarks in build/ (scripts/build.sh), then runs the benchmark suite
# (bench/run_all.sh) and prints its tables: machine limits, kernels against them, training
# tokens/s side by side with PyTorch, and LoRA rank/memory. Extra arguments go to bench/run_all.sh, e.g.
#   scripts/bench.sh --presets gpt-tiny --threads 2 --ttl '' --lora-presets ''
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec bench/run_all.sh build "$@"
