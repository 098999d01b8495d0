#!/usr/bin/env bash
# A run directory is self-contained: data and tokenizer given as relative paths are stored
# absolute (eval works from another working directory), the gpt2 tokenizer's files are copied into
# RUN_DIR/tokenizer/ (sample and eval still work after the original folder moved), and the token
# cache goes to the user's cache directory, never beside the data (a shared or read-only folder).
source "$(dirname "$0")/train_lib.sh"
make_micro_model 1
GPT2_DIR=${NS_TEST_DATA_DIR:-}/gpt2
[ -f "$GPT2_DIR/encoder.json" ] || { echo "SKIP: $GPT2_DIR/encoder.json missing (NS_TEST_DATA_DIR)"; exit 77; }

mkdir -p "$work/project/data" "$work/elsewhere"
cp "$work/corpus.txt" "$work/project/data/corpus.txt"
cp -r "$GPT2_DIR" "$work/project/gpt2"
chmod -R u+w "$work/project/gpt2"

(cd "$work/project" && "$BIN" train --model "$work/micro.toml" --data data/corpus.txt --tokenizer gpt2:gpt2 \
  --batch 2 --seq 16 --steps 3 --threads 1 --eval-every 0 --thermal none --out run) 2>"$work/train.log" ||
  fail "train with relative paths"
ls -A "$work/project/data" | grep -v '^corpus.txt$' && fail "train wrote into the data folder (a shared folder)"
ls "$XDG_CACHE_HOME"/nightshift/*.tokens >/dev/null 2>&1 || fail "no token cache under \$XDG_CACHE_HOME/nightshift"
state=$(ls -d "$work/project/run/checkpoints"/step-* | tail -1)/state.json
$PY - "$state" "$work/project" <<'PY' || fail "the run stores relative paths"
import json, sys
text = open(sys.argv[1]).read()
root = sys.argv[2]
assert f'{root}/data/corpus.txt' in text, "data path not absolute"
assert f'gpt2:{root}/gpt2' in text, "tokenizer folder not absolute"
PY
cmp -s "$GPT2_DIR/encoder.json" "$work/project/run/tokenizer/encoder.json" || fail "no copy of encoder.json in the run"
cmp -s "$GPT2_DIR/vocab.bpe" "$work/project/run/tokenizer/vocab.bpe" || fail "no copy of vocab.bpe in the run"

# From another directory, the run still finds its data.
(cd "$work/elsewhere" && "$BIN" eval "$work/project/run" --json --batches 1) >"$work/eval.json" 2>"$work/eval.log" ||
  fail "eval from another directory: $(cat "$work/eval.log")"

# The tokenizer folder moved away: the run's copy decodes.
mv "$work/project/gpt2" "$work/project/gpt2-moved"
(cd "$work/elsewhere" && "$BIN" sample "$work/project/run" --prompt "the quick" --tokens 4 --seed 1) >"$work/sample.txt" \
  2>"$work/sample.log" || fail "sample after the tokenizer moved: $(cat "$work/sample.log")"
[[ "$(cat "$work/sample.txt")" == "the quick"* ]] || fail "sample output: $(cat "$work/sample.txt")"
(cd "$work/elsewhere" && "$BIN" eval "$work/project/run" --batches 1) >/dev/null 2>"$work/eval2.log" ||
  fail "eval after the tokenizer moved: $(cat "$work/eval2.log")"

# Resuming with the same data and tokenizer spelled another way is the same run (no --force).
mv "$work/project/gpt2-moved" "$work/project/gpt2"
(cd "$work/project" && "$BIN" train --model "$work/micro.toml" --data ./data/../data/corpus.txt --tokenizer gpt2:./gpt2/ \
  --batch 2 --seq 16 --steps 4 --threads 1 --eval-every 0 --thermal none --out run) 2>"$work/resume.log" ||
  fail "resume with the paths spelled differently: $(tail -3 "$work/resume.log")"
grep -q "from step 3" "$work/resume.log" || fail "did not resume from step 3"
echo "PASS run_paths_test"
