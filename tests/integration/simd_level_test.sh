#!/usr/bin/env bash
# NIGHTSHIFT_SIMD: the engine's own loops (scan, softmaxes, SwiGLU, RMSNorm, cross-entropy, NF4/Q8 decoders)
# run at the widest instruction set the CPU has unless the environment caps it. The run's first line
# names the level; hybrid-tiny (scan, windowed attention, SwiGLU experts) trains to the same losses,
# to rounding, at every level the CPU runs; an unknown value, or a level above the CPU's, is ignored
# with a one-line warning and the run goes on at the CPU's level.
source "$(dirname "$0")/train_lib.sh"

cpu_level=portable
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && cpu_level=avx2
for f in avx512f avx512dq avx512bw avx512vl; do grep -qw "$f" /proc/cpuinfo || break; [ "$f" = avx512vl ] && cpu_level=avx512; done

ARGS=(--preset hybrid-tiny --data "$work/corpus.txt" --batch 4 --seq 64 --threads 2 --lr 3e-3 --seed 3
      --thermal none --eval-every 0 --log-every 1)
losses() { grep -oE "step +[0-9]+/[0-9]+ \| loss [0-9.]+" "$1" | awk '{print $NF}'; }

levels=(portable)
[ "$cpu_level" != portable ] && levels+=(avx2)
[ "$cpu_level" = avx512 ] && levels+=(avx512)
for level in "${levels[@]}"; do
  NIGHTSHIFT_SIMD=$level "$BIN" train "${ARGS[@]}" --steps 12 --out "$work/$level" 2> "$work/$level.log" || fail "train at $level"
  grep -q "2 threads, $level kernels" "$work/$level.log" || fail "the $level run does not name its level"
  [ "$(losses "$work/$level.log" | wc -l)" = 12 ] || fail "the $level run logged no 12 losses"
done
"$BIN" train "${ARGS[@]}" --steps 12 --out "$work/default" 2> "$work/default.log" || fail "train at the CPU's level"
grep -q "2 threads, $cpu_level kernels" "$work/default.log" || fail "the default run is not at the CPU's level $cpu_level"

# Same losses at every level, to rounding (sums over vectors pair up differently).
for level in "${levels[@]}"; do
  paste <(losses "$work/portable.log") <(losses "$work/$level.log") > "$work/pair.txt"
  awk -v lv="$level" '{ d = $1 - $2; if (d < 0) d = -d; if (d > 2e-3 * $1) { print "step " NR ": " $1 " vs " $2 " at " lv; bad = 1 } }
       END { exit bad }' "$work/pair.txt" || fail "losses at $level differ from the portable loops'"
done
first=$(losses "$work/default.log" | head -1)
last=$(losses "$work/default.log" | tail -1)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "the loss did not fall ($first -> $last)"

# A value that is no level: one warning, the CPU's level.
NIGHTSHIFT_SIMD=sse9 "$BIN" train "${ARGS[@]}" --steps 1 --out "$work/bogus" 2> "$work/bogus.log" || fail "train with a bad value"
[ "$(grep -c "NIGHTSHIFT_SIMD=sse9 is not one of portable, avx2, avx512; using $cpu_level" "$work/bogus.log")" = 1 ] ||
  fail "no single warning for NIGHTSHIFT_SIMD=sse9"
grep -q "2 threads, $cpu_level kernels" "$work/bogus.log" || fail "a bad value did not leave the CPU's level"

if [ "$cpu_level" != avx512 ]; then
  NIGHTSHIFT_SIMD=avx512 "$BIN" train "${ARGS[@]}" --steps 1 --out "$work/above" 2> "$work/above.log" || fail "above"
  grep -q "NIGHTSHIFT_SIMD=avx512: this CPU runs at most $cpu_level; using $cpu_level" "$work/above.log" ||
    fail "no warning for a level above the CPU's"
  echo "SKIP: this CPU has no AVX-512: levels ${levels[*]} compared, the cap above the CPU's checked"; exit 77
fi
echo "PASS: levels ${levels[*]} train alike; NIGHTSHIFT_SIMD warnings checked"
