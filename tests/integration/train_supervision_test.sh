#!/usr/bin/env bash
# nightshift train as it runs overnight, end to end: --headless progress lines with timestamps and
# everything in the run log (steps with temperatures from the simulated plant, governor events);
# SIGTERM finishes the step, checkpoints and exits 0; re-running resumes in the same run log;
# --resume never and changed settings are refused (exit 2, nothing touched) unless --force; a
# run that does not fit --memory-limit exits 3; --max-hours stops at the deadline; on battery
# (a fake power-supply tree) the run pauses and goes on when mains comes back; bad times exit 2.
source "$(dirname "$0")/train_lib.sh"
make_micro_model 2
common=(--model "$work/micro.toml" --data "$work/corpus.txt" --batch 2 --seq 16 --threads 1 --eval-batches 2)

# --- headless, simulated plant: timestamps on stderr, steps and thermal events in the log ---------
"$BIN" train "${common[@]}" --steps 40 --out "$work/a" --headless --thermal sim --sim-speed 300 --log-every 10 \
  2> "$work/a.log" || fail "headless run"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} step +40/40' "$work/a.log" || fail "no timestamped progress line"
[ "$(steps_logged "$work/a")" = 40 ] || fail "the run log does not hold 40 steps"
[ "$(run_field "$work/a" status)" = finished ] || fail "run not finished in the log"
"$BIN" log "$work/a" events | grep -q ',thermal,"governing by simulated plant' || fail "no thermal start event"
"$BIN" log "$work/a" steps --format json | $PY -c "
import json, sys
rows = json.load(sys.stdin)
assert all(r['temp_c'] is not None and 20 < r['temp_c'] < 120 for r in rows), 'steps without a plausible temperature'
assert all(r['rss_bytes'] > 0 and r['planned_bytes'] > 0 for r in rows), 'steps without memory figures'
assert rows[-1]['tokens'] == 40 * 2 * 16, rows[-1]['tokens']
" || fail "step rows"

# --- SIGTERM: finish the step, checkpoint, exit 0; the log says interrupted ------------------------
"$BIN" train "${common[@]}" --steps 100000 --out "$work/b" --thermal none --headless 2> "$work/b.log" &
pid=$!; pids+=("$pid")
wait_until 60 bash -c "[ \$('$BIN' log '$work/b' steps 2>/dev/null | tail -n +2 | wc -l) -ge 5 ]" || fail "run b did not start"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 0 ] || fail "SIGTERM exit code $rc"
[ "$(run_field "$work/b" status)" = interrupted ] || fail "status after SIGTERM is not interrupted"
last=$(last_step "$work/b")
[ "$(cat "$work/b/checkpoints/latest")" = "$(printf 'step-%08d' "$last")" ] || fail "no checkpoint at the last step $last"

# --- re-running resumes the same run; more steps allowed ------------------------------------------
target=$((last + 5))
"$BIN" train "${common[@]}" --steps "$target" --out "$work/b" --thermal none 2> "$work/b2.log" || fail "resume"
grep -q "resuming .* from step $last" "$work/b2.log" || fail "did not resume from step $last"
[ "$("$BIN" log "$work/b" runs | tail -n +2 | wc -l)" = 1 ] || fail "resume started a second run row"
[ "$(run_field "$work/b" status)" = finished ] || fail "resumed run not finished"

# --- refusals leave the run directory untouched -----------------------------------------------
before=$(tree_sum "$work/b")
rc=0; "$BIN" train "${common[@]}" --steps "$target" --out "$work/b" --resume never 2> "$work/never.log" || rc=$?
[ "$rc" = 2 ] || fail "--resume never: exit $rc"
grep -q "resume never" "$work/never.log" || fail "--resume never: message"
rc=0; "$BIN" train "${common[@]}" --steps "$((target + 5))" --lr 0.01 --out "$work/b" 2> "$work/diff.log" || rc=$?
[ "$rc" = 2 ] || fail "changed settings: exit $rc"
grep -q "train.lr" "$work/diff.log" || fail "changed settings: the difference is not shown"
[ "$(wc -l < "$work/diff.log")" = 1 ] || fail "changed settings: more than one line"
[ "$before" = "$(tree_sum "$work/b")" ] || fail "a refused run changed the run directory"
"$BIN" train "${common[@]}" --steps "$((target + 5))" --lr 0.01 --out "$work/b" --force --thermal none 2> "$work/force.log" ||
  fail "--force"
grep -q "changed settings" "$work/force.log" || fail "--force: no warning"

# --- memory budget: exit 3 with the plan, nothing created ------------------------------------------
rc=0; "$BIN" train "${common[@]}" --steps 10 --out "$work/c" --memory-limit 1M 2> "$work/mem.log" || rc=$?
[ "$rc" = 3 ] || fail "--memory-limit 1M: exit $rc"
grep -qi "fit" "$work/mem.log" || fail "no plan in the refusal"
[ ! -e "$work/c" ] || fail "a refused run created its directory"

# --- deadline: --max-hours stops cleanly with a checkpoint -----------------------------------------
"$BIN" train "${common[@]}" --steps 100000 --out "$work/d" --thermal none --max-hours 0.0005 2> "$work/d.log" ||
  fail "--max-hours run"
"$BIN" log "$work/d" events | grep -q ',deadline,' || fail "no deadline event"
[ -f "$work/d/checkpoints/latest" ] || fail "no checkpoint at the deadline"
[ "$(run_field "$work/d" status)" = stopped ] || fail "deadline status"

# --- battery: pause on battery, go on when mains is back ----------------------------------------------
ps="$work/power"; mkdir -p "$ps/AC" "$ps/BAT0"
echo Mains > "$ps/AC/type"; echo 0 > "$ps/AC/online"
echo Battery > "$ps/BAT0/type"; echo Discharging > "$ps/BAT0/status"; echo 40 > "$ps/BAT0/capacity"
"$BIN" train "${common[@]}" --steps 10 --out "$work/e" --thermal none --power-supply "$ps" --on-battery pause \
  2> "$work/e.log" &
pid=$!; pids+=("$pid")
wait_until 30 bash -c "'$BIN' log '$work/e' events 2>/dev/null | grep -q ',battery,'" || fail "no battery event"
[ "$(steps_logged "$work/e")" = 0 ] || fail "trained on battery"
echo 1 > "$ps/AC/online"; echo Charging > "$ps/BAT0/status"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 0 ] || fail "battery run exit $rc"
[ "$(steps_logged "$work/e")" = 10 ] || fail "the run did not go on when mains came back"
echo 0 > "$ps/AC/online"; echo Discharging > "$ps/BAT0/status"
"$BIN" train "${common[@]}" --steps 10 --out "$work/f" --thermal none --power-supply "$ps" --on-battery stop 2> "$work/f.log" ||
  fail "--on-battery stop exit"
[ "$(steps_logged "$work/f")" = 0 ] || fail "--on-battery stop trained"

# --- bad times and policies: exit 2, nothing created ----------------------------------------------------
for bad in "--until 25:99" "--window 22:00" "--on-battery sometimes" "--resume maybe" "--thermal replay:$work/none.csv" \
           "--shrink-c 90 --pause-c 80" "--thermal-policy hot" "--memory-limit lots" "--profile no-such-device"; do
  rc=0; "$BIN" train "${common[@]}" --steps 10 --out "$work/g" $bad 2> "$work/bad.log" || rc=$?
  [ "$rc" = 2 ] || fail "$bad: exit $rc"
  [ "$(wc -l < "$work/bad.log")" = 1 ] || fail "$bad: not one line: $(cat "$work/bad.log")"
  [ ! -e "$work/g" ] || fail "$bad created the run directory"
done
echo "PASS train_supervision_test"
