#!/usr/bin/env bash
# A checkpoint write that runs out of space must leave the previous checkpoint valid and the run
# resumable, with a clear error (or a clean stop) and no half-written checkpoint as the newest.
# Three scenarios, each ending with a resume whose final weights are compared bit for bit with an
# uninterrupted run of the same config:
#   1. a full disk: the run directory on a small tmpfs, mounted in a private mount namespace
#      (`unshare -m`, needs root; this scenario prints SKIP when unshare or mount is not permitted);
#   2. a file-size limit (ulimit -f, SIGXFSZ ignored so write() fails with EFBIG), which runs anywhere;
#   3. a damaged newest checkpoint (a flipped byte, then a truncated file): the re-run skips it with a
#      warning naming the file and resumes from the previous one.
# Internal entry point: full_disk_test.sh --in-namespace CHECKPOINT_BYTES runs scenario 1 inside
# unshare.
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?NIGHTSHIFT_BIN must point at the nightshift binary}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/soak_lib.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
STEPS=60

if [ "${1:-}" != "--in-namespace" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  export FULL_DISK_WORK=$work
else
  work=${FULL_DISK_WORK:?}
fi
export XDG_CACHE_HOME="$work/cache"
args_for() {  # args_for RUN_DIR: the one training command of every scenario
  echo train --model "$work/model.toml" --data "$work/corpus.txt" --steps "$STEPS" --batch 2 --seq 32 --threads 1 \
    --checkpoint-every 5 --eval-every 0 --eval-batches 1 --log-every 20 --seed 5 --out "$1"
}

# after_failure RUN_DIR LOG RC: the checks right after a run that hit the limit; prints the name of
# the newest checkpoint (messages go to stderr).
after_failure() {
  local run=$1 log=$2 rc=$3 newest
  if [ "$rc" -ne 0 ]; then
    grep -q '^nightshift: ' "$log" || { tail -5 "$log"; fail "exit code $rc without an error line"; }
    grep '^nightshift: ' "$log" | grep -Eq "No space left on device|File too large|disk|space" ||
      { tail -5 "$log"; fail "the error does not say that space ran out"; }
    echo "full_disk: the run stopped with exit code $rc: $(grep '^nightshift: ' "$log" | head -1 | cut -c1-200)" >&2
  else
    grep -Eiq "disk|space" "$log" || { tail -5 "$log"; fail "exit code 0 without a word about the disk"; }
    echo "full_disk: the run stopped cleanly: $(grep -Ei 'disk|space' "$log" | head -1 | cut -c1-200)" >&2
  fi
  newest=$(newest_checkpoint "$run")
  [ -n "$newest" ] || fail "no checkpoint at all"
  [ "$newest" != "$run/checkpoints/$(printf 'step-%08d' "$STEPS")" ] || fail "the run completed: the limit never hit"
  check_checkpoint "$newest" || fail "the newest checkpoint $newest is damaged"
  if compgen -G "$run/checkpoints/step-*.tmp" > /dev/null; then fail "a half-written checkpoint folder was left"; fi
  basename "$newest"
}

# resume_and_compare RUN_DIR LOG STEP_NAME: re-run the same command, which must resume from
# STEP_NAME and end bit-identical to the uninterrupted run.
resume_and_compare() {
  local run=$1 log=$2 from=$3
  # shellcheck disable=SC2046
  "$BIN" $(args_for "$run") 2> "$log" || { tail -5 "$log"; fail "the resume failed"; }
  grep -q "resuming .* from step $((10#${from#step-}))" "$log" || { head -5 "$log"; fail "did not resume from $from"; }
  "$BIN" export "$run" --out "$run.safetensors" --force > /dev/null || fail "export of $run"
  cmp "$work/ref.safetensors" "$run.safetensors" || fail "$run: weights differ from the uninterrupted run"
}

# --- scenario 1, inside the mount namespace ---------------------------------------------------------
# The run directory is on a 64 MiB tmpfs. Once the first checkpoint is on disk the trainer is
# stopped (SIGSTOP), the tmpfs is filled up to half a checkpoint of free space, and the trainer
# continues: its next checkpoint cannot fit (or a free-space check stops the run first).
if [ "${1:-}" = "--in-namespace" ]; then
  ckpt_bytes=$2
  disk="$work/disk"
  mkdir -p "$disk"
  mount -t tmpfs -o size=64m tmpfs "$disk" || { echo "SKIP: mount -t tmpfs not permitted"; exit 0; }
  run="$disk/run"
  # shellcheck disable=SC2046
  "$BIN" $(args_for "$run") 2> "$work/tmpfs.log" &
  pid=$!
  for _ in $(seq 1 1000); do
    [ -n "$(newest_checkpoint "$run")" ] && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.01
  done
  kill -STOP "$pid" 2> /dev/null || fail "the run ended before its first checkpoint could be seen"
  avail=$(df -B1 --output=avail "$disk" | tail -n 1 | tr -d ' ')
  fill=$(( avail - ckpt_bytes / 2 ))
  fallocate -l "$fill" "$disk/filler" 2> /dev/null || head -c "$fill" /dev/zero > "$disk/filler"
  echo "full_disk: tmpfs filled after $(basename "$(newest_checkpoint "$run")"): $(df -B1 --output=avail "$disk" | tail -n 1 | tr -d ' ') bytes free, a checkpoint needs $ckpt_bytes" >&2
  kill -CONT "$pid"
  set +e
  wait "$pid"
  rc=$?
  set -e
  from=$(after_failure "$run" "$work/tmpfs.log" "$rc")
  rm -f "$disk/filler"
  resume_and_compare "$run" "$work/tmpfs-resume.log" "$from"
  echo "full_disk: tmpfs: resumed from $from after making room; final weights bit-identical" >&2
  umount "$disk"
  exit 0
fi

write_corpus "$work/corpus.txt"
write_model "$work/model.toml"
# shellcheck disable=SC2046
"$BIN" $(args_for "$work/ref") 2> "$work/ref.log" || { tail -5 "$work/ref.log"; fail "the uninterrupted run"; }
"$BIN" export "$work/ref" --out "$work/ref.safetensors" > /dev/null || fail "export of the uninterrupted run"
ref_ckpt=$(newest_checkpoint "$work/ref")
weights_bytes=$(stat -c %s "$ref_ckpt/model.safetensors")
ckpt_bytes=$(du -sb "$ref_ckpt" | cut -f1)

# --- scenario 1: a full tmpfs -----------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ] && unshare -m --propagation private true 2> /dev/null; then
  unshare -m --propagation private bash "${BASH_SOURCE[0]}" --in-namespace "$ckpt_bytes" || fail "the tmpfs scenario failed"
else
  echo "SKIP: the full-tmpfs scenario (unshare -m needs root and a kernel that allows it)"
fi

# --- scenario 2: a file-size limit ------------------------------------------------------------------
# First a stop by SIGTERM after the first checkpoint, then a re-run limited to 1.5 x the weights
# file: model.safetensors still fits, optimizer.safetensors (2 x) does not.
run="$work/fsize"
# shellcheck disable=SC2046
"$BIN" $(args_for "$run") 2> "$work/fsize-first.log" &
pid=$!
for _ in $(seq 1 600); do
  [ -n "$(newest_checkpoint "$run")" ] && break
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.02
done
kill -TERM "$pid" 2> /dev/null || true
wait "$pid" || fail "the first run did not stop cleanly on SIGTERM"
first=$(basename "$(newest_checkpoint "$run")")
[ "$first" != "$(printf 'step-%08d' "$STEPS")" ] || fail "the first run completed before SIGTERM"
limit_kb=$(( weights_bytes * 3 / 2 / 1024 ))
set +e
# shellcheck disable=SC2046
( trap '' XFSZ; ulimit -f "$limit_kb"; exec "$BIN" $(args_for "$run") ) 2> "$work/fsize.log"
rc=$?
set -e
from=$(after_failure "$run" "$work/fsize.log" "$rc")
[ "$from" = "$first" ] || fail "the limited run moved the newest checkpoint from $first to $from"
resume_and_compare "$run" "$work/fsize-resume.log" "$from"
echo "full_disk: file-size limit ${limit_kb} KiB: resumed from $from; final weights bit-identical"

# --- scenario 3: damaged newest checkpoints are skipped on resume --------------------------------------
last=$(printf 'step-%08d' "$STEPS")
prev=$(printf 'step-%08d' $((STEPS - 5)))
printf '\x13\x37' | dd of="$run/checkpoints/$last/model.safetensors" bs=1 seek=500 conv=notrunc status=none
resume_and_compare "$run" "$work/flip.log" "$prev"
grep -q "warn.*$last/model.safetensors: checksum mismatch" "$work/flip.log" || { head "$work/flip.log"; fail "no warning for the flipped byte"; }
truncate -s 1000 "$run/checkpoints/$last/optimizer.safetensors"
resume_and_compare "$run" "$work/trunc.log" "$prev"
grep -q "warn.*$last/optimizer.safetensors: truncated" "$work/trunc.log" || { head "$work/trunc.log"; fail "no warning for the truncated file"; }
echo "full_disk: a flipped byte and a truncated file in the newest checkpoint were skipped; resumed from $prev"
echo "OK"
