#!/usr/bin/env bash
# nightshift export RUN_DIR --out FILE.safetensors [--adapter]: a full run exports the weights of its
# newest valid checkpoint bit for bit; a lora run exports the merged model, bit-identical to `merge`
# of the same base with the exported adapter (--adapter: PEFT tensor names); a qlora run on an nf4
# base file likewise against `merge` with that base file. A damaged
# newest checkpoint is skipped with a warning. Bad input: one line naming the file, exit 2, nothing
# written.
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?NIGHTSHIFT_BIN must point at the nightshift binary}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/soak_lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CACHE_HOME="$work/cache"
fail() { echo "FAIL: $*" >&2; exit 1; }

write_corpus "$work/corpus.txt"
write_model "$work/model.toml"
common=(--data "$work/corpus.txt" --batch 2 --seq 32 --threads 1 --eval-every 0 --eval-batches 1 --log-every 100)

# same_tensors A B [--only-in-a PREFIX]: the tensors of two safetensors files are equal byte for byte.
same_tensors() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    meta = head.pop("__metadata__", {})
    body = raw[8 + n:]
    return {k: (v["dtype"], v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in head.items()}, meta
a, _ = tensors(sys.argv[1])
b, _ = tensors(sys.argv[2])
if set(a) != set(b):
    raise SystemExit(f"names differ: only in {sys.argv[1]}: {sorted(set(a) - set(b))[:5]}, only in {sys.argv[2]}: {sorted(set(b) - set(a))[:5]}")
diff = [k for k in a if a[k] != b[k]]
if diff:
    raise SystemExit(f"{len(diff)} tensors differ, e.g. {diff[:3]}")
PY
}
meta_of() {  # meta_of FILE KEY
  /usr/bin/python3 -c 'import json,struct,sys; r=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",r[:8])[0]; print(json.loads(r[8:8+n])["__metadata__"][sys.argv[2]])' "$1" "$2"
}

# expect_bad NAME NEEDLE CMD...: exit code 2 and one "nightshift:" line naming NEEDLE.
expect_bad() {
  local name=$1 needle=$2; shift 2
  set +e
  "$@" > "$work/$name.out" 2> "$work/$name.err"
  local rc=$?
  set -e
  [ $rc -eq 2 ] || { cat "$work/$name.err"; fail "$name: exit code $rc, expected 2"; }
  [ "$(grep -c '^nightshift:' "$work/$name.err")" -eq 1 ] || { cat "$work/$name.err"; fail "$name: expected one error line"; }
  grep '^nightshift:' "$work/$name.err" | grep -qF -- "$needle" || { cat "$work/$name.err"; fail "$name: error does not name $needle"; }
}

# --- a full run ------------------------------------------------------------------------------------
"$BIN" train --model "$work/model.toml" "${common[@]}" --steps 12 --checkpoint-every 6 --out "$work/full" \
  2> "$work/full.log" || { cat "$work/full.log"; fail "train (full)"; }
"$BIN" export "$work/full" --out "$work/full.safetensors" > "$work/export.out" || fail "export (full)"
grep -q "step 12" "$work/export.out" || fail "export does not report step 12: $(cat "$work/export.out")"
same_tensors "$work/full.safetensors" "$work/full/checkpoints/step-00000012/model.safetensors" ||
  fail "the exported model differs from the checkpoint's weights"
"$BIN" safetensors "$work/full.safetensors" > /dev/null || fail "the exported file does not validate"
[ "$(meta_of "$work/full.safetensors" nightshift.kind)" = "model" ] || fail "kind is not model"
ls "$work" | grep -q '\.tmp' && fail "a temporary file was left beside the export"

# bad input
expect_bad exists "full.safetensors" "$BIN" export "$work/full" --out "$work/full.safetensors"
"$BIN" export "$work/full" --out "$work/full.safetensors" --force > /dev/null || fail "--force"
expect_bad adapter_of_full "$work/full" "$BIN" export "$work/full" --out "$work/x.safetensors" --adapter
expect_bad no_run "$work/nothing" "$BIN" export "$work/nothing" --out "$work/x.safetensors"
expect_bad no_folder "$work/no/such" "$BIN" export "$work/full" --out "$work/no/such/x.safetensors"
[ ! -e "$work/x.safetensors" ] || fail "a refused export wrote its file"

# A damaged newest checkpoint: skipped with a warning naming the file, the previous one exported.
cp -r "$work/full" "$work/damaged"
printf '\x13\x37' | dd of="$work/damaged/checkpoints/step-00000012/model.safetensors" bs=1 seek=300 conv=notrunc status=none
"$BIN" export "$work/damaged" --out "$work/older.safetensors" > /dev/null 2> "$work/damaged.err" || fail "export past a damaged checkpoint"
grep -q "warn.*step-00000012/model.safetensors: checksum mismatch" "$work/damaged.err" || { cat "$work/damaged.err"; fail "no warning naming the damaged file"; }
[ "$(meta_of "$work/older.safetensors" nightshift.step)" = "6" ] || fail "did not export step 6"
same_tensors "$work/older.safetensors" "$work/damaged/checkpoints/step-00000006/model.safetensors" || fail "step 6 weights"
truncate -s 100 "$work/damaged/checkpoints/step-00000006/optimizer.safetensors"
expect_bad all_damaged "step-00000012/model.safetensors" "$BIN" export "$work/damaged" --out "$work/x.safetensors"

# --- a lora run on the full run's checkpoint (f32 base) ------------------------------------------------
# The merged export must equal `merge` of the same base with the --adapter export (given the
# adapter_config.json PEFT needs, written here from the run's settings).
peft_dir() {  # peft_dir RUN ADAPTER_FILE DIR
  mkdir -p "$3"
  cp "$2" "$3/adapter_model.safetensors"
  /usr/bin/python3 - "$1" "$3" <<'PY'
import glob, json, sys
ckpt = sorted(glob.glob(sys.argv[1] + "/checkpoints/step-*[0-9]"))[-1]
lora = json.load(open(ckpt + "/state.json"))["lora"]
r = lora["active_rank"]
json.dump({"peft_type": "LORA", "r": r, "lora_alpha": lora["alpha"], "target_modules": lora["targets"]},
          open(sys.argv[2] + "/adapter_config.json", "w"))
PY
}
"$BIN" train "${common[@]}" --mode lora --base "$work/full" --rank 4 --alpha 4 --steps 10 --lr 1e-2 --out "$work/lora" \
  2> "$work/lora.log" || { cat "$work/lora.log"; fail "train (lora)"; }
"$BIN" export "$work/lora" --out "$work/lora_merged.safetensors" > /dev/null || fail "export (lora, merged)"
"$BIN" export "$work/lora" --out "$work/lora_adapter.safetensors" --adapter > /dev/null || fail "export --adapter"
"$BIN" safetensors "$work/lora_adapter.safetensors" --json > "$work/adapter.json" || fail "the adapter file does not validate"
grep -q 'base_model.model.blocks.0.attn.q.lora_A.weight' "$work/adapter.json" || fail "the adapter file lacks PEFT names"
grep -q 'attn.q.weight"' "$work/adapter.json" && fail "the adapter file holds base weights"
peft_dir "$work/lora" "$work/lora_adapter.safetensors" "$work/peft"
"$BIN" merge "$work/full" "$work/peft" --out "$work/merged_run" > /dev/null || fail "merge"
same_tensors "$work/lora_merged.safetensors" "$work/merged_run/checkpoints/step-00000000/model.safetensors" ||
  fail "the merged export differs from merge of the base with the exported adapter"
same_tensors "$work/lora_merged.safetensors" "$work/full.safetensors" 2> /dev/null && fail "the merged model equals the base (adapter lost?)"
[ "$(meta_of "$work/lora_merged.safetensors" nightshift.kind)" = "merged" ] || fail "kind is not merged"

# --- a qlora run on an nf4 base file ---------------------------------------------------------------
"$BIN" quantize "$work/full" --format nf4 --out "$work/base-nf4.safetensors" > /dev/null || fail "quantize"
"$BIN" train "${common[@]}" --mode qlora --base "$work/base-nf4.safetensors" --rank 4 --alpha 8 --steps 8 --lr 1e-2 \
  --out "$work/qlora" 2> "$work/qlora.log" || { cat "$work/qlora.log"; fail "train (qlora)"; }
"$BIN" export "$work/qlora" --out "$work/qlora_merged.safetensors" > /dev/null || fail "export (qlora, merged)"
"$BIN" export "$work/qlora" --out "$work/qlora_adapter.safetensors" --adapter > /dev/null || fail "export --adapter (qlora)"
peft_dir "$work/qlora" "$work/qlora_adapter.safetensors" "$work/qpeft"
"$BIN" merge "$work/base-nf4.safetensors" "$work/qpeft" --out "$work/qmerged_run" > /dev/null || fail "merge (qlora)"
same_tensors "$work/qlora_merged.safetensors" "$work/qmerged_run/checkpoints/step-00000000/model.safetensors" ||
  fail "the qlora merged export differs from merge of the nf4 base with the exported adapter"
echo "OK"
