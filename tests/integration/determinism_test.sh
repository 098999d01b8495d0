#!/usr/bin/env bash
# Reproducibility: the same command at the same thread count gives bit-identical weights and
# optimizer moments, run after run, on two threads (where work is split between threads: the
# selective scan's per-group partial sums, experts running side by side, attention tasks handed
# out dynamically, the gradient-norm reduction) as on one. hybrid-tiny covers ssm, attn+moe and
# ssm+moe blocks; three runs on two threads and one on one thread, 12 steps each.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/train_lib.sh"

run() {  # run NAME THREADS
  "$BIN" train --preset hybrid-tiny --data "$work/corpus.txt" --steps 12 --batch 4 --seq 64 --threads "$2" \
    --seed 5 --eval-every 0 --eval-batches 1 --out "$work/$1" > "$work/$1.log" 2>&1 || fail "run $1 failed"
}
same_checkpoint() {  # same_checkpoint A B
  for f in model.safetensors optimizer.safetensors; do
    cmp -s "$work/$1/checkpoints/step-00000012/$f" "$work/$2/checkpoints/step-00000012/$f" ||
      fail "$f of runs $1 and $2 differ"
  done
}
for i in 1 2 3; do run "t2-$i" 2; done
same_checkpoint t2-1 t2-2
same_checkpoint t2-1 t2-3
run t1 1
run t1-again 1
same_checkpoint t1 t1-again
echo "determinism: 3 runs on 2 threads and 2 on 1 thread each bit-identical"
