#!/usr/bin/env bash
# The in-process dashboard (the `train --tui` arrangement: dashboard on its own thread reading the
# log, commands handed straight to the writer's loop), exercised through `demo-run --tui` in tmux:
# every panel at 80x24, `p` pauses (logged, PAUSED on screen, steps stop), `c` writes a
# checkpoint, `q` asks y/n and `y` checkpoints and stops the run, the process exits 0 and the
# terminal is restored.
source "$(dirname "$0")/dashboard_lib.sh"

RUN=$WORK/run
tmux_start 80 24 "s=\$(stty -g); '$BIN' demo-run '$RUN' --tui --steps 1000000 --step-ms 40 --checkpoint-every 0 --name inprocess-demo 2>'$WORK/err.txt'; rc=\$?; [ \"\$(stty -g)\" = \"\$s\" ] && echo TTY_RESTORED; (exit \$rc)"
wait_until 20 screen_has "inprocess-demo" || fail "the in-process dashboard did not draw"
wait_until 10 screen_has "Tokens/s" || fail "not every panel drawn"
check_panels 80 24

send_key p
wait_until 20 bash -c "'$BIN' log '$RUN' runs | grep -q ',paused,'" || fail "the run did not pause"
has_event "$RUN" pause || fail "no pause event"
wait_until 10 screen_has "PAUSED" || fail "the screen does not say PAUSED"
before=$(step_count "$RUN")
sleep 1.5
[ "$before" = "$(step_count "$RUN")" ] || fail "steps still advancing while paused"

send_key c
wait_until 20 bash -c "[ \$('$BIN' log '$RUN' checkpoints | wc -l) -ge 2 ]" || fail "c wrote no checkpoint"

send_key q
wait_until 10 screen_has "y/n" || fail "q did not ask for a confirmation"
send_key y
wait_until 30 screen_has "EXIT=0" || fail "the process did not exit cleanly after q y"
"$BIN" log "$RUN" runs | grep -q ',stopped,' || fail "the run is not stopped"
[ "$(run_field "$RUN" finished)" != "None" ] || fail "the run has no finish time"
[ "$("$BIN" log "$RUN" checkpoints | wc -l)" -ge 2 ] || fail "no checkpoint row"
screen_has "TTY_RESTORED" || fail "terminal modes not restored"
screen_has "Governor" && fail "the dashboard is still on the screen"
grep -q "run stopped" "$WORK/err.txt" || fail "no closing line: $(cat "$WORK/err.txt")"
echo "PASS dashboard_inprocess_test"
