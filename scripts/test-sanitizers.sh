#!/usr/bin/env bash
# Builds the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ and runs
# them with CTest; any report fails the run. The learning runs (minutes natively, several times that
# instrumented) and the script tests (they run the uninstrumented CLI) are left to run-tests.sh.
#   bash scripts/test-sanitizers.sh [CTEST_REGEX]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNIGHTSHIFT_BUILD_BENCH=OFF \
  -DNIGHTSHIFT_WERROR="${NIGHTSHIFT_WERROR:-OFF}" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
targets=(common_tests profiles_tests trainer_tests budget_tests thermal_tests tui_tests app_tests)
cmake --build build-asan -j"$(nproc)" --target "${targets[@]}"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd build-asan
ctest --output-on-failure -j"$(nproc)" --timeout 1800 -E '^(integration|reference)\.|Learning|Learns' ${1:+-R "$1"}
