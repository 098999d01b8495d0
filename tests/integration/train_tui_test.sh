#!/usr/bin/env bash
# ctest: run serial (timing-sensitive: a loaded machine delays the events it waits for)
# The dashboard on a real training run, driven in tmux as a person would:
#  - in-process (`nightshift train --tui`): every panel at 80x24 with the run's values, `p` pauses
#    the trainer (logged, PAUSED on screen, the step count stops), `p` resumes, `q` asks y/n (n: the
#    run goes on), `q` `y` checkpoints and stops; the process exits 0, the terminal is restored and a
#    final line names the step, loss and checkpoint (also on SIGTERM, with a checkpoint);
#  - attached (`nightshift top` beside a --headless run): `p` pauses the trainer through the control
#    table, `q` leaves top while the trainer goes on, `s` `y` leaves a checkpoint at the last step and
#    a stopped run.
source "$(dirname "$0")/dashboard_lib.sh"
export XDG_CACHE_HOME="$WORK/cache"

for i in $(seq 1 400); do echo "line $i: the quick brown fox jumps over the lazy dog while the night goes on."; done > "$WORK/corpus.txt"
printf 'name = "micro"\nd_model = 32\nblocks = ["attn+mlp", "attn+mlp"]\n[attn]\nn_heads = 2\n' > "$WORK/micro.toml"
TRAIN="'$BIN' train --model '$WORK/micro.toml' --data '$WORK/corpus.txt' --batch 2 --seq 16 --threads 1 --steps 1000000 --eval-every 50 --eval-batches 2 --thermal sim --sim-speed 100"

# --- in-process ---------------------------------------------------------------------------------
RUN=$WORK/inproc
tmux_start 80 24 "s=\$(stty -g); $TRAIN --out '$RUN' --tui --name tui-train 2>'$WORK/err.txt'; rc=\$?; [ \"\$(stty -g)\" = \"\$s\" ] && echo TTY_RESTORED; (exit \$rc)"
wait_until 30 screen_has "tui-train" || fail "train --tui did not draw"
wait_until 20 screen_has "Tokens/s" || fail "not every panel drawn"
wait_until 20 bash -c "[ \$('$BIN' log '$RUN' steps | wc -l) -gt 20 ]" || fail "no steps logged"
check_panels 80 24
screen_has "Temperature" || fail "no temperature panel"

send_key p
wait_until 20 bash -c "'$BIN' log '$RUN' runs | grep -q ',paused,'" || fail "the run did not pause"
has_event "$RUN" pause || fail "no pause event"
wait_until 10 screen_has "PAUSED" || fail "the screen does not say PAUSED"
before=$(step_count "$RUN")
sleep 1.5
[ "$before" = "$(step_count "$RUN")" ] || fail "steps still advancing while paused"
# The values on screen are the log's: the step count of the paused run.
total=$(run_field "$RUN" total_steps)
wait_until 10 screen_has "step $before/$total" || fail "screen does not show step $before/$total"

send_key p
wait_until 20 bash -c "'$BIN' log '$RUN' runs | grep -q ',running,'" || fail "the run did not resume"
wait_until 20 bash -c "[ \$('$BIN' log '$RUN' steps --format json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))') -gt $((before + 5)) ]" ||
  fail "steps do not advance after resume"

# q in the trainer's own dashboard asks before stopping (n: the run goes on), y stops.
send_key q
wait_until 10 screen_has "y/n" || fail "q did not ask for a confirmation"
send_key n
wait_until 10 screen_has "not stopped" || fail "n did not cancel"
[ "$(run_field "$RUN" status)" = running ] || fail "the run stopped although the stop was cancelled"
send_key q
wait_until 10 screen_has "y/n" || fail "q did not ask again"
send_key y
wait_until 30 screen_has "EXIT=0" || fail "train did not exit 0 after q y"
[ "$(run_field "$RUN" status)" = stopped ] || fail "the run is not stopped"
last=$("$BIN" log "$RUN" steps --format json | $PY -c "import json,sys; print(max(r['step'] for r in json.load(sys.stdin)))")
[ "$(cat "$RUN/checkpoints/latest")" = "$(printf 'step-%08d' "$last")" ] || fail "no checkpoint at the last step $last"
# After the dashboard closed, one line says where the run ended: steps, loss, checkpoint.
tmux -L "$TMUX_SOCKET" capture-pane -p -J -t dash | grep -qE "run stopped at step $last of [0-9]+: loss [0-9.]+.*checkpoint .*step-0*$last" ||
  fail "no final line with the step, loss and checkpoint after the dashboard closed"
screen_has "TTY_RESTORED" || fail "terminal modes not restored"
screen_has "Governor" && fail "the dashboard is still on the screen"
tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true
TMUX_SOCKET="${TMUX_SOCKET}x"  # a fresh server: a new one on the old socket can race its shutdown

# --- SIGTERM while the dashboard is up: checkpoint, exit 0, terminal restored ------------------------
RUN=$WORK/sigterm
tmux_start 80 24 "s=\$(stty -g); $TRAIN --out '$RUN' --tui --name tui-term 2>'$WORK/err2.txt' </dev/tty & echo \$! > '$WORK/pid'; wait \$!; rc=\$?; [ \"\$(stty -g)\" = \"\$s\" ] && echo TTY_RESTORED; (exit \$rc)"
wait_until 30 screen_has "tui-term" || fail "train --tui (second run) did not draw: $(cat "$WORK/err2.txt")"
wait_until 20 bash -c "[ \$('$BIN' log '$RUN' steps 2>/dev/null | wc -l) -gt 10 ]" || fail "no steps in the second run"
kill -TERM "$(cat "$WORK/pid")"
wait_until 30 screen_has "EXIT=0" || fail "train --tui did not exit 0 on SIGTERM"
screen_has "TTY_RESTORED" || fail "terminal modes not restored after SIGTERM"
[ -f "$RUN/checkpoints/latest" ] || fail "no checkpoint after SIGTERM"
[ "$(run_field "$RUN" status)" = interrupted ] || fail "the run is not marked interrupted"
tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true
TMUX_SOCKET="${TMUX_SOCKET}x"  # a fresh server: a new one on the old socket can race its shutdown

# --- attached -------------------------------------------------------------------------------------
RUN=$WORK/attached
bash -c "$TRAIN --out '$RUN' --headless" 2>"$WORK/headless.txt" &
PIDS+=($!)
TRAINER=$!
wait_until 30 bash -c "[ \$('$BIN' log '$RUN' steps 2>/dev/null | wc -l) -gt 20 ]" || fail "the headless run did not start"
tmux_start 80 24 "'$BIN' top '$RUN'"
wait_until 20 screen_has "Tokens/s" || fail "top did not draw"
check_panels 80 24
send_key p
wait_until 20 bash -c "'$BIN' log '$RUN' runs | grep -q ',paused,'" || fail "top could not pause the trainer"
before=$(step_count "$RUN")
sleep 1.5
[ "$before" = "$(step_count "$RUN")" ] || fail "the trainer still steps while paused from top"
send_key p
wait_until 20 bash -c "'$BIN' log '$RUN' runs | grep -q ',running,'" || fail "top could not resume the trainer"
# q leaves top and the trainer goes on; s y from a new top stops it.
send_key q
wait_until 10 screen_has "EXIT=0" || fail "q did not leave top"
at_q=$(step_count "$RUN")
wait_until 20 bash -c "[ \$('$BIN' log '$RUN' steps | wc -l) -gt $((at_q + 5)) ]" || fail "the trainer stopped when q left top"
tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true
TMUX_SOCKET="${TMUX_SOCKET}x"
tmux_start 80 24 "'$BIN' top '$RUN'"
wait_until 20 screen_has "Tokens/s" || fail "top did not draw again"
send_key s
wait_until 10 screen_has "y/n" || fail "s did not ask for a confirmation"
send_key y
wait "$TRAINER" || fail "the trainer exited with an error"
[ "$(run_field "$RUN" status)" = stopped ] || fail "the attached run is not stopped"
last=$("$BIN" log "$RUN" steps --format json | $PY -c "import json,sys; print(max(r['step'] for r in json.load(sys.stdin)))")
[ "$(cat "$RUN/checkpoints/latest")" = "$(printf 'step-%08d' "$last")" ] || fail "no checkpoint at the last step"
wait_until 20 screen_has "EXIT=0" || fail "top did not exit after the run ended"
echo "PASS train_tui_test"
