#!/usr/bin/env bash
# `summary` after a resume and a faulty sensor: a run trained by two processes (the second raising
# --steps) counts the tokens of both, says "steps 120 of 120", shows checkpoint I/O and the downtime
# between the processes with their reasons, never shows the sensor's rejected readings (-273 °C,
# 250 °C) as temperatures, and lists the sensor faults under errors / warnings. The run log's
# tokens column continues across the resume instead of restarting at 0.
source "$(dirname "$0")/train_lib.sh"
make_micro_model 1

# A recorded sensor that reads nonsense (-273 °C and 250 °C by turns) for its first 3 seconds,
# then sensibly. Replay time starts when a process opens the sensor, so each process meets the
# faults at its first step however fast the machine is (the governor holds training until the
# sensor reads sensibly), and no loaded machine can make the steps miss them.
{
  echo "time_s,temp_c"
  for i in $(seq 0 11); do
    if ((i % 2)); then echo "$((i * 25))e-2,250"; else echo "$((i * 25))e-2,-273"; fi
  done
  echo "3,50"; echo "4,51"; echo "5,52"
  for t in $(seq 6 600); do echo "$t,53"; done
} >"$work/sensor.csv"
TRAIN=("$BIN" train --model "$work/micro.toml" --data "$work/corpus.txt" --batch 2 --seq 16 --threads 1
       --checkpoint-every 20 --eval-every 0 --thermal "replay:$work/sensor.csv" --out "$work/run")
"${TRAIN[@]}" --steps 60 2>"$work/first.log" || fail "the first process failed"
sleep 1.5  # nobody trains for a while
"${TRAIN[@]}" --steps 120 2>"$work/second.log" || fail "the second process failed"
grep -q "from step 60" "$work/second.log" || fail "the second process did not resume from step 60"

per_step=$((2 * 16))
"$BIN" log "$work/run" steps --format json >"$work/steps.json"
$PY - "$work/steps.json" "$per_step" <<'PY' || fail "the tokens column restarts after the resume"
import json, sys
rows = {r["step"]: r for r in json.load(open(sys.argv[1]))}
per = int(sys.argv[2])
bad = [(s, r["tokens"]) for s, r in sorted(rows.items()) if r["tokens"] != s * per]
assert not bad, f"tokens not cumulative over the run (step, tokens): {bad[:3]} ..."
temps = [r["temp_c"] for r in rows.values() if r["temp_c"] is not None]
assert temps and all(0 < t < 100 for t in temps), f"rejected readings logged as temperatures: {sorted(set(temps))[:5]}"
PY

"$BIN" summary "$work/run" >"$work/summary.txt" || fail "summary failed"
"$BIN" summary "$work/run" --json >"$work/summary.json" || fail "summary --json failed"
cat "$work/summary.txt"
grep -qE "^steps +120 of 120$" "$work/summary.txt" || fail "steps line: $(grep '^steps' "$work/summary.txt")"
grep -qE "^checkpoint I/O +.*\([0-9]+ checkpoints written\)" "$work/summary.txt" || fail "no checkpoint I/O line"
grep -qE "^downtime +.*no process running; 1 restart" "$work/summary.txt" || fail "no downtime line"
grep -qE "^errors / warnings +[1-9]" "$work/summary.txt" || fail "no errors / warnings counted"
grep -q "sensor_fault" "$work/summary.txt" || fail "the sensor faults are not listed"
$PY - "$work/summary.json" "$per_step" <<'PY' || fail "summary --json"
import json, sys
j = json.load(open(sys.argv[1]))
per = int(sys.argv[2])
assert j["tokens"] == 120 * per, ("tokens", j["tokens"], 120 * per)
assert j["steps"] == 120 and j["total_steps"] == 120, (j["steps"], j["total_steps"])
assert j["processes"] == 2, j["processes"]
assert j["downtime_s"] >= 1.0, ("downtime", j["downtime_s"])
assert j["checkpoint_s"] >= 0 and "eval_s" in j
parts = j["training_s"] + j["checkpoint_s"] + j["eval_s"] + j["downtime_s"] + j["paused_s"]
assert abs(parts - j["elapsed_s"]) < 1e-6, (parts, j["elapsed_s"])
assert 0 < j["temp_min_c"] and j["temp_max_c"] < 100, (j["temp_min_c"], j["temp_max_c"])
assert any("sensor_fault" in p["kind"] for p in j["problems"]), j["problems"]
PY
echo "PASS summary_resume_test"
