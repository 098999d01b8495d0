#!/usr/bin/env bash
# A step of a huge --accum can take minutes: SIGTERM and --max-hours are seen between its
# micro-batches, the unfinished step is dropped and the run ends cleanly (exit 0) without a
# checkpoint of it. (Issue 21, item 9; tests/trainer/trainer_test.cpp checks that the step run
# after an abandoned one is exactly the one that would have run.)
source "$(dirname "$0")/train_lib.sh"
make_micro_model 1
cmd=("$BIN" train --model "$work/micro.toml" --data "$work/corpus.txt" --batch 2 --seq 16 --threads 1
     --steps 3 --warmup 0 --thermal none --headless)

# SIGTERM in the middle of a step of 10 million micro-batches (hours).
"${cmd[@]}" --accum 10000000 --out "$work/term" > "$work/term.log" 2>&1 &
trainer=$!; pids+=("$trainer")
wait_until 20 grep -q "model micro" "$work/term.log" || fail "the run did not start"
sleep 1
kill -TERM "$trainer"
wait_until 10 bash -c "! kill -0 $trainer 2>/dev/null" || fail "SIGTERM was not seen within 10 s during a long step"
rc=0; wait "$trainer" || rc=$?
[ "$rc" = 0 ] || fail "exit $rc after SIGTERM during a long step"
[ ! -d "$work/term/checkpoints" ] || [ -z "$(ls "$work/term/checkpoints")" ] || fail "a checkpoint of an unfinished step"

# --max-hours (3.6 s) passing during such a step.
start=$(date +%s)
rc=0; timeout 30 "${cmd[@]}" --accum 10000000 --max-hours 0.001 --out "$work/deadline" > "$work/deadline.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "exit $rc when --max-hours passed during a long step"
[ $(( $(date +%s) - start )) -lt 20 ] || fail "--max-hours was not seen during the step"
"$BIN" log "$work/deadline" events | grep -q ',deadline,' || fail "no deadline event"
echo "PASS train_accum_stop_test"
