#!/usr/bin/env bash
# ctest: run serial (timing-sensitive: a loaded machine delays the events it waits for)
# Low disk space: a run directory on a small tmpfs (inside a private mount namespace) that fills up
# while the run trains. The run stops cleanly while one more checkpoint still fits (a disk_low
# event, exit 0, a valid checkpoint at its last step), and the same command resumes it once space
# is freed. Prints SKIP and exits 77 where mount namespaces are not permitted.
set -euo pipefail
if [[ "${1:-}" != "--inside" ]]; then
  if unshare -m true 2>/dev/null; then exec unshare -m --propagation private bash "$0" --inside; fi
  echo "SKIP: creating a mount namespace is not permitted here (unshare -m)"; exit 77
fi
source "$(dirname "$0")/train_lib.sh"
make_micro_model 2
disk="$work/disk"; mkdir -p "$disk"
mount -t tmpfs -o size=64m nightshift-test-disk "$disk" || { echo "SKIP: cannot mount a tmpfs"; exit 77; }
trap 'umount "$disk" 2>/dev/null || true; cleanup' EXIT

cmd=("$BIN" train --model "$work/micro.toml" --data "$work/corpus.txt" --batch 2 --seq 16 --threads 1
     --steps 100000 --checkpoint-every 50 --thermal none --out "$disk/run" --headless)
"${cmd[@]}" 2> "$work/train.log" &
trainer=$!; pids+=("$trainer")
wait_until 30 bash -c "[ -f '$disk/run/checkpoints/latest' ]" || fail "no first checkpoint"
# Leave about 20 MiB: less than the 16 MiB margin plus two checkpoints.
free_kib=$(df -k --output=avail "$disk" | tail -1)
fallocate -l $(( (free_kib - 20 * 1024) * 1024 )) "$disk/filler"
rc=0; wait "$trainer" || rc=$?
[ "$rc" = 0 ] || fail "exit $rc when the disk ran low"
"$BIN" log "$disk/run" events | grep -q ',disk_low,' || fail "no disk_low event"
[ "$(run_field "$disk/run" status)" = stopped ] || fail "the run is not stopped"
last=$(last_step "$disk/run")
[ "$(cat "$disk/run/checkpoints/latest")" = "$(printf 'step-%08d' "$last")" ] || fail "no checkpoint at the last step $last"
"$BIN" eval "$disk/run" --json > "$work/eval.json" 2> "$work/eval.log" || fail "the last checkpoint is not valid"

rm "$disk/filler"
"${cmd[@]}" > /dev/null 2>&1 &
resumed=$!; pids+=("$resumed")
wait_until 30 bash -c "[ \$('$BIN' log '$disk/run' steps | tail -n +2 | wc -l) -gt $((last + 5)) ]" || fail "did not resume after space was freed"
kill -TERM "$resumed"; wait "$resumed" || fail "resumed run: exit code"
echo "PASS train_disk_low_test"
