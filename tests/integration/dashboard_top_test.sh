#!/usr/bin/env bash
# `nightshift top` attached to a live run, driven in tmux as a person would: at 80x24 every panel
# is there and shows the values in the log; `p` pauses the writer (the step count stops, a pause
# event is logged, the screen says PAUSED); a resize to 120x40 and back keeps it readable; `p`
# resumes; `q` leaves top while the run goes on; `s` asks (n keeps the run), `s` `y` leaves a
# checkpoint and a finished (stopped) run, and top gives the terminal back.
# The writer is `nightshift demo-run`, the stand-in for the training loop.
source "$(dirname "$0")/dashboard_lib.sh"

RUN=$WORK/run
"$BIN" demo-run "$RUN" --steps 1000000 --step-ms 40 --checkpoint-every 0 --eval-every 10 --name attached-demo \
  >"$WORK/writer.log" 2>&1 &
WRITER=$!
PIDS+=("$WRITER")
wait_until 20 test -s "$RUN/run.db" || fail "the writer did not create run.db"
wait_until 20 bash -c "[ \$('$BIN' log '$RUN' steps | wc -l) -gt 30 ]" || fail "no steps written"

tmux_start 80 24 "s=\$(stty -g); '$BIN' top '$RUN'; rc=\$?; [ \"\$(stty -g)\" = \"\$s\" ] && echo TTY_RESTORED; (exit \$rc)"
wait_until 20 screen_has "attached-demo" || fail "top did not draw"
wait_until 10 screen_has "Tokens/s" || fail "top did not draw every panel"
check_panels 80 24

# Pause through the dashboard: the writer acknowledges, logs it and stops stepping.
send_key p
wait_until 20 bash -c "'$BIN' log '$RUN' runs | grep -q ',paused,'" || fail "the run did not pause"
has_event "$RUN" pause || fail "no pause event in the log"
"$BIN" log "$RUN" control | grep -q ',pause,1,' || fail "the pause request was not marked done"
wait_until 10 screen_has "PAUSED" || fail "the screen does not say PAUSED"
before=$(step_count "$RUN")
sleep 1.5
after=$(step_count "$RUN")
[ "$before" = "$after" ] || fail "steps still advancing while paused: $before -> $after"
sleep 0.6  # one more refresh, so the screen shows the paused state's final numbers

# The values on the screen are the ones in the log.
"$BIN" log "$RUN" runs --format json >"$WORK/runs.json"
"$BIN" log "$RUN" steps --format json >"$WORK/steps.json"
"$BIN" log "$RUN" samples --format json >"$WORK/samples.json"
"$BIN" log "$RUN" events --format json >"$WORK/events.json"
screen_text >"$WORK/screen.txt"
$PY - "$WORK" <<'EOF' || fail "screen values differ from the log"
import json, re, sys
d = sys.argv[1]
run = json.load(open(f"{d}/runs.json"))[-1]
steps = json.load(open(f"{d}/steps.json"))
samples = json.load(open(f"{d}/samples.json"))
events = json.load(open(f"{d}/events.json"))
screen = open(f"{d}/screen.txt").read()
last = steps[-1]
def loss(v): return f"{v:.3f}" if 1 <= abs(v) < 10 else f"{v:.4g}"
def mib(b): return f"{b / 2**20:.1f} MiB"
def rate(v):
    if v >= 1e6: return f"{v / 1e6:.2f}M"
    if v >= 1e4: return f"{v / 1e3:.1f}K"
    if v >= 1e3: return f"{v / 1e3:.2f}K"
    return f"{v:.0f}"
newest = max([(s["time"], s["temp_c"], s["rss_bytes"]) for s in samples] + [(last["time"], last["temp_c"], last["rss_bytes"])])
val = [s["val_loss"] for s in steps if s["val_loss"] is not None][-1]
expect = {
    "run name": run["name"],
    "step": f"step {last['step']}/{run['total_steps']}",
    "loss": f"loss {loss(last['loss'])}",
    "val loss": f"val {loss(val)}",
    "tokens": f"tokens {rate(last['tokens'])}",
    "governor state": f"state {last['governor']}",
    "rss": mib(newest[2]),
    "plan": mib(last["planned_bytes"]),
    "budget": f"{run['budget_bytes'] / 2**30:.2f} GiB",
    "tokens/s": f"{rate(last['tokens_per_s'])} tok/s",
    "newest event": events[-1]["detail"][:20],
    "warn threshold": f"{run['temp_warn_c']:.0f} ",
}
missing = [f"{k}: {v!r}" for k, v in expect.items() if v not in screen]
# While paused the writer keeps sampling the temperature, so the screen may be one refresh behind
# the export: its reading must be one of the newest samples in the log.
recent = [f"{t:.1f}" for _, t, _ in sorted([(s["time"], s["temp_c"], 0) for s in samples] + [(last["time"], last["temp_c"], 0)])[-8:]]
m = re.search(r"Temperature (-?[0-9.]+)°C", screen)
if not m or m.group(1) not in recent: missing.append(f"temperature: one of {recent}, screen {m.group(1) if m else None}")
if not re.search(rf"rank\s+{last['lora_rank']}\b", screen): missing.append(f"rank {last['lora_rank']}")
if not re.search(rf"threads\s+{last['threads']}\b", screen): missing.append(f"threads {last['threads']}")
if missing:
    print("missing on screen:", *missing, sep="\n  ", file=sys.stderr)
    print(screen, file=sys.stderr)
    sys.exit(1)
EOF

# Larger and back to the smallest size: every panel, nothing wider than the window.
resize 120 40
wait_until 10 bash -c "[ \$(tmux -L '$TMUX_SOCKET' capture-pane -p -t dash | wc -l) -ge 40 ] && tmux -L '$TMUX_SOCKET' capture-pane -p -t dash | grep -q 'Events'" ||
  fail "no redraw at 120x40"
sleep 0.6
check_panels 120 40
resize 80 24
sleep 0.8
check_panels 80 24
screen_has "PAUSED" || fail "lost the paused state after resizing"

# Resume: steps advance again.
send_key p
wait_until 20 bash -c "'$BIN' log '$RUN' runs | grep -q ',running,'" || fail "the run did not resume"
resumed=$(step_count "$RUN")
wait_until 20 bash -c "[ \$('$BIN' log '$RUN' steps | wc -l) -gt $((resumed + 5)) ]" || fail "steps do not advance after resume"
has_event "$RUN" resume || fail "no resume event"

# q leaves the viewer like in htop or less: top exits, the terminal is restored, the run goes on.
send_key q
wait_until 10 screen_has "EXIT=0" || fail "q did not leave top"
screen_has "TTY_RESTORED" || fail "terminal modes not restored after q"
at_q=$(step_count "$RUN")
wait_until 20 bash -c "[ \$('$BIN' log '$RUN' steps | wc -l) -gt $((at_q + 5)) ]" || fail "the run stopped when q left top"
[ "$(run_field "$RUN" status)" = running ] || fail "the run is not running after q left top"
"$BIN" log "$RUN" control | grep -q ',stop,' && fail "q sent a stop request"
tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true
TMUX_SOCKET="${TMUX_SOCKET}x"  # a fresh server: a new one on the old socket can race its shutdown
tmux_start 80 24 "s=\$(stty -g); '$BIN' top '$RUN'; rc=\$?; [ \"\$(stty -g)\" = \"\$s\" ] && echo TTY_RESTORED; (exit \$rc)"
wait_until 20 screen_has "Tokens/s" || fail "top did not draw again"

# s asks first; n keeps the run going.
send_key s
wait_until 10 screen_has "y/n" || fail "s did not ask for a confirmation"
send_key n
wait_until 10 screen_has "not stopped" || fail "n did not cancel"
sleep 0.5
[ "$(run_field "$RUN" status)" = running ] || fail "the run stopped although the stop was cancelled"

# s, y: checkpoint and stop the run; top leaves once the run has ended and restores the terminal.
send_key s
wait_until 10 screen_has "y/n" || fail "s did not ask for a confirmation"
send_key y
wait_until 30 bash -c "'$BIN' log '$RUN' runs | grep -q ',stopped,'" || fail "the run did not stop"
finished=$(run_field "$RUN" finished)
[ -n "$finished" ] && [ "$finished" != "None" ] || fail "the run has no finish time"
last_step=$("$BIN" log "$RUN" steps --format json | $PY -c "import json,sys; print(json.load(sys.stdin)[-1]['step'])")
"$BIN" log "$RUN" checkpoints --format json | $PY -c "
import json, os, sys
rows = json.load(sys.stdin)
assert rows, 'no checkpoint row'
assert rows[-1]['step'] == int(sys.argv[1]), f'checkpoint at {rows[-1][\"step\"]}, last step {sys.argv[1]}'
assert os.path.exists(rows[-1]['path']), 'checkpoint file missing'
" "$last_step" || fail "no checkpoint at the last step"
wait "$WRITER" || fail "the writer exited with an error"
wait_until 20 screen_has "EXIT=0" || fail "top did not exit after the run ended"
screen_has "TTY_RESTORED" || fail "terminal modes not restored"
screen_has "Governor" && fail "the dashboard is still on the screen after exit"
echo "PASS dashboard_top_test"
