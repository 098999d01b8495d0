# Shared setup of the tokenizer export tests (sourced, not a test itself): export_gguf_hf_tokenizer_test.sh
# and export_gguf_spm_tokenizer_test.sh. A run over a random-weight model in Hugging Face layout
# (tests/reference/llamacpp/model_fixture.py, `train --base HF_DIR --mode full`) with a model's own
# tokenizer files is exported with `export --format gguf` and checked against llama.cpp itself (the
# harness of tests/reference/llamacpp): llama.cpp tokenizes every test string of a vocabulary's .inp
# file and held-out Shakespeare exactly as nightshift does, scores the held-out windows with
# nightshift's NLL (1e-3 relative) and continues greedily with nightshift's tokens.
source "$(dirname "$0")/train_lib.sh"
SRC=${NS_LLAMACPP_SRC:-}
HARNESS=${NS_LLAMACPP_HARNESS:-}
TEXT=${NS_TEST_DATA_DIR:-}/tinyshakespeare.txt
REF=$(cd "$(dirname "$0")/../reference" && pwd)
if [ -z "$HARNESS" ] || [ ! -x "$HARNESS" ]; then echo "SKIP: the llama.cpp harness is not built (scripts/setup.sh)"; exit 77; fi
if ! PYTHONPATH="$SRC/gguf-py" $PY -c 'import numpy, gguf' 2>/dev/null; then
  echo "SKIP: python3 cannot import numpy and llama.cpp's gguf-py (scripts/setup.sh)"; exit 77
fi
if [ ! -f "$TEXT" ]; then echo "SKIP: $TEXT is missing (NS_TEST_DATA_DIR)"; exit 77; fi
export PYTHONPATH="$SRC/gguf-py"
head -c 100000 "$TEXT" >"$work/train.txt"
printf '%s' "$(tail -c 1400 "$TEXT")" >"$work/held.txt"  # never trained on
COMMON=(--batch 2 --seq 64 --threads 2 --eval-every 1000 --eval-batches 1 --checkpoint-every 1000 --lr 1e-3 --thermal none)

field() { $PY -c "import json,sys; v=json.load(open(sys.argv[1]))$2; print(json.dumps(v) if isinstance(v,(list,dict)) else v)" "$1"; }
# meta NAME: the scalar metadata of $work/NAME.gguf (gguf_vocab_fixture.py's GGUF reader) as $work/NAME.meta.json; gguf_key NAME KEY.
meta() {
  $PY -c "import json,sys; sys.path.insert(0, sys.argv[3]); import gguf_vocab_fixture as G; f=G.read_gguf_metadata(sys.argv[1]); json.dump({k: v for k, v in f.items() if not k.startswith('tokenizer.ggml.') or k.endswith(('_id', '_token', '.model', '.pre', '_prefix'))}, open(sys.argv[2], 'w'))" \
    "$work/$1.gguf" "$work/$1.meta.json" "$REF" || fail "$1: the export's GGUF metadata cannot be read"
}
gguf_key() { $PY -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], '<absent>'))" "$work/$1.meta.json" "$2"; }

# same_tokens NAME GGUF SPEC INP: llama.cpp's ids for each item of INP (a models/*.inp file, items
# separated by __ggml_vocab_test__ lines) are nightshift's. The items go to nightshift in one process
# as {"text"} records (`tokenize --chat --json`), which it tokenizes as [BOS] text EOS: the BOS (where
# the vocabulary adds one) and the EOS are checked and taken off.
same_tokens() {
  "$HARNESS" tokenize --model "$2" --text-file "$4" --split >"$work/$1.items.json" || fail "$1: llama.cpp tokenize"
  $PY - "$4" "$work/$1.items.jsonl" <<'PY'
import json, sys
items = open(sys.argv[1], encoding="utf-8", newline="").read().split("\n__ggml_vocab_test__\n")[:-1]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for text in items:
        f.write(json.dumps({"text": text}) + "\n")
PY
  "$BIN" tokenize --tokenizer "$3" --chat "$work/$1.items.jsonl" --json >"$work/$1.ours.jsonl" || fail "$1: nightshift tokenize"
  $PY - "$4" "$work/$1.items.json" "$work/$1.ours.jsonl" "$work/$1.meta.json" "$1" <<'PY' || fail "$1: llama.cpp tokenizes a test string otherwise"
import json, sys
inp, ref, ours_path, meta, name = sys.argv[1:6]
items = open(inp, encoding="utf-8", newline="").read().split("\n__ggml_vocab_test__\n")[:-1]
ref = json.load(open(ref))
theirs, add_bos = ref["items"], ref["add_bos"]
meta = json.load(open(meta))
bos, eos = meta.get("tokenizer.ggml.bos_token_id"), meta["tokenizer.ggml.eos_token_id"]
ours = [json.loads(line)["ids"] for line in open(ours_path)]
assert len(items) == len(theirs) == len(ours) > 10, (len(items), len(theirs), len(ours))
for text, want, got in zip(items, theirs, ours):
    if text:
        assert got[-1] == eos, f"{text!r}: nightshift's record does not end with EOS {eos}: {got}"
        got = got[:-1]
        if add_bos:
            assert got[0] == bos, f"{text!r}: nightshift's record does not start with BOS {bos}: {got}"
            got = got[1:]
    assert got == want, f"{text!r}: nightshift {got}, llama.cpp {want}"
print(f"ok   {name}: llama.cpp tokenizes all {len(items)} test strings of {inp.rsplit('/', 1)[-1]} as nightshift does")
PY
}

# llama_nll NAME GGUF: llama.cpp's mean NLL over eval --seq 64's windows of held.txt, with the ids
# nightshift gives it (from $work/NAME.ids.json).
llama_nll() {
  "$HARNESS" nll --model "$2" --window 64 --threads 1 \
    --ids "$($PY -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['prompt_ids'])))" "$work/$1.ids.json")" |
    $PY -c "import json,sys; print(json.load(sys.stdin)['nll'])"
}

# check_run NAME RUN SPEC INP: export, then tokens, NLL and greedy against llama.cpp.
check_run() {
  local name=$1 run=$2 spec=$3 inp=$4 gguf="$work/$1.gguf"
  "$BIN" export "$run" --format gguf --out "$gguf" >"$work/$name.export.log" 2>&1 || fail "$name: export --format gguf failed"
  cat "$work/$name.export.log"
  meta "$name"
  echo "     $name: tokenizer.ggml.model=$(gguf_key "$name" tokenizer.ggml.model) pre=$(gguf_key "$name" tokenizer.ggml.pre)"
  same_tokens "$name" "$gguf" "$spec" "$inp"
  "$BIN" sample "$run" --prompt "$(cat "$work/held.txt")" --tokens 0 --temperature 0 --json >"$work/$name.ids.json" 2>/dev/null
  "$HARNESS" tokenize --model "$gguf" --text-file "$work/held.txt" --bos >"$work/$name.llama_ids.json"
  [ "$(field "$work/$name.ids.json" "['prompt_ids']")" = "$(field "$work/$name.llama_ids.json" "['ids']")" ] ||
    fail "$name: llama.cpp tokenizes the held-out text (with BOS as the vocabulary says) otherwise than nightshift"
  echo "ok   $name: held-out text: llama.cpp's ids are nightshift's ($(field "$work/$name.ids.json" "['prompt_ids'].__len__()") ids, add_bos=$(field "$work/$name.llama_ids.json" "['add_bos']"))"
  local ours theirs
  ours=$("$BIN" eval "$run" --data "$work/held.txt" --seq 64 --json | $PY -c "import json,sys; print(json.load(sys.stdin)['loss'])")
  theirs=$(llama_nll "$name" "$gguf")
  $PY -c "import sys; a, b = map(float, sys.argv[2:4]); r = abs(a - b) / abs(b); print(f'ok   {sys.argv[1]}: nightshift eval {a:.6f} vs llama.cpp NLL {b:.6f}, relative difference {r:.2e} (< 1e-3)'); sys.exit(r >= 1e-3)" \
    "$name" "$ours" "$theirs" || fail "$name: NLL $ours vs llama.cpp's $theirs"
  "$BIN" sample "$run" --prompt "ROMEO:" --tokens 16 --temperature 0 --json >"$work/$name.sample.json" 2>/dev/null
  "$HARNESS" eval --model "$gguf" --ids "$($PY -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['prompt_ids'])))" "$work/$name.sample.json")" \
    --greedy 16 >"$work/$name.greedy.json"
  [ "$(field "$work/$name.sample.json" "['ids']")" = "$(field "$work/$name.greedy.json" "['greedy']")" ] ||
    fail "$name: greedy $(field "$work/$name.sample.json" "['ids']") vs llama.cpp's $(field "$work/$name.greedy.json" "['greedy']")"
  echo "ok   $name: greedy continuation of 'ROMEO:' (16 tokens) is llama.cpp's token for token"
}

# hf_model NAME ARCH N_VOCAB TOKDIR: an HF directory $work/NAME/hf (N_VOCAB tokens, tied embeddings as
# in the small models of these vocabularies) with TOKDIR's tokenizer files, and a full fine-tune of
# it, $work/run_NAME.
hf_model() {
  $PY "$REF/llamacpp/model_fixture.py" "$2" "$work/$1" --n-vocab "$3" --tied --d 64 --ff 128 --heads 4 --kv-heads 2 --layers 2 \
    >"$work/$1.fixture.log" || fail "$1: model_fixture.py"
  cp "$4"/* "$work/$1/hf/"
  "$BIN" train --base "$work/$1/hf" --mode full --data "$work/train.txt" --steps 2 "${COMMON[@]}" --out "$work/run_$1" \
    2>"$work/$1.train.log" || fail "$1: train --base HF_DIR"
}

refused() {  # WHAT NEEDLE OUT CMD...
  local what=$1 needle=$2 out=$3; shift 3
  set +e; "$@" >/dev/null 2>"$work/refused.err"; local rc=$?; set -e
  [ $rc -eq 2 ] || fail "$what: exit $rc, expected 2 ($(cat "$work/refused.err"))"
  [ "$(wc -l <"$work/refused.err")" -eq 1 ] || fail "$what: more than one line: $(cat "$work/refused.err")"
  grep -qF -- "$needle" "$work/refused.err" || fail "$what: the message does not say '$needle': $(cat "$work/refused.err")"
  [ ! -e "$out" ] || fail "$what: $out was written"
  ! ls "$(dirname "$out")" | grep -q '\.tmp' || fail "$what: a temporary file was left behind"
  echo "ok   refused ($what): $(cat "$work/refused.err")"
}
