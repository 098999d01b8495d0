#!/usr/bin/env bash
# `nightshift log -o` and `plot -o` never replace a file without --force (not even the run's own
# run.db); plot writes SVG only (a .png name is refused, a name without extension gets .svg); the
# temperature bands are named shrink/pause/stop like everywhere else; a run without temperature
# readings gets no temperature chart; lines break across a silence (a pause, downtime) instead of
# joining its ends; log exports carry ISO 8601 times beside the epoch seconds.
source "$(dirname "$0")/dashboard_lib.sh"

RUN=$WORK/run
"$BIN" demo-run "$RUN" --steps 60 --step-ms 0 --eval-every 20 --checkpoint-every 0 2>/dev/null

# --- log -o: refuse an existing file, replace it with --force ------------------------------------
echo "keep me" >"$WORK/steps.csv"
set +e
"$BIN" log "$RUN" steps -o "$WORK/steps.csv" 2>"$WORK/err.txt"
rc=$?
set -e
[ $rc = 2 ] || fail "log -o over an existing file: exit $rc, expected 2"
grep -q "^nightshift: .*steps.csv: already exists (use --force" "$WORK/err.txt" || fail "log -o message: $(cat "$WORK/err.txt")"
[ "$(cat "$WORK/steps.csv")" = "keep me" ] || fail "log -o replaced an existing file"
db_sum=$(sha256sum "$RUN/run.db")
set +e
"$BIN" log "$RUN" runs -o "$RUN/run.db" 2>/dev/null
rc=$?
set -e
[ $rc = 2 ] || fail "log -o RUN_DIR/run.db: exit $rc, expected 2"
[ "$(sha256sum "$RUN/run.db")" = "$db_sum" ] || fail "log -o overwrote the run's own run.db"
"$BIN" log "$RUN" steps -o "$WORK/steps.csv" --force || fail "log -o --force failed"
head -1 "$WORK/steps.csv" | grep -q ",step,time,time_iso," || fail "log -o --force did not write the table"

# --- ISO 8601 times next to the epoch seconds ------------------------------------------------------
"$BIN" log "$RUN" steps --format json >"$WORK/steps.json"
"$BIN" log "$RUN" runs --format json >"$WORK/runs.json"
"$BIN" log "$RUN" events >"$WORK/events.csv"
$PY - "$WORK" <<'PY' || fail "no ISO 8601 times in the export"
import csv, datetime, json, sys
d = sys.argv[1]
def same(epoch, iso):
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert abs(t.timestamp() - epoch) < 0.001, (epoch, iso)
steps = json.load(open(f"{d}/steps.json"))
for s in steps:
    same(s["time"], s["time_iso"])
keys = list(steps[0])
assert keys.index("time_iso") == keys.index("time") + 1, keys
run = json.load(open(f"{d}/runs.json"))[-1]
same(run["started"], run["started_iso"]); same(run["finished"], run["finished_iso"])
rows = list(csv.DictReader(open(f"{d}/events.csv")))
assert rows and all(r["time_iso"].endswith("Z") for r in rows), rows[:2]
PY

# --- plot -o: SVG only, no silent replacement ------------------------------------------------------
set +e
"$BIN" plot "$RUN" -o "$WORK/night.png" 2>"$WORK/err.txt"
rc=$?
set -e
[ $rc = 2 ] || fail "plot -o night.png: exit $rc, expected 2"
grep -q "^nightshift: .*night.png: plot writes SVG only" "$WORK/err.txt" || fail "plot .png message: $(cat "$WORK/err.txt")"
[ ! -e "$WORK/night.png" ] || fail "plot wrote SVG into a .png file"
"$BIN" plot "$RUN" -o "$WORK/night" 2>/dev/null || fail "plot -o without extension failed"
[ -f "$WORK/night.svg" ] && [ ! -e "$WORK/night" ] || fail "plot -o NAME did not write NAME.svg"
set +e
"$BIN" plot "$RUN" -o "$WORK/night.svg" 2>"$WORK/err.txt"
rc=$?
set -e
[ $rc = 2 ] || fail "plot over an existing file: exit $rc, expected 2"
grep -q "already exists (use --force" "$WORK/err.txt" || fail "plot -o message: $(cat "$WORK/err.txt")"
"$BIN" plot "$RUN" -o "$WORK/night.svg" --force || fail "plot --force failed"

# --- the bands are shrink/pause/stop ----------------------------------------------------------------
$PY - "$WORK/night.svg" "$WORK/runs.json" <<'PY' || fail "temperature bands misnamed"
import json, sys
import xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
run = json.load(open(sys.argv[2]))[-1]
charts = ET.parse(sys.argv[1]).getroot().findall("s:g[@class='chart']", ns)
assert len(charts) == 2, len(charts)
names = [g.get("data-name") for g in charts[1].findall("s:g[@class='threshold']", ns)]
assert names == [f"shrink {run['temp_warn_c']:.0f} °C", f"pause {run['temp_hot_c']:.0f} °C",
                 f"stop {run['temp_crit_c']:.0f} °C"], names
PY

# --- a silence of ten minutes in the middle breaks the lines --------------------------------------
GAP=$WORK/gap
"$BIN" demo-run "$GAP" --steps 40 --step-ms 0 --eval-every 0 --checkpoint-every 0 2>/dev/null
$PY - "$GAP/run.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE steps SET time = time + 600 WHERE step > 20")
db.execute("UPDATE samples SET time = time + 600 WHERE time > (SELECT time FROM steps WHERE step = 20)")
db.commit()
PY
"$BIN" plot "$GAP" -o "$WORK/gap.svg" --x time || fail "plot of the run with a gap failed"
$PY - "$WORK/gap.svg" <<'PY' || fail "the lines do not break at the gap"
import sys
import xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
charts = ET.parse(sys.argv[1]).getroot().findall("s:g[@class='chart']", ns)
for chart, name in ((charts[0], "train loss"), (charts[1], "temperature")):
    g = chart.find(f"s:g[@class='series'][@data-name='{name}']", ns)
    lines = g.findall("s:polyline", ns)
    assert len(lines) == 2, f"{name}: {len(lines)} polylines, expected 2 (one on each side of the gap)"
PY

# --- no sensor, no temperature chart -----------------------------------------------------------------
$PY - "$GAP/run.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE steps SET temp_c = NULL")
db.execute("DELETE FROM samples")
db.commit()
PY
"$BIN" plot "$GAP" -o "$WORK/nosensor.svg" || fail "plot without temperatures failed"
$PY - "$WORK/nosensor.svg" <<'PY' || fail "a temperature chart without readings"
import sys
import xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse(sys.argv[1]).getroot()
charts = root.findall("s:g[@class='chart']", ns)
assert len(charts) == 1, f"{len(charts)} charts"
assert "Temperature" not in "".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
PY
echo "PASS log_plot_output_test"
