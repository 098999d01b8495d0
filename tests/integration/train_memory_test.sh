#!/usr/bin/env bash
# ctest: run serial (it moves the machine's available memory)
# Memory pressure during a real training run: a second process allocates and touches 2 GiB while
# the run watches MemAvailable with a low-water mark 1 GiB below what was available at the start.
# The run must first lower its micro-batch (4 -> smaller, same effective batch: every step still
# trains 4 x 16 tokens), then pause (a memory_pause event, no steps while the memory is held), go on
# when the other process exits (a resume event, steps advance), and stop cleanly on SIGTERM.
source "$(dirname "$0")/train_lib.sh"
steps_logged() { "$BIN" log "$work/run" steps 2>/dev/null | tail -n +2 | wc -l; }

avail_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
if [ "$avail_kib" -lt $((5 * 1024 * 1024)) ]; then echo "SKIP: less than 5 GiB available"; exit 77; fi
low_water=$(( (avail_kib - 1024 * 1024) / 1024 ))M

make_micro_model 1
"$BIN" train --model "$work/micro.toml" --data "$work/corpus.txt" --batch 4 --seq 16 --threads 1 --steps 10000000 \
  --thermal none --memory-low-water "$low_water" --out "$work/run" --headless 2> "$work/train.log" &
trainer=$!; pids+=("$trainer")
wait_until 30 bash -c "[ \$('$BIN' log '$work/run' steps 2>/dev/null | wc -l) -gt 10 ]" || fail "the run did not start"

$PY -c "
import sys, time
block = b'\x01' * (2 << 30)   # written, so the pages are resident
open(sys.argv[1], 'w').write('held')
time.sleep(60)
" "$work/held" &
hog=$!; pids+=("$hog")
wait_until 30 test -f "$work/held" || fail "the allocating process did not start"
wait_until 30 bash -c "'$BIN' log '$work/run' events | grep -q ',memory_shrink,'" || fail "no memory_shrink event"
wait_until 30 bash -c "'$BIN' log '$work/run' events | grep -q ',memory_pause,'" || fail "no memory_pause event"
sleep 1
before=$(steps_logged)
sleep 2
[ "$before" = "$(steps_logged)" ] || fail "steps advance while memory is low"

kill "$hog"; wait "$hog" 2>/dev/null || true
wait_until 40 bash -c "'$BIN' log '$work/run' events | grep -q ',resume,conditions allow'" || fail "no resume event"
wait_until 30 bash -c "[ \$('$BIN' log '$work/run' steps | tail -n +2 | wc -l) -gt $((before + 10)) ]" ||
  fail "steps do not advance after the memory came back"
"$BIN" log "$work/run" steps --format json | $PY -c "
import json, sys
rows = sorted(json.load(sys.stdin), key=lambda r: r['step'])
tokens = [b['tokens'] - a['tokens'] for a, b in zip(rows, rows[1:]) if b['step'] == a['step'] + 1]
assert tokens and all(t == 4 * 16 for t in tokens), 'a step trained another number of tokens: ' + str(sorted(set(tokens)))
" || fail "the effective batch changed"
kill -TERM "$trainer"
rc=0; wait "$trainer" || rc=$?
[ "$rc" = 0 ] || fail "exit $rc after SIGTERM"
echo "PASS train_memory_test"
