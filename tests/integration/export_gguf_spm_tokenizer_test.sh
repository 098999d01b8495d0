#!/usr/bin/env bash
# `export --format gguf` of a run whose tokenizer is a SentencePiece tokenizer.model, checked against
# llama.cpp (export_gguf_tokenizers_lib.sh): a BPE model with byte fallback and identity
# normalization trained here by Debian's spm_train (as Llama 2's is made), its HF directory with a
# tokenizer_config.json (names, chat template) and 4 ids beyond the model's pieces. The GGUF's
# pieces, scores and types are SentencePiece's; llama.cpp tokenizes Llama 2's test strings
# (models/ggml-vocab-llama-spm.gguf.inp) and held-out text as nightshift does. A unigram model with a
# normalization rule (spm_train's defaults) is refused (one line, exit 2, no file).
source "$(dirname "$0")/export_gguf_tokenizers_lib.sh"
if [ ! -x /usr/bin/spm_train ]; then echo "SKIP: Debian's sentencepiece tools are not installed (scripts/setup.sh)"; exit 77; fi

# --- a SentencePiece BPE tokenizer.model (byte fallback, identity normalization, as Llama 2's) ---
/usr/bin/spm_train --input="$work/train.txt" --model_prefix="$work/spm" --vocab_size=700 --model_type=bpe \
  --byte_fallback=true --normalization_rule_name=identity --remove_extra_whitespaces=false --minloglevel=2 \
  >"$work/spm_train.log" 2>&1 || fail "spm_train"
mkdir -p "$work/spmtok"
cp "$work/spm.model" "$work/spmtok/tokenizer.model"
cat >"$work/spmtok/tokenizer_config.json" <<'JSON'
{"bos_token": "<s>", "eos_token": "</s>", "chat_template": "{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"}
JSON
hf_model spm llama 704 "$work/spmtok"  # 4 ids beyond the model's 700 pieces
check_run spm "$work/run_spm" "spm:$work/spm/hf/tokenizer.model" "$SRC/models/ggml-vocab-llama-spm.gguf.inp"
[ "$(gguf_key spm tokenizer.ggml.model)" = llama ] || fail "spm: tokenizer.ggml.model is not llama"
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
# A unigram SentencePiece model (spm_train's defaults: unigram, nmt_nfkc normalization).
/usr/bin/spm_train --input="$work/train.txt" --model_prefix="$work/uni" --vocab_size=700 --minloglevel=2 \
  >"$work/spm_uni.log" 2>&1 || fail "spm_train unigram"
cp "$work/uni.model" "$work/spm/hf/tokenizer.model"
"$BIN" train --base "$work/spm/hf" --mode full --data "$work/train.txt" --steps 1 "${COMMON[@]}" --out "$work/run_uni" \
  2>"$work/uni.train.log" || fail "uni: train"
refused "a unigram SentencePiece model" "unigram" "$work/x.gguf" "$BIN" export "$work/run_uni" --format gguf --out "$work/x.gguf"
echo "PASS"
