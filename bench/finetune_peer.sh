#!/usr/bin/env bash
# nightshift beside llama.cpp's own trainer (llama-finetune) and PyTorch on one llama-architecture model
# in a real small shape: SmolLM2-135M's layers (d 576, 9 heads / 3 KV heads, SwiGLU 1536, StarCoder
# vocabulary of 49152) but 7 of them, not 30: llama-finetune's graph has a fixed budget of 1024 nodes for
# a model of this size (llama_context::graph_max_nodes) and aborts from 8 layers on. Untied (llama-finetune
# never trains the token embedding, so a tied LM head would stay frozen there), random weights
# (tests/reference/llamacpp/model_fixture.py), one F32 GGUF for all.
# Same text (tinyshakespeare, the GGUF's own tokenizer), context SEQ, batch 1, 2 threads, constant lr,
# AdamW betas 0.9/0.999, no weight decay, no clipping (llama-finetune's optimizer), alternating runs:
#   full      llama-finetune vs `nightshift train --base F32.gguf --mode full`: tok/s, peak RSS, the
#             training loss over the same steps, and both trained models' loss on the same held-out text
#   qlora     `--mode qlora` over llama.cpp's Q4_K_M of the file vs `--mode lora` over the F32 file (rank 16)
#   torch     bench/torch_train_bench.py (tests/reference/nightshift_ref.py) full, OMP_WAIT_POLICY PASSIVE and
#             ACTIVE: speed only (its own random initialization and tokens); its matmuls go through OpenBLAS too
# Every nightshift and PyTorch run twice: OpenBLAS as the environment pins it, and unpinned
# (env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE, only in this script's own commands); the sgemm peak
# both ways (bench/machine_probe_bench); MFU = model FLOPs/s over the unpinned peak.
# Usage: bench/finetune_peer.sh [BUILD_DIR]
#   env: LAYERS=7 SEQ=256 STEPS=24 LORA_STEPS=12 TORCH_STEPS=4 LR=1e-4 RANK=16
#        LLAMA_FT_BUILD=BUILD_DIR/llama-finetune-build  (CMake build of llama-finetune, kept between runs;
#        never inside the llama.cpp source tree); NO_TORCH=1 skips PyTorch
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
LAYERS=${LAYERS:-7}; SEQ=${SEQ:-256}; STEPS=${STEPS:-24}; LORA_STEPS=${LORA_STEPS:-12}
TORCH_STEPS=${TORCH_STEPS:-4}; LR=${LR:-1e-4}; RANK=${RANK:-16}
src=tests/reference/llamacpp/llama.cpp
ftbuild=${LLAMA_FT_BUILD:-$build/llama-finetune-build}
ns=$build/app/nightshift; harness=$build/tests/llamacpp_harness; probe=$build/bench/machine_probe_bench
text=${NS_TEST_DATA_DIR:-../shared/data}/tinyshakespeare.txt
py=/usr/bin/python3
die() { echo "finetune_peer.sh: $*" >&2; exit 2; }
[[ -x $ns && -x $harness && -x $probe ]] || die "needs $ns, $harness and $probe: build BUILD_DIR first"
[[ -f $src/examples/training/finetune.cpp && -f $src/gguf-py/gguf/__init__.py ]] ||
  die "needs the llama.cpp source at $src (scripts/setup.sh)"
[[ -f $text ]] || die "needs $text"
command -v cmake > /dev/null || die "needs cmake"
[[ -x $py ]] || die "needs $py"
case "$(realpath -m "$ftbuild")/" in "$(realpath "$src")"/*) die "LLAMA_FT_BUILD must lie outside $src" ;; esac
mkdir -p "$ftbuild"
unpin=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# --- llama-finetune: CPU only, native, static, Release; only its target -------------------------------------
if [[ ! -f $ftbuild/CMakeCache.txt ]]; then
  gen=(); command -v ninja > /dev/null && gen=(-G Ninja)
  cmake -S "$src" -B "$ftbuild" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF > "$work/cmake.log" ||
    { cat "$work/cmake.log" >&2; die "configuring llama.cpp failed"; }
fi
cmake --build "$ftbuild" --target llama-finetune -j2 > "$work/build.log" || { tail -20 "$work/build.log" >&2; exit 1; }
ft=$ftbuild/bin/llama-finetune

# --- the model, its Q4_K_M, the texts -------------------------------------------------------------------
PYTHONPATH=$src/gguf-py $py tests/reference/llamacpp/model_fixture.py llama "$work/m" --gguf-only --ctx 2048 \
  --vocab $src/models/ggml-vocab-starcoder.gguf --d 576 --layers "$LAYERS" --heads 9 --kv-heads 3 --ff 1536 > /dev/null
f32=$work/m/model.gguf; q4=$work/q4km.gguf
"$harness" model-quantize --in "$f32" --out "$q4" --ftype Q4_K_M > /dev/null
# llama-finetune trains one epoch over windows of SEQ tokens at a stride of SEQ/2 (one optimizer step each):
# the training text is cut to STEPS windows (plus slack); the held-out text is the file's last 8000 bytes.
need=$(( STEPS * SEQ / 2 + SEQ + 1 + SEQ / 4 ))
head -c $(( need * 5 )) "$text" > "$work/head.txt"
"$ns" tokenize -t "$f32" "$work/head.txt" | awk -v n="$need" '{for (i = 1; i <= NF && c < n; i++) { printf "%s ", $i; c++ }}' > "$work/ids"
"$ns" tokenize -t "$f32" --decode "$work/ids" > "$work/train.txt"
tail -c 8000 "$text" > "$work/val.txt"
printf '[train]\nbeta2 = 0.999\n' > "$work/adam.toml"
params=$("$ns" inspect "$f32" --json | $py -c "import json,sys; print(json.load(sys.stdin)['parameters'])")
cat > "$work/torch.toml" << EOF
[model]
vocab_size = 49152
d_model = 576
tied_embedding = false
blocks = [{block = "attn+mlp", repeat = $LAYERS}]
[model.attn]
n_heads = 9
n_kv_heads = 3
head_dim = 64
[model.mlp]
d_ff = 1536
EOF
# Model FLOPs per token (tests/reference/nightshift_ref.py's convention: 6 per weight element, attention's
# QK and PV); lora/qlora: 4 per frozen weight element (forward and input gradient, no weight gradient).
read -r fpt_full fpt_lora < <($py -c "
L, D, H, K, Dh, F, V, T = $LAYERS, 576, 9, 3, 64, 1536, 49152, $SEQ
w = L * (D * (2 * H * Dh + 2 * K * Dh) + 3 * D * F) + D * V
att = L * 12 * H * Dh * (T + 1) / 2
print(6 * w + att, 4 * w + att)")

# --- one row per run: name, tok/s, peak RSS MiB, mean training loss, mean of the last 4 steps -------------
rows=$work/rows
ns_train() {  # PIN(pinned|unpinned) MODE BASE STEPS
  local tag=$2-$1 pre=(); [[ $1 = unpinned ]] && pre=("${unpin[@]}")
  local lora=(); [[ $2 != full ]] && lora=(--rank "$RANK")
  /usr/bin/time -f %M -o "$work/rss" "${pre[@]}" "$ns" train "$work/adam.toml" --base "$3" --mode "$2" "${lora[@]}" \
    --data "$work/train.txt" --val-data "$work/val.txt" --seq "$SEQ" --batch 1 --steps "$4" --threads 2 \
    --lr "$LR" --min-lr "$LR" --warmup 0 --weight-decay 0 --grad-clip 0 --thermal none --eval-every 0 \
    --eval-batches 1 --checkpoint-every 0 --checkpoint-minutes 0 --log-every 1 --out "$work/run_$tag" 2> "$work/log_$tag" ||
    { tail -5 "$work/log_$tag" >&2; exit 1; }
  "$ns" log "$work/run_$tag" steps --format json | $py -c "
import json, sys
r = sorted(json.load(sys.stdin), key=lambda x: x['step']); l = [x['loss'] for x in r]
rate = (r[-1]['tokens'] - r[0]['tokens']) / (r[-1]['time'] - r[0]['time'])  # steady: from the end of step 1
print(sys.argv[1], '%.1f' % rate, int(sys.argv[2]) // 1024, '%.4f' % (sum(l) / len(l)), '%.4f' % (sum(l[-4:]) / len(l[-4:])))
" "$2 $1" "$(tail -1 "$work/rss")" >> "$rows"
  [[ $tag = full-pinned ]] || rm -rf "$work/run_$tag"
}

# llama-finetune prints its running mean loss after every step on stderr (lines ending in \r): time-stamp
# them here, recover each step's loss from the running means, rate from the end of step 1 to the last.
cat > "$work/stamp.py" << 'EOF'
import re, sys, time
T, tag = int(sys.argv[1]), sys.argv[2]
pts, buf, raw = [], b"", sys.stdin.buffer
while chunk := raw.read1(4096):
    now = time.monotonic(); buf += chunk
    *parts, buf = re.split(rb"[\r\n]", buf)
    for p in parts:
        m = re.search(rb"train: .*data=(\d+)/(\d+) loss=([0-9.]+)", p)
        if m: pts.append((int(m[1]), float(m[3]), now))
pts = sorted(set(pts))
steps = [k * m - (k - 1) * pm for (k, m, _), (_, pm, _) in zip(pts, [(0, 0.0, 0)] + pts[:-1])]
rate = (len(pts) - 1) * T / (pts[-1][2] - pts[0][2])
mean4 = sum(steps[-4:]) / len(steps[-4:])
print(tag, "%.1f" % rate, "RSS", "%.4f" % pts[-1][1], "%.4f" % mean4, len(pts))
EOF
llama_ft() {
  /usr/bin/time -f %M -o "$work/rss" "$ft" -m "$f32" -f "$work/train.txt" -c "$SEQ" -b "$SEQ" -ub "$SEQ" -t 2 -tb 2 \
    -epochs 1 -lr "$LR" -val-split 0 -o "$work/ft.gguf" 2>&1 > /dev/null | tee "$work/log_ft" |
    $py "$work/stamp.py" "$SEQ" llama-finetune > "$work/ft_row" || { tail -c 2000 "$work/log_ft" >&2; exit 1; }
  read -r name rate _ mean last n < "$work/ft_row"
  [[ $n = "$STEPS" ]] || echo "note: llama-finetune trained $n steps (wanted $STEPS)" >&2
  echo "$name - $rate $(( $(tail -1 "$work/rss") / 1024 )) $mean $last" >> "$rows"
}
torch_run() {  # PIN POLICY (the script re-executes itself unless --no-passive; the policy is set here)
  local pre=(); [[ $1 = unpinned ]] && pre=("${unpin[@]}")
  if "${pre[@]}" env OMP_WAIT_POLICY="$2" OMP_NUM_THREADS=2 /usr/bin/time -f %M -o "$work/rss" $py bench/torch_train_bench.py \
    --no-passive --model "$work/torch.toml" --batch 1 --seq "$SEQ" --threads 2 --steps "$TORCH_STEPS" --warmup 1 \
    --lr "$LR" --weight-decay 0 > "$work/torch.json" 2> "$work/log_torch"; then
    tail -1 "$work/torch.json" | $py -c "
import json, sys; j = json.load(sys.stdin)
print('torch-' + sys.argv[1].lower(), sys.argv[2], '%.1f' % j['tokens_per_s'], int(sys.argv[3]) // 1024, '-', '%.4f' % j['last_loss'])
" "$2" "$1" "$(tail -1 "$work/rss")" >> "$rows"
  else echo "note: PyTorch ($1, $2) failed: $(tail -1 "$work/log_torch")" >&2; fi
}
probe_run() { "$@" "$probe" --json | $py -c "import json,sys; print(json.load(sys.stdin)['sgemm_gflops'])"; }

echo "started $(date -u '+%Y-%m-%d %H:%M UTC'); $(uptime | sed 's/.*load/load/')"
peak_pin=$(probe_run env); peak_unpin=$(probe_run "${unpin[@]}")
llama_ft
ns_train pinned full "$f32" "$STEPS"
ns_train unpinned full "$f32" "$STEPS"
for pin in pinned unpinned; do
  ns_train $pin lora "$f32" "$LORA_STEPS"
  ns_train $pin qlora "$q4" "$LORA_STEPS"
done
if [[ -z ${NO_TORCH:-} ]] && $py -c "import torch" 2> /dev/null; then
  for pin in pinned unpinned; do for pol in PASSIVE ACTIVE; do torch_run $pin $pol; done; done
fi
peak_pin2=$(probe_run env); peak_unpin2=$(probe_run "${unpin[@]}")
evals=()
for m in "$f32" "$work/ft.gguf" "$work/run_full-pinned"; do
  evals+=("$("$ns" eval "$m" --data "$work/val.txt" --seq "$SEQ" --json | $py -c "import json,sys; print('%.4f' % json.load(sys.stdin)['loss'])")")
done
echo "finished $(date -u '+%Y-%m-%d %H:%M UTC'); $(uptime | sed 's/.*load/load/')"

$py - "$rows" "$fpt_full" "$fpt_lora" "$peak_pin" "$peak_unpin" "$peak_pin2" "$peak_unpin2" "$params" "${evals[@]}" << EOF
import sys
rows = [l.split() for l in open(sys.argv[1])]
fpt_full, fpt_lora = float(sys.argv[2]), float(sys.argv[3])
pp, pu, pp2, pu2 = map(float, sys.argv[4:8])
peak = max(pu, pu2)
print(f"model: llama, {int(sys.argv[8]) / 1e6:.1f} M parameters (SmolLM2-135M layer shape, $LAYERS layers, untied), T=$SEQ, B=1, 2 threads, lr $LR")
print(f"sgemm peak, 2 threads (GFLOP/s): pinned {pp:.1f} / {pp2:.1f}, unpinned {pu:.1f} / {pu2:.1f} (start / end); MFU uses {peak:.1f}")
print(f"model FLOPs per token: full {fpt_full / 1e6:.1f} M, lora/qlora {fpt_lora / 1e6:.1f} M")
print("%-16s %-9s %9s %9s %6s %11s %11s" % ("run", "OpenBLAS", "tok/s", "peak MiB", "MFU", "mean loss", "last-4 loss"))
rate = {}
for name, pin, r, rss, mean, last in rows:
    f = fpt_lora if "lora" in name else fpt_full
    rate[(name, pin)] = float(r)
    print("%-16s %-9s %9s %9s %5.1f%% %11s %11s" % (name, pin, r, rss, 100 * float(r) * f / 1e9 / peak, mean, last))
ev = sys.argv[9:]
print(f"held-out loss (nightshift eval on the same text, windows of $SEQ): initial model {ev[0]}, "
      f"after llama-finetune {ev[1]}, after nightshift full {ev[2]}")
ft = rate[("llama-finetune", "-")]
for pin in ("pinned", "unpinned"):
    print(f"ratios, OpenBLAS {pin}: nightshift full / llama-finetune = {rate[('full', pin)] / ft:.2f}x (target >= 5); "
          f"qlora / lora = {rate[('qlora', pin)] / rate[('lora', pin)]:.2f}x (target >= 0.8)")
EOF
