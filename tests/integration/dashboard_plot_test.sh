#!/usr/bin/env bash
# `nightshift plot` draws what the log holds: a well-formed SVG (parsed by Python's xml.etree)
# with a loss chart (train polyline with one point per step, a dot per validation loss, higher
# loss drawn higher) and a temperature chart with the governor's thresholds, axes, labels and
# legends; `log` exports agree between CSV and JSON; the plot file is replaced atomically.
source "$(dirname "$0")/dashboard_lib.sh"

RUN=$WORK/run
"$BIN" demo-run "$RUN" --steps 240 --step-ms 0 --eval-every 20 --checkpoint-every 100 2>/dev/null
echo "stale" >"$WORK/plot.svg"
"$BIN" plot "$RUN" -o "$WORK/plot.svg" --force || fail "plot failed"
"$BIN" log "$RUN" steps --format json >"$WORK/steps.json"
"$BIN" log "$RUN" steps --format csv >"$WORK/steps.csv"
"$BIN" log "$RUN" runs --format json >"$WORK/runs.json"
ls "$WORK"/plot.svg.tmp.* 2>/dev/null && fail "a temporary file was left behind"

$PY - "$WORK" <<'EOF2' || fail "the SVG does not show the log"
import csv, json, re, sys
import xml.etree.ElementTree as ET
d = sys.argv[1]
steps = json.load(open(f"{d}/steps.json"))
run = json.load(open(f"{d}/runs.json"))[-1]
rows = list(csv.DictReader(open(f"{d}/steps.csv")))
assert len(rows) == len(steps) == 240, (len(rows), len(steps))
assert all(abs(float(r["loss"]) - s["loss"]) == 0 for r, s in zip(rows, steps)), "CSV and JSON disagree"

root = ET.parse(f"{d}/plot.svg").getroot()  # raises on malformed XML
ns = {"s": "http://www.w3.org/2000/svg"}
assert root.tag == "{http://www.w3.org/2000/svg}svg"
charts = root.findall("s:g[@class='chart']", ns)
assert len(charts) == 2, len(charts)
texts = lambda g: [t.text or "" for t in g.iter("{http://www.w3.org/2000/svg}text")]

def series(chart, name):
    g = chart.find(f"s:g[@class='series'][@data-name='{name}']", ns)
    assert g is not None, f"no series {name}"
    return g

loss_chart, temp_chart = charts
assert "Loss" in texts(loss_chart) and "step" in texts(loss_chart) and "loss" in texts(loss_chart)
assert {"train loss", "validation loss"} <= set(texts(loss_chart)), "legend"
train = series(loss_chart, "train loss")
points = [tuple(map(float, p.split(","))) for poly in train.findall("s:polyline", ns) for p in poly.get("points").split()]
assert len(points) == len(steps), (len(points), len(steps))
# Pixel y is a decreasing function of the loss (up the page), pixel x an increasing one of the step.
pairs = sorted(zip([s["loss"] for s in steps], [p[1] for p in points]))
assert all(y2 <= y1 + 0.1 for (_, y1), (_, y2) in zip(pairs, pairs[1:])), "higher loss is not drawn higher"
assert all(b[0] >= a[0] for a, b in zip(points, points[1:])), "steps not left to right"
vals = [s for s in steps if s["val_loss"] is not None]
assert len(vals) == 12, len(vals)
dots = series(loss_chart, "validation loss").findall("s:circle", ns)
assert len(dots) == len(vals), (len(dots), len(vals))

assert "Temperature" in texts(temp_chart) and "temperature (°C)" in texts(temp_chart)
temp = series(temp_chart, "temperature")
tpoints = [p for poly in temp.findall("s:polyline", ns) for p in poly.get("points").split()]
assert len(tpoints) == len(steps), len(tpoints)
thresholds = [g.get("data-name") for g in temp_chart.findall("s:g[@class='threshold']", ns)]
assert thresholds == [f"shrink {run['temp_warn_c']:.0f} °C", f"pause {run['temp_hot_c']:.0f} °C",
                      f"stop {run['temp_crit_c']:.0f} °C"], thresholds
axes = loss_chart.findall("s:line[@class='axis']", ns)
assert len(axes) == 2, "axes"
title = root.find("s:title", ns).text
assert run["name"] in title and "240 steps" in title, title
EOF2

# Log scale and time axis variants are well-formed too.
"$BIN" plot "$RUN" -o "$WORK/plot_log.svg" --log-y --x time || fail "plot --log-y --x time failed"
$PY -c "import sys, xml.etree.ElementTree as ET; ET.parse(sys.argv[1])" "$WORK/plot_log.svg" || fail "log-scale SVG malformed"
grep -q "log scale" "$WORK/plot_log.svg" || fail "no log-scale label"
grep -q "time since start" "$WORK/plot_log.svg" || fail "no time axis label"
echo "PASS dashboard_plot_test"
