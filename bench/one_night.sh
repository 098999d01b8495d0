#!/usr/bin/env bash
# "One night, one billion parameters": QLoRA over a Llama-3.2-1B-shaped Q4_K_M GGUF (d 2048, 16
# layers, 32/8 heads, SwiGLU 8192, tied, Llama 3's 128,256-token vocabulary; random weights written by
# tests/reference/llamacpp/model_fixture.py, quantized by llama.cpp) at T=1024, B=1, 2 threads, with a
# 3 GiB memory limit (the planner picks gradient checkpointing). Steady tokens/s (the steps after the
# first), peak RSS (ru_maxrss), and the tokens 8 hours would train, for: OpenBLAS as the environment
# pins it, unpinned (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset in this script's own command), and
# unpinned with --compute-dtype bf16 where the CPU has AVX512_BF16.
#   bash bench/one_night.sh BUILD_DIR [STEPS] [Q4_K_M.gguf]   (STEPS default 4; the file is made when not given)
set -euo pipefail
BUILD=${1:?usage: bench/one_night.sh BUILD_DIR [STEPS] [Q4_K_M.gguf]}
STEPS=${2:-4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$ROOT/tests/reference/llamacpp/llama.cpp
BIN=$BUILD/app/nightshift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x "$BIN" ] || { echo "no nightshift binary in $BUILD" >&2; exit 2; }
gguf=${3:-}
if [ -z "$gguf" ]; then
  [ -x "$BUILD/tests/llamacpp_harness" ] && [ -f "$SRC/gguf-py/gguf/__init__.py" ] ||
    { echo "needs the llama.cpp harness and gguf-py (scripts/setup.sh)" >&2; exit 2; }
  source "$ROOT/tests/reference/llamacpp/real_shapes.sh"
  make_real_q4km llama-3.2-1b "$SRC" "$BUILD/tests/llamacpp_harness" "$work/llama1b.gguf"
  gguf=$work/llama1b.gguf
fi
head -c 300000 "$ROOT/../shared/data/tinyshakespeare.txt" >"$work/text.txt"

configs=("pinned fp32" "unpinned fp32")
grep -qw avx512_bf16 /proc/cpuinfo && configs+=("unpinned bf16")
printf '%-14s %-6s %10s %10s %12s %14s %s\n' openblas dtype "tok/s" "s/step" "peak MiB" "tokens in 8 h" "load"
for c in "${configs[@]}"; do
  read -r blas dtype <<<"$c"
  envs=()
  [ "$blas" = unpinned ] && envs=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
  rm -rf "$work/run"
  load=$(cut -d' ' -f1 /proc/loadavg)
  env "${envs[@]}" /usr/bin/time -f "%M" -o "$work/peak" "$BIN" train --base "$gguf" --mode qlora --data "$work/text.txt" \
    --seq 1024 --batch 1 --steps "$STEPS" --threads 2 --thermal none --eval-every 0 --eval-batches 1 --checkpoint-every 0 \
    --memory-limit 3G --compute-dtype "$dtype" --log-every 1 --out "$work/run" 2>"$work/log" || { cat "$work/log" >&2; exit 1; }
  "$BIN" log "$work/run" steps --format json | /usr/bin/python3 -c "
import json, sys
rows = sorted(json.load(sys.stdin), key=lambda r: r['step'])
dt = [b['time'] - a['time'] for a, b in zip(rows, rows[1:])] or [1024 / rows[0]['tokens_per_s']]
tps = 1024 * len(dt) / sum(dt)
print('%-14s %-6s %10.1f %10.1f %12.0f %14.0f %s' % (sys.argv[1], sys.argv[2], tps, sum(dt) / len(dt), int(sys.argv[3]) / 1024,
      tps * 8 * 3600, sys.argv[4] + ' -> ' + open('/proc/loadavg').read().split()[0]))" "$blas" "$dtype" "$(tail -1 "$work/peak")" "$load"
  grep -m1 "^\[info\] memory:" "$work/log" | sed 's/^/    /' || true
done
