#!/usr/bin/env bash
# ctest: long (minutes of training and cross-checks; started among the first)
# `nightshift tokenize --tokenizer PATH` with a model's own tokenizer: Llama 3's vocabulary from
# llama.cpp's source bundle, written as a Hugging Face tokenizer.json by
# tests/reference/gguf_vocab_fixture.py, gives llama.cpp's ids for a directory, a file and an hf:
# spec, and decodes back; a directory without a tokenizer exits 2 naming it. Skipped (77) without
# the bundle (scripts/setup.sh installs it).
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?set by ctest}
BUNDLE="$NS_SOURCE_DIR/tests/reference/llamacpp/llama.cpp"
FIXTURES="$NS_BINARY_DIR/tokenizer_fixtures"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

if [ ! -d "$BUNDLE/models" ]; then
  echo "skip: llama.cpp's source bundle is not installed (run scripts/setup.sh)"; exit 77
fi
/usr/bin/python3 "$NS_SOURCE_DIR/tests/reference/gguf_vocab_fixture.py" "$BUNDLE" "$FIXTURES" >/dev/null
DIR="$FIXTURES/ggml-vocab-llama-bpe"
[ -f "$DIR/tokenizer.json" ] || fail "the fixture script wrote no $DIR/tokenizer.json"

printf 'Hello world' >"$WORK/text"
for spec in "$DIR" "$DIR/tokenizer.json" "hf:$DIR"; do
  ids=$("$BIN" tokenize --tokenizer "$spec" "$WORK/text")
  [ "$ids" = "9906 1917" ] || fail "--tokenizer $spec: ids '$ids', llama.cpp's are '9906 1917'"
done
echo "ok   Llama 3's tokenizer.json: 'Hello world' -> 9906 1917 (directory, file and hf: spec)"

printf 'Hello, y'"'"'all! How are you 😁 ?我想在apple工作1314151天～' >"$WORK/text"
"$BIN" tokenize --tokenizer "$DIR" "$WORK/text" >"$WORK/ids"
[ "$(cat "$WORK/ids")" = "9906 11 379 65948 0 2650 527 499 27623 223 949 37046 101067 19000 23182 102301 9263 18136 16 36827 21909" ] ||
  fail "ids $(cat "$WORK/ids")"
"$BIN" tokenize --tokenizer "$DIR" --decode "$WORK/ids" >"$WORK/back"
cmp -s "$WORK/text" "$WORK/back" || fail "decode(encode(x)) != x"
echo "ok   mixed text matches llama.cpp's ids and decodes back"

mkdir "$WORK/empty-model"
set +e
err=$("$BIN" tokenize --tokenizer "$WORK/empty-model" "$WORK/text" 2>&1 >/dev/null); rc=$?
set -e
[ $rc -eq 2 ] || fail "exit $rc for a directory without a tokenizer ($err)"
[[ "$err" == *"$WORK/empty-model"*"no tokenizer.json"* ]] || fail "message: $err"
echo "ok   exit 2: $err"
