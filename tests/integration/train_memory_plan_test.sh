#!/usr/bin/env bash
# A run the memory planner cannot cover (--batch above 4096 here) must not start with the memory
# check switched off: it is refused with exit code 3 before anything is written, unless
# --no-memory-check says to train anyway. (Issue 21, item 1.)
source "$(dirname "$0")/train_lib.sh"
make_micro_model 1
base=("$BIN" train --model "$work/micro.toml" --data "$work/corpus.txt" --seq 4 --steps 1 --threads 1
      --thermal none --memory-limit 100M)
rc=0; "${base[@]}" --batch 4097 --out "$work/run" > "$work/refused.log" 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "exit $rc for a run without a memory plan (expected 3)"
grep -q "no memory plan for this run" "$work/refused.log" || fail "the refusal does not say why"
grep -q -- "--no-memory-check" "$work/refused.log" || fail "the refusal does not name --no-memory-check"
[ ! -e "$work/run" ] || fail "the refused run created its directory"
# A run the planner covers still starts under the same limit.
"${base[@]}" --batch 2 --out "$work/ok" > "$work/ok.log" 2>&1 || fail "a planned run was refused"
# --no-memory-check trains without a plan, with a warning (batch 4097 of 4 tokens is small).
"${base[@]}" --batch 4097 --no-memory-check --out "$work/unchecked" > "$work/unchecked.log" 2>&1 \
  || fail "--no-memory-check did not train"
grep -q "no memory plan" "$work/unchecked.log" || fail "no warning without a plan"
echo "PASS train_memory_plan_test"
