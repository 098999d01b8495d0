#!/usr/bin/env bash
# Runs the benchmark suite against an existing build and prints its tables:
#   1. the machine probe (sgemm peak, triad bandwidth),
#   2. the kernel microbenches (each validated, then reported as a fraction of the probe's limits),
#      including the MoE block and its routing (bench/moe_bench),
#   3. the run log's and the governor's per-step cost,
#   4. end to end: nightshift vs PyTorch training side by side, and time-to-loss (bench/end_to_end.py),
#   5. LoRA/QLoRA: qlora tokens/s by rank and peak memory of full/lora/qlora (bench/lora_bench.py).
# Usage: bench/run_all.sh [BUILD_DIR] [--lora-presets LIST] [end_to_end.py options...]
#   BUILD_DIR defaults to build; --lora-presets (default gpt-small,hybrid-small; '' skips section 5)
#   goes to lora_bench.py as --presets, every other option to end_to_end.py.
# The full output is also written to BUILD_DIR/bench-results.txt, the figures to BUILD_DIR/bench-results.json
# and BUILD_DIR/bench-lora.json.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
if [[ $# -gt 0 && $1 != --* ]]; then build=$1; shift; fi
lora_presets=gpt-small,hybrid-small
e2e_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --lora-presets)
      [[ $# -ge 2 ]] || { echo "bench/run_all.sh: --lora-presets needs a value" >&2; exit 2; }
      lora_presets=$2; shift 2 ;;
    --lora-presets=*) lora_presets=${1#--lora-presets=}; shift ;;
    *) e2e_args+=("$1"); shift ;;
  esac
done
for exe in app/nightshift bench/machine_probe_bench bench/kernels_bench bench/attention_ssm_bench \
           bench/moe_bench bench/qmatmul_bench bench/run_log_bench; do
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
  OMP_WAIT_POLICY=PASSIVE "$build/bench/moe_bench" --benchmark_min_time=$min_time 2>&1
  OMP_WAIT_POLICY=PASSIVE "$build/bench/qmatmul_bench" --benchmark_min_time=$min_time 2>&1
  echo
  echo "== run log and governor cost per step"
  "$build/bench/run_log_bench" --benchmark_min_time=$min_time \
    --benchmark_filter='BM_AppendStepBatched|BM_PollControlIdle' 2>&1
  if [[ -x $build/bench/governor_bench ]]; then "$build/bench/governor_bench" --benchmark_min_time=$min_time 2>&1; fi
  echo
  echo "== end to end"
  "$py" bench/end_to_end.py --bin "$build/app/nightshift" --probe "$build/bench/machine_probe_bench" \
    --workdir "$build/bench-runs" --json "$build/bench-results.json" ${e2e_args[@]+"${e2e_args[@]}"}
  if [[ -n $lora_presets ]]; then
    echo
    echo "== LoRA rank and memory"
    "$py" bench/lora_bench.py --bin "$build/app/nightshift" --presets "$lora_presets" \
      --workdir "$build/bench-runs/lora" --json "$build/bench-lora.json"
  fi
} 2>&1 | tee "$out"
