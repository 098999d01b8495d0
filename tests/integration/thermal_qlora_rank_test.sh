#!/usr/bin/env bash
# The thermal governor really changes the adapters' rank of a QLoRA run: a model pre-trained here,
# quantized to NF4, fine-tuned with --mode qlora --rank 8 while a replayed temperature trace goes
# from cool into the shrink band (75-85 °C) and back. The run log must show the rank halving under
# heat (lora_rank events, the steps' lora_rank column) and coming back to 8 when cool, and the run
# must finish with a checkpoint. The trace is in minutes; --sim-speed plays it 600x faster.
source "$(dirname "$0")/train_lib.sh"
make_micro_model 2 64
"$BIN" train --model "$work/micro.toml" --data "$work/corpus.txt" --batch 2 --seq 16 --threads 1 --steps 30 \
  --thermal none --out "$work/pre" 2> "$work/pre.log" || fail "pre-training"
"$BIN" quantize "$work/pre" --format nf4 --out "$work/base.safetensors" 2> "$work/quant.log" || fail "quantize"

cat > "$work/trace.csv" <<'CSV'
time_s,temp_c
0,60
600,80
1800,80
1860,60
100000,60
CSV
# 600x: hot from 1 s to 3 s of the run, cool after; the run lasts 7 s (--max-hours).
"$BIN" train --mode qlora --base "$work/base.safetensors" --rank 8 --rank-floor 2 --data "$work/corpus.txt" \
  --batch 2 --seq 16 --threads 1 --steps 1000000 --max-hours 0.00195 --thermal "replay:$work/trace.csv" \
  --sim-speed 600 --out "$work/qlora" --headless 2> "$work/qlora.log" || fail "qlora run"
grep -q "lora rank 8 -> 4" "$work/qlora.log" || fail "the rank did not shrink to 4 under heat"
"$BIN" log "$work/qlora" events | grep -q ',lora_rank,"rank 8 -> 4' || fail "no lora_rank event for the shrink"
"$BIN" log "$work/qlora" events | grep -Eq ',lora_rank,"rank [0-9]+ -> 8' || fail "the rank did not come back to 8"
"$BIN" log "$work/qlora" steps --format json | $PY -c "
import json, sys
ranks = [r['lora_rank'] for r in sorted(json.load(sys.stdin), key=lambda r: r['step'])]
assert ranks[0] == 8, ranks[:5]
low = min(ranks)
assert low < 8, 'never shrunk'
first_low = ranks.index(low)
assert 8 in ranks[first_low:], 'never grew back'
assert ranks[-1] == 8, ranks[-5:]
print(f'{len(ranks)} steps, rank 8 -> {low} -> 8')
" || fail "lora_rank column"
[ -f "$work/qlora/checkpoints/latest" ] || fail "no checkpoint"
# The adapted run is usable: evaluated, sampled, exported (forward-only models with adapters).
"$BIN" eval "$work/qlora" --json > "$work/eval.json" 2> "$work/eval.log" || fail "eval of the qlora run"
$PY -c "import json,sys,math; j=json.load(open(sys.argv[1])); assert math.isfinite(j['val_loss']), j" "$work/eval.json" || fail "eval json"
"$BIN" sample "$work/qlora" --prompt "the " --tokens 20 > "$work/sample.txt" 2> "$work/sample.log" || fail "sample of the qlora run"
[ -s "$work/sample.txt" ] || fail "empty sample"
"$BIN" export-adapter "$work/qlora" --out "$work/adapter" 2> "$work/export.log" || fail "export-adapter of the qlora run"
[ -f "$work/adapter/adapter_model.safetensors" ] && [ -f "$work/adapter/adapter_config.json" ] || fail "no PEFT files"
# --targets all: every kind of linear map this model has (no in_proj/router in an attention model).
"$BIN" train --mode qlora --base "$work/base.safetensors" --targets all --data "$work/corpus.txt" --batch 2 --seq 16 \
  --threads 1 --steps 3 --thermal none --out "$work/all" 2> "$work/all.log" || fail "--targets all"
"$BIN" export-adapter "$work/all" --out "$work/all-adapter" 2>> "$work/all.log" || fail "export-adapter (all)"
$PY -c "
import json, sys
t = sorted(json.load(open(sys.argv[1]))['target_modules'])
assert t == ['down', 'gate', 'k', 'o', 'q', 'up', 'v'], t
" "$work/all-adapter/adapter_config.json" || fail "--targets all adapted the wrong maps"
echo "PASS thermal_qlora_rank_test"
