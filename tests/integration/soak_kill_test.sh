#!/usr/bin/env bash
# Soak test of crash-proof checkpoints and exact resume. A short real training run is killed with
# SIGKILL at random moments (at least SOAK_KILLS times, 20 by default) and re-run with the very same
# command each time until it finishes. Then:
#   - its final weights and optimizer moments are bit-identical to an uninterrupted run of the same
#     config (cmp of the exported model and of the final checkpoint's files);
#   - the loss printed at every step, on every attempt, equals the uninterrupted run's;
#   - no resume ever had to skip a damaged checkpoint (every kill left the newest one valid), and
#     every checkpoint left on disk passes an independent size + checksum check;
#   - only when the run writes a run log (RUN_DIR/run.db): every step 1..N is in it, each with the
#     uninterrupted run's loss (no step is missing after the last checkpoint of any attempt);
#   - a qlora run on an nf4 base, killed SOAK_QLORA_KILLS times (8), ends with adapters and their
#     moments bit-identical to its uninterrupted run.
# SOAK_SEED fixes the kill times (printed, to replay a failure); SOAK_KILLS, SOAK_STEPS and
# SOAK_THREADS change the defaults (20, 240, 1). Figures go to stdout.
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?NIGHTSHIFT_BIN must point at the nightshift binary}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/soak_lib.sh"
work=$(mktemp -d)
child=""
cleanup() {
  if [ -n "$child" ]; then kill -KILL "$child" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export XDG_CACHE_HOME="$work/cache"
fail() { echo "FAIL: $*" >&2; exit 1; }

KILLS=${SOAK_KILLS:-20}
STEPS=${SOAK_STEPS:-240}
THREADS=${SOAK_THREADS:-1}
seed=${SOAK_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$seed
echo "soak: seed $seed, $KILLS kills, $STEPS steps, $THREADS threads"

write_corpus "$work/corpus.txt"
write_model "$work/model.toml"
args=(train --model "$work/model.toml" --data "$work/corpus.txt" --steps "$STEPS" --batch 2 --seq 32
      --threads "$THREADS" --checkpoint-every 4 --eval-every 60 --eval-batches 2 --log-every 1 --seed 11 --lr 3e-3)

# --- the uninterrupted run (it also builds the token cache, so attempts below start quickly) ------
t0=$(date +%s.%N)
"$BIN" "${args[@]}" --out "$work/ref" 2> "$work/ref.log" || { tail -5 "$work/ref.log"; fail "the uninterrupted run failed"; }
t1=$(date +%s.%N)
ref_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 }')
grep -Eq "^step +${STEPS}/${STEPS} " "$work/ref.log" ||
  fail "the uninterrupted run has no line for step $STEPS"
echo "soak: uninterrupted run ${ref_ms} ms"

# --- the killed run -----------------------------------------------------------------------------
# kill_and_resume NAME KILLS STEPS REF_MS ARGS...: runs `nightshift ARGS --out $work/NAME` again and
# again, SIGKILLing the first KILLS attempts, until an attempt finishes; output in $work/NAME.log.
# Sets kills, attempts, tmp_seen (kills that left an unfinished checkpoint write) and soak_ms.
# Kill delays are uniform in [0, max_ms], from before the first step (startup, token cache, resume)
# to well into training, so kills land in steps, evaluations and checkpoint writes alike. max_ms is
# twice the expected time left divided by the kills left plus two: the mean attempt does less than
# its share of the remaining work and no attempt gets more than 2/3 of the work left, so the run
# does not finish before the last kill even when it runs faster than the uninterrupted one did.
kill_and_resume() {
  local name=$1 want=$2 steps=$3 ref=$4
  shift 4
  local run="$work/$name" log="$work/$name.log" startup_ms=100 newest done_steps left_ms max_ms delay_ms rc t_a t_b
  kills=0 attempts=0 tmp_seen=0
  t_a=$(date +%s.%N)
  while :; do
    attempts=$((attempts + 1))
    [ $attempts -le $((want * 4 + 20)) ] || fail "$name: no completion after $attempts attempts"
    echo "=== attempt $attempts" >> "$log"
    "$BIN" "$@" --out "$run" 2>> "$log" &
    child=$!
    if [ $kills -lt "$want" ]; then
      newest=$(newest_checkpoint "$run")
      done_steps=0
      if [ -n "$newest" ]; then done_steps=$((10#${newest##*/step-})); fi
      left_ms=$(( ref * (steps - done_steps) / steps + startup_ms ))
      max_ms=$(( 2 * left_ms / (want - kills + 2) ))
      delay_ms=$(( (RANDOM * 32768 + RANDOM) % (max_ms + 1) ))
      sleep "$(awk -v ms="$delay_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
      kill -KILL "$child" 2>/dev/null || true
    fi
    set +e
    wait "$child" 2> /dev/null
    rc=$?
    set -e
    child=""
    if [ $rc -eq 137 ]; then
      kills=$((kills + 1))
      # A kill may land inside a checkpoint write: that leaves only a step-N.tmp folder behind.
      if compgen -G "$run/checkpoints/step-*.tmp" > /dev/null; then tmp_seen=$((tmp_seen + 1)); fi
      newest=$(newest_checkpoint "$run")
      if [ -n "$newest" ]; then check_checkpoint "$newest" || fail "$name: after kill $kills the newest checkpoint is damaged"; fi
      continue
    fi
    [ $rc -eq 0 ] || { tail -5 "$log"; fail "$name: attempt $attempts exited with $rc"; }
    if [ $kills -lt "$want" ]; then
      # The run finished before the kills were done (the machine ran faster than during the
      # reference run): train the same run again from scratch; every kill so far was checked.
      echo "=== finished after $kills of $want kills: again from scratch" >> "$log"
      rm -rf "$run"
      continue
    fi
    break
  done
  t_b=$(date +%s.%N)
  soak_ms=$(awk -v a="$t_a" -v b="$t_b" 'BEGIN { printf "%d", (b - a) * 1000 }')
  [ $kills -ge "$want" ] || fail "$name: only $kills kills"
  if grep -q "skipping this checkpoint" "$log"; then
    grep "skipping this checkpoint" "$log" | head -3
    fail "$name: a resume found a damaged checkpoint (a kill broke a checkpoint)"
  fi
  local d
  for d in "$run"/checkpoints/step-*; do
    case "$d" in *.tmp) continue ;; esac
    check_checkpoint "$d" || fail "$name: checkpoint $d is damaged"
  done
}

kill_and_resume soak "$KILLS" "$STEPS" "$ref_ms" "${args[@]}"
resumes=$(grep -c "^\[info\] resuming" "$work/soak.log" || true)
echo "soak: $kills SIGKILLs over $attempts attempts in ${soak_ms} ms; $resumes resumed from a checkpoint;" \
     "$tmp_seen kills interrupted a checkpoint write"

# --- the checks ---------------------------------------------------------------------------------
final="$work/soak/checkpoints/$(printf 'step-%08d' "$STEPS")"
ref_final="$work/ref/checkpoints/$(printf 'step-%08d' "$STEPS")"
[ -d "$final" ] || fail "the killed run has no checkpoint of step $STEPS"
[ "$(newest_checkpoint "$work/soak")" = "$final" ] || fail "the newest checkpoint is not step $STEPS"

"$BIN" export "$work/ref" --out "$work/ref.safetensors" > /dev/null || fail "export of the uninterrupted run"
"$BIN" export "$work/soak" --out "$work/soak.safetensors" > /dev/null || fail "export of the killed run"
cmp "$work/ref.safetensors" "$work/soak.safetensors" || fail "the weights differ from the uninterrupted run"
cmp "$ref_final/model.safetensors" "$final/model.safetensors" || fail "model.safetensors differs"
cmp "$ref_final/optimizer.safetensors" "$final/optimizer.safetensors" || fail "the optimizer moments differ"
echo "soak: final weights bit-identical ($(sha256sum < "$work/soak.safetensors" | cut -c1-16))"

# The loss of every step of every attempt (steps redone after a kill included) equals the reference.
/usr/bin/python3 - "$work/ref.log" "$work/soak.log" "$STEPS" <<'PY' || fail "a step's loss differs"
import re, sys
pat = re.compile(r"^step +(\d+)/\d+ \| loss ([0-9.]+)")
def losses(path):
    out = {}
    for line in open(path):
        m = pat.match(line)
        if m:
            out.setdefault(int(m.group(1)), set()).add(m.group(2))
    return out
ref, soak, steps = losses(sys.argv[1]), losses(sys.argv[2]), int(sys.argv[3])
assert sorted(ref) == list(range(1, steps + 1)), "the reference misses steps"
bad = [(s, ref[s], v) for s, v in soak.items() if v != ref[s]]
assert not bad, f"steps whose loss differs (step, reference, killed run): {bad[:5]}"
assert set(soak) == set(ref), f"steps never printed by the killed run: {sorted(set(ref) - set(soak))[:10]}"
print(f"soak: the loss of all {steps} steps matches ({sum(1 for _ in open(sys.argv[2]) if pat.match(_))} step lines)")
PY

# --- a qlora run (nf4 base made from the uninterrupted run): adapters and their moments ---------
QKILLS=${SOAK_QLORA_KILLS:-8}
QSTEPS=300
"$BIN" quantize "$work/ref" --format nf4 --out "$work/base-nf4.safetensors" > /dev/null || fail "quantize"
qargs=(train --data "$work/corpus.txt" --mode qlora --base "$work/base-nf4.safetensors" --rank 4 --alpha 8
       --steps "$QSTEPS" --batch 2 --seq 32 --threads "$THREADS" --checkpoint-every 3 --eval-every 0
       --eval-batches 1 --log-every 50 --seed 3 --lr 5e-3)
t0=$(date +%s.%N)
"$BIN" "${qargs[@]}" --out "$work/qref" 2> "$work/qref.log" || { tail -5 "$work/qref.log"; fail "the uninterrupted qlora run"; }
t1=$(date +%s.%N)
qref_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 }')
kill_and_resume qsoak "$QKILLS" "$QSTEPS" "$qref_ms" "${qargs[@]}"
qfinal=$(printf 'checkpoints/step-%08d' "$QSTEPS")
cmp "$work/qref/$qfinal/model.safetensors" "$work/qsoak/$qfinal/model.safetensors" || fail "qlora: the weights differ"
cmp "$work/qref/$qfinal/optimizer.safetensors" "$work/qsoak/$qfinal/optimizer.safetensors" || fail "qlora: the moments differ"
echo "soak: qlora: $kills SIGKILLs over $attempts attempts in ${soak_ms} ms (uninterrupted ${qref_ms} ms);" \
     "adapters and moments bit-identical"

# The run log, when the trainer writes one.
if [ -f "$work/soak/run.db" ]; then
  /usr/bin/python3 - "$work/ref/run.db" "$work/soak/run.db" "$STEPS" <<'PY' || fail "the run log misses steps"
import sqlite3, sys
def steps(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = con.execute("SELECT step, loss FROM steps").fetchall()
    con.close()
    return rows
ref = dict(steps(sys.argv[1]))
rows, n = steps(sys.argv[2]), int(sys.argv[3])
assert sorted(ref) == list(range(1, n + 1)), "the uninterrupted run's log misses steps"
bad = [(s, l, ref.get(s)) for s, l in rows if l != ref.get(s)]
assert not bad, f"run.db losses differ from the uninterrupted run (step, killed, uninterrupted): {bad[:5]}"
missing = sorted(set(range(1, n + 1)) - {s for s, _ in rows})
assert not missing, (f"run.db of the killed run lacks steps {missing[:12]} ({len(missing)} in all): steps done "
                     "before a checkpoint were not in the log when the kill came")
print(f"soak: run.db holds all {n} steps ({len(rows)} rows), losses equal to the uninterrupted run")
PY
else
  echo "soak: no run.db in the run directory; the run-log check is skipped"
fi
echo "OK"
