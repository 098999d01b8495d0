#!/usr/bin/env bash
# budget-report plans what train would run: its defaults (model, sequence length, micro-batch,
# tokenizer) are train's; --tokenizer gpt2:DIR takes the vocabulary from the tokenizer (a GPT-2 run
# has 50257 embedding rows, not 256); "does not fit" exits 3 like train; --fit answers in every
# format, JSON included; footnotes use no '*' (markdown emphasis); rows nightshift cannot produce
# (q4, ternary, the 3-bit KV cache) are marked as planning only.
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?NIGHTSHIFT_BIN must point at the nightshift binary}
PY=/usr/bin/python3
GPT2_DIR=${NS_TEST_DATA_DIR:-}/gpt2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
P=(--profile x86-laptop-16gb)

# Defaults equal train's: the help of both names the same sequence length and micro-batch.
train_help=$("$BIN" train --help)
seq=$(grep -E -- "^ *--seq[ ,]" <<<"$train_help" | grep -oE 'INT=[0-9]+' | cut -d= -f2 || true)
batch=$(grep -E -- "^ *--batch " <<<"$train_help" | grep -oE 'INT=[0-9]+' | cut -d= -f2 || true)
[ -n "$seq" ] && [ -n "$batch" ] || fail "train --help shows no default for --seq/--batch"
"$BIN" budget-report "${P[@]}" --format json >"$work/default.json" || fail "budget-report with defaults"
$PY - "$work/default.json" "$seq" "$batch" <<'PY' || fail "budget-report defaults differ from train's"
import json, sys
j = json.load(open(sys.argv[1]))
t = j["training"]
assert (t["seq_len"], t["micro_batch"]) == (int(sys.argv[2]), int(sys.argv[3])), (t["seq_len"], t["micro_batch"], sys.argv[2:])
assert j["model"] == "gpt-tiny", j["model"]
PY

# The vocabulary comes from the tokenizer.
if [ -f "$GPT2_DIR/encoder.json" ]; then
  "$BIN" budget-report "${P[@]}" --tokenizer "gpt2:$GPT2_DIR" --format json >"$work/gpt2.json" || fail "--tokenizer gpt2"
  $PY - "$work/default.json" "$work/gpt2.json" <<'PY' || fail "--tokenizer does not change the vocabulary"
import json, sys
byte, gpt2 = (json.load(open(p)) for p in sys.argv[1:])
d = (gpt2["params_total"] - byte["params_total"])
# gpt-tiny: tied embedding of width d_model; 50257 - 256 more rows.
assert d > 0 and d % (50257 - 256) == 0, d
assert gpt2["training"]["total_bytes"] > byte["training"]["total_bytes"]
PY
else
  echo "note: $GPT2_DIR missing (NS_TEST_DATA_DIR): the gpt2 vocabulary check is skipped" >&2
fi
set +e
"$BIN" budget-report "${P[@]}" --tokenizer gpt2:/nonexistent/dir >/dev/null 2>"$work/err.txt"
rc=$?
set -e
[ $rc = 2 ] || fail "a missing tokenizer folder: exit $rc, expected 2"

# Does not fit: exit 3, in every format, after the report.
for fmt in text markdown json; do
  set +e
  "$BIN" budget-report --profile raspberry-pi-5-8gb --model bit-axon-3b --mode full --format $fmt >"$work/nofit.$fmt" 2>&1
  rc=$?
  set -e
  [ $rc = 3 ] || fail "a run that does not fit ($fmt): exit $rc, expected 3"
  [ -s "$work/nofit.$fmt" ] || fail "no report for a run that does not fit ($fmt)"
done
"$BIN" budget-report "${P[@]}" --model gpt-tiny >/dev/null || fail "a run that fits does not exit 0"

# --fit in JSON: only the answer, as JSON.
set +e
"$BIN" budget-report --profile raspberry-pi-5-8gb --model mamba-moe-300m --mode lora --fit --format json >"$work/fit.json"
rc=$?
set -e
[ $rc = 0 ] || [ $rc = 3 ] || fail "--fit --format json: exit $rc"
$PY - "$work/fit.json" <<'PY' || fail "--fit is ignored with --format json"
import json, sys
j = json.load(open(sys.argv[1]))
assert "fit" in j and "max_seq_len" in j["fit"] and "recommended" in j, list(j)
assert "weights_bytes" not in j and "kv_cache_bytes" not in j, "the whole report instead of the fit answer"
PY

# Footnotes and planning-only rows.
"$BIN" budget-report "${P[@]}" --model hybrid-small --format markdown >"$work/report.md" || true
"$BIN" budget-report "${P[@]}" --model hybrid-small >"$work/report.txt" || true
if grep -v '^\*\*' "$work/report.md" | grep -q '\*'; then fail "markdown footnotes use '*': $(grep -v '^\*\*' "$work/report.md" | grep '\*' | head -3)"; fi
if grep -q '\*' "$work/report.txt"; then fail "text footnotes use '*': $(grep '\*' "$work/report.txt" | head -3)"; fi
grep -qE '^\| *q4 \(plan\)' "$work/report.md" || fail "the q4 row is not marked planning only"
grep -qE '^\| *ternary \(plan\)' "$work/report.md" || fail "the ternary row is not marked planning only"
grep -q '3-bit (plan)' "$work/report.md" || fail "the 3-bit KV column is not marked planning only"
grep -q 'planning only' "$work/report.txt" || fail "the text report does not explain planning only"
grep -qE '^\| *nf4 *\|' "$work/report.md" || fail "nf4 is marked although nightshift writes it"
"$BIN" budget-report "${P[@]}" --format json | $PY -c "
import json, sys
j = json.load(sys.stdin)
assert set(j['planning_only']) == {'q4', 'ternary', 'kv_cache_3bit'}, j.get('planning_only')" || fail "json planning_only"
# --grad-checkpoint auto (the default, as train's): a run that fits only with checkpointing is planned
# with it and fits (exit 0); off refuses it (exit 3); on plans it even when it is not needed.
ck() { "$BIN" budget-report --profile android-midrange-6gb --model gpt-small --mode full --seq "$1" --batch 4 "${@:2}" \
  --format json >"$work/ck.json"; }
rc=0; ck 2048 --grad-checkpoint off || rc=$?
[ "$rc" = 3 ] || fail "gpt-small T=2048 on 6 GB without checkpointing: exit $rc, expected 3"
ck 2048 || fail "gpt-small T=2048 on 6 GB, --grad-checkpoint auto: does not fit"
$PY -c "import json,sys; t=json.load(open(sys.argv[1]))['training']; assert t['grad_checkpoint'] is True, t" "$work/ck.json" ||
  fail "--grad-checkpoint auto did not plan checkpointing"
"$BIN" budget-report --profile android-midrange-6gb --model gpt-small --mode full --seq 2048 --batch 4 >"$work/ck.txt" &&
  grep -q -- "--grad-checkpoint auto: checkpointing" "$work/ck.txt" ||
  fail "the text report does not say that auto chose checkpointing"
ck 256 || fail "gpt-small T=256 on 6 GB"
$PY -c "import json,sys; assert json.load(open(sys.argv[1]))['training']['grad_checkpoint'] is False" "$work/ck.json" ||
  fail "--grad-checkpoint auto planned checkpointing for a run that fits without it"
ck 256 --grad-checkpoint || fail "a bare --grad-checkpoint"
$PY -c "import json,sys; assert json.load(open(sys.argv[1]))['training']['grad_checkpoint'] is True" "$work/ck.json" ||
  fail "a bare --grad-checkpoint is not on"
rc=0; "$BIN" budget-report --grad-checkpoint sometimes >/dev/null 2>"$work/ck.err" || rc=$?
[ "$rc" = 2 ] && grep -q -- "--grad-checkpoint" "$work/ck.err" || fail "--grad-checkpoint sometimes: exit $rc"
echo "ok   --grad-checkpoint auto|on|off as train's"

echo "PASS budget_report_defaults_test"
