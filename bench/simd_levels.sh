#!/usr/bin/env bash
# The engine's own loops at AVX-512 against the same loops at AVX2 (NIGHTSHIFT_SIMD=avx2), end to end:
# steady tokens/s of whole training steps, each run at both levels back to back (twice, alternating,
# so a drift of the machine's load falls on both), OpenBLAS unpinned in this script's own command
# (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset: its kernels are the same at both levels). Runs:
#   gpt-small     full, byte vocabulary, B=4, T=256            (softmaxes, SwiGLU, RMSNorm, cross-entropy)
#   hybrid-small  full, byte vocabulary, B=4, T=256            (Mamba-1 scan, windowed attention, MoE)
#   smollm2-q4km  qlora over SmolLM2-135M's shape in llama.cpp's Q4_K_M, 49,152 tokens, B=1, T=512
#                 (Q4_K/Q6_K decoders, the LM head's cross-entropy over a real vocabulary)
#   bash bench/simd_levels.sh BUILD_DIR [STEPS]   (STEPS default 8; needs an AVX-512 CPU, and
#                                                  scripts/setup.sh's llama.cpp pieces for the last run)
set -euo pipefail
BUILD=${1:?usage: bench/simd_levels.sh BUILD_DIR [STEPS]}
STEPS=${2:-8}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$ROOT/tests/reference/llamacpp/llama.cpp
BIN=$BUILD/app/nightshift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x "$BIN" ] || { echo "no nightshift binary in $BUILD" >&2; exit 2; }
grep -qw avx512f /proc/cpuinfo || { echo "this CPU has no AVX-512: nothing to compare" >&2; exit 2; }
head -c 1000000 "$ROOT/../shared/data/tinyshakespeare.txt" >"$work/text.txt"

runs=("gpt-small" "hybrid-small")
if [ -x "$BUILD/tests/llamacpp_harness" ] && [ -f "$SRC/gguf-py/gguf/__init__.py" ]; then
  source "$ROOT/tests/reference/llamacpp/real_shapes.sh"
  make_real_q4km smollm2-135m "$SRC" "$BUILD/tests/llamacpp_harness" "$work/smollm2.gguf"
  runs+=("smollm2-q4km")
else
  echo "(no llama.cpp harness: the Q4_K_M run is left out; scripts/setup.sh builds it)" >&2
fi

# run NAME LEVEL: prints steady tokens/s (the steps after the first).
run() {
  local args
  case $1 in
    gpt-small|hybrid-small) args=(--preset "$1" --batch 4 --seq 256) ;;
    smollm2-q4km) args=(--base "$work/smollm2.gguf" --mode qlora --batch 1 --seq 512) ;;
  esac
  local envs=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE NIGHTSHIFT_SIMD="$2")
  rm -rf "$work/run"
  env "${envs[@]}" "$BIN" train "${args[@]}" --data "$work/text.txt" --steps "$STEPS" --threads 2 --thermal none \
    --eval-every 0 --eval-batches 1 --checkpoint-every 0 --log-every 1 --out "$work/run" 2>"$work/log" ||
    { cat "$work/log" >&2; exit 1; }
  grep -q "2 threads, $2 kernels" "$work/log" || { echo "the run is not at $2" >&2; exit 1; }
  "$BIN" log "$work/run" steps --format json | /usr/bin/python3 -c "
import json, sys
r = sorted(json.load(sys.stdin), key=lambda x: x['step'])
print('%.1f' % ((r[-1]['tokens'] - r[0]['tokens']) / (r[-1]['time'] - r[0]['time'])))"
}

printf '%-14s %12s %12s %8s  %s\n' run "avx2 tok/s" "avx512 tok/s" ratio load
for name in "${runs[@]}"; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  a1=$(run "$name" avx2); b1=$(run "$name" avx512); b2=$(run "$name" avx512); a2=$(run "$name" avx2)
  /usr/bin/python3 -c "
import sys
a = (float(sys.argv[2]) + float(sys.argv[3])) / 2; b = (float(sys.argv[4]) + float(sys.argv[5])) / 2
print('%-14s %12.1f %12.1f %7.3fx  %s (runs %s %s | %s %s)' % (sys.argv[1], a, b, b / a, sys.argv[6] + ' -> ' + open('/proc/loadavg').read().split()[0],
      sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]))" "$name" "$a1" "$a2" "$b1" "$b2" "$load"
done
