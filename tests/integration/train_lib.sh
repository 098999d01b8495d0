# Shared setup of the training-run integration tests (sourced, not a test itself): a work folder
# removed on exit with any background process still running, failure with the tails of the logs,
# polling with a deadline, the run log through `nightshift log`, a small corpus ($work/corpus.txt)
# and a micro model ($work/micro.toml, one or more attn+mlp blocks of width 32) that train in
# milliseconds per step.
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?NIGHTSHIFT_BIN must point at the nightshift binary}
PY=/usr/bin/python3
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export XDG_CACHE_HOME="$work/cache"

fail() { echo "FAIL: $*" >&2; for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done; exit 1; }
wait_until() { local t=$1; shift; for _ in $(seq 1 $((t * 10))); do "$@" && return 0; sleep 0.1; done; return 1; }
steps_logged() { "$BIN" log "$1" steps 2>/dev/null | tail -n +2 | wc -l; }
run_field() { "$BIN" log "$1" runs --format json | $PY -c "import json,sys; print(json.load(sys.stdin)[-1]['$2'])"; }
last_step() { "$BIN" log "$1" steps --format json | $PY -c "import json,sys; print(max(r['step'] for r in json.load(sys.stdin)))"; }
tree_sum() { (cd "$1" && find . -type f -exec sha256sum {} + | sort); }

# make_micro_model BLOCKS [WIDTH]: writes $work/micro.toml.
make_micro_model() {
  local blocks='"attn+mlp"'
  for _ in $(seq 2 "$1"); do blocks="$blocks, \"attn+mlp\""; done
  printf 'name = "micro"\nd_model = %s\nblocks = [%s]\n[attn]\nn_heads = 2\n' "${2:-32}" "$blocks" > "$work/micro.toml"
}
for i in $(seq 1 400); do echo "line $i: the quick brown fox jumps over the lazy dog while the night goes on."; done > "$work/corpus.txt"
