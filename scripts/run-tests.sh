#!/usr/bin/env bash
# The README's test command: set up, build, and run the whole test suite with CTest; then the engine's
# numerics (ctest label `numerics`: gradients, reference comparisons, determinism) again under the
# other OpenBLAS kernel sets this CPU can run, since their fp32 rounding differs. OPENBLAS_CORETYPE is
# set (or unset) for those ctest runs only; the full run uses the environment as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
phase() { echo "run-tests: $1 took $((SECONDS - t0)) s"; t0=$SECONDS; }
t0=$SECONDS
bash scripts/setup.sh
phase setup
bash scripts/build.sh
phase build
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 900
phase ctest

if [ "$(uname -m)" = x86_64 ]; then
  kernel_sets=(default Haswell)  # default: OpenBLAS's own choice for this CPU
  if grep -qw avx512f /proc/cpuinfo; then kernel_sets+=(SkylakeX); fi
  # tests/blas_kernel_probe prints a kernel set's name and a hash of the bits its sgemm computes (the
  # only BLAS routine the engine calls). A kernel set whose bits equal those of a set already run
  # would give the same results (e.g. Cooperlake runs SkylakeX's single-precision kernels).
  probe() { if [ "$1" = default ]; then env -u OPENBLAS_CORETYPE ./tests/blas_kernel_probe; else OPENBLAS_CORETYPE="$1" ./tests/blas_kernel_probe; fi; }
  declare -A done_bits=()
  done_bits["$(probe "${OPENBLAS_CORETYPE:-default}" | cut -d' ' -f2)"]="the run above (${OPENBLAS_CORETYPE:-default})"
  for ks in "${kernel_sets[@]}"; do
    read -r core bits < <(probe "$ks")
    if [ -n "${done_bits[$bits]:-}" ]; then
      echo "run-tests: numerics under OpenBLAS kernel set $ks ($core): the same sgemm bits as ${done_bits[$bits]}, covered by it"
      continue
    fi
    done_bits[$bits]="$ks ($core)"
    echo "run-tests: numerics under OpenBLAS kernel set $ks ($core)"
    if [ "$ks" = default ]; then
      env -u OPENBLAS_CORETYPE ctest --output-on-failure -j"$(nproc)" --timeout 900 -L numerics
    else
      OPENBLAS_CORETYPE="$ks" ctest --output-on-failure -j"$(nproc)" --timeout 900 -L numerics
    fi
  done
fi
phase "numerics reruns"
