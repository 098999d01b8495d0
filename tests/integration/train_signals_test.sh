#!/usr/bin/env bash
# SIGHUP (an ssh session that drops) is treated like SIGTERM: the run checkpoints its last step,
# exits 0 and is marked as ended in the run log. A closed stderr/stdout (`train ... | head`) does
# not kill the run: SIGPIPE is ignored and failed writes are dropped. (Issue 21, item 6.)
source "$(dirname "$0")/train_lib.sh"
make_micro_model 1
cmd=("$BIN" train --model "$work/micro.toml" --data "$work/corpus.txt" --batch 2 --seq 16 --threads 1
     --steps 1000000 --checkpoint-every 1000000 --log-every 1 --thermal none --headless)

# SIGHUP.
"${cmd[@]}" --out "$work/hup" > "$work/hup.log" 2>&1 &
trainer=$!; pids+=("$trainer")
wait_until 20 bash -c "[ \$('$BIN' log '$work/hup' steps 2>/dev/null | tail -n +2 | wc -l) -ge 5 ]" || fail "no steps"
kill -HUP "$trainer"
rc=0; wait "$trainer" || rc=$?
[ "$rc" = 0 ] || fail "exit $rc after SIGHUP (expected 0: checkpoint and stop)"
status=$(run_field "$work/hup" status)
[ "$status" != running ] || fail "the run log still says running after SIGHUP"
last=$(last_step "$work/hup")
[ "$(cat "$work/hup/checkpoints/latest")" = "$(printf 'step-%08d' "$last")" ] || fail "no checkpoint at the last step $last"

# A reader that goes away: stderr and stdout are a pipe whose reader exits after a few bytes.
mkfifo "$work/pipe"
head -c 200 < "$work/pipe" > /dev/null &
reader=$!
"${cmd[@]}" --out "$work/pipe_run" > "$work/pipe" 2>&1 &
trainer=$!; pids+=("$trainer")
wait "$reader"
before=$(steps_logged "$work/pipe_run")
wait_until 20 bash -c "[ \$('$BIN' log '$work/pipe_run' steps 2>/dev/null | tail -n +2 | wc -l) -ge $((before + 20)) ]" \
  || fail "the run stopped training after its stderr was closed"
kill -0 "$trainer" 2>/dev/null || fail "the run died when its stderr was closed"
kill -TERM "$trainer"
rc=0; wait "$trainer" || rc=$?
[ "$rc" = 0 ] || fail "exit $rc after SIGTERM with a closed stderr"
[ "$(run_field "$work/pipe_run" status)" != running ] || fail "the run log still says running"
echo "PASS train_signals_test"
