#!/usr/bin/env bash
# `nightshift sample` on short runs of mamba-tiny, hybrid-tiny and gpt-tiny: it generates with the
# recurrent state (says so on stderr), greedy text equals the text of re-running the whole context
# per token (--recompute) while the context fits the run's sequence length, it keeps going past the
# sequence length, a seeded draw repeats, a qlora hybrid run trained on one thread samples and
# evaluates on more threads than the machine has cores (per-thread scratch of the experts), --stop,
# --top-p and --repetition-penalty do what they say, and bad input exits 2 with one line.
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?set by ctest}
export OMP_WAIT_POLICY=PASSIVE  # the short training runs share the machine with other tests
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# A corpus with structure a few steps can pick up: numbered lines of a small vocabulary.
for i in $(seq 1 3000); do
  echo "line $((i % 97)): the cat sat on the mat and the dog ate the $((i % 7)) bones."
done >"$WORK/corpus.txt"

SEQ=32
for preset in mamba-tiny hybrid-tiny gpt-tiny; do
  run="$WORK/$preset"
  "$BIN" train --preset "$preset" --data "$WORK/corpus.txt" --tokenizer byte --steps 30 --batch 4 --seq $SEQ \
    --lr 3e-3 --warmup 5 --threads 1 --eval-every 0 --eval-batches 2 --log-every 30 --out "$run" >"$WORK/train.log" 2>&1 ||
    { cat "$WORK/train.log"; fail "$preset: training failed"; }

  # Greedy, prompt + tokens within one sequence: both ways must give the same text.
  prompt="line 4"
  n=$((SEQ - ${#prompt}))
  "$BIN" sample "$run" --prompt "$prompt" --tokens $n --temperature 0 >"$WORK/rec.out" 2>"$WORK/rec.err" ||
    { cat "$WORK/rec.err"; fail "$preset: sample failed"; }
  grep -q "recurrent state" "$WORK/rec.err" || fail "$preset: sample did not use the recurrent state: $(cat "$WORK/rec.err")"
  "$BIN" sample "$run" --prompt "$prompt" --tokens $n --temperature 0 --recompute >"$WORK/full.out" 2>"$WORK/full.err" ||
    { cat "$WORK/full.err"; fail "$preset: sample --recompute failed"; }
  grep -q "recurrent state" "$WORK/full.err" && fail "$preset: --recompute still used the recurrent state"
  [ "$(head -c ${#prompt} "$WORK/rec.out")" = "$prompt" ] || fail "$preset: output does not start with the prompt"
  [ "$(wc -c <"$WORK/rec.out")" -eq $((SEQ + 1)) ] || fail "$preset: expected $SEQ bytes and a newline, got $(wc -c <"$WORK/rec.out")"
  cmp -s "$WORK/rec.out" "$WORK/full.out" ||
    fail "$preset: recurrent and full-forward greedy text differ: '$(cat "$WORK/rec.out")' vs '$(cat "$WORK/full.out")'"
  echo "ok   $preset: greedy recurrent == full forward: $(head -1 "$WORK/rec.out")"

  # Past the sequence length, and a seeded draw repeats.
  "$BIN" sample "$run" --prompt "$prompt" --tokens 150 --seed 3 >"$WORK/a.out" 2>/dev/null || fail "$preset: long sample failed"
  "$BIN" sample "$run" --prompt "$prompt" --tokens 150 --seed 3 >"$WORK/b.out" 2>/dev/null || fail "$preset: long sample failed"
  [ "$(wc -c <"$WORK/a.out")" -eq $((${#prompt} + 150 + 1)) ] || fail "$preset: long sample has $(wc -c <"$WORK/a.out") bytes"
  cmp -s "$WORK/a.out" "$WORK/b.out" || fail "$preset: the same seed gave different text"
  echo "ok   $preset: 150 tokens past seq $SEQ, seeded draw repeats"
done

# Sampling settings on the last run (gpt-tiny): a stop string ends the text before it; a tiny
# nucleus (--top-p) is the most likely token, so even at temperature 1 the text is the greedy one;
# a strong repetition penalty changes the greedy text of this repetitive corpus.
run="$WORK/gpt-tiny"
cont=$(head -1 "$WORK/rec.out"); cont=${cont#line 4}
stop=${cont:4:3}
"$BIN" sample "$run" --prompt "line 4" --tokens 28 --temperature 0 --stop "$stop" >"$WORK/stop.out" 2>/dev/null ||
  fail "sample --stop failed"
want="line 4${cont%%"$stop"*}"
[ "$(cat "$WORK/stop.out")" = "$want" ] || fail "--stop '$stop': got '$(cat "$WORK/stop.out")', want '$want'"
"$BIN" sample "$run" --prompt "line 4" --tokens 28 --temperature 0 --stop "$stop" --json >"$WORK/stop.json" 2>/dev/null
/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["stopped"] is True and j["text"]==sys.argv[2], j' \
  "$WORK/stop.json" "${cont%%"$stop"*}" || fail "--stop --json: $(cat "$WORK/stop.json")"
echo "ok   --stop '$stop' ends the text before it"
"$BIN" sample "$run" --prompt "line 4" --tokens 26 --temperature 1 --top-k 0 --top-p 0.000001 --seed 9 >"$WORK/p.out" 2>/dev/null ||
  fail "sample --top-p failed"
[ "$(cat "$WORK/p.out")" = "line 4${cont}" ] || fail "--top-p 1e-6 is not greedy: '$(cat "$WORK/p.out")' vs 'line 4${cont}'"
echo "ok   --top-p 1e-6 at temperature 1 gives the greedy text"
"$BIN" sample "$run" --prompt "line 4" --tokens 26 --temperature 0 --repetition-penalty 4 >"$WORK/r.out" 2>/dev/null ||
  fail "sample --repetition-penalty failed"
[ "$(cat "$WORK/r.out")" != "line 4${cont}" ] || fail "--repetition-penalty 4 did not change the greedy text"
echo "ok   --repetition-penalty changes the greedy text: $(cat "$WORK/r.out")"

# A qlora run trained on one thread, sampled and evaluated on more threads than there are cores:
# experts run side by side, each thread with its own scratch, so the model must have a slot for
# every thread; the text must not depend on the thread count.
MANY=$(( $(nproc) + 2 ))
"$BIN" quantize "$WORK/hybrid-tiny" --format nf4 --out "$WORK/base.nsq" >/dev/null 2>&1 || fail "quantize failed"
"$BIN" train --mode qlora --base "$WORK/base.nsq" --rank 4 --data "$WORK/corpus.txt" --tokenizer byte --steps 5 \
  --batch 4 --seq $SEQ --threads 1 --eval-every 0 --eval-batches 1 --log-every 5 --out "$WORK/qlora" >"$WORK/train.log" 2>&1 ||
  { cat "$WORK/train.log"; fail "qlora training failed"; }
"$BIN" sample "$WORK/qlora" --prompt "line 4" --tokens 20 --temperature 0 --threads 1 >"$WORK/q1.out" 2>"$WORK/q1.err" ||
  { cat "$WORK/q1.err"; fail "qlora sample on 1 thread failed"; }
"$BIN" sample "$WORK/qlora" --prompt "line 4" --tokens 20 --temperature 0 --threads $MANY >"$WORK/qn.out" 2>"$WORK/qn.err" ||
  { cat "$WORK/qn.err"; fail "qlora sample on $MANY threads failed"; }
cmp -s "$WORK/q1.out" "$WORK/qn.out" || fail "qlora greedy text differs between 1 and $MANY threads"
OMP_NUM_THREADS=$MANY "$BIN" eval "$WORK/qlora" --data "$WORK/corpus.txt" >"$WORK/qe.out" 2>&1 ||
  { cat "$WORK/qe.out"; fail "qlora eval on $MANY threads failed"; }
echo "ok   qlora hybrid-tiny samples and evaluates on $MANY threads (trained on 1)"

expect_bad() {  # expect_bad FRAGMENT ARGS...
  local fragment=$1; shift
  set +e
  local err rc
  err=$("$BIN" sample "$@" 2>&1 >/dev/null); rc=$?
  set -e
  [ $rc -eq 2 ] || fail "exit $rc for sample $* ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "more than one line for sample $*: $err"
  [[ "$err" == *"$fragment"* ]] || fail "message for sample $* lacks '$fragment': $err"
  echo "ok   exit 2: $err"
}
mkdir "$WORK/empty-run"
expect_bad "$WORK/empty-run" "$WORK/empty-run" --prompt "x"
expect_bad "--tokens" "$WORK/mamba-tiny" --prompt "x" --tokens -1
expect_bad "--prompt" "$WORK/mamba-tiny" --prompt ""
expect_bad "--threads" "$WORK/mamba-tiny" --prompt "x" --threads 0
expect_bad "--top-p" "$WORK/mamba-tiny" --prompt "x" --top-p 0
expect_bad "--repetition-penalty" "$WORK/mamba-tiny" --prompt "x" --repetition-penalty 0
echo "PASS"
