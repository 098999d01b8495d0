# Shared helpers for the dashboard tests (sourced, not a test itself): a private tmux server,
# polling with a deadline, the run log through `nightshift log`, and screen checks in Python.
set -euo pipefail

: "${NIGHTSHIFT_BIN:?NIGHTSHIFT_BIN must point to the nightshift binary}"
BIN=$NIGHTSHIFT_BIN
PY=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ns_dashboard.XXXXXX")
TMUX_SOCKET="ns_dash_$$"
unset TMUX  # a private server even when the tests run inside tmux
PIDS=()

cleanup() {
  tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  if tmux -L "$TMUX_SOCKET" has-session 2>/dev/null; then
    echo "--- screen ---" >&2
    tmux -L "$TMUX_SOCKET" capture-pane -p -t dash >&2 || true
  fi
  exit 1
}

# wait_until SECONDS COMMAND...: poll every 0.2 s until COMMAND succeeds; fail after SECONDS.
wait_until() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 0.2
  done
}

tmux_start() {  # tmux_start WIDTH HEIGHT COMMAND: one pane running COMMAND (bash), then "EXIT=<rc>"
  printf '%s\n' "$3" 'echo "EXIT=$?"' 'sleep 600' >"$WORK/pane.sh"
  tmux -L "$TMUX_SOCKET" -f /dev/null new-session -d -s dash -x "$1" -y "$2" \
    "env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen bash $WORK/pane.sh"
}
screen_text() { tmux -L "$TMUX_SOCKET" capture-pane -p -t dash; }
screen_has() { screen_text | grep -qF -- "$1"; }
send_key() { tmux -L "$TMUX_SOCKET" send-keys -t dash "$1"; }
resize() { tmux -L "$TMUX_SOCKET" resize-window -t dash -x "$1" -y "$2"; }

run_field() {  # run_field RUN_DIR COLUMN: a column of the newest run
  "$BIN" log "$1" runs --format json | $PY -c "import json,sys; r=json.load(sys.stdin); print(r[-1]['$2'] if r else '')"
}
step_count() { "$BIN" log "$1" steps --format json | $PY -c "import json,sys; print(len(json.load(sys.stdin)))"; }
has_event() { "$BIN" log "$1" events | grep -q ",$2,"; }

# Every panel title on the screen, and no line wider than the terminal.
check_panels() {  # check_panels WIDTH HEIGHT
  local text
  text=$(screen_text)
  for title in "Run" "Loss" "Temperature" "Governor" "Memory" "Knobs" "Tokens/s" "Events"; do
    grep -qF "$title" <<<"$text" || fail "panel '$title' missing at $1x$2"
  done
  $PY -c "
import sys
lines = sys.stdin.read().rstrip('\n').split('\n')
w, h = int(sys.argv[1]), int(sys.argv[2])
assert len(lines) <= h, f'{len(lines)} lines > {h}'
assert max(len(l) for l in lines) <= w, f'a line is wider than {w}'
assert sum(1 for l in lines if l.strip()) >= h - 1, 'screen not filled: ' + str(len(lines))
" "$1" "$2" <<<"$text" || fail "screen does not fit ${1}x${2}"
}
