#!/usr/bin/env bash
# ctest: long (minutes of training and cross-checks; started among the first)
# `export --format gguf` and `export-adapter --format gguf`, checked against llama.cpp itself (the
# harness of tests/reference/llamacpp) on runs trained on tinyshakespeare:
#   - gpt-tiny (byte tokenizer) exported as `llama`, and an imported llama (a random-weight fixture
#     in real layouts with Llama 2's SentencePiece vocabulary) fine-tuned in full: llama.cpp
#     tokenizes the held-out text as nightshift does, its mean NLL over `eval --seq`'s windows
#     equals nightshift's within 1e-3 relative, greedy continuations agree token for token; f16 and
#     q8_0 files score within their quantization error; an imported qwen3 stays qwen3;
#   - every quantized --outtype holds exactly the tensor types and bytes llama-quantize writes from
#     the f32 export (its type mixture and ggml's reference quantizers);
#   - a QLoRA run over a Q4_K_M GGUF: its GGUF adapter over that base scores as nightshift scores
#     the run and better than the base alone; the merged GGUF scores as base + adapter (2e-3
#     relative: llama.cpp multiplies Q4_K weights with activations rounded to Q8_K);
#   - mamba-tiny exports as `mamba` and matches; hybrid-tiny is refused; bad input exits 2 leaving
#     nothing behind.
source "$(dirname "$0")/train_lib.sh"
SRC=${NS_LLAMACPP_SRC:-}
HARNESS=${NS_LLAMACPP_HARNESS:-}
TEXT=${NS_TEST_DATA_DIR:-}/tinyshakespeare.txt
if [ -z "$HARNESS" ] || [ ! -x "$HARNESS" ]; then echo "SKIP: the llama.cpp harness is not built (scripts/setup.sh)"; exit 77; fi
if ! PYTHONPATH="$SRC/gguf-py" $PY -c 'import numpy, gguf' 2>/dev/null; then
  echo "SKIP: python3 cannot import numpy and llama.cpp's gguf-py (scripts/setup.sh)"; exit 77
fi
if [ ! -f "$TEXT" ]; then echo "SKIP: $TEXT is missing (NS_TEST_DATA_DIR)"; exit 77; fi
head -c 300000 "$TEXT" >"$work/train.txt"
printf '%s' "$(tail -c 1400 "$TEXT")" >"$work/held.txt"        # never trained on
printf '%s' "$(head -c 1400 "$work/train.txt")" >"$work/seen.txt" # the fine-tuning text
export PYTHONPATH="$SRC/gguf-py"
COMMON=(--batch 4 --seq 64 --threads 2 --eval-every 1000 --checkpoint-every 1000 --lr 3e-3 --thermal none)

field() { $PY -c "import json,sys; v=json.load(open(sys.argv[1]))$2; print(json.dumps(v) if isinstance(v,(list,dict)) else v)" "$1"; }
ids_csv() { $PY -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))$2)))" "$1"; }

# llama_nll NAME TEXT GGUF [LORA]: llama.cpp's mean NLL over eval --seq 64's windows of TEXT, with the
# ids nightshift gives TEXT (from $work/NAME.ids.json), written to $work/NAME.ref.
llama_nll() {
  local lora=(); [ -n "${4:-}" ] && lora=(--lora "$4")
  "$HARNESS" nll --model "$3" "${lora[@]}" --ids "$(ids_csv "$work/$1.ids.json" "['prompt_ids']")" --window 64 --threads 1 |
    $PY -c "import json,sys; print(json.load(sys.stdin)['nll'])" >"$work/$1.ref"
}
# agree WHAT A B TOL: |A - B| / |B| < TOL, printed.
agree() {
  $PY -c "import sys; a, b, t = map(float, sys.argv[2:5]); r = abs(a - b) / abs(b); print(f'ok   {sys.argv[1]}: {a:.6f} vs {b:.6f}, relative difference {r:.2e} (< {t:g})'); sys.exit(r >= t)" "$@" ||
    fail "$1: $2 vs $3 differ by more than $4 relative"
}
# gguf_arch FILE: general.architecture, read by the header reader of tests/reference (gguf-py's
# GGUFReader takes seconds per file over a 151,936-token vocabulary).
gguf_arch() {
  $PY -c "import sys; sys.path.insert(0, sys.argv[2]); import gguf_vocab_fixture as G; print(G.read_gguf_metadata(sys.argv[1])['general.architecture'])" \
    "$1" "$(dirname "$0")/../reference"
}
ours_nll() { "$BIN" eval "$1" --data "$work/$2.txt" --seq 64 --json | $PY -c "import json,sys; print(json.load(sys.stdin)['loss'])"; }

# check_model NAME RUN [OUTTYPES]: the f32 export against nightshift (tokens, NLL, greedy), then each
# of OUTTYPES (default: f16 and q8_0) within its quantization error.
check_model() {
  local name=$1 run=$2 gguf="$work/$1.gguf" outtypes=${3-f16:5e-3 q8_0:2e-2}
  "$BIN" export "$run" --format gguf --out "$gguf" >"$work/$name.export.log" || fail "$name: export --format gguf failed"
  cat "$work/$name.export.log"
  "$BIN" sample "$run" --prompt "$(cat "$work/held.txt")" --tokens 0 --temperature 0 --json >"$work/$name.ids.json" 2>/dev/null
  "$HARNESS" tokenize --model "$gguf" --text-file "$work/held.txt" --bos >"$work/$name.llama_ids.json"
  [ "$(field "$work/$name.ids.json" "['prompt_ids']")" = "$(field "$work/$name.llama_ids.json" "['ids']")" ] ||
    fail "$name: llama.cpp tokenizes the held-out text otherwise than nightshift"
  echo "ok   $name: llama.cpp's tokens of the held-out text are nightshift's ($(field "$work/$name.ids.json" "['prompt_ids'].__len__()") ids)"
  local ours; ours=$(ours_nll "$run" held)
  llama_nll "$name" held "$gguf"
  agree "$name f32: nightshift eval vs llama.cpp NLL" "$ours" "$(cat "$work/$name.ref")" 1e-3
  "$BIN" sample "$run" --prompt "ROMEO:" --tokens 24 --temperature 0 --json >"$work/$name.sample.json" 2>/dev/null
  "$HARNESS" eval --model "$gguf" --ids "$(ids_csv "$work/$name.sample.json" "['prompt_ids']")" --greedy 24 >"$work/$name.greedy.json"
  [ "$(field "$work/$name.sample.json" "['ids']")" = "$(field "$work/$name.greedy.json" "['greedy']")" ] ||
    fail "$name: greedy $(field "$work/$name.sample.json" "['ids']") vs llama.cpp's $(field "$work/$name.greedy.json" "['greedy']")"
  echo "ok   $name: greedy continuation of 'ROMEO:' (24 tokens) is llama.cpp's token for token"
  for t in $outtypes; do
    "$BIN" export "$run" --format gguf --outtype "${t%%:*}" --out "$work/$name.${t%%:*}.gguf" >/dev/null || fail "$name: --outtype ${t%%:*}"
    llama_nll "$name" held "$work/$name.${t%%:*}.gguf"
    agree "$name ${t%%:*}: nightshift eval (f32) vs llama.cpp NLL" "$ours" "$(cat "$work/$name.ref")" "${t##*:}"
  done
}

# same_as_llama_quantize NAME [TYPE:FTYPE...]: each quantized --outtype (default: all of them) equals
# llama-quantize of the f32 export.
same_as_llama_quantize() {
  local name=$1 t ftype
  shift
  local types=("$@")
  [ ${#types[@]} -gt 0 ] || types=(f16:F16 bf16:BF16 q8_0:Q8_0 q4_0:Q4_0 q4_k_m:Q4_K_M)
  for t in "${types[@]}"; do
    ftype=${t##*:}
    [ -f "$work/$name.${t%%:*}.gguf" ] || "$BIN" export "$work/run_$name" --format gguf --outtype "${t%%:*}" \
      --out "$work/$name.${t%%:*}.gguf" >/dev/null || fail "$name: --outtype ${t%%:*}"
    "$HARNESS" model-quantize --in "$work/$name.gguf" --out "$work/$name.ref.$ftype.gguf" --ftype "$ftype" >/dev/null ||
      fail "$name: llama-quantize $ftype"
    $PY - "$work/$name.${t%%:*}.gguf" "$work/$name.ref.$ftype.gguf" "$name ${t%%:*}" <<'PY' || fail "$name ${t%%:*}: differs from llama-quantize"
import sys, collections
import gguf
ours, ref = (gguf.GGUFReader(p) for p in sys.argv[1:3])
a = {t.name: t for t in ours.tensors}
b = {t.name: t for t in ref.tensors}
assert a.keys() == b.keys(), (sorted(a.keys() ^ b.keys()))
for n in a:
    assert a[n].tensor_type == b[n].tensor_type, f"{n}: {a[n].tensor_type.name} vs llama-quantize's {b[n].tensor_type.name}"
    assert list(a[n].shape) == list(b[n].shape), n
    assert bytes(a[n].data.tobytes()) == bytes(b[n].data.tobytes()), f"{n} ({a[n].tensor_type.name}): bytes differ"
types = collections.Counter(t.tensor_type.name for t in ours.tensors)
print(f"ok   {sys.argv[3]}: {len(a)} tensors with llama-quantize's types and bytes {dict(types)}")
PY
  done
}

# --- gpt-tiny, byte tokenizer, exported as llama ---
"$BIN" train --preset gpt-tiny --data "$work/train.txt" --steps 150 "${COMMON[@]}" --out "$work/run_gpt" \
  2>"$work/gpt.log" || fail "training gpt-tiny"
check_model gpt "$work/run_gpt"
same_as_llama_quantize gpt

# --- an imported llama (SentencePiece vocabulary), fine-tuned in full ---
$PY "$(dirname "$0")/../reference/llamacpp/model_fixture.py" llama "$work/m" \
  --vocab "$SRC/models/ggml-vocab-llama-spm.gguf" --d 256 --ff 512 --heads 4 --kv-heads 2 --layers 2 --gguf-only \
  >"$work/fixture.log" || fail "model_fixture.py failed"
"$BIN" train --base "$work/m/model.gguf" --mode full --data "$work/train.txt" --steps 20 "${COMMON[@]}" \
  --out "$work/run_llama" 2>"$work/llama.log" || fail "full fine-tune of the llama fixture"
check_model llama "$work/run_llama"
# The single-type outtypes are the same code for every model (gpt above covers them); Q4_K_M's
# per-tensor mixture depends on the model's tensors (an untied output, a 32,000-token vocabulary).
same_as_llama_quantize llama q4_k_m:Q4_K_M

# --- an imported qwen3 (q/k norms, a head_dim of its own; Qwen2's BPE vocabulary) stays qwen3 ---
$PY "$(dirname "$0")/../reference/llamacpp/model_fixture.py" qwen3 "$work/q3" \
  --vocab "$SRC/models/ggml-vocab-qwen2.gguf" --tied --d 64 --ff 128 --heads 4 --kv-heads 2 --layers 2 --gguf-only \
  >"$work/fixture_q3.log" || fail "model_fixture.py qwen3 failed"
"$BIN" train --base "$work/q3/model.gguf" --mode full --data "$work/train.txt" --steps 4 "${COMMON[@]}" --eval-batches 2 \
  --out "$work/run_qwen3" 2>"$work/qwen3.log" || fail "full fine-tune of the qwen3 fixture"
# The outtypes are the same code for every architecture (gpt and llama cover them): f32 only here.
check_model qwen3 "$work/run_qwen3" ""
[ "$(gguf_arch "$work/qwen3.gguf")" = qwen3 ] || fail "the qwen3 fixture was not written as qwen3"

# --- QLoRA over a Q4_K_M GGUF: the GGUF adapter, and the merged model ---
"$HARNESS" model-quantize --in "$work/m/model.gguf" --out "$work/m/q4km.gguf" --ftype Q4_K_M >/dev/null ||
  fail "llama-quantize Q4_K_M of the fixture"
"$BIN" train --base "$work/m/q4km.gguf" --mode qlora --rank 8 --data "$work/train.txt" --steps 30 "${COMMON[@]}" \
  --out "$work/run_qlora" 2>"$work/qlora.log" || fail "qlora over Q4_K_M"
"$BIN" export-adapter "$work/run_qlora" --format gguf --out "$work/adapter.gguf" || fail "export-adapter --format gguf"
"$BIN" export "$work/run_qlora" --format gguf --out "$work/merged.gguf" >/dev/null || fail "export of the merged qlora model"
for text in held seen; do
  "$BIN" sample "$work/run_qlora" --prompt "$(cat "$work/$text.txt")" --tokens 0 --temperature 0 --json \
    >"$work/q_$text.ids.json" 2>/dev/null
  cp "$work/q_$text.ids.json" "$work/qb_$text.ids.json"; cp "$work/q_$text.ids.json" "$work/qm_$text.ids.json"
  llama_nll "q_$text" "$text" "$work/m/q4km.gguf" "$work/adapter.gguf"
  llama_nll "qb_$text" "$text" "$work/m/q4km.gguf"
  llama_nll "qm_$text" "$text" "$work/merged.gguf"
  agree "qlora ($text text): nightshift eval vs llama.cpp base + adapter" "$(ours_nll "$work/run_qlora" "$text")" \
    "$(cat "$work/q_$text.ref")" 2e-3
  agree "qlora ($text text): merged GGUF vs base + adapter in llama.cpp" "$(cat "$work/qm_$text.ref")" "$(cat "$work/q_$text.ref")" 2e-3
done
$PY -c "import sys; a, b = float(open(sys.argv[1]).read()), float(open(sys.argv[2]).read()); print(f'ok   llama.cpp on the fine-tuning text: base + adapter {a:.4f} < base alone {b:.4f}'); sys.exit(not a < b - 0.5)" \
  "$work/q_seen.ref" "$work/qb_seen.ref" || fail "the adapter does not lower llama.cpp's loss on the fine-tuning text"

# --- mamba-tiny exports as mamba; hybrid-tiny is refused ---
"$BIN" train --preset mamba-tiny --data "$work/train.txt" --steps 20 "${COMMON[@]}" --out "$work/run_mamba" \
  2>"$work/mamba.log" || fail "training mamba-tiny"
check_model mamba "$work/run_mamba"
same_as_llama_quantize mamba
[ "$(gguf_arch "$work/mamba.gguf")" = mamba ] ||
  fail "mamba-tiny was not written as the mamba architecture"
"$BIN" train --preset hybrid-tiny --data "$work/train.txt" --steps 2 "${COMMON[@]}" --out "$work/run_hybrid" \
  2>"$work/hybrid.log" || fail "training hybrid-tiny"

# --- bad input: one line, exit 2, nothing left behind ---
refused() {  # WHAT OUT CMD...: exit 2, one line on stderr, OUT not created (or unchanged)
  local what=$1 out=$2; shift 2
  local before=""; [ -f "$out" ] && before=$(sha256sum "$out")
  set +e; "$@" >/dev/null 2>"$work/refused.err"; local rc=$?; set -e
  [ $rc -eq 2 ] || fail "$what: exit $rc, expected 2 ($(cat "$work/refused.err"))"
  [ "$(wc -l <"$work/refused.err")" -eq 1 ] || fail "$what: more than one line: $(cat "$work/refused.err")"
  if [ -n "$before" ]; then [ "$(sha256sum "$out")" = "$before" ] || fail "$what: $out changed"; else [ ! -e "$out" ] || fail "$what: $out was written"; fi
  ! ls "$(dirname "$out")" 2>/dev/null | grep -q '\.tmp' || fail "$what: a temporary file was left behind"
  echo "ok   refused ($what): $(cat "$work/refused.err")"
}
refused "hybrid-tiny" "$work/hybrid.gguf" "$BIN" export "$work/run_hybrid" --format gguf --out "$work/hybrid.gguf"
grep -q "hybrid\|every block" "$work/refused.err" || fail "the refusal of hybrid-tiny does not say why"
refused "an existing file" "$work/gpt.gguf" "$BIN" export "$work/run_gpt" --format gguf --out "$work/gpt.gguf"
refused "an unknown --outtype" "$work/x.gguf" "$BIN" export "$work/run_gpt" --format gguf --outtype q3_k --out "$work/x.gguf"
refused "an adapter of a full run" "$work/x.gguf" "$BIN" export-adapter "$work/run_gpt" --format gguf --out "$work/x.gguf"
refused "a missing folder" "$work/nope/x.gguf" "$BIN" export "$work/run_gpt" --format gguf --out "$work/nope/x.gguf"
refused "no run" "$work/x.gguf" "$BIN" export "$work/nothing" --format gguf --out "$work/x.gguf"
echo "PASS"
