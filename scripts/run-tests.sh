#!/usr/bin/env bash
# The README's test command: set up, build, and run the whole test suite with CTest; then the engine's
# numerics (ctest label `numerics`: gradients, reference comparisons, determinism) again under the
# other OpenBLAS kernel sets this CPU can run, since their fp32 rounding differs. OPENBLAS_CORETYPE is
# set (or unset) for those ctest runs only; the full run uses the environment as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 900

if [ "$(uname -m)" = x86_64 ]; then
  kernel_sets=(default Haswell)  # default: OpenBLAS's own choice for this CPU
  if grep -qw avx512f /proc/cpuinfo; then kernel_sets+=(SkylakeX); fi
  for ks in "${kernel_sets[@]}"; do
    if [ "$ks" = "${OPENBLAS_CORETYPE:-default}" ]; then
      echo "run-tests: numerics under OpenBLAS kernel set $ks: covered by the run above"
      continue
    fi
    echo "run-tests: numerics under OpenBLAS kernel set $ks"
    if [ "$ks" = default ]; then
      env -u OPENBLAS_CORETYPE ctest --output-on-failure -j"$(nproc)" --timeout 900 -L numerics
    else
      OPENBLAS_CORETYPE="$ks" ctest --output-on-failure -j"$(nproc)" --timeout 900 -L numerics
    fi
  done
fi
