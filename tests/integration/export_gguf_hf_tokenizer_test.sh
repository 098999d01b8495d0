#!/usr/bin/env bash
# ctest: long (minutes of training and cross-checks; started among the first)
# `export --format gguf` of runs whose tokenizer is a Hugging Face tokenizer.json (byte-level BPE),
# checked against llama.cpp (export_gguf_tokenizers_lib.sh), with vocabularies of up to 150k tokens.
# The tokenizer.json files are those tests/reference/gguf_vocab_fixture.py writes from
# llama.cpp's models/ggml-vocab-*.gguf: Llama 3 (with a tokenizer_config.json naming BOS/EOS,
# add_bos_token and a chat template; its tokens, types and merges are llama.cpp's own file's), Qwen2
# (a qwen2 model), StarCoder/SmolLM (digits split) and GPT-2; each GGUF names the pre-tokenizer
# llama.cpp splits as the file does (llama-bpe, qwen2, smollm, gpt-2). Refused (one line, exit 2, no
# file): a pre-tokenizer llama.cpp has no name for, a character-level tokenizer.json without its
# tokenizer.model.
source "$(dirname "$0")/export_gguf_tokenizers_lib.sh"
FIX="$work/tok"
$PY "$REF/gguf_vocab_fixture.py" "$SRC" "$FIX" ggml-vocab-llama-bpe ggml-vocab-qwen2 ggml-vocab-starcoder \
  ggml-vocab-gpt-2 ggml-vocab-llama-spm >"$work/fixture.log" || fail "gguf_vocab_fixture.py"
n_vocab() { $PY -c "import json,sys; print(len(json.load(open(sys.argv[1]))['tokens']))" "$FIX/ggml-vocab-$1.vocab.json"; }

# --- Llama 3's byte-level BPE with tokenizer_config.json (BOS added, EOS, chat template) ---
cat >"$FIX/ggml-vocab-llama-bpe/tokenizer_config.json" <<'JSON'
{"add_bos_token": true, "bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>",
 "chat_template": "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>{% endfor %}"}
JSON
hf_model llama3 llama "$(n_vocab llama-bpe)" "$FIX/ggml-vocab-llama-bpe"
check_run llama3 "$work/run_llama3" "$FIX/ggml-vocab-llama-bpe" "$SRC/models/ggml-vocab-llama-bpe.gguf.inp"
[ "$(gguf_key llama3 tokenizer.ggml.pre)" = llama-bpe ] || fail "llama3: pre is not llama-bpe"
[ "$(gguf_key llama3 tokenizer.ggml.bos_token_id)" = 128000 ] || fail "llama3: bos is not <|begin_of_text|>"
[ "$(gguf_key llama3 tokenizer.ggml.eos_token_id)" = 128001 ] || fail "llama3: eos is not <|end_of_text|>"
[ "$(gguf_key llama3 tokenizer.ggml.add_bos_token)" = True ] || fail "llama3: add_bos_token is not true"
REF="$REF" $PY - "$work/llama3.gguf" "$FIX/ggml-vocab-llama-bpe/tokenizer_config.json" "$SRC/models/ggml-vocab-llama-bpe.gguf" <<'PY' || fail "llama3: tokens, types, merges or chat template differ from llama.cpp's vocabulary"
import json, os, sys
sys.path.insert(0, os.environ["REF"])
import gguf_vocab_fixture as G
ours, ref = G.read_gguf_metadata(sys.argv[1]), G.read_gguf_metadata(sys.argv[3])
get = lambda r, k: r[k]
assert get(ours, "tokenizer.chat_template") == json.load(open(sys.argv[2]))["chat_template"]
assert get(ours, "tokenizer.ggml.tokens") == get(ref, "tokenizer.ggml.tokens")
assert get(ours, "tokenizer.ggml.merges") == get(ref, "tokenizer.ggml.merges")
t, r = get(ours, "tokenizer.ggml.token_type"), get(ref, "tokenizer.ggml.token_type")
assert t == r, [(i, a, b) for i, (a, b) in enumerate(zip(t, r)) if a != b][:5]
print(f"ok   llama3: tokens, token types and merges are those of llama.cpp's Llama 3 vocabulary; the chat template is tokenizer_config.json's")
PY

# --- Qwen2 (a qwen2 model), StarCoder/SmolLM digits, GPT-2 ---
hf_model qwen2 qwen2 "$(n_vocab qwen2)" "$FIX/ggml-vocab-qwen2"
check_run qwen2 "$work/run_qwen2" "$FIX/ggml-vocab-qwen2" "$SRC/models/ggml-vocab-qwen2.gguf.inp"
[ "$(gguf_key qwen2 general.architecture)" = qwen2 ] || fail "qwen2: not written as qwen2"
[ "$(gguf_key qwen2 tokenizer.ggml.pre)" = qwen2 ] || fail "qwen2: pre is not qwen2"
for v in starcoder:smollm gpt-2:gpt-2; do
  name=${v%%:*}
  hf_model "$name" llama "$(n_vocab "$name")" "$FIX/ggml-vocab-$name"
  check_run "$name" "$work/run_$name" "$FIX/ggml-vocab-$name" "$SRC/models/ggml-vocab-$name.gguf.inp"
  [ "$(gguf_key "$name" tokenizer.ggml.pre)" = "${v##*:}" ] || fail "$name: pre is not ${v##*:}"
done


# --- refused: one line, exit 2, nothing written ---
# A pre-tokenizer regex llama.cpp has no name for (GPT-2's, digits split off first as \d).
$PY - "$work/gpt-2/hf/tokenizer.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
j["pre_tokenizer"]["pretokenizers"].insert(0, {"type": "Split", "pattern": {"Regex": "\\d"}, "behavior": "Isolated", "invert": False})
json.dump(j, open(sys.argv[1], "w"), ensure_ascii=False)
PY
refused "an unknown pre-tokenizer" "no pre-tokenizer" "$work/x.gguf" "$BIN" export "$work/run_gpt-2" --format gguf --out "$work/x.gguf"
# Llama 2's vocabulary as a character-level tokenizer.json, without its tokenizer.model.
hf_model l2 llama "$(n_vocab llama-spm)" "$FIX/ggml-vocab-llama-spm"
refused "a character-level tokenizer.json" "no tokenizer.model" "$work/x.gguf" "$BIN" export "$work/run_l2" --format gguf --out "$work/x.gguf"
echo "PASS"
