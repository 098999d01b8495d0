#!/usr/bin/env bash
# `train --stream-base`: a frozen base larger than the memory the run may use. A random-weight llama
# in real layouts (tests/reference/llamacpp/model_fixture.py, Llama 2's SentencePiece vocabulary; d 256,
# 24 layers, SwiGLU 4096) as an F32 GGUF of ~390 MB (its layers' linear weights ~320 MiB), trained
# with lora under a memory budget smaller than those weights alone:
#   - budget-report --stream-base plans the base apart (streamed_base_bytes), outside the total;
#   - without --stream-base the run is refused (exit 3) and the refusal names --stream-base;
#   - with it the run prints the disk's read speed and the expected slow-down, and trains inside a
#     memory cgroup whose limit is that budget (cgroup v2 memory.max, or v1
#     memory.limit_in_bytes), so the kernel evicts the base's pages as it goes; the cgroup's peak
#     stays under its limit and the run finishes (it is not killed);
#   - the run log's steps carry the disk reads (disk_read_bytes_per_s, major_faults_per_s) that
#     the dashboard shows.
source "$(dirname "$0")/train_lib.sh"
SRC=${NS_LLAMACPP_SRC:-}
TEXT=${NS_TEST_DATA_DIR:-}/tinyshakespeare.txt
if [ -z "$SRC" ] || [ ! -f "$SRC/gguf-py/gguf/__init__.py" ]; then
  echo "SKIP: llama.cpp's gguf-py is not installed (scripts/setup.sh)"; exit 77
fi
if [ ! -f "$TEXT" ]; then echo "SKIP: $TEXT is missing (NS_TEST_DATA_DIR)"; exit 77; fi

# A memory cgroup of our own: v2 (memory.max) or v1 (memory.limit_in_bytes).
cg=""
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null && mkdir "/sys/fs/cgroup/ns-stream-$$" 2>/dev/null; then
  cg="/sys/fs/cgroup/ns-stream-$$"; limit_file=memory.max; peak_file=memory.peak
elif [ -d /sys/fs/cgroup/memory ] && mkdir "/sys/fs/cgroup/memory/ns-stream-$$" 2>/dev/null; then
  cg="/sys/fs/cgroup/memory/ns-stream-$$"; limit_file=memory.limit_in_bytes; peak_file=memory.max_usage_in_bytes
fi
if [ -z "$cg" ]; then echo "SKIP: no memory cgroup can be created here (needs root and a memory controller)"; exit 77; fi
trap 'cleanup; rmdir "$cg" 2>/dev/null || true' EXIT

head -c 200000 "$TEXT" > "$work/text.txt"
PYTHONPATH="$SRC/gguf-py" $PY "$(dirname "$0")/../reference/llamacpp/model_fixture.py" llama "$work/m" \
  --vocab "$SRC/models/ggml-vocab-llama-spm.gguf" --d 256 --ff 4096 --heads 4 --kv-heads 2 --layers 24 --gguf-only \
  > "$work/fixture.log" || fail "model_fixture.py failed"
base="$work/m/model.gguf"
base_mb=$(( $(stat -c %s "$base") >> 20 ))
echo "base: $base_mb MiB"

# The plan: the base streamed apart from the total. The same run planned resident differs by the base.
plan() { "$BIN" budget-report --model "$base" --mode lora --rank 8 --seq 32 --batch 1 --threads 2 "$@" --format json |
  $PY -c "import json,sys; p=json.load(sys.stdin)['training']; print(p['streamed_base_bytes'], p['total_bytes'])"; }
read -r streamed total < <(plan --stream-base) || fail "budget-report --stream-base"
read -r none resident < <(plan) || fail "budget-report"
[ "$streamed" -gt $((100 << 20)) ] || fail "budget-report: streamed_base_bytes $streamed, expected the layers' linear weights"
[ "$none" = 0 ] || fail "budget-report without --stream-base: streamed_base_bytes $none"
[ "$resident" = $((total + streamed)) ] || fail "budget-report: resident total $resident is not streamed total $total + base $streamed"
echo "ok   budget-report --stream-base: $((streamed >> 20)) MiB streamed, $((total >> 20)) MiB resident (else $((resident >> 20)) MiB)"

# A budget that holds the run but not its base: the streamed total and 16 MiB.
budget_mb=$(( (total >> 20) + 16 ))
ARGS=(--base "$base" --mode lora --rank 8 --data "$work/text.txt" --batch 1 --seq 32 --threads 2
      --eval-every 1000 --checkpoint-every 1000 --thermal none --memory-limit "${budget_mb}M")

# Without --stream-base: refused, pointing at the flag.
rc=0
"$BIN" train "${ARGS[@]}" --steps 3 --out "$work/refused" 2> "$work/refused.log" || rc=$?
[ "$rc" = 3 ] || fail "a base over the budget without --stream-base: exit $rc, expected 3"
grep -q -- "--stream-base" "$work/refused.log" || fail "the refusal does not mention --stream-base"
echo "ok   without --stream-base: refused (exit 3), naming --stream-base"

# With it, inside a cgroup whose limit is the budget itself, smaller than the base's linear weights
# alone: whatever of the base the page cache cannot keep is read from the disk again every step.
limit=$(( budget_mb << 20 ))
[ "$streamed" -gt "$limit" ] || fail "the fixture's streamed base ($((streamed >> 20)) MiB) is not larger than the $((limit >> 20)) MiB limit"

echo "$limit" > "$cg/$limit_file"
# The base's pages leave the page cache first, so that the run reads them from the disk.
$PY -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$base"
sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$cg" "$BIN" train "${ARGS[@]}" --stream-base --steps 4 \
  --out "$work/streamed" 2> "$work/streamed.log" || fail "the streamed run failed (or was killed) in a $((limit >> 20)) MiB cgroup"
grep -q -- "--stream-base: the base is" "$work/streamed.log" || fail "no streaming estimate printed"
grep -- "--stream-base:" "$work/streamed.log" | sed 's/^\[info\] /     /'
peak=$(cat "$cg/$peak_file" 2>/dev/null || echo 0)
[ "$(steps_logged "$work/streamed")" -ge 4 ] || fail "the streamed run logged fewer than 4 steps"
if [ "$peak" -gt 0 ]; then
  [ "$peak" -le "$limit" ] || fail "cgroup peak $peak over its limit $limit"
  echo "ok   --stream-base: 4 steps in a $((limit >> 20)) MiB cgroup (plan $((total >> 20)) MiB + base $((streamed >> 20)) MiB); its peak $((peak >> 20)) MiB"
else
  echo "ok   --stream-base: 4 steps in a $((limit >> 20)) MiB cgroup (plan $((total >> 20)) MiB + base $((streamed >> 20)) MiB)"
fi

# The run log has each step's disk reads (the dashboard's memory panel shows them).
read -r faults mb < <("$BIN" log "$work/streamed" steps --format json | $PY -c "
import json, sys
rows = json.load(sys.stdin)
f = [r['major_faults_per_s'] for r in rows if r.get('major_faults_per_s') is not None]
b = [r['disk_read_bytes_per_s'] for r in rows if r.get('disk_read_bytes_per_s') is not None]
print('%.0f' % max(f) if f else -1, '%.1f' % (max(b) / 2**20) if b else -1)") || fail "the streamed run's steps cannot be read"
if [ "$(stat -f -c %T "$work")" = tmpfs ]; then
  echo "ok   (the disk-read columns are not checked: the base is on tmpfs, its pages never come from a disk)"
else
  $PY -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)" "$faults" ||
    fail "the streamed run logged no major faults (major_faults_per_s $faults) although its base left the page cache"
  echo "ok   the run log's steps show the streamed base's disk reads: up to $faults major faults/s, ${mb} MiB/s read"
fi

# --stream-base on a base that is not read from its file is bad input.
rc=0
"$BIN" train --preset gpt-tiny --data "$work/text.txt" --steps 1 --stream-base --thermal none --out "$work/bad" 2> "$work/bad.log" || rc=$?
[ "$rc" = 2 ] || fail "--stream-base without a mapped base: exit $rc, expected 2"
grep -q -- "--stream-base" "$work/bad.log" || fail "the error does not name --stream-base"
echo "ok   --stream-base without a base file: exit 2"
