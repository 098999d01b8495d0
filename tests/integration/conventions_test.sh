#!/usr/bin/env bash
# Daily-use conventions: parser errors start with "nightshift:" like every other error; no float32
# noise (0.0010000000474974513) in model.toml, the stored run config or the settings differences;
# the example run TOML of the repo trains; `seq` and `seq_len` both name the sequence length in a
# run TOML (and --seq-len on the command line); train --help shows the defaults; eval reports
# perplexity and bits per byte besides the loss.
source "$(dirname "$0")/train_lib.sh"
make_micro_model 1

# --- parser errors --------------------------------------------------------------------------------
for args in "train --steps abc" "train --no-such-flag" "log" "budget-report --seq" "frobnicate"; do
  set +e
  # shellcheck disable=SC2086
  "$BIN" $args >/dev/null 2>"$work/err.txt"
  rc=$?
  set -e
  [ $rc = 2 ] || fail "'nightshift $args': exit $rc, expected 2"
  head -1 "$work/err.txt" | grep -q "^nightshift: " || fail "'nightshift $args' error does not start with 'nightshift:': $(head -1 "$work/err.txt")"
done

# --- train --help shows the defaults ----------------------------------------------------------------
"$BIN" train --help >"$work/help.txt"
for flag_default in "--steps:1000" "--batch:12" "--seq:64" "--lr:0.001" "--min-lr:1e-04" "--warmup:100" \
                    "--weight-decay:0.1" "--eval-batches:20" "--tokenizer:byte" "--preset:gpt-tiny"; do
  flag=${flag_default%%:*}
  want=${flag_default#*:}
  grep -E -- "^ *$flag[ ,]" "$work/help.txt" | grep -qE -- "[= ]$want( |\)|\]|$)" || fail "train --help shows no default $want for $flag: $(grep -E -- "^ *$flag[ ,]" "$work/help.txt")"
done

# --- no float32 noise ------------------------------------------------------------------------------
T=("$BIN" train --model "$work/micro.toml" --data "$work/corpus.txt" --batch 2 --seq 16 --threads 1 --eval-every 0
   --thermal none)
"${T[@]}" --steps 2 --lr 0.001 --min-lr 0.0001 --weight-decay 0.1 --out "$work/run" 2>"$work/train.log" || fail "train"
grep -E '[0-9]\.[0-9]*0000000[0-9]+|[0-9]\.[0-9]*9999999[0-9]+' "$work/run/model.toml" && fail "float noise in model.toml"
grep -qE '^init_std = 0\.02$' "$work/run/model.toml" || fail "init_std is not written as 0.02: $(grep init_std "$work/run/model.toml")"
state=$(ls -d "$work/run/checkpoints"/step-* | tail -1)/state.json
$PY - "$state" <<'PY' || fail "float noise in the run config stored with the checkpoint"
import json, sys
text = open(sys.argv[1]).read()
train = json.loads(text)["run"]["train"]
for key, want in (("lr", "0.001"), ("min_lr", "0.0001"), ("weight_decay", "0.1"), ("beta1", "0.9"), ("beta2", "0.95")):
    assert repr(train[key]) == want, f"{key}: {train[key]!r}, expected {want}"
PY
set +e
"${T[@]}" --steps 4 --lr 0.003 --out "$work/run" 2>"$work/diff.log"
rc=$?
set -e
[ $rc = 2 ] || fail "a changed lr was not refused (exit $rc)"
grep -q "train.lr: 0.001 -> 0.003" "$work/diff.log" || fail "settings difference with noise: $(cat "$work/diff.log")"

# --- the example run TOML trains ---------------------------------------------------------------------
EXAMPLE=${NS_SOURCE_DIR:?NS_SOURCE_DIR must point at the source tree}/examples/run.toml
[ -f "$EXAMPLE" ] || fail "no examples/run.toml in the repository"
(cd "$work" && "$BIN" train "$EXAMPLE" --data "$work/corpus.txt" --model "$work/micro.toml" --steps 2 --batch 2 --seq 16 \
  --eval-every 0 --checkpoint-every 0 --thermal none --out "$work/example") 2>"$work/example.log" ||
  fail "train examples/run.toml: $(tail -3 "$work/example.log")"
[ -f "$work/example/checkpoints/latest" ] || fail "the example run wrote no checkpoint"
grep -qE '"seq_len": *16' "$(ls -d "$work/example/checkpoints"/step-* | tail -1)/state.json" || fail "--seq did not override the example's seq"

# --- seq and seq_len --------------------------------------------------------------------------------
for key in seq seq_len; do
  printf '[train]\n%s = 24\nbatch = 2\nsteps = 1\n' "$key" >"$work/$key.toml"
  "$BIN" train "$work/$key.toml" --model "$work/micro.toml" --data "$work/corpus.txt" --threads 1 --eval-every 0 \
    --thermal none --out "$work/run_$key" 2>"$work/$key.log" || fail "[train] $key = 24: $(tail -2 "$work/$key.log")"
  grep -qE '"seq_len": *24' "$(ls -d "$work/run_$key/checkpoints"/step-* | tail -1)/state.json" || fail "[train] $key was not used"
done
printf '[train]\nseq = 24\nseq_len = 32\n' >"$work/both.toml"
set +e
"$BIN" train "$work/both.toml" --model "$work/micro.toml" --data "$work/corpus.txt" --out "$work/both" 2>"$work/both.log"
rc=$?
set -e
[ $rc = 2 ] && grep -q "both seq and seq_len" "$work/both.log" || fail "seq and seq_len together were not refused"
"$BIN" train --model "$work/micro.toml" --data "$work/corpus.txt" --batch 2 --seq-len 24 --steps 1 --threads 1 \
  --eval-every 0 --thermal none --out "$work/run_flag" 2>/dev/null || fail "--seq-len"
grep -qE '"seq_len": *24' "$(ls -d "$work/run_flag/checkpoints"/step-* | tail -1)/state.json" || fail "--seq-len was not used"

# --- eval: perplexity and bits per byte -------------------------------------------------------------
"$BIN" eval "$work/run" --json --batches 2 >"$work/eval.json" || fail "eval --json"
$PY - "$work/eval.json" <<'PY' || fail "eval --json lacks perplexity / bits_per_byte"
import json, math, sys
j = json.load(open(sys.argv[1]))
assert {"val_loss", "step", "batches", "tokens"} <= set(j), list(j)
assert abs(j["perplexity"] - math.exp(j["val_loss"])) < 1e-6 * j["perplexity"], j
# The byte tokenizer: one byte per token, so bits per byte is the loss in bits.
assert abs(j["bits_per_byte"] - j["val_loss"] / math.log(2)) < 1e-9, j
PY
"$BIN" eval "$work/run" --batches 2 | grep -qE "perplexity [0-9.]+ \| [0-9.]+ bits per byte" || fail "eval text lacks perplexity and bits per byte"
echo "PASS conventions_test"
