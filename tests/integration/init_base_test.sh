#!/usr/bin/env bash
# ctest: run serial (measures the peak resident memory of `init`)
# `nightshift init --preset P --format F --out BASE`: a randomly initialized frozen base written tensor
# by tensor in its stored form.
#   - gpt-tiny in nf4: linear weights are U8 blobs of exactly the double-quantized NF4 size, norms
#     and the embedding F32 of their shapes; the metadata says what it is; the same seed gives the
#     same bytes, another seed other bytes; `train --base BASE --mode qlora` learns from it;
#   - q8, f16, bf16 and f32 bases are written too and train (qlora over q8, lora over the others);
#   - for mamba-moe-300m (about 1.2 GB in fp32) the peak resident memory of init stays far below the
#     fp32 model (tensor by tensor: the largest weight and its encoding, not the model);
#   - an unknown preset, format or tokenizer, an output in a missing directory or under a file, and
#     an existing output without --force: exit 2, one line naming it, no file left behind.
source "$(dirname "$0")/train_lib.sh"
if [ ! -x /usr/bin/time ]; then echo "SKIP: GNU time (/usr/bin/time) is not installed (scripts/setup.sh)"; exit 77; fi
cd "$work"

"$BIN" init --preset gpt-tiny --format nf4 --out a.safetensors > init.log 2>&1 || fail "init gpt-tiny nf4"
grep -q "a.safetensors: nf4 double-quantized base of gpt-tiny, random init (seed 1337)" init.log || fail "init's summary line"
"$BIN" init --preset gpt-tiny --format nf4 --out same.safetensors > /dev/null 2>&1 || fail "init again"
cmp -s a.safetensors same.safetensors || fail "the same seed gave different bytes"
"$BIN" init --preset gpt-tiny --format nf4 --seed 7 --out other.safetensors > /dev/null 2>&1 || fail "init --seed 7"
cmp -s a.safetensors other.safetensors && fail "another seed gave the same bytes"
echo "ok   same seed: identical bytes; another seed: other bytes"

# Tensors, types and sizes: gpt-tiny is 4 x (attn + mlp), d 128, 4 heads, SwiGLU 512, byte vocabulary.
"$BIN" safetensors --json a.safetensors > a.json || fail "safetensors --json"
$PY - a.json <<'PY' || fail "the nf4 base's tensors"
import json, math, sys
j = json.load(open(sys.argv[1]))
meta = j["metadata"]
assert meta["format"] == "nightshift-base" and meta["base_format"] == "nf4" and meta["double_quant"] == "1", meta
assert meta["tokenizer"] == "byte" and "gpt-tiny" in meta["model_toml"] and "init" in meta["source"], meta
def a64(x): return (x + 63) // 64 * 64
def nf4_dq_bytes(rows, cols):  # trainer/quant/format.h: codes, int8 scale codes, fp32 scale scales, mean
    n = rows * cols; nb = math.ceil(n / 64); nsb = math.ceil(nb / 256)
    return a64(a64(math.ceil(n / 2)) + nb) + 4 * nsb + 4
D, F, V = 128, 512, 256
linear = {"attn.q": (D, D), "attn.k": (D, D), "attn.v": (D, D), "attn.o": (D, D),
          "mlp.gate": (F, D), "mlp.up": (F, D), "mlp.down": (D, F)}
seen = {"linear": 0, "norm": 0}
names = set()
for t in j["tensors"]:
    name, names = t["name"], names | {t["name"]}
    key = ".".join(name.split(".")[2:4])
    if key in linear:
        r, c = linear[key]
        assert t["dtype"] == "U8" and t["shape"] == [nf4_dq_bytes(r, c)], t
        seen["linear"] += 1
    elif name.endswith("norm.weight"):
        assert t["dtype"] == "F32" and t["shape"] == [D], t
        seen["norm"] += 1
    elif name == "embed.weight":
        assert t["dtype"] == "F32" and t["shape"] == [V, D], t
    else:
        raise AssertionError(f"unexpected tensor {t}")
assert seen == {"linear": 28, "norm": 9}, seen
assert "embed.weight" in names
print(f"ok   nf4 base: {seen['linear']} U8 linear weights of the NF4 size, {seen['norm']} F32 norms, F32 embedding")
PY

# qlora over the random nf4 base learns (the adapters and norms train; the base stays frozen).
for i in $(seq 1 30); do cat corpus.txt; done > text.txt
first_last() { "$BIN" log "$1" steps --format json | $PY -c "
import json, sys
r = sorted(json.load(sys.stdin), key=lambda s: s['step'])
print(r[0]['loss'], sum(s['loss'] for s in r[-5:]) / 5)"; }
TRAIN=(--data text.txt --seq 64 --batch 4 --threads 2 --lr 3e-3 --thermal none --eval-every 0 --checkpoint-every 0)
"$BIN" train --base a.safetensors --mode qlora --steps 40 "${TRAIN[@]}" --out run-nf4 > run-nf4.log 2>&1 ||
  fail "train --base nf4 --mode qlora"
read -r l0 l1 <<< "$(first_last run-nf4)"
awk -v a="$l0" -v b="$l1" 'BEGIN { exit !(b < a - 0.5) }' || fail "qlora over the init base did not learn ($l0 -> $l1)"
echo "ok   qlora over the random nf4 base: loss $l0 -> $l1 (mean of the last 5 steps)"

for f in q8 f16 bf16 f32; do
  "$BIN" init --preset gpt-tiny --format "$f" --out "b-$f.safetensors" > "init-$f.log" 2>&1 || fail "init --format $f"
  mode=lora; [ "$f" = q8 ] && mode=qlora
  "$BIN" train --base "b-$f.safetensors" --mode "$mode" --steps 8 "${TRAIN[@]}" --out "run-$f" > "run-$f.log" 2>&1 ||
    fail "train --base $f --mode $mode"
  echo "ok   $f base ($(stat -c %s "b-$f.safetensors") bytes): $mode trains from it"
done

# Peak memory: mamba-moe-300m holds ~1.2 GB of fp32 weights; init never holds them all.
/usr/bin/time -f "%M" -o mid.peak "$BIN" init --preset mamba-moe-300m --format nf4 --out mid.safetensors > mid.log 2>&1 ||
  fail "init mamba-moe-300m"
$PY - "$(tail -1 mid.peak)" mid.log <<'PY' || fail "init's peak RSS is not far below the fp32 model"
import re, sys
peak_mib = int(sys.argv[1]) / 1024
line = open(sys.argv[2]).read()
params_m = float(re.search(r"([0-9.]+)M parameters", line).group(1))
fp32_mib = params_m * 1e6 * 4 / 2**20
print(f"ok   init mamba-moe-300m: peak RSS {peak_mib:.0f} MiB for {fp32_mib:.0f} MiB of fp32 weights ({100 * peak_mib / fp32_mib:.1f}%)")
assert fp32_mib > 1000, fp32_mib
assert peak_mib < 0.25 * fp32_mib, f"{peak_mib:.0f} MiB"
PY
rm -f mid.safetensors

# Bad input: exit 2, one line naming the problem, nothing written.
bad() {  # EXPECTED-TEXT OUT ARGS...
  local want=$1 out=$2 rc=0
  shift 2
  "$BIN" init "$@" --out "$out" > bad.out 2> bad.err || rc=$?
  [ "$rc" = 2 ] || fail "init $* --out $out: exit $rc, expected 2"
  [ "$(wc -l < bad.err)" = 1 ] || fail "init $* --out $out: not one line: $(cat bad.err)"
  grep -q -- "$want" bad.err || fail "init $* --out $out: '$(cat bad.err)' does not name '$want'"
  echo "ok   refused: $(cat bad.err)"
}
bad "unknown model preset 'gpt-huge'" x.safetensors --preset gpt-huge
bad "unknown quantization format 'q5'" x.safetensors --preset gpt-tiny --format q5
bad "--tokenizer" x.safetensors --preset gpt-tiny --tokenizer gpt2:no-such-dir
bad "no such directory" no-such-dir/x.safetensors --preset gpt-tiny
touch plain-file
bad "plain-file is not a directory" plain-file/x.safetensors --preset gpt-tiny
bad "already exists" a.safetensors --preset gpt-tiny --seed 9
cmp -s a.safetensors same.safetensors || fail "a refused init changed an existing file"
[ ! -e x.safetensors ] || fail "a refused init left x.safetensors"
ls | grep -q "\.tmp\." && fail "a temporary file was left: $(ls | grep '\.tmp\.')"
echo "PASS"
