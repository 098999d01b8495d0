#!/usr/bin/env bash
# Runs the benchmark suite against an existing build and prints its tables:
#   1. the machine probe (sgemm peak, triad bandwidth),
#   2. the kernel microbenches (each validated, then reported as a fraction of the probe's limits),
#   3. the run log's and the governor's per-step cost,
#   4. end to end: nightshift vs PyTorch training side by side, and time-to-loss (bench/end_to_end.py).
# Usage: bench/run_all.sh [BUILD_DIR] [end_to_end.py options...]   (BUILD_DIR defaults to build)
# The full output is also written to BUILD_DIR/bench-results.txt, the figures to BUILD_DIR/bench-results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
if [[ $# -gt 0 && $1 != --* ]]; then build=$1; shift; fi
for exe in app/nightshift bench/machine_probe_bench bench/kernels_bench bench/attention_ssm_bench \
           bench/qmatmul_bench bench/run_log_bench; do
  if [[ ! -x $build/$exe ]]; then
    echo "bench/run_all.sh: $build/$exe not found; build it first (scripts/build.sh, or scripts/bench.sh)" >&2
    exit 2
  fi
done
py=/usr/bin/python3
[[ -x $py ]] || py=python3
out=$build/bench-results.txt
min_time=0.3
{
  echo "== machine"
  "$build/bench/machine_probe_bench"
  echo
  echo "== kernels (fraction of the measured sgemm peak / triad bandwidth; OMP_WAIT_POLICY=PASSIVE)"
  # Passive OpenMP waits: on a shared machine spinning threads lose their core and the timings
  # measure the scheduler instead of the kernel.
  OMP_WAIT_POLICY=PASSIVE "$build/bench/kernels_bench" --benchmark_min_time=$min_time 2>&1
  OMP_WAIT_POLICY=PASSIVE "$build/bench/attention_ssm_bench" --benchmark_min_time=$min_time 2>&1
  OMP_WAIT_POLICY=PASSIVE "$build/bench/qmatmul_bench" --benchmark_min_time=$min_time 2>&1
  echo
  echo "== run log and governor cost per step"
  "$build/bench/run_log_bench" --benchmark_min_time=$min_time \
    --benchmark_filter='BM_AppendStepBatched|BM_PollControlIdle' 2>&1
  if [[ -x $build/bench/governor_bench ]]; then "$build/bench/governor_bench" --benchmark_min_time=$min_time 2>&1; fi
  echo
  echo "== end to end"
  "$py" bench/end_to_end.py --bin "$build/app/nightshift" --probe "$build/bench/machine_probe_bench" \
    --workdir "$build/bench-runs" --json "$build/bench-results.json" "$@"
} 2>&1 | tee "$out"
