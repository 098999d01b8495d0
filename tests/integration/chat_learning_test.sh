#!/usr/bin/env bash
# ctest: long (minutes of training and cross-checks; started among the first)
# Chat fine-tuning end to end (issue 17): gpt-tiny trained on a small ChatML conversation set with
# the loss on the assistant's turns only learns the answers (its validation loss on held-out
# assistant turns falls); `nightshift chat` answers each question with the trained answer, stops at
# the end of the turn, and starts again on /reset; `sample --chat --json` gives one turn. Trained
# with --train-on all instead, the model also learns to write the user's questions, which the
# assistant-only model never saw as targets.
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?set by ctest}
export OMP_WAIT_POLICY=PASSIVE
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

/usr/bin/python3 - "$WORK/chat.jsonl" <<'PY'
import json, random, sys
qa = [("What color is the sky?", "Blue."), ("What is two plus two?", "Four."),
      ("Who wrote Hamlet?", "Shakespeare."), ("Name a fruit.", "An apple.")]
random.seed(1)
with open(sys.argv[1], "w") as f:
    for _ in range(400):
        q, a = random.choice(qa)
        f.write(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n")
PY

train() {  # train OUT TRAIN_ON EVAL_EVERY
  "$BIN" train --preset gpt-tiny --data "$WORK/chat.jsonl" --tokenizer byte --chat-template chatml --train-on "$2" \
    --steps 150 --batch 8 --seq 96 --lr 3e-3 --warmup 10 --threads 2 --eval-every "$3" --eval-batches 4 --log-every 50 \
    --out "$1" >"$1.log" 2>&1 || { cat "$1.log"; fail "training ($2) failed"; }
}
train "$WORK/assistant" assistant 10
first=$(grep -m1 -o "val_loss [0-9.]*" "$WORK/assistant.log" | cut -d' ' -f2)
last=$(grep -o "val_loss [0-9.]*" "$WORK/assistant.log" | tail -1 | cut -d' ' -f2)
/usr/bin/python3 -c "import sys; f, l = map(float, sys.argv[1:]); sys.exit(0 if l < f / 4 else 1)" "$first" "$last" ||
  fail "the held-out assistant loss did not fall: $first -> $last"
grep -q "trained)" "$WORK/assistant.log" || fail "progress does not show trained tokens per second"
echo "ok   held-out assistant loss $first -> $last"

printf 'Who wrote Hamlet?\nWhat color is the sky?\n/reset\nWhat is two plus two?\n/reset\nName a fruit.\n' |
  "$BIN" chat "$WORK/assistant" --temperature 0 --max-tokens 40 >"$WORK/chat.out" 2>"$WORK/chat.err" ||
  { cat "$WORK/chat.err"; fail "chat failed"; }
grep -q "chat template: chatml" "$WORK/chat.err" || fail "chat did not use the run's template: $(cat "$WORK/chat.err")"
printf 'Shakespeare.\nBlue.\nFour.\nAn apple.\n' >"$WORK/want"
diff "$WORK/want" "$WORK/chat.out" >/dev/null || fail "chat answers: $(cat "$WORK/chat.out")"
echo "ok   chat answers every question with its trained answer"

"$BIN" sample "$WORK/assistant" --chat --prompt "Name a fruit." --temperature 0 --json >"$WORK/one.json" 2>/dev/null ||
  fail "sample --chat failed"
/usr/bin/python3 - "$WORK/one.json" <<'PY' || fail "sample --chat --json: $(cat "$WORK/one.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["template"] == "chatml" and j["text"] == "An apple.", j
assert bytes(j["prompt_ids"]).decode().endswith("<|im_start|>assistant\n"), j
PY
echo "ok   sample --chat answers one turn"

# Only the model trained on every token has learnt what users write.
train "$WORK/all" all 0  # no validation losses: only what it samples is checked
user_turn=$(printf '<|im_start|>user\n')
"$BIN" sample "$WORK/all" --prompt "$user_turn" --temperature 0 --tokens 21 >"$WORK/all.out" 2>/dev/null
"$BIN" sample "$WORK/assistant" --prompt "$user_turn" --temperature 0 --tokens 21 >"$WORK/asst.out" 2>/dev/null
questions='What color is the sky?|What is two plus two?|Who wrote Hamlet?|Name a fruit.'
grep -qE "^($questions)" <(tail -n +2 "$WORK/all.out") || fail "--train-on all did not learn the questions: $(cat "$WORK/all.out")"
grep -qE "^($questions)" <(tail -n +2 "$WORK/asst.out") && fail "the assistant-only model wrote a question: $(cat "$WORK/asst.out")"
echo "ok   --train-on all writes a user's question, the assistant-only model does not"

expect_bad() {  # expect_bad FRAGMENT ARGS...
  local fragment=$1; shift
  set +e
  local err rc
  err=$("$BIN" "$@" 2>&1 </dev/null >/dev/null); rc=$?
  set -e
  [ $rc -eq 2 ] || fail "exit $rc for $* ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "more than one line for $*: $err"
  [[ "$err" == *"$fragment"* ]] || fail "message for $* lacks '$fragment': $err"
  echo "ok   exit 2: $err"
}
expect_bad "chat template" chat "$WORK/assistant" --chat-template nosuch
expect_bad "--max-tokens" chat "$WORK/assistant" --max-tokens 0
expect_bad "--chat" sample "$WORK/assistant" --prompt x --system y
echo "PASS"
