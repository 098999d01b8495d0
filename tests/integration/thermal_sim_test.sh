#!/usr/bin/env bash
# `nightshift thermal-sim` from the command line: the figures it prints (JSON), a hot device made
# safe by both policies, the setpoint policy near the analytic ideal, profile parameters used, and
# bad input (flags, thresholds out of order, unknown profile) exiting 2 with one clear line.
set -uo pipefail
BIN=${NIGHTSHIFT_BIN:?NIGHTSHIFT_BIN must point at the nightshift binary}
PY=/usr/bin/python3
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A fanless laptop whose ungoverned steady state (140 °C) is far above the stop limit (95 °C).
"$BIN" thermal-sim --profile macbook-air-m4-16gb --policy all --steady-max 140 --throttle 0 --tau 120 --json \
  > "$work/all.json"; rc=$?
if [[ $rc -ne 0 ]]; then fail "thermal-sim --policy all exited $rc"; fi
"$PY" - "$work/all.json" <<'PYEOF' || failures=$((failures + 1))
import json, sys
j = json.load(open(sys.argv[1]))
runs = {r["policy"]: r for r in j["runs"]}
keys = ["max_temp_c", "seconds_above_stop", "throughput_fraction", "ideal_fraction", "transitions_per_hour"]
ok = True
for name, r in runs.items():
    print(f"  {name:9s} " + "  ".join(f"{k} {r[k]:.3f}" for k in keys))
    ok &= all(k in r for k in keys)
stop = j["thresholds"]["stop_c"]
checks = [
    ("the profile's plant is used with the overrides", j["plant"]["ambient_c"] == 25 and j["plant"]["steady_max_c"] == 140),
    ("no governor cooks the device", runs["none"]["max_temp_c"] > stop + 30 and runs["none"]["seconds_above_stop"] > 6 * 3600),
    ("threshold stays below the stop limit", runs["threshold"]["max_temp_c"] < stop and runs["threshold"]["seconds_above_stop"] == 0),
    ("setpoint stays below the stop limit", runs["setpoint"]["max_temp_c"] < stop and runs["setpoint"]["seconds_above_stop"] == 0),
    ("a few transitions per hour at most", runs["threshold"]["transitions_per_hour"] <= 3 and runs["setpoint"]["transitions_per_hour"] <= 3),
    ("setpoint reaches 90% of the ideal", runs["setpoint"]["throughput_fraction"] >= 0.9 * runs["setpoint"]["ideal_fraction"]),
]
for what, good in checks:
    print(("ok: " if good else "FAIL: ") + what)
    ok &= good
sys.exit(0 if ok else 1)
PYEOF

# Text output names every figure.
out=$("$BIN" thermal-sim --profile raspberry-pi-5-8gb --policy setpoint --hours 2); rc=$?
if [[ $rc -eq 0 && "$out" == *max_temp_c* && "$out" == *seconds_above_stop* && "$out" == *throughput_fraction* \
      && "$out" == *ideal_fraction* && "$out" == *transitions_per_hour* ]]; then pass "text output names the figures"
else fail "text output: rc=$rc"; fi

# A trace file is written.
"$BIN" thermal-sim --profile host --hours 1 --trace "$work/trace.csv" > /dev/null
if [[ $(head -1 "$work/trace.csv") == "time_s,temp_c,action,threads,lora_rank,duty" && $(wc -l < "$work/trace.csv") -ge 60 ]]; then
  pass "--trace writes one row per simulated minute"
else fail "--trace: $(head -2 "$work/trace.csv")"; fi

# Bad input: exit 2, one line, naming the problem.
expect_bad() {  # expect_bad TEXT-IN-STDERR ARGS...
  local want=$1; shift
  local err; err=$("$BIN" thermal-sim "$@" 2>&1 >/dev/null); local rc=$?
  if [[ $rc -eq 2 && "$err" == *"$want"* ]]; then pass "bad input ($*): exit 2"
  else fail "bad input ($*): rc=$rc err=$err"; fi
}
expect_bad "thermal.pause_c (70) must be above thermal.shrink_c (75)" --profile host --pause 70
expect_bad "thermal.stop_c" --profile host --stop 80
expect_bad "policy" --profile host --policy pid
expect_bad "hours" --profile host --hours -1
expect_bad "tau" --profile host --tau 0
expect_bad "no-such-device" --profile no-such-device
expect_bad "steady_max_c" --profile host --steady-max 20
expect_bad "--bogus" --profile host --bogus

if [[ $failures -gt 0 ]]; then echo "$failures check(s) failed"; exit 1; fi
echo "all thermal-sim checks passed"
