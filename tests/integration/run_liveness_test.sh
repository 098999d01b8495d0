#!/usr/bin/env bash
# A trainer that dies (kill -9) leaves its run "running" in the log. Readers must not show it as
# running with an ETA forever: once the heartbeat is stale and nobody holds the writer's lock, `top`,
# `summary` and `plot` show the run as stopped, with the time of its last heartbeat. A live writer
# with an old heartbeat (a long step) still counts as running: the lock says it is there.
source "$(dirname "$0")/dashboard_lib.sh"

RUN=$WORK/run
"$BIN" demo-run "$RUN" --steps 1000000 --step-ms 20 --checkpoint-every 0 --eval-every 0 --name dying \
  >"$WORK/writer.log" 2>&1 &
WRITER=$!
PIDS+=("$WRITER")
wait_until 20 bash -c "[ \$('$BIN' log '$RUN' steps 2>/dev/null | wc -l) -gt 20 ]" || fail "no steps written"

# Alive: running, with an ETA.
"$BIN" top "$RUN" --print --width 100 --height 30 >"$WORK/alive.txt" || fail "top --print failed"
grep -q "RUNNING" "$WORK/alive.txt" || fail "a live run is not shown as RUNNING: $(head -5 "$WORK/alive.txt")"

kill -9 "$WRITER"
wait "$WRITER" 2>/dev/null || true
[ "$(run_field "$RUN" status)" = running ] || fail "the killed trainer's run is not left 'running' (test premise)"

# The trainer died an hour ago: its heartbeat is that old.
$PY - "$RUN/run.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE runs SET updated = ?", (time.time() - 3600,))
db.commit()
PY
when=$("$BIN" log "$RUN" runs --format json | $PY -c "
import json, sys, time
r = json.load(sys.stdin)[-1]
print(time.strftime('%Y-%m-%d %H:%M', time.localtime(r['updated'])))")

"$BIN" top "$RUN" --print --width 100 --height 30 >"$WORK/dead.txt" || fail "top --print failed"
grep -q "STOPPED" "$WORK/dead.txt" || fail "top shows a dead run as: $(grep -o 'RUNNING\|PAUSED\|STOPPED' "$WORK/dead.txt" | head -1)"
grep -q "RUNNING" "$WORK/dead.txt" && fail "top still says RUNNING"
grep -qE "ETA [0-9]" "$WORK/dead.txt" && fail "top shows an ETA for a dead run"
grep -qF "last heartbeat $when" "$WORK/dead.txt" || fail "top does not say when the run stopped ($when): $(cat "$WORK/dead.txt")"

"$BIN" summary "$RUN" >"$WORK/summary.txt" || fail "summary failed"
grep -qE "^run .*stopped \(trainer gone; last heartbeat $when" "$WORK/summary.txt" || fail "summary: $(head -2 "$WORK/summary.txt")"
"$BIN" summary "$RUN" --json | $PY -c "import json,sys; j=json.load(sys.stdin); assert j['status'] == 'stopped', j['status']" ||
  fail "summary --json status is not stopped"

"$BIN" plot "$RUN" -o "$WORK/plot.svg" || fail "plot failed"
grep -q "stopped (trainer gone; last heartbeat $when" "$WORK/plot.svg" || fail "the plot title does not say stopped"
grep -q "(running," "$WORK/plot.svg" && fail "the plot title says running"

# A live writer holding the lock with an equally old heartbeat is not declared dead.
LIVE=$WORK/live
"$BIN" demo-run "$LIVE" --steps 1000000 --step-ms 20 --checkpoint-every 0 --eval-every 0 --name alive \
  >"$WORK/live.log" 2>&1 &
PIDS+=($!)
wait_until 20 bash -c "[ \$('$BIN' log '$LIVE' steps 2>/dev/null | wc -l) -gt 5 ]" || fail "no steps in the live run"
kill -STOP "${PIDS[-1]}"  # a very long step: no writes, the lock still held
$PY - "$LIVE/run.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=10)
db.execute("UPDATE runs SET updated = ?", (time.time() - 3600,))
db.commit()
PY
"$BIN" summary "$LIVE" --json | $PY -c "import json,sys; j=json.load(sys.stdin); assert j['status'] == 'running', j['status']" ||
  fail "a live (stopped-in-a-long-step) writer was declared gone"
kill -CONT "${PIDS[-1]}"
echo "PASS run_liveness_test"
