#!/usr/bin/env bash
# The replay source through the CLI: `nightshift sensors --follow N --source replay:FILE` plays a
# recorded night on a virtual clock and shows the governor's decisions (throttle, pause,
# checkpoint-and-wait, resume, fail-safe on a read error); malformed or missing files exit 2 with
# one line naming FILE:LINE.
set -uo pipefail
BIN=${NIGHTSHIFT_BIN:?NIGHTSHIFT_BIN must point at the nightshift binary}
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/night.csv" <<'CSV'
# a hot evening, one row per minute
time_s,temp_c
0,55
60,78
120,88
180,96.5
240,90
300,72
360,error
420,error
480,68
540,nan
CSV
# One reading every 60 virtual seconds; the whole night takes no real time.
start=$(date +%s)
"$BIN" sensors --follow 10 --interval-ms 60000 --source "replay:$work/night.csv" --json --threads 8 --rank 16 \
  > "$work/out.jsonl" 2> "$work/err"; rc=$?
elapsed=$(( $(date +%s) - start ))
if [[ $rc -ne 0 ]]; then fail "replay follow exited $rc: $(cat "$work/err")"; fi
if [[ $elapsed -le 5 ]]; then pass "a 10-minute replay runs on the virtual clock (${elapsed}s)"; else fail "replay took ${elapsed}s"; fi
actions=$(/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    print(j["action"] + ("+checkpoint" if j["checkpoint"] else "") + ("+failsafe" if j["fail_safe"] else ""))
' "$work/out.jsonl" | tr '\n' ' ')
# 300 s: below resume (75 °C) after the wait: training resumes, still pausing (the floors).
# 360 s: a read error; readings come every 60 s, so the last good one is older than the 10 s grace
# and the fail-safe (checkpoint, then wait) starts at once. 540 s: NaN, a new fault episode.
expected="normal throttle pause checkpoint_and_wait+checkpoint checkpoint_and_wait pause "
expected+="checkpoint_and_wait+checkpoint+failsafe checkpoint_and_wait+failsafe pause checkpoint_and_wait+checkpoint+failsafe "
if [[ "$actions" == "$expected" ]]; then pass "governor decisions over the replay: $actions"
else fail "decisions: got '$actions' expected '$expected'"; fi
if grep -q '"sensor_recovered"' "$work/out.jsonl"; then pass "recovery after the read errors is an event"; else fail "no sensor_recovered event"; fi

expect_bad() {  # expect_bad TEXT-IN-STDERR CSV-CONTENT
  printf '%b' "$2" > "$work/bad.csv"
  local err; err=$("$BIN" sensors --follow 3 --source "replay:$work/bad.csv" 2>&1 >/dev/null); local rc=$?
  if [[ $rc -eq 2 && "$err" == *"$1"* && $(wc -l <<< "$err") -eq 1 ]]; then pass "malformed replay: exit 2, '$1'"
  else fail "malformed replay ($1): rc=$rc err=$err"; fi
}
expect_bad "bad.csv:3: expected 'time_s,temp_c'" "time_s,temp_c\n0,50\nbanana\n"
expect_bad "bad.csv:2: temperature 'hot' is not a number" "0,50\n10,hot\n"
expect_bad "bad.csv:3: time 5 s is before the previous row's 10 s" "0,50\n10,51\n5,52\n"
expect_bad "bad.csv: no data rows" "# nothing\n"
err=$("$BIN" sensors --follow 3 --source "replay:$work/missing.csv" 2>&1 >/dev/null); rc=$?
if [[ $rc -eq 2 && "$err" == *"missing.csv"* ]]; then pass "missing replay file: exit 2 naming it"; else fail "missing file: rc=$rc err=$err"; fi

if [[ $failures -gt 0 ]]; then echo "$failures check(s) failed"; exit 1; fi
echo "all thermal replay checks passed"
