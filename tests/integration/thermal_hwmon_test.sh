#!/usr/bin/env bash
# The real libsensors path, end to end: a fake hwmon tree (k10temp Tctl with max/crit, an acpitz
# zone) on a tmpfs mounted over /sys/class inside a private mount namespace. Checks that
# `nightshift sensors` sees it and picks the CPU sensor, follows values written to the files,
# finds the sensor again after it moves to another hwmon number, reports unknown patterns (exit 2),
# and that the governor (sensors --follow) reacts: throttle, pause, checkpoint-and-wait, resume,
# fail-safe when the sensor disappears or reads absurd values, recovery when it comes back; and a
# real `train --thermal libsensors` run that pauses, cools down and trains again.
# Prints SKIPPED and exits 0 where mount namespaces are not permitted.
set -uo pipefail

BIN=${NIGHTSHIFT_BIN:?NIGHTSHIFT_BIN must point at the nightshift binary}

if [[ "${1:-}" != "--inside" ]]; then
  if ! command -v unshare >/dev/null 2>&1; then
    echo "SKIPPED: unshare(1) is not installed"; exit 0
  fi
  if unshare -m true 2>/dev/null; then
    exec unshare -m --propagation private bash "$0" --inside
  elif unshare -m -r true 2>/dev/null; then
    exec unshare -m -r --propagation private bash "$0" --inside
  fi
  echo "SKIPPED: creating a mount namespace is not permitted here (unshare -m)"; exit 0
fi

# ---- inside the private mount namespace ----
if ! mount -t tmpfs nightshift-fake-sysclass /sys/class 2>/dev/null; then
  echo "SKIPPED: cannot mount a tmpfs over /sys/class in the namespace"; exit 0
fi

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
PY=/usr/bin/python3
json_get() {  # json_get FILE PYTHON-EXPRESSION-ON-j
  "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}
work=$(mktemp -d)
follow_pid=""
cleanup() { [[ -n "$follow_pid" ]] && kill "$follow_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# 1. No hwmon at all: says so, exit 0.
out=$("$BIN" sensors 2>&1); rc=$?
if [[ $rc -eq 0 && "$out" == *"no temperature sensors"* ]]; then pass "no sensors: says so, exit 0"
else fail "no sensors: rc=$rc out=$out"; fi

# 2. A fake tree: acpitz (hwmon0) and k10temp (hwmon3), no device symlinks ("virtual" chips).
mkdir -p /sys/class/hwmon/hwmon0 /sys/class/hwmon/hwmon3
echo acpitz > /sys/class/hwmon/hwmon0/name
echo 47000 > /sys/class/hwmon/hwmon0/temp1_input
echo 105000 > /sys/class/hwmon/hwmon0/temp1_crit
chip=/sys/class/hwmon/hwmon3
echo k10temp > $chip/name
echo Tctl > $chip/temp1_label
echo 55125 > $chip/temp1_input
echo 90000 > $chip/temp1_max
echo 100000 > $chip/temp1_crit

"$BIN" sensors --json > "$work/s1.json"; rc=$?
chosen=$(json_get "$work/s1.json" "j['chosen']")
temp=$(json_get "$work/s1.json" "[s['temp_c'] for s in j['sensors'] if s['chosen']][0]")
limits=$(json_get "$work/s1.json" "[(s['max_c'], s['crit_c']) for s in j['sensors'] if s['chosen']][0]")
count=$(json_get "$work/s1.json" "len(j['sensors'])")
if [[ $rc -eq 0 && "$chosen" == "k10temp-virtual-0/Tctl" && "$temp" == "55.125" && "$limits" == "(90.0, 100.0)" && "$count" == 2 ]]; then
  pass "sensors --json sees k10temp Tctl 55.125 °C (max 90, crit 100) and chooses it over acpitz"
else fail "sensors --json: rc=$rc chosen=$chosen temp=$temp limits=$limits count=$count"; fi

# 3. A new value written to the file is what the next call reads.
echo 61500 > $chip/temp1_input
temp=$("$BIN" sensors --json > "$work/s2.json" && json_get "$work/s2.json" "[s['temp_c'] for s in j['sensors'] if s['chosen']][0]")
if [[ "$temp" == "61.5" ]]; then pass "follows a value written to temp1_input (61.5)"; else fail "after write: temp=$temp"; fi

# 4. An unknown pattern: exit 2 and the sensors that exist are listed.
err=$("$BIN" sensors --sensor 'coretemp*' 2>&1 >/dev/null); rc=$?
if [[ $rc -eq 2 && "$err" == *"coretemp*"* && "$err" == *"k10temp-virtual-0/Tctl"* && "$err" == *"acpitz-virtual-0/temp1"* ]]; then
  pass "unknown pattern: exit 2, lists the sensors"
else fail "unknown pattern: rc=$rc err=$err"; fi
out=$("$BIN" sensors --sensor 'acpitz*'); rc=$?
if [[ $rc -eq 0 && "$out" == *"would use: acpitz-virtual-0/temp1"* ]]; then pass "--sensor acpitz* chooses acpitz"
else fail "--sensor acpitz*: rc=$rc out=$out"; fi

# 5. The governor, live: sensors --follow reads every 50 ms; the script writes temperatures and
#    waits for the governor's answer to each.
"$BIN" sensors --follow 4000 --interval-ms 50 --json --fault-grace-s 0 --threads 8 --rank 16 > "$work/follow.jsonl" 2> "$work/follow.err" &
follow_pid=$!
# wait_line DESCRIPTION PATTERN... : waits (up to 30 s) for a line containing every pattern.
wait_line() {
  local what=$1; shift
  for _ in $(seq 1 300); do
    if [[ -s "$work/follow.jsonl" ]]; then
      local lines; lines=$(cat "$work/follow.jsonl")
      for p in "$@"; do lines=$(grep -F -- "$p" <<< "$lines"); done
      if [[ -n "$lines" ]]; then pass "$what"; return 0; fi
    fi
    if ! kill -0 "$follow_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  fail "$what (no line with: $*)"; tail -3 "$work/follow.jsonl"; cat "$work/follow.err"; return 1
}
echo 60000 > $chip/temp1_input
wait_line "60 °C: normal, full knobs" '"temp_c":60.0' '"action":"normal"' '"threads":8' '"lora_rank":16'
echo 79000 > $chip/temp1_input
wait_line "79 °C: throttle, rank and threads halved" '"temp_c":79.0' '"action":"throttle"' '"threads":4' '"lora_rank":8'
echo 88000 > $chip/temp1_input
wait_line "88 °C: pause after each step" '"temp_c":88.0' '"action":"pause"' '"pause_ms":500.0'
echo 96500 > $chip/temp1_input
wait_line "96.5 °C: checkpoint and wait" '"temp_c":96.5' '"action":"checkpoint_and_wait"' '"checkpoint":true'
echo 80000 > $chip/temp1_input
wait_line "80 °C: still waiting (resume below 75)" '"temp_c":80.0' '"action":"checkpoint_and_wait"' '"checkpoint":false'
echo 70000 > $chip/temp1_input
wait_line "70 °C: training resumes at the floors" '"temp_c":70.0' '"action":"pause"' '"threads":1' '"lora_rank":4'
# The chip moves to another hwmon number (driver reload): found again by chip name + label.
mv /sys/class/hwmon/hwmon3 /sys/class/hwmon/hwmon9
chip=/sys/class/hwmon/hwmon9
echo 71000 > $chip/temp1_input
wait_line "renumbered hwmon3 → hwmon9: still read as k10temp-virtual-0/Tctl" '"temp_c":71.0' '"ok":true'
# The sensor disappears: fail-safe (checkpoint and wait), never a crash.
rm $chip/temp1_input
wait_line "temp1_input removed: fail-safe" '"ok":false' '"fail_safe":true' '"action":"checkpoint_and_wait"' '"sensor_fault"'
echo 66000 > $chip/temp1_input
wait_line "it comes back: recovered" '"temp_c":66.0' '"sensor_recovered"' '"fail_safe":false'
echo -273150 > $chip/temp1_input
wait_line "-273.15 °C: implausible, fail-safe" '"temp_c":-273.15' '"fail_safe":true' 'implausible'
echo 67000 > $chip/temp1_input
wait_line "67 °C: recovered again" '"temp_c":67.0' '"fail_safe":false'
echo 250000 > $chip/temp1_input
wait_line "250 °C: implausible, fail-safe (not an emergency stop)" '"temp_c":250.0' '"fail_safe":true' '"action":"checkpoint_and_wait"'

kill "$follow_pid" 2>/dev/null; wait "$follow_pid" 2>/dev/null; follow_pid=""
if [[ -s "$work/follow.err" ]]; then fail "sensors --follow wrote to stderr: $(cat "$work/follow.err")"; fi

# 6. A broken sensors3.conf: libsensors' parse-error hook goes through nightshift's log sink (one
#    warning naming file:line), never libsensors' own stderr message or exit; the sensor still reads.
if [[ -f /etc/sensors3.conf ]]; then
  printf 'chip "k10temp-*"\n  this is not valid ((\n' > "$work/broken.conf"
  if mount --bind "$work/broken.conf" /etc/sensors3.conf 2>/dev/null; then
    echo 64000 > $chip/temp1_input
    out=$("$BIN" sensors 2> "$work/conf.err"); rc=$?
    err=$(cat "$work/conf.err")
    if [[ $rc -eq 0 && "$out" == *"k10temp-virtual-0"*"64.0"* && "$err" == *"sensors config /etc/sensors3.conf:2"* && "$err" != *"Error: File"* ]]; then
      pass "broken sensors3.conf: warning via the log sink, sensor still read"
    else fail "broken sensors3.conf: rc=$rc out=$out err=$err"; fi
    umount /etc/sensors3.conf
  else
    echo "note: cannot bind-mount over /etc/sensors3.conf here; config hook check skipped"
  fi
fi

# 7. A real training run governed by libsensors: `train --thermal libsensors` reads the fake chip
#    before every step; heat pauses it per step, 96 °C makes it checkpoint and wait (no steps), and
#    it trains again once the chip is cool; every decision is an event in the run log.
for i in $(seq 1 300); do echo "line $i: the quick brown fox jumps over the lazy dog."; done > "$work/corpus.txt"
printf 'name = "micro"\nd_model = 32\nblocks = ["attn+mlp"]\n[attn]\nn_heads = 2\n' > "$work/micro.toml"
echo 60000 > $chip/temp1_input
XDG_CACHE_HOME="$work/cache" "$BIN" train --model "$work/micro.toml" --data "$work/corpus.txt" --batch 2 --seq 16 \
  --threads 1 --steps 10000000 --thermal libsensors --out "$work/run" --headless 2> "$work/train.err" &
train_pid=$!
steps() { "$BIN" log "$work/run" steps 2>/dev/null | tail -n +2 | wc -l; }
wait_for() {  # wait_for SECONDS COMMAND...
  local t=$1; shift
  for _ in $(seq 1 $((t * 10))); do "$@" && return 0; sleep 0.1; done; return 1
}
event() { "$BIN" log "$work/run" events 2>/dev/null | grep -q "$1"; }
if wait_for 30 bash -c "[ \$(\"$BIN\" log '$work/run' steps 2>/dev/null | wc -l) -gt 10 ]" &&
   event ',thermal,"governing by libsensors'; then
  pass "train --thermal libsensors trains and says which sensor governs"
else fail "train --thermal libsensors did not start: $(tail -3 "$work/train.err")"; fi
echo 88000 > $chip/temp1_input
if wait_for 20 event 'thermal_transition,.*normal -> pause'; then pass "train: 88 °C pauses after each step"
else fail "train: no pause transition at 88 °C"; fi
echo 96500 > $chip/temp1_input
if wait_for 20 event ',cooldown,'; then
  sleep 1; before=$(steps); sleep 2
  if [[ "$before" == "$(steps)" ]]; then pass "train: 96.5 °C checkpoints and waits (no steps)"
  else fail "train: steps go on at 96.5 °C"; fi
else fail "train: no cooldown at 96.5 °C"; fi
echo 60000 > $chip/temp1_input
before=$(steps)
if wait_for 30 bash -c "[ \$(\"$BIN\" log '$work/run' steps | tail -n +2 | wc -l) -gt $((before + 5)) ]"; then
  pass "train: trains again when cool"
else fail "train: no steps after cooling down"; fi
kill -TERM $train_pid; wait $train_pid; rc=$?
if [[ $rc -eq 0 && -f "$work/run/checkpoints/latest" ]]; then pass "train: SIGTERM checkpoints and exits 0"
else fail "train: SIGTERM rc=$rc"; fi

if [[ $failures -gt 0 ]]; then echo "$failures check(s) failed"; exit 1; fi
echo "all thermal hwmon checks passed"
