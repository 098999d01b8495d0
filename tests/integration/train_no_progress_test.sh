#!/usr/bin/env bash
# A restart on a full disk cannot make progress: `train` exits with code 4 (not 1, which a service
# with Restart=on-failure would restart in a loop), names the run directory, and writes nothing.
# The run directory is on a small tmpfs inside a private mount namespace; prints SKIP and exits 77
# where mount namespaces are not permitted. (Issue 21, item 11.)
set -euo pipefail
if [[ "${1:-}" != "--inside" ]]; then
  if unshare -m true 2>/dev/null; then exec unshare -m --propagation private bash "$0" --inside; fi
  echo "SKIP: creating a mount namespace is not permitted here (unshare -m)"; exit 77
fi
source "$(dirname "$0")/train_lib.sh"
make_micro_model 2
disk="$work/disk"; mkdir -p "$disk"
mount -t tmpfs -o size=32m nightshift-test-disk "$disk" || { echo "SKIP: cannot mount a tmpfs"; exit 77; }
trap 'umount "$disk" 2>/dev/null || true; cleanup' EXIT

cmd=("$BIN" train --model "$work/micro.toml" --data "$work/corpus.txt" --batch 2 --seq 16 --threads 1
     --checkpoint-every 10 --thermal none --out "$disk/run" --headless)
"${cmd[@]}" --steps 10 > "$work/first.log" 2>&1 || fail "the first run failed"
# The disk fills up: less room than one more checkpoint and the margin.
free_kib=$(df -k --output=avail "$disk" | tail -1)
fallocate -l $(( (free_kib - 1024) * 1024 )) "$disk/filler"
before=$(tree_sum "$disk/run")
rc=0; "${cmd[@]}" --steps 20 > "$work/restart.log" 2>&1 || rc=$?
[ "$rc" = 4 ] || fail "exit $rc on a restart with a full disk (expected 4: cannot make progress)"
grep -q "cannot make progress" "$work/restart.log" || fail "the message does not say it cannot make progress"
grep -q "$disk/run" "$work/restart.log" || fail "the message does not name the run directory"
[ "$(tree_sum "$disk/run")" = "$before" ] || fail "the run directory changed"
"$BIN" train --help | grep -q "4 cannot make progress" || fail "--help does not document exit code 4"
rm "$disk/filler"
"${cmd[@]}" --steps 20 > "$work/resumed.log" 2>&1 || fail "did not resume once space was freed"
grep -q "from step 10" "$work/resumed.log" || fail "did not resume from step 10"
echo "PASS train_no_progress_test"
