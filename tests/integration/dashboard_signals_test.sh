#!/usr/bin/env bash
# The dashboard gives the terminal back on every exit path: SIGTERM and SIGINT end `top` cleanly
# (exit 0, modes restored, the dashboard gone from the screen), and a crash (SIGSEGV) restores
# the terminal before the process dies of the signal. `d` detaches and leaves the run going.
source "$(dirname "$0")/dashboard_lib.sh"

RUN=$WORK/run
"$BIN" demo-run "$RUN" --steps 1000000 --step-ms 50 --checkpoint-every 0 >"$WORK/writer.log" 2>&1 &
WRITER=$!
PIDS+=("$WRITER")
wait_until 20 bash -c "[ \$('$BIN' log '$RUN' steps 2>/dev/null | wc -l) -gt 5 ]" || fail "no steps written"

# Runs top in a fresh tmux session and records its pid (the shell execs into top).
start_top() {
  tmux -L "$TMUX_SOCKET" kill-session -t dash 2>/dev/null || true
  rm -f "$WORK/top.pid"
  tmux_start 80 24 "s=\$(stty -g); bash -c 'echo \$\$ >\"$WORK/top.pid\"; exec \"$BIN\" top \"$RUN\"'; rc=\$?; [ \"\$(stty -g)\" = \"\$s\" ] && echo TTY_RESTORED; (exit \$rc)"
  wait_until 20 screen_has "Governor" || fail "top did not draw"
}

for signal in TERM INT; do
  start_top
  kill -s "$signal" "$(cat "$WORK/top.pid")"
  wait_until 10 screen_has "EXIT=0" || fail "top did not exit 0 on SIG$signal"
  screen_has "TTY_RESTORED" || fail "terminal modes not restored after SIG$signal"
  screen_has "Governor" && fail "dashboard still on screen after SIG$signal"
done

start_top
kill -s SEGV "$(cat "$WORK/top.pid")"
wait_until 10 screen_has "EXIT=139" || fail "top did not die of SIGSEGV"
screen_has "TTY_RESTORED" || fail "terminal modes not restored after SIGSEGV"
screen_has "Governor" && fail "dashboard still on screen after SIGSEGV"

start_top
send_key d
wait_until 10 screen_has "EXIT=0" || fail "d did not detach"
"$BIN" log "$RUN" runs | grep -q ',running,' || fail "detaching changed the run"
"$BIN" log "$RUN" control | grep -q ',stop,' && fail "detaching sent a stop"
kill -0 "$WRITER" || fail "the writer died"
echo "PASS dashboard_signals_test"
