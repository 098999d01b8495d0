#!/usr/bin/env bash
# Cross-builds the trainer's unit tests for aarch64 (Raspberry Pi 5, Jetson) and runs them under
# qemu-aarch64: kernels, selective scan, quantization, LoRA, gradients, checkpoints. The build is
# portable (-DNIGHTSHIFT_NATIVE=OFF), so every AVX2 kernel's portable path is the one tested.
# Installs the cross toolchain and the arm64 libraries first (scripts/setup.sh --aarch64), and the
# host's test references (scripts/setup.sh): the tests of llama.cpp's vocabulary files and gguf-py
# run under emulation too; only those that need llama.cpp's x86-64 libraries skip.
#   bash scripts/test-aarch64.sh [GTEST_FILTER]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh            # the host's packages and llama.cpp's source bundle (vocabularies, gguf-py)
bash scripts/setup.sh --aarch64
cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
  -DNIGHTSHIFT_NATIVE=OFF -DNIGHTSHIFT_BUILD_BENCH=OFF -DNIGHTSHIFT_WERROR="${NIGHTSHIFT_WERROR:-OFF}" >/dev/null
cmake --build build-aarch64 -j"$(nproc)" --target trainer_tests
file build-aarch64/tests/trainer_tests | grep -q "ARM aarch64" || { echo "test-aarch64: not an aarch64 binary"; exit 1; }
# The learning runs train for minutes natively (hours under emulation); the numerics they rely on
# are each covered by a unit test here.
filter="${1:--*Learning*:*Learns*}"
# Two OpenMP threads under qemu-user do not finish (Packing.OneDocumentPerRowIsBitIdenticalToUnpacked:
# 6 s with one thread, unfinished after 120 s with two), so the one test that compares two threads
# with one (*Threads*) is left out here; run-tests.sh runs it natively.
threaded='*Threads*'
case "$filter" in
  *-*) filter="$filter:$threaded" ;;
  *) filter="$filter-$threaded" ;;
esac

# The tests run as one gtest shard per core (GTEST_TOTAL_SHARDS), each logging to build-aarch64/;
# each shard is pinned to a core of its own and runs one OpenMP thread by default: under emulation,
# synchronizing two threads costs more than the work (a gradient check took 1.8 s with one thread
# and over 5 min with two), and the engine sizes its thread count from the cores it may use.
cpus=()
for range in $(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status | tr ',' ' '); do
  for ((c = ${range%-*}; c <= ${range#*-}; c++)); do cpus+=("$c"); done
done
shards=${#cpus[@]}
echo "test-aarch64: running trainer_tests under qemu-aarch64 in $shards shards (filter $filter)"
start=$(date +%s)
pids=()
for ((i = 0; i < shards; i++)); do
  OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i taskset -c "${cpus[$i]}" qemu-aarch64 -L /usr/aarch64-linux-gnu \
    build-aarch64/tests/trainer_tests --gtest_filter="$filter" > "build-aarch64/shard-$i.log" 2>&1 &
  pids+=($!)
done
failed=0
for ((i = 0; i < shards; i++)); do
  if wait "${pids[$i]}"; then
    echo "test-aarch64: shard $i: $(grep -E '^\[  PASSED  \]' "build-aarch64/shard-$i.log")"
  else
    failed=1
    echo "test-aarch64: shard $i FAILED (build-aarch64/shard-$i.log):"
    grep -E '^\[  FAILED  \]|Failure|error' "build-aarch64/shard-$i.log" | head -40
  fi
done
[ "$failed" = 0 ] || exit 1
echo "test-aarch64: passed in $(( $(date +%s) - start )) s under emulation"
