#!/usr/bin/env bash
# The smaller broken promises of issue 21, item 11, at the command line: NaN refused by the number
# flags, a misspelled run-TOML table refused naming the nearest valid one, run.db errors exit 2, a
# model name cannot put the run directory outside runs/, the same data given by a relative or an
# absolute path resumes, a finished run prunes its checkpoints per --keep, and --help shows the
# default time-based checkpoint (item 10).
source "$(dirname "$0")/train_lib.sh"
make_micro_model 1
train=("$BIN" train --model "$work/micro.toml" --batch 2 --seq 16 --threads 1 --thermal none)

# expect_bad NAME NEEDLE CMD...: exit code 2 and a "nightshift:" line naming NEEDLE.
expect_bad() {
  local name=$1 needle=$2; shift 2
  local rc=0
  "$@" > "$work/$name.out" 2> "$work/$name.err" || rc=$?
  [ "$rc" = 2 ] || fail "$name: exit code $rc, expected 2: $(head -3 "$work/$name.err")"
  grep -qF -- "$needle" "$work/$name.err" || fail "$name: the error does not name $needle: $(head -3 "$work/$name.err")"
}

# NaN in the number flags.
for flag in --min-lr --weight-decay --grad-clip --max-hours --checkpoint-minutes --sim-speed --lr; do
  expect_bad "nan$flag" "$flag" "${train[@]}" --data "$work/corpus.txt" --steps 1 "$flag" nan --out "$work/nan"
  [ ! -e "$work/nan" ] || fail "$flag nan created the run directory"
done

# A misspelled table.
printf '[trian]\nsteps = 5\n' > "$work/typo.toml"
expect_bad typo_table "[trian]" "${train[@]}" "$work/typo.toml" --data "$work/corpus.txt" --out "$work/typo"
grep -qF "did you mean [train]" "$work/typo_table.err" || fail "the error does not suggest [train]"

# A short run, relative data path from $work.
(cd "$work" && "${train[@]}" --data corpus.txt --steps 4 --checkpoint-every 1 --keep 10 --out run > run.log 2>&1) \
  || fail "the first run failed"
[ "$(ls "$work/run/checkpoints" | grep -c '^step-')" = 4 ] || fail "expected 4 checkpoints with --keep 10"
expect_bad nan_temperature "--temperature" "$BIN" sample "$work/run" --prompt "the" --tokens 4 --temperature nan
# The same run with the data given by its absolute path resumes.
(cd "$work" && "${train[@]}" --data "$work/./corpus.txt" --steps 6 --checkpoint-every 1 --keep 10 --out run > abs.log 2>&1) \
  || fail "resuming with the absolute data path was refused: $(grep nightshift: "$work/abs.log")"
grep -q "from step 4" "$work/abs.log" || fail "did not resume from step 4"
# A finished run, started again with a smaller --keep, prunes to it.
"${train[@]}" --data "$work/corpus.txt" --steps 6 --checkpoint-every 1 --keep 2 --out "$work/run" > "$work/done.log" 2>&1 \
  || fail "the finished run failed"
grep -q "is complete" "$work/done.log" || fail "the finished run did not say so"
[ "$(ls "$work/run/checkpoints" | grep -c '^step-')" = 2 ] || fail "a finished run kept $(ls "$work/run/checkpoints" | grep -c '^step-') checkpoints with --keep 2"

# run.db errors: a database that claims to be a run log but lacks its tables.
mkdir -p "$work/badlog"
$PY -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA user_version=2'); c.commit()" "$work/badlog/run.db"
expect_bad runlog_log "$work/badlog/run.db" "$BIN" log "$work/badlog" runs
expect_bad runlog_train "$work/badlog/run.db" "${train[@]}" --data "$work/corpus.txt" --steps 1 --out "$work/badlog"

# A model named "../../x" trains inside runs/.
mkdir -p "$work/a/b"
sed 's/^name = .*/name = "..\/..\/escaped"/' "$work/micro.toml" > "$work/escape.toml"
(cd "$work/a/b" && "$BIN" train --model "$work/escape.toml" --data "$work/corpus.txt" --batch 2 --seq 16 --threads 1 \
   --thermal none --steps 1 > "$work/escape.log" 2>&1) || fail "the run with a path for a name failed"
[ ! -e "$work/escaped" ] && [ ! -e "$work/a/escaped" ] || fail "the model name put the run directory outside runs/"
[ -d "$work/a/b/runs" ] && [ "$(ls "$work/a/b/runs")" != "" ] || fail "no run directory under runs/"

# --help: the time-based checkpoint default (item 10).
"$BIN" train --help | grep -A1 -- "--checkpoint-minutes" | grep -q "default 15" || fail "--help does not show the 15-minute default"
echo "PASS train_inputs_test"
