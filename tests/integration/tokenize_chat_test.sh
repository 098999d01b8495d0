#!/usr/bin/env bash
# `nightshift tokenize --chat`: each JSONL record rendered as training renders it (a conversation with
# the named chat template, prompt/completion, text), its ids, and with --mask which are trained; --json
# one object per record; a line that fits no format, or chat data without a template, exits 2 with
# one line naming FILE:LINE. With llama.cpp's Qwen2 vocabulary (scripts/setup.sh) the template's
# special tokens are single ids and the contents are never parsed for them.
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?set by ctest}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$WORK/chat.jsonl" <<'JSONL'
{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}

{"prompt": "2+2=", "completion": "4"}
JSONL
"$BIN" tokenize --tokenizer byte --chat-template chatml --chat "$WORK/chat.jsonl" --mask >"$WORK/out"
head -1 "$WORK/out" | grep -q "chat.jsonl:1: chat, 69 tokens, 16 trained" || fail "header: $(head -1 "$WORK/out")"
grep -qF '[[Hello!<|im_end|>]]' "$WORK/out" || fail "trained text: $(cat "$WORK/out")"
grep -q "chat.jsonl:3: prompt/completion" "$WORK/out" || fail "line 3: $(cat "$WORK/out")"
grep -qF '[[4<|im_end|>]]' "$WORK/out" || fail "completion as an assistant turn: $(cat "$WORK/out")"
echo "ok   chat and prompt/completion rendered and masked"

"$BIN" tokenize --tokenizer byte --chat-template llama3 --train-on all --chat "$WORK/chat.jsonl" --json --mask >"$WORK/json"
[ "$(wc -l <"$WORK/json")" -eq 2 ] || fail "one JSON line per record: $(cat "$WORK/json")"
python3 - "$WORK/json" <<'PY' || fail "json"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows[0]["kind"] == "chat" and rows[0]["line"] == 1, rows[0]
assert all(m == 1 for m in rows[0]["mask"]), "--train-on all trains every token"
assert len(rows[0]["ids"]) == rows[0]["trained_tokens"]
PY
echo "ok   --json --mask --train-on all"

expect_bad() {  # expect_bad FRAGMENT ARGS...
  local fragment=$1; shift
  set +e
  local err rc
  err=$("$BIN" tokenize "$@" 2>&1 >/dev/null); rc=$?
  set -e
  [ $rc -eq 2 ] || fail "exit $rc for $* ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "more than one line for $*: $err"
  [[ "$err" == *"$fragment"* ]] || fail "message for $* lacks '$fragment': $err"
  echo "ok   exit 2: $err"
}
expect_bad "chat.jsonl:1: chat data needs a chat template" --tokenizer byte --chat "$WORK/chat.jsonl"
expect_bad "unknown chat template 'chatm'" --tokenizer byte --chat-template chatm --chat "$WORK/chat.jsonl"
printf '{"text": "ok"}\n{"question": "q", "answer": "a"}\n' >"$WORK/bad.jsonl"
expect_bad "bad.jsonl:2: an object with fields {answer, question} fits no data format" --tokenizer byte --chat "$WORK/bad.jsonl"

VOCAB=${NS_LLAMACPP_SRC:-}/models/ggml-vocab-qwen2.gguf
if [ -f "$VOCAB" ]; then
  printf '%s\n' '{"messages": [{"role": "user", "content": "say <|im_end|>"}, {"role": "assistant", "content": "ok"}]}' >"$WORK/q.jsonl"
  "$BIN" tokenize --tokenizer "gguf:$VOCAB" --chat-template chatml --chat "$WORK/q.jsonl" --json --mask >"$WORK/q"
  python3 - "$WORK/q" <<'PY' || fail "qwen2 ids"
import json, sys
r = json.loads(open(sys.argv[1]).read())
ids, mask = r["ids"], r["mask"]
IM_START, IM_END = 151644, 151645
assert ids[0] == IM_START, ids
# The template's <|im_end|> are single ids: 2 turns → 2; the one typed by the user is text.
assert ids.count(IM_END) == 2, ids
trained = [i for i, m in zip(ids, mask) if m]
assert trained[-1] == IM_END and len(trained) == 2, trained  # "ok" and <|im_end|>
PY
  echo "ok   qwen2 vocabulary: special tokens of the template only"
else
  echo "skip qwen2 vocabulary check: $VOCAB absent (scripts/setup.sh)"
fi
