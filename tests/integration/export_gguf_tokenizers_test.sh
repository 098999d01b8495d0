#!/usr/bin/env bash
# `export --format gguf` of runs whose tokenizer is a model's own tokenizer.json or tokenizer.model,
# checked against llama.cpp itself (the harness of tests/reference/llamacpp). ctest: run serial
# (vocabularies of 150k tokens). For each tokenizer a random-weight model in Hugging Face layout
# (tests/reference/llamacpp/model_fixture.py) is fine-tuned in full with `train --base HF_DIR`:
#   - byte-level BPE tokenizer.json files that tests/reference/gguf_vocab_fixture.py writes from
#     llama.cpp's models/ggml-vocab-*.gguf: Llama 3 (llama-bpe, with a tokenizer_config.json naming
#     BOS/EOS, add_bos_token and a chat template), Qwen2 (a qwen2 model), StarCoder/SmolLM (digits
#     split) and GPT-2; the GGUF names the pre-tokenizer llama.cpp splits as the file does;
#   - a SentencePiece BPE tokenizer.model trained here by Debian's spm_train (as Llama 2's is made);
# each GGUF loads in llama.cpp, which tokenizes every test string of the vocabulary's .inp file and
# held-out Shakespeare exactly as nightshift does, scores the held-out windows with nightshift's NLL
# (1e-3 relative) and continues greedily with nightshift's tokens. Refused (one line, exit 2, no
# file): a pre-tokenizer llama.cpp has no name for, a character-level tokenizer.json without its
# tokenizer.model, a unigram SentencePiece model with a normalization rule.
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
if [ ! -x /usr/bin/spm_train ]; then echo "SKIP: Debian's sentencepiece tools are not installed (scripts/setup.sh)"; exit 77; fi
export PYTHONPATH="$SRC/gguf-py"
head -c 100000 "$TEXT" >"$work/train.txt"
printf '%s' "$(tail -c 1400 "$TEXT")" >"$work/held.txt"  # never trained on
COMMON=(--batch 2 --seq 64 --threads 2 --eval-every 1000 --checkpoint-every 1000 --lr 1e-3 --thermal none)
FIX="$work/tok"
$PY "$REF/gguf_vocab_fixture.py" "$SRC" "$FIX" ggml-vocab-llama-bpe ggml-vocab-qwen2 ggml-vocab-starcoder \
  ggml-vocab-gpt-2 ggml-vocab-llama-spm >"$work/fixture.log" || fail "gguf_vocab_fixture.py"

field() { $PY -c "import json,sys; v=json.load(open(sys.argv[1]))$2; print(json.dumps(v) if isinstance(v,(list,dict)) else v)" "$1"; }
gguf_key() { $PY -c "import gguf,sys; f=gguf.GGUFReader(sys.argv[1]).fields.get(sys.argv[2]); print('<absent>' if f is None else f.contents())" "$1" "$2"; }

# same_tokens NAME GGUF SPEC INP: llama.cpp's ids for each item of INP (a models/*.inp file, items
# separated by __ggml_vocab_test__ lines) are nightshift's (`tokenize --tokenizer SPEC`).
same_tokens() {
  "$HARNESS" tokenize --model "$2" --text-file "$4" --split >"$work/$1.items.json" || fail "$1: llama.cpp tokenize"
  $PY - "$BIN" "$3" "$4" "$work/$1.items.json" "$work/$1.item" "$1" <<'PY' || fail "$1: llama.cpp tokenizes a test string otherwise"
import json, subprocess, sys
bin_, spec, inp, ref, tmp, name = sys.argv[1:7]
items = open(inp, encoding="utf-8", newline="").read().split("\n__ggml_vocab_test__\n")[:-1]
theirs = json.load(open(ref))["items"]
assert len(items) == len(theirs) > 10, (len(items), len(theirs))
for text, want in zip(items, theirs):
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    out = subprocess.run([bin_, "tokenize", "--tokenizer", spec, tmp], check=True, capture_output=True, text=True).stdout
    ours = [int(t) for t in out.split()]
    assert ours == want, f"{text!r}: nightshift {ours}, llama.cpp {want}"
print(f"ok   {name}: llama.cpp tokenizes all {len(items)} test strings of {inp.rsplit('/', 1)[-1]} as nightshift does")
PY
}

# llama_nll NAME GGUF: llama.cpp's mean NLL over eval --seq 64's windows of held.txt, with the ids
# nightshift gives it (from $work/NAME.ids.json).
llama_nll() {
  $PY - "$work/$1.ids.json" "$HARNESS" "$2" <<'PY'
import json, subprocess, sys
ids = json.load(open(sys.argv[1]))["prompt_ids"]
harness, gguf, T = sys.argv[2], sys.argv[3], 64
nll = []
for w in range((len(ids) - 1) // T):
    cmd = [harness, "eval", "--model", gguf, "--ids", ",".join(map(str, ids[w * T: w * T + T + 1])), "--threads", "2"]
    nll.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["nll"])
print(sum(nll) / len(nll))
PY
}

# check_run NAME RUN SPEC INP: export, then tokens, NLL and greedy against llama.cpp.
check_run() {
  local name=$1 run=$2 spec=$3 inp=$4 gguf="$work/$1.gguf"
  "$BIN" export "$run" --format gguf --out "$gguf" >"$work/$name.export.log" 2>&1 || fail "$name: export --format gguf failed"
  cat "$work/$name.export.log"
  echo "     $name: tokenizer.ggml.model=$(gguf_key "$gguf" tokenizer.ggml.model) pre=$(gguf_key "$gguf" tokenizer.ggml.pre)"
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

# hf_model NAME ARCH VOCAB TOKDIR: an HF directory $work/NAME/hf with TOKDIR's tokenizer files, and
# a full fine-tune of it, $work/run_NAME.
hf_model() {
  $PY "$REF/llamacpp/model_fixture.py" "$2" "$work/$1" $3 --d 64 --ff 128 --heads 4 --kv-heads 2 --layers 2 \
    >"$work/$1.fixture.log" || fail "$1: model_fixture.py"
  cp "$4"/* "$work/$1/hf/"
  "$BIN" train --base "$work/$1/hf" --mode full --data "$work/train.txt" --steps 4 "${COMMON[@]}" --out "$work/run_$1" \
    2>"$work/$1.train.log" || fail "$1: train --base HF_DIR"
}

# --- Llama 3's byte-level BPE with tokenizer_config.json (BOS added, EOS, chat template) ---
cat >"$FIX/ggml-vocab-llama-bpe/tokenizer_config.json" <<'JSON'
{"add_bos_token": true, "bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>",
 "chat_template": "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>{% endfor %}"}
JSON
hf_model llama3 llama "--vocab $SRC/models/ggml-vocab-llama-bpe.gguf" "$FIX/ggml-vocab-llama-bpe"
check_run llama3 "$work/run_llama3" "$FIX/ggml-vocab-llama-bpe" "$SRC/models/ggml-vocab-llama-bpe.gguf.inp"
[ "$(gguf_key "$work/llama3.gguf" tokenizer.ggml.pre)" = llama-bpe ] || fail "llama3: pre is not llama-bpe"
[ "$(gguf_key "$work/llama3.gguf" tokenizer.ggml.bos_token_id)" = 128000 ] || fail "llama3: bos is not <|begin_of_text|>"
[ "$(gguf_key "$work/llama3.gguf" tokenizer.ggml.eos_token_id)" = 128001 ] || fail "llama3: eos is not <|end_of_text|>"
[ "$(gguf_key "$work/llama3.gguf" tokenizer.ggml.add_bos_token)" = True ] || fail "llama3: add_bos_token is not true"
$PY - "$work/llama3.gguf" "$FIX/ggml-vocab-llama-bpe/tokenizer_config.json" "$SRC/models/ggml-vocab-llama-bpe.gguf" <<'PY' || fail "llama3: tokens, types, merges or chat template differ from llama.cpp's vocabulary"
import json, sys
import gguf
ours, ref = gguf.GGUFReader(sys.argv[1]), gguf.GGUFReader(sys.argv[3])
get = lambda r, k: r.fields[k].contents()
assert get(ours, "tokenizer.chat_template") == json.load(open(sys.argv[2]))["chat_template"]
assert get(ours, "tokenizer.ggml.tokens") == get(ref, "tokenizer.ggml.tokens")
assert get(ours, "tokenizer.ggml.merges") == get(ref, "tokenizer.ggml.merges")
t, r = get(ours, "tokenizer.ggml.token_type"), get(ref, "tokenizer.ggml.token_type")
assert t == r, [(i, a, b) for i, (a, b) in enumerate(zip(t, r)) if a != b][:5]
print(f"ok   llama3: tokens, token types and merges are those of llama.cpp's Llama 3 vocabulary; the chat template is tokenizer_config.json's")
PY

# --- Qwen2 (a qwen2 model), StarCoder/SmolLM digits, GPT-2 ---
hf_model qwen2 qwen2 "--vocab $SRC/models/ggml-vocab-qwen2.gguf" "$FIX/ggml-vocab-qwen2"
check_run qwen2 "$work/run_qwen2" "$FIX/ggml-vocab-qwen2" "$SRC/models/ggml-vocab-qwen2.gguf.inp"
[ "$(gguf_key "$work/qwen2.gguf" general.architecture)" = qwen2 ] || fail "qwen2: not written as qwen2"
[ "$(gguf_key "$work/qwen2.gguf" tokenizer.ggml.pre)" = qwen2 ] || fail "qwen2: pre is not qwen2"
for v in starcoder:smollm gpt-2:gpt-2; do
  name=${v%%:*}
  hf_model "$name" llama "--vocab $SRC/models/ggml-vocab-$name.gguf" "$FIX/ggml-vocab-$name"
  check_run "$name" "$work/run_$name" "$FIX/ggml-vocab-$name" "$SRC/models/ggml-vocab-$name.gguf.inp"
  [ "$(gguf_key "$work/$name.gguf" tokenizer.ggml.pre)" = "${v##*:}" ] || fail "$name: pre is not ${v##*:}"
done

# --- a SentencePiece BPE tokenizer.model (byte fallback, identity normalization, as Llama 2's) ---
/usr/bin/spm_train --input="$work/train.txt" --model_prefix="$work/spm" --vocab_size=700 --model_type=bpe \
  --byte_fallback=true --normalization_rule_name=identity --remove_extra_whitespaces=false --minloglevel=2 \
  >"$work/spm_train.log" 2>&1 || fail "spm_train"
mkdir -p "$work/spmtok"
cp "$work/spm.model" "$work/spmtok/tokenizer.model"
cat >"$work/spmtok/tokenizer_config.json" <<'JSON'
{"bos_token": "<s>", "eos_token": "</s>", "chat_template": "{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"}
JSON
hf_model spm llama "--n-vocab 704" "$work/spmtok"  # 4 ids beyond the model's 700 pieces
check_run spm "$work/run_spm" "spm:$work/spm/hf/tokenizer.model" "$SRC/models/ggml-vocab-llama-spm.gguf.inp"
[ "$(gguf_key "$work/spm.gguf" tokenizer.ggml.model)" = llama ] || fail "spm: tokenizer.ggml.model is not llama"
$PY - "$work/spm.gguf" "$work/spm.model" <<'PY' || fail "spm: pieces, scores or types differ from SentencePiece's"
import sys
import gguf
import numpy as np
r = gguf.GGUFReader(sys.argv[1])
get = lambda k: r.fields[k].contents()
tokens, scores, types = get("tokenizer.ggml.tokens"), get("tokenizer.ggml.scores"), get("tokenizer.ggml.token_type")
assert len(tokens) == len(scores) == len(types) == 704
vocab = [l.split("\t") for l in open(sys.argv[2].replace(".model", ".vocab"), encoding="utf-8").read().splitlines()]
assert [t for t, _ in vocab] == tokens[:700]
assert np.allclose([float(s) for _, s in vocab], scores[:700])
assert types[0] == 2 and types[1] == 3 and types[2] == 3, types[:3]  # <unk>, <s>, </s>
assert types[3:259] == [6] * 256 and tokens[3] == "<0x00>"            # byte pieces
assert set(types[259:700]) == {1} and types[700:] == [5] * 4 and tokens[700] == "[PAD700]"
assert (get("tokenizer.ggml.bos_token_id"), get("tokenizer.ggml.eos_token_id"), get("tokenizer.ggml.unknown_token_id")) == (1, 2, 0)
assert get("tokenizer.ggml.add_bos_token") is True and get("tokenizer.ggml.add_space_prefix") is True
assert get("tokenizer.chat_template").startswith("{% for m in messages %}[INST]")
print("ok   spm: pieces, scores, types (unknown, control, byte, normal, unused padding), special ids as SentencePiece's")
PY

# --- refused: one line, exit 2, nothing written ---
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
# A pre-tokenizer regex llama.cpp has no name for (GPT-2's, digits split off first as \d).
$PY - "$work/gpt-2/hf/tokenizer.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
j["pre_tokenizer"]["pretokenizers"].insert(0, {"type": "Split", "pattern": {"Regex": "\\d"}, "behavior": "Isolated", "invert": False})
json.dump(j, open(sys.argv[1], "w"), ensure_ascii=False)
PY
refused "an unknown pre-tokenizer" "no pre-tokenizer" "$work/x.gguf" "$BIN" export "$work/run_gpt-2" --format gguf --out "$work/x.gguf"
# Llama 2's vocabulary as a character-level tokenizer.json, without its tokenizer.model.
$PY "$REF/llamacpp/model_fixture.py" llama "$work/l2" --vocab "$SRC/models/ggml-vocab-llama-spm.gguf" --d 64 --ff 128 \
  --heads 4 --kv-heads 2 --layers 2 --hf-tokenizer "$FIX/ggml-vocab-llama-spm" >/dev/null || fail "model_fixture.py l2"
"$BIN" train --base "$work/l2/hf" --mode full --data "$work/train.txt" --steps 1 "${COMMON[@]}" --out "$work/run_l2" \
  2>"$work/l2.train.log" || fail "l2: train"
refused "a character-level tokenizer.json" "no tokenizer.model" "$work/x.gguf" "$BIN" export "$work/run_l2" --format gguf --out "$work/x.gguf"
# A unigram SentencePiece model (spm_train's defaults: unigram, nmt_nfkc normalization).
/usr/bin/spm_train --input="$work/train.txt" --model_prefix="$work/uni" --vocab_size=700 --minloglevel=2 \
  >"$work/spm_uni.log" 2>&1 || fail "spm_train unigram"
cp "$work/uni.model" "$work/spm/hf/tokenizer.model"
"$BIN" train --base "$work/spm/hf" --mode full --data "$work/train.txt" --steps 1 "${COMMON[@]}" --out "$work/run_uni" \
  2>"$work/uni.train.log" || fail "uni: train"
refused "a unigram SentencePiece model" "unigram" "$work/x.gguf" "$BIN" export "$work/run_uni" --format gguf --out "$work/x.gguf"
echo "PASS"
