#!/usr/bin/env bash
# eval, sample, inspect and budget-report on pretrained models, checked against llama.cpp itself:
# random-weight llama and mamba fixtures (tests/reference/llamacpp/model_fixture.py, with llama's
# real SentencePiece vocabulary) as a GGUF file and a Hugging Face directory. `eval --seq` gives the
# mean of llama.cpp's nll over the same windows of the same token ids, greedy `sample --json` is
# llama.cpp's greedy continuation, `inspect` lists the file's tensors as gguf-py reads them,
# `budget-report` plans the model with the file's parameter count; a run directory takes `eval --seq`
# too; bad input exits 2 with one line naming the file. Skipped (77) without the llama.cpp reference
# (scripts/setup.sh, then reconfigure).
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?set by ctest}
HARNESS=${NS_LLAMACPP_HARNESS:-}
SRC=${NS_LLAMACPP_SRC:-}
PY=/usr/bin/python3
if [ -z "$HARNESS" ] || [ ! -x "$HARNESS" ]; then
  echo "skip: the llama.cpp harness is not built (run scripts/setup.sh, then reconfigure with cmake)"; exit 77
fi
if ! PYTHONPATH="$SRC/gguf-py" $PY -c 'import numpy, gguf' 2>/dev/null; then
  echo "skip: python3 cannot import numpy and llama.cpp's gguf-py (run scripts/setup.sh)"; exit 77
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export XDG_CACHE_HOME="$WORK/cache"
fail() { echo "FAIL: $*"; exit 1; }
field() { $PY -c "import json,sys; v=json.load(open(sys.argv[1]))$2; print(json.dumps(v) if isinstance(v,(list,dict)) else v)" "$1"; }
ids_csv() { $PY -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))$2)))" "$1"; }

SEQ=16
{
  echo "The quick brown fox jumps over the lazy dog. Night shift trains small models on a laptop, one step"
  echo "at a time, while the fan hums and the numbers 12345 scroll by. A second line, with more words to read."
  echo "Third: the cat sat on the mat; the dog ate the bones. Fourth, and last, a short one."
} >"$WORK/text.txt"
printf 'The quick brown fox' >"$WORK/prompt.txt"

for arch in llama mamba; do
  dir="$WORK/$arch"
  PYTHONPATH="$SRC/gguf-py" $PY "$NS_SOURCE_DIR/tests/reference/llamacpp/model_fixture.py" "$arch" "$dir" \
    --vocab "$SRC/models/ggml-vocab-llama-spm.gguf" >/dev/null || fail "$arch: the fixture script failed"
  gguf="$dir/model.gguf"

  # The same token ids as llama.cpp (BOS first): sample --tokens 0 shows the ids of its prompt.
  "$BIN" sample "$gguf" --prompt "$(cat "$WORK/text.txt")" --tokens 0 --temperature 0 --json >"$WORK/ids.json" 2>/dev/null ||
    fail "$arch: sample --tokens 0 failed"
  printf '%s' "$(cat "$WORK/text.txt")" >"$WORK/text_nonl.txt"
  "$HARNESS" tokenize --model "$gguf" --text-file "$WORK/text_nonl.txt" --bos >"$WORK/ref_ids.json"
  [ "$(field "$WORK/ids.json" "['prompt_ids']")" = "$(field "$WORK/ref_ids.json" "['ids']")" ] ||
    fail "$arch: token ids differ from llama.cpp's: $(field "$WORK/ids.json" "['prompt_ids']") vs $(field "$WORK/ref_ids.json" "['ids']")"

  # eval --seq: the mean of llama.cpp's nll over the windows [w*SEQ, w*SEQ + SEQ].
  "$BIN" eval "$gguf" --data "$WORK/text.txt" --seq $SEQ --json >"$WORK/eval.json" 2>"$WORK/eval.err" ||
    { cat "$WORK/eval.err"; fail "$arch: eval failed"; }
  "$HARNESS" tokenize --model "$gguf" --text-file "$WORK/text.txt" --bos >"$WORK/ref_file_ids.json"
  $PY - "$WORK/ref_file_ids.json" "$WORK/eval.json" "$HARNESS" "$gguf" $SEQ <<'PYEOF' || fail "$arch: eval differs from llama.cpp"
import json, subprocess, sys
ids = json.load(open(sys.argv[1]))["ids"]
ours = json.load(open(sys.argv[2]))
harness, gguf, T = sys.argv[3], sys.argv[4], int(sys.argv[5])
windows = (len(ids) - 1) // T
assert windows >= 3, f"only {windows} windows"
assert ours["windows"] == windows, f"windows {ours['windows']} != {windows}"
assert ours["tokens"] == windows * T, f"tokens {ours['tokens']} != {windows * T}"
out = subprocess.run([harness, "nll", "--model", gguf, "--ids", ",".join(map(str, ids)), "--window", str(T),
                      "--threads", "1"], check=True, capture_output=True, text=True).stdout
theirs = json.loads(out)
assert theirs["windows"] == windows, f"llama.cpp scored {theirs['windows']} windows, not {windows}"
ref = theirs["nll"]
rel = abs(ours["loss"] - ref) / abs(ref)
print(f"ok   eval --seq {T}: loss {ours['loss']:.6f}, llama.cpp {ref:.6f} over {windows} windows "
      f"({windows * T} targets): relative difference {rel:.2e}")
assert rel < 1e-4, f"relative difference {rel}"
PYEOF

  # The fixture's Hugging Face directory has no tokenizer of its own: eval says so.
  set +e
  err=$("$BIN" eval "$dir/hf" --data "$WORK/text.txt" --seq $SEQ 2>&1 >/dev/null); rc=$?
  set -e
  [ $rc -eq 2 ] && [[ "$err" == *"$dir/hf"*"tokenizer"* ]] || fail "$arch: eval of an HF dir without a tokenizer: exit $rc: $err"
  echo "ok   eval of an HF directory without a tokenizer: $err"

  # Greedy continuation: llama.cpp's, by the recurrent state and by re-running the forward.
  for how in "" "--recompute"; do
    "$BIN" sample "$gguf" --prompt "$(cat "$WORK/prompt.txt")" --tokens 8 --temperature 0 --json $how \
      >"$WORK/sample.json" 2>"$WORK/sample.err" || { cat "$WORK/sample.err"; fail "$arch: sample $how failed"; }
    "$HARNESS" eval --model "$gguf" --ids "$(ids_csv "$WORK/sample.json" "['prompt_ids']")" --greedy 8 >"$WORK/greedy.json"
    [ "$(field "$WORK/sample.json" "['ids']")" = "$(field "$WORK/greedy.json" "['greedy']")" ] ||
      fail "$arch: sample $how greedy ids $(field "$WORK/sample.json" "['ids']") vs llama.cpp's $(field "$WORK/greedy.json" "['greedy']")"
    [ "$(field "$WORK/sample.json" "['prompt_ids'][0]")" = 1 ] || fail "$arch: the prompt does not start with BOS"
    echo "ok   $arch sample $how --temperature 0: $(field "$WORK/sample.json" "['ids']") = llama.cpp's greedy"
  done
  # Streamed text is the prompt and the decoding of the whole continuation (SentencePiece spaces kept).
  "$BIN" sample "$gguf" --prompt "$(cat "$WORK/prompt.txt")" --tokens 8 --temperature 0 >"$WORK/sample.txt" 2>/dev/null ||
    fail "$arch: sample (text) failed"
  $PY - "$WORK/sample.txt" "$WORK/sample.json" <<'PYEOF' || fail "$arch: streamed text differs from the JSON text"
import json, sys
streamed = open(sys.argv[1], "rb").read().decode("utf-8", errors="replace")
j = json.load(open(sys.argv[2]))
assert streamed == j["prompt"] + j["text"] + "\n", (streamed, j["prompt"] + j["text"])
PYEOF
  echo "ok   $arch sample streams '$(cat "$WORK/sample.txt")'"

  # inspect: the file's tensors as gguf-py lists them, the config and the tokenizer.
  "$BIN" inspect "$gguf" --json >"$WORK/inspect.json" || fail "$arch: inspect failed"
  PYTHONPATH="$SRC/gguf-py" $PY - "$gguf" "$WORK/inspect.json" "$arch" <<'PYEOF' || fail "$arch: inspect disagrees with gguf-py"
import json, sys
import gguf
r = gguf.GGUFReader(sys.argv[1])
ours = json.load(open(sys.argv[2]))
assert ours["architecture"] == sys.argv[3] and ours["format"] == "gguf", ours["architecture"]
assert ours["tokenizer"] == "gguf:" + sys.argv[1] and ours["tokenizer_vocab"] == 32000, ours["tokenizer"]
assert "d_model" in ours["config"] and "vocab_size = 32000" in ours["config"], ours["config"]
ref = {t.name: (t.tensor_type.name, [int(x) for x in reversed(t.shape)], int(t.n_bytes)) for t in r.tensors}
got = {t["name"]: (t["type"], t["shape"], t["bytes"]) for t in ours["tensors"]}
assert got == ref, f"tensors differ: {sorted(set(got.items()) ^ set(ref.items()))[:4]}"
params = sum(int(t.n_elements) for t in r.tensors)
assert ours["parameters"] == params, f"parameters {ours['parameters']} != {params}"
print(f"ok   inspect: {len(got)} tensors as gguf-py reads them, {params} parameters")
PYEOF
  "$BIN" inspect "$gguf" >"$WORK/inspect.txt" || fail "$arch: inspect (text) failed"
  grep -q "tokenizer: gguf:$gguf (32000 tokens)" "$WORK/inspect.txt" || fail "$arch: inspect text: $(head -3 "$WORK/inspect.txt")"
  "$BIN" inspect "$dir/hf" --json >"$WORK/inspect_hf.json" || fail "$arch: inspect of the HF directory failed"
  [ "$(field "$WORK/inspect_hf.json" "['format']")" = hf ] && [ "$(field "$WORK/inspect_hf.json" "['tokenizer']")" = "" ] &&
    [ "$(field "$WORK/inspect_hf.json" "['parameters']")" = "$(field "$WORK/inspect.json" "['parameters']")" ] ||
    fail "$arch: inspect of the HF directory: $(head -c 300 "$WORK/inspect_hf.json")"
  echo "ok   inspect of the HF directory: same parameters, no tokenizer"

  # budget-report plans the model: its parameters are the file's.
  set +e
  "$BIN" budget-report --model "$gguf" --format json --seq 64 --batch 1 >"$WORK/budget.json" 2>"$WORK/budget.err"; rc=$?
  set -e
  [ $rc -eq 0 ] || [ $rc -eq 3 ] || { cat "$WORK/budget.err"; fail "$arch: budget-report exit $rc"; }
  params=$(field "$WORK/inspect.json" "['parameters']")
  [ "$(field "$WORK/budget.json" "['imported']['parameters']")" = "$params" ] &&
    [ "$(field "$WORK/budget.json" "['params_total']")" = "$params" ] ||
    fail "$arch: budget-report params $(field "$WORK/budget.json" "['params_total']") vs the file's $params"
  "$BIN" budget-report --model "$dir/hf" --seq 64 --batch 1 >"$WORK/budget.txt" 2>&1 || [ $? -eq 3 ] || fail "$arch: budget-report of the HF dir"
  grep -q "$params parameters in its tensors" "$WORK/budget.txt" || fail "$arch: budget-report text: $(head -3 "$WORK/budget.txt")"
  echo "ok   budget-report plans $arch with the file's $params parameters"
  # A config.json alone plans the same run (people plan before they download the weights).
  mkdir -p "$WORK/$arch-config-only"
  cp "$dir/hf/config.json" "$WORK/$arch-config-only/config.json"
  set +e
  "$BIN" budget-report --model "$WORK/$arch-config-only/config.json" --format json --seq 64 --batch 1 \
    >"$WORK/budget_cfg.json" 2>"$WORK/budget_cfg.err"; rc=$?
  set -e
  [ $rc -eq 0 ] || [ $rc -eq 3 ] || { cat "$WORK/budget_cfg.err"; fail "$arch: budget-report of config.json exit $rc"; }
  [ "$(field "$WORK/budget_cfg.json" "['imported']['format']")" = hf-config ] &&
    [ "$(field "$WORK/budget_cfg.json" "['params_total']")" = "$params" ] &&
    [ "$(field "$WORK/budget_cfg.json" "['training']['total_bytes']")" = "$(field "$WORK/budget.json" "['training']['total_bytes']")" ] ||
    fail "$arch: budget-report of config.json: $(head -c 400 "$WORK/budget_cfg.json")"
  echo "ok   budget-report plans $arch from its config.json alone: the same parameters and bytes"
done

# A run directory takes the windows mode too: a byte-level run (no BOS) scores floor((n-1)/T) windows.
for i in $(seq 1 200); do echo "line $i: the quick brown fox jumps over the lazy dog."; done >"$WORK/corpus.txt"
printf 'name = "micro"\nd_model = 32\nblocks = ["attn+mlp"]\n[attn]\nn_heads = 2\n' >"$WORK/micro.toml"
"$BIN" train --model "$WORK/micro.toml" --data "$WORK/corpus.txt" --tokenizer byte --steps 5 --batch 2 --seq 32 \
  --threads 1 --eval-every 0 --eval-batches 1 --log-every 5 --out "$WORK/run" >"$WORK/train.log" 2>&1 ||
  { tail "$WORK/train.log"; fail "training the micro run failed"; }
"$BIN" eval "$WORK/run" --data "$WORK/text.txt" --seq 32 --json >"$WORK/run_eval.json" || fail "eval of a run with --seq failed"
n=$(wc -c <"$WORK/text.txt")
[ "$(field "$WORK/run_eval.json" "['windows']")" = $(((n - 1) / 32)) ] && [ "$(field "$WORK/run_eval.json" "['tokens']")" = $(((n - 1) / 32 * 32)) ] ||
  fail "run eval --seq: $(cat "$WORK/run_eval.json") for $n bytes"
"$BIN" eval "$WORK/run" --json >/dev/null || fail "eval of a run without --seq no longer works"
"$BIN" inspect "$WORK/run" --json >"$WORK/inspect_run.json" || fail "inspect of a run directory"
"$BIN" inspect "$WORK/micro.toml" --json >"$WORK/inspect_toml.json" || fail "inspect of a model TOML"
[ "$(field "$WORK/inspect_run.json" "['format']")" = run ] && [ "$(field "$WORK/inspect_toml.json" "['format']")" = toml ] &&
  [ "$(field "$WORK/inspect_run.json" "['parameters']")" = "$(field "$WORK/inspect_toml.json" "['parameters']")" ] &&
  [ "$(field "$WORK/inspect_run.json" "['tokenizer_vocab']")" = 256 ] ||
  fail "inspect of the run and its TOML: $(head -c 200 "$WORK/inspect_run.json") / $(head -c 200 "$WORK/inspect_toml.json")"
echo "ok   run directory: eval --seq scores $(field "$WORK/run_eval.json" "['windows']") windows, loss $(field "$WORK/run_eval.json" "['loss']")"

# Bad input: exit 2, one line naming the file.
expect_bad() {  # expect_bad FRAGMENT ARGS...
  local fragment=$1; shift
  set +e
  local err rc
  err=$("$BIN" "$@" 2>&1 >/dev/null); rc=$?
  set -e
  [ $rc -eq 2 ] || fail "exit $rc for $* ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "more than one line for $*: $err"
  [[ "$err" == *"$fragment"* ]] || fail "message for $* lacks '$fragment': $err"
  echo "ok   exit 2: $err"
}
gguf="$WORK/llama/model.gguf"
head -c 5000 "$gguf" >"$WORK/damaged.gguf"
mkdir -p "$WORK/broken_hf" "$WORK/nothing"
cp -r "$WORK/llama/hf/." "$WORK/broken_hf/"
printf '{"model_type": "llama", "hidden_size": ' >"$WORK/broken_hf/config.json"
for cmd in "eval --data $WORK/text.txt --seq $SEQ" "sample --prompt x --tokens 1" "inspect" "budget-report --model"; do
  read -r -a args <<<"$cmd"
  expect_bad "$WORK/damaged.gguf" "${args[@]}" "$WORK/damaged.gguf"
  expect_bad "$WORK/broken_hf" "${args[@]}" "$WORK/broken_hf"
  expect_bad "$WORK/missing.gguf" "${args[@]}" "$WORK/missing.gguf"
done
for cmd in "eval --data $WORK/text.txt --seq $SEQ" "sample --prompt x" "inspect"; do
  read -r -a args <<<"$cmd"
  expect_bad "$WORK/nothing" "${args[@]}" "$WORK/nothing"
done
expect_bad "$WORK/missing.toml" inspect "$WORK/missing.toml"
expect_bad "--seq" eval "$gguf" --data "$WORK/text.txt"
expect_bad "--data" eval "$gguf" --seq $SEQ
expect_bad "fewer than one window" eval "$gguf" --data "$WORK/prompt.txt" --seq $SEQ
echo "PASS"
