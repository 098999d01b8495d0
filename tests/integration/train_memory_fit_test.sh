#!/usr/bin/env bash
# `train --grad-checkpoint auto` (the default): a run whose plan exceeds its budget (--memory-limit)
# starts with the micro-batch split and gradient checkpointing the planner finds to fit, trains the
# same thing (the effective batch and the first step's loss are those of the run as asked), says so
# on stderr and in the run log (a memory_fit event; batch, accum and grad_checkpoint in the run's
# config), and keeps that split when it resumes under another budget. `--grad-checkpoint off`
# refuses what only checkpointing would fit (exit 3); a bad value is one line and exit 2.
source "$(dirname "$0")/train_lib.sh"
head -c 200000 "${NS_TEST_DATA_DIR:-}/tinyshakespeare.txt" >"$work/text.txt" 2>/dev/null ||
  { echo "SKIP: tinyshakespeare.txt is missing (NS_TEST_DATA_DIR)"; exit 77; }
ARGS=(--preset gpt-small --data "$work/text.txt" --seq 256 --batch 8 --threads 2 --thermal none --eval-every 0 --eval-batches 1
      --checkpoint-every 2)
first_loss() { grep -m1 -oE "^step +1/[0-9]+ \| loss [0-9.]+" "$1" | awk '{print $NF}'; }
config_field() { "$BIN" log "$1" runs --format json | $PY -c "import json,sys; print(json.loads(json.load(sys.stdin)[-1]['config_json'])$2)"; }

# As asked, with memory to spare: micro-batch 8, no checkpointing.
"$BIN" train "${ARGS[@]}" --steps 2 --out "$work/asked" 2>"$work/asked.log" || fail "the run as asked"
grep -q "batch 8 x seq 256 x accum 1" "$work/asked.log" || fail "the run as asked did not train micro-batch 8"
! grep -q "memory:" "$work/asked.log" || fail "a run that fits was changed"

# 600 MiB: the plan of micro-batch 8 (733 MiB) does not fit; micro-batch 4 x accumulation 2 does.
"$BIN" train "${ARGS[@]}" --steps 2 --memory-limit 600M --out "$work/split" 2>"$work/split.log" || fail "the split run"
grep -q "memory: the run as asked plans .* training with micro-batch 4 x accumulation 2 (effective batch 8 as asked): " \
  "$work/split.log" || fail "no memory line for the split"
grep -q "batch 4 x seq 256 x accum 2" "$work/split.log" || fail "the split run did not train micro-batch 4 x 2"
"$BIN" log "$work/split" events | grep -q ",memory_fit,memory: .*micro-batch 4 x accumulation 2" || fail "no memory_fit event"
[ "$(config_field "$work/split" "['train']['accum']")" = 2 ] || fail "the run log's config does not say accum 2"
$PY -c "import sys; a, b = map(float, sys.argv[1:3]); sys.exit(abs(a - b) > 2e-4 * b)" \
  "$(first_loss "$work/split.log")" "$(first_loss "$work/asked.log")" ||
  fail "the split run's first loss $(first_loss "$work/split.log") is not the run as asked's $(first_loss "$work/asked.log")"
echo "ok   600 MiB: micro-batch 4 x accumulation 2, first loss $(first_loss "$work/split.log") as asked $(first_loss "$work/asked.log")"

# 290 MiB: no micro-batch fits without checkpointing (micro-batch 1 plans 301 MiB); with it, 2 x 4.
"$BIN" train "${ARGS[@]}" --steps 2 --memory-limit 290M --out "$work/ckpt" 2>"$work/ckpt.log" || fail "the checkpointed run"
grep -q "micro-batch 2 x accumulation 4 (effective batch 8 as asked) and gradient checkpointing" "$work/ckpt.log" ||
  fail "checkpointing was not chosen at 290 MiB"
[ "$(config_field "$work/ckpt" "['train']['grad_checkpoint']")" = True ] || fail "the run log's config does not say grad_checkpoint"
$PY -c "import sys; a, b = map(float, sys.argv[1:3]); sys.exit(abs(a - b) > 2e-4 * b)" \
  "$(first_loss "$work/ckpt.log")" "$(first_loss "$work/asked.log")" || fail "the checkpointed run trains otherwise"
echo "ok   290 MiB: micro-batch 2 x accumulation 4 with gradient checkpointing"

# Resumed with memory to spare, it keeps the split it began with (the checkpoint's shape).
"$BIN" train "${ARGS[@]}" --steps 4 --out "$work/ckpt" 2>"$work/resume.log" || fail "resuming the checkpointed run"
grep -q "resuming with the micro-batch 2 x accumulation 4 and gradient checkpointing the run began with" "$work/resume.log" ||
  fail "the resumed run did not keep its split"
grep -q "batch 2 x seq 256 x accum 4 .* from step 2" "$work/resume.log" || fail "the resumed run trained another split"
echo "ok   resumed under another budget: the same split"

# --grad-checkpoint off: only checkpointing would fit, so the run is refused (exit 3, nothing trained).
set +e
"$BIN" train "${ARGS[@]}" --steps 2 --memory-limit 290M --grad-checkpoint off --out "$work/off" 2>"$work/off.log"; rc=$?
"$BIN" train "${ARGS[@]}" --steps 2 --grad-checkpoint sometimes --out "$work/bad" 2>"$work/bad.log"; rc_bad=$?
set -e
[ "$rc" = 3 ] || fail "--grad-checkpoint off at 290 MiB: exit $rc, expected 3"
[ ! -e "$work/off/checkpoints" ] || fail "a refused run wrote checkpoints"
[ "$rc_bad" = 2 ] && [ "$(wc -l <"$work/bad.log")" = 1 ] && grep -q "grad-checkpoint.*sometimes" "$work/bad.log" ||
  fail "a bad --grad-checkpoint: exit $rc_bad: $(cat "$work/bad.log")"
echo "ok   --grad-checkpoint off refused (exit 3); a bad value: $(cat "$work/bad.log")"
echo "PASS"
