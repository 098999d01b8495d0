#!/usr/bin/env bash
# nightshift train / eval / sample end to end on a small generated corpus (progress, checkpoint,
# resume, eval --json, sampling), resuming past damaged checkpoints (skipped with a warning), and the
# bad-input contract: one line naming the file and the problem, exit code 2, nothing overwritten.
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?NIGHTSHIFT_BIN must point at the nightshift binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CACHE_HOME="$work/cache"
fail() { echo "FAIL: $*" >&2; exit 1; }

for i in $(seq 1 300); do echo "the quick brown fox number $i jumps over the lazy dog, and then it sleeps."; done > "$work/corpus.txt"

# --- a short run ---------------------------------------------------------------------------------
"$BIN" train --preset gpt-tiny --data "$work/corpus.txt" --steps 20 --batch 4 --seq 32 --eval-every 10 \
  --eval-batches 2 --log-every 5 --threads 1 --out "$work/run" 2> "$work/train.log" || { cat "$work/train.log"; fail "train"; }
grep -q "step     20/20" "$work/train.log" || fail "no progress line for step 20"
grep -q "val_loss" "$work/train.log" || fail "no evaluation line"
grep -q "tok/s" "$work/train.log" || fail "no tokens/s in the progress"
[ -f "$work/run/checkpoints/latest" ] || fail "no checkpoint"
[ "$(cat "$work/run/checkpoints/latest")" = "step-00000020" ] || fail "latest is not step 20"

"$BIN" eval "$work/run" --json > "$work/eval.json" || fail "eval"
/usr/bin/python3 - "$work/eval.json" <<'PY' || fail "eval --json"
import json, sys, math
j = json.load(open(sys.argv[1]))
assert j["step"] == 20, j
assert math.isfinite(j["val_loss"]) and 0 < j["val_loss"] < 6, j
PY

out=$("$BIN" sample "$work/run" --prompt "the quick" --tokens 16 --seed 3) || fail "sample"
[[ "$out" == "the quick"* ]] || fail "sample does not start with the prompt: $out"
[ ${#out} -gt 9 ] || fail "sample generated nothing"

# --- resume to 30 steps ----------------------------------------------------------------------------
"$BIN" train --preset gpt-tiny --data "$work/corpus.txt" --steps 30 --batch 4 --seq 32 --threads 1 \
  --out "$work/run" 2> "$work/resume.log" || { cat "$work/resume.log"; fail "resume"; }
grep -q "from step 20" "$work/resume.log" || fail "did not resume from step 20"
[ "$(cat "$work/run/checkpoints/latest")" = "step-00000030" ] || fail "latest is not step 30 after resume"

# --- bad input --------------------------------------------------------------------------------------
# expect_bad NAME NEEDLE CMD...: exit code 2 and a "nightshift:" line naming NEEDLE.
expect_bad() {
  local name=$1 needle=$2; shift 2
  set +e
  "$@" > "$work/$name.out" 2> "$work/$name.err"
  local rc=$?
  set -e
  [ $rc -eq 2 ] || { cat "$work/$name.err"; fail "$name: exit code $rc, expected 2"; }
  [ "$(grep -c '^nightshift:' "$work/$name.err")" -eq 1 ] || { cat "$work/$name.err"; fail "$name: expected one error line"; }
  grep '^nightshift:' "$work/$name.err" | grep -qF -- "$needle" || { cat "$work/$name.err"; fail "$name: error does not name $needle"; }
}

expect_bad missing_data "nope.txt" "$BIN" train --data "$work/nope.txt" --out "$work/bad1"
[ ! -e "$work/bad1" ] || fail "missing data created the run directory"
: > "$work/empty.txt"
expect_bad empty_data "empty.txt" "$BIN" train --data "$work/empty.txt" --out "$work/bad2"
printf 'name = "x"\nd_model = 64\nblocks = ["attn+foo"]\n' > "$work/unknown_kind.toml"
expect_bad unknown_kind "unknown_kind.toml" "$BIN" train --model "$work/unknown_kind.toml" --data "$work/corpus.txt" --out "$work/bad3"
printf 'name = "x"\nd_model = 64\nblocks = ["attn+mlp"]\n[attn]\nn_heads = 3\n' > "$work/dims.toml"
expect_bad bad_dims "dims.toml" "$BIN" train --model "$work/dims.toml" --data "$work/corpus.txt" --out "$work/bad4"
printf '[train]\nsteps = "many"\n' > "$work/run_bad.toml"
expect_bad bad_run_toml "run_bad.toml" "$BIN" train "$work/run_bad.toml" --data "$work/corpus.txt" --out "$work/bad5"

# A run directory of a different model is refused and left alone.
before=$(cd "$work/run" && find . -type f -exec sha256sum {} + | sort)
expect_bad other_model "$work/run" "$BIN" train --preset gpt-small --data "$work/corpus.txt" --batch 4 --seq 32 --out "$work/run"

# A damaged newest checkpoint is skipped with a warning naming the file: eval and train use the
# newest valid one (train resumes from it). Only when no checkpoint is valid do they refuse, naming
# the newest damaged file, and nothing in the run directory changes.
ckpt30="$work/run/checkpoints/step-00000030"
printf '\x13\x37' | dd of="$ckpt30/model.safetensors" bs=1 seek=200 conv=notrunc status=none
"$BIN" eval "$work/run" --json > "$work/eval20.json" 2> "$work/eval20.err" || { cat "$work/eval20.err"; fail "eval past a damaged checkpoint"; }
grep -q "warn.*step-00000030/model.safetensors: checksum mismatch" "$work/eval20.err" || { cat "$work/eval20.err"; fail "eval: no warning naming the damaged file"; }
/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["step"] == 20, j' "$work/eval20.json" || fail "eval did not use step 20"
"$BIN" train --preset gpt-tiny --data "$work/corpus.txt" --steps 40 --batch 4 --seq 32 --threads 1 \
  --out "$work/run" 2> "$work/skip.log" || { cat "$work/skip.log"; fail "train past a damaged checkpoint"; }
grep -q "warn.*step-00000030/model.safetensors: checksum mismatch" "$work/skip.log" || { cat "$work/skip.log"; fail "train: no warning naming the damaged file"; }
grep -q "from step 20" "$work/skip.log" || fail "did not resume from step 20, the newest valid checkpoint"
[ "$(cat "$work/run/checkpoints/latest")" = "step-00000040" ] || fail "latest is not step 40"
# Pruning (keep 2) removed the damaged step 30, superseded by the valid step 40, and kept step 20.
[ ! -e "$ckpt30" ] || fail "the damaged step 30 was kept after a newer valid checkpoint"
[ -d "$work/run/checkpoints/step-00000020" ] || fail "step 20 was pruned"

truncate -s 100 "$work/run/checkpoints/step-00000040/optimizer.safetensors"
"$BIN" train --preset gpt-tiny --data "$work/corpus.txt" --steps 40 --batch 4 --seq 32 --threads 1 \
  --out "$work/run" 2> "$work/trunc.log" || { cat "$work/trunc.log"; fail "train past a truncated checkpoint"; }
grep -q "warn.*step-00000040/optimizer.safetensors: truncated" "$work/trunc.log" || { cat "$work/trunc.log"; fail "no warning naming the truncated file"; }
grep -q "from step 20" "$work/trunc.log" || fail "did not resume from step 20"

for d in "$work"/run/checkpoints/step-*; do
  printf '\x13\x37' | dd of="$d/model.safetensors" bs=1 seek=200 conv=notrunc status=none
done
before=$(cd "$work/run" && find . -type f -exec sha256sum {} + | sort)
expect_bad corrupt_eval "step-00000040/model.safetensors" "$BIN" eval "$work/run"
expect_bad corrupt_train "step-00000040/model.safetensors" "$BIN" train --preset gpt-tiny --data "$work/corpus.txt" \
  --steps 50 --batch 4 --seq 32 --out "$work/run"
after=$(cd "$work/run" && find . -type f -exec sha256sum {} + | sort)
[ "$before" = "$after" ] || fail "a refused resume changed the run directory"
expect_bad no_run "no checkpoint" "$BIN" eval "$work/nothing_here"
echo "OK"
