#!/usr/bin/env bash
# The learning figures of docs/learning.md, reproduced with the nightshift CLI and printed as a table:
#   1. gpt-tiny and hybrid-tiny on tinyshakespeare (byte tokenizer, last 10% held out), seq 64,
#      batch 12, the same number of steps (the same token budget): validation loss and wall time,
#      and hybrid-tiny's expert load per moe layer (from `nightshift eval --json`).
#   2. Fine-tuning the pre-trained gpt-tiny on a different text (Debian's fortune-cookie database):
#      full fine-tune vs LoRA vs QLoRA (NF4 base from `nightshift quantize`), validation loss on the
#      new text before and after, on Shakespeare after (what was forgotten), and wall time.
# Usage: scripts/learning-figures.sh [OUT_DIR]        (default runs/learning-figures)
#   A rerun reuses every run that finished before (its recorded wall time included) and redoes the
#   rest and all evaluations; delete OUT_DIR to start over.
# Environment: NIGHTSHIFT_BIN (default build/app/nightshift), CORPUS (default
#   ../shared/data/tinyshakespeare.txt next to the repository), FORTUNES (default
#   /usr/share/games/fortunes), THREADS (2), STEPS (2000), FT_STEPS (300), RANK (16), TARGETS
#   (q,k,v,o,gate,up,down: every matrix of gpt-tiny's blocks),
#   MODELS ("gpt-tiny hybrid-tiny"), OMP_WAIT_POLICY (PASSIVE: on a machine shared with other
#   jobs, spinning OpenMP threads lose most of their time slices; set ACTIVE on an idle machine).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${NIGHTSHIFT_BIN:-$ROOT/build/app/nightshift}"
CORPUS="${CORPUS:-$ROOT/../shared/data/tinyshakespeare.txt}"
FORTUNES="${FORTUNES:-/usr/share/games/fortunes}"
OUT="${1:-runs/learning-figures}"
THREADS="${THREADS:-2}"
STEPS="${STEPS:-2000}"
FT_STEPS="${FT_STEPS:-300}"
RANK="${RANK:-16}"
TARGETS="${TARGETS:-q,k,v,o,gate,up,down}"
MODELS="${MODELS:-gpt-tiny hybrid-tiny}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
B=12
T=64

die() { echo "learning-figures: $*" >&2; exit 2; }
[[ -x "$BIN" ]] || die "$BIN: not an executable (build nightshift or set NIGHTSHIFT_BIN)"
[[ -s "$CORPUS" ]] || die "$CORPUS: missing or empty (set CORPUS)"
[[ -d "$FORTUNES" ]] || die "$FORTUNES: no fortune database (apt-get install fortunes, or set FORTUNES)"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
echo "== $(date -u +%FT%TZ) $BIN" >>"$LOG"

# The fine-tuning text: every plain fortune file (not the .dat indexes), without the % separators.
find "$FORTUNES" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' | sort | xargs cat | grep -vx '%' >"$OUT/fortunes.txt"

now() { date +%s.%N; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$1" "$2"; }
# json_get FILE KEY: one value of the eval JSON.
json_get() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
fmt_loss() { python3 -c "import sys; print(f'{float(sys.argv[1]):.3f}')" "$1"; }
run() {  # run CMD...: logged, stops the script on failure
  echo "+ $*" >>"$LOG"
  "$@" >>"$LOG" 2>&1 || die "failed (see $LOG): $*"
}
# fresh DIR: true (and DIR removed) unless DIR.seconds records a finished earlier run into DIR.
fresh() {
  if [[ -s "$1.seconds" && -d "$1" ]]; then
    echo "= reusing $1 ($(cat "$1.seconds") s)" >>"$LOG"
    return 1
  fi
  rm -rf "$1" "$1.seconds"
}
# timed DIR CMD...: runs a training command into DIR and records its wall time in DIR.seconds and
# the CPU time it used (user + system, all threads) in DIR.cpu.
timed() {
  local dir="$1"
  shift
  local t0 TIMEFORMAT='%U %S'
  t0=$(now)
  echo "+ $*" >>"$LOG"
  { time "$@" >>"$LOG" 2>&1; } 2>"$dir.times" || die "failed (see $LOG): $*"
  secs "$t0" "$(now)" >"$dir.seconds"
  awk '{ printf "%.0f\n", $1 + $2 }' "$dir.times" >"$dir.cpu"
  rm -f "$dir.times"
}
cpu_of() { if [[ -s "$1.cpu" ]]; then cat "$1.cpu"; else echo -; fi; }
evaljson() {  # evaljson RUN_DIR JSON_OUT [--data PATH]
  local dir="$1" out="$2"
  shift 2
  echo "+ $BIN eval $dir --json $*" >>"$LOG"
  "$BIN" eval "$dir" --json "$@" >"$out" 2>>"$LOG" || die "eval of $dir failed (see $LOG)"
  cat "$out" >>"$LOG"
}

common=(--data "$CORPUS" --tokenizer byte --steps "$STEPS" --batch "$B" --seq "$T" --threads "$THREADS"
        --eval-every 500 --log-every 100 --seed 1)
declare -A VAL TIME CPU
for m in $MODELS; do
  ! fresh "$OUT/$m" || timed "$OUT/$m" "$BIN" train --preset "$m" "${common[@]}" --out "$OUT/$m"
  TIME[$m]=$(cat "$OUT/$m.seconds")
  CPU[$m]=$(cpu_of "$OUT/$m")
  evaljson "$OUT/$m" "$OUT/$m.eval.json"
  VAL[$m]=$(fmt_loss "$(json_get "$OUT/$m.eval.json" val_loss)")
done

# Fine-tuning from the pre-trained gpt-tiny (the first model) on the fortunes.
pre="$OUT/$(echo $MODELS | cut -d' ' -f1)"
preset="$(basename "$pre")"
evaljson "$pre" "$OUT/before.eval.json" --data "$OUT/fortunes.txt"
before=$(fmt_loss "$(json_get "$OUT/before.eval.json" val_loss)")
run "$BIN" quantize "$pre" --format nf4 --out "$OUT/base-nf4.safetensors" --force
ft_common=(--data "$OUT/fortunes.txt" --batch "$B" --seq "$T" --threads "$THREADS" --warmup 0
           --eval-every 100 --log-every 50 --seed 2)
declare -A FT_VAL FT_OLD FT_TIME FT_CPU
for mode in full lora qlora; do
  dir="$OUT/ft-$mode"
  case $mode in
    # Full fine-tune: continue the pre-training run on the new text at a constant learning rate
    # (a copy of the run directory resumes with the weights and optimizer moments).
    full) ! fresh "$dir" || { cp -r "$pre" "$dir"; timed "$dir" "$BIN" train --preset "$preset" --tokenizer byte "${ft_common[@]}" \
              --steps $((STEPS + FT_STEPS)) --lr 1e-3 --min-lr 1e-3 --force --out "$dir"; } ;;
    lora) ! fresh "$dir" || timed "$dir" "$BIN" train --mode lora --base "$pre" --rank "$RANK" --targets "$TARGETS" "${ft_common[@]}" \
              --steps "$FT_STEPS" --lr 3e-3 --min-lr 3e-3 --out "$dir" ;;
    qlora) ! fresh "$dir" || timed "$dir" "$BIN" train --mode qlora --base "$OUT/base-nf4.safetensors" --rank "$RANK" --targets "$TARGETS" \
              "${ft_common[@]}" --steps "$FT_STEPS" --lr 3e-3 --min-lr 3e-3 --out "$dir" ;;
  esac
  FT_TIME[$mode]=$(cat "$dir.seconds")
  FT_CPU[$mode]=$(cpu_of "$dir")
  evaljson "$dir" "$dir.eval.json"
  evaljson "$dir" "$dir.old.eval.json" --data "$CORPUS"
  FT_VAL[$mode]=$(fmt_loss "$(json_get "$dir.eval.json" val_loss)")
  FT_OLD[$mode]=$(fmt_loss "$(json_get "$dir.old.eval.json" val_loss)")
done

echo "nightshift learning figures: $(nproc) cores, $THREADS threads, OMP_WAIT_POLICY=$OMP_WAIT_POLICY, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "Pre-training on $(basename "$CORPUS") (byte tokens, last 10% held out), batch $B x seq $T, $STEPS steps ($((STEPS * B * T)) tokens):"
printf '| %-12s | %-8s | %-6s | %-5s |\n' model val_loss wall_s cpu_s
printf '|%s|%s|%s|%s|\n' -------------- ---------- -------- -------
for m in $MODELS; do printf '| %-12s | %-8s | %-6s | %-5s |\n' "$m" "${VAL[$m]}" "${TIME[$m]}" "${CPU[$m]}"; done
for m in $MODELS; do
  python3 - "$OUT/$m.eval.json" "$m" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
if "expert_load" in j:
    print(f"\nExpert load of {sys.argv[2]} on the validation split (share of token assignments per expert):")
    for layer, load in j["expert_load"].items():
        total = sum(load)
        shares = " ".join(f"{c / total:.3f}" for c in load)
        print(f"  {layer}: {shares}  (max/mean {j['expert_load_max_over_mean'][layer]:.2f}, {total} assignments)")
EOF
done
echo
echo "Fine-tuning $preset on the fortune-cookie database ($FT_STEPS steps, batch $B x seq $T, LoRA/QLoRA rank $RANK on $TARGETS):"
printf '| %-6s | %-16s | %-15s | %-22s | %-6s | %-5s |\n' mode "fortunes before" "fortunes after" "Shakespeare after" wall_s cpu_s
printf '|%s|%s|%s|%s|%s|%s|\n' -------- ------------------ ----------------- ------------------------ -------- -------
old_before="${VAL[$preset]}"
for mode in full lora qlora; do
  printf '| %-6s | %-16s | %-15s | %-22s | %-6s | %-5s |\n' "$mode" "$before" "${FT_VAL[$mode]}" \
    "${FT_OLD[$mode]} (was $old_before)" "${FT_TIME[$mode]}" "${FT_CPU[$mode]}"
done
echo
echo "(\"before\" is the fp32 pre-trained model; logs and run directories in $OUT)"
