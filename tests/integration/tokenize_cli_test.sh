#!/usr/bin/env bash
# `nightshift tokenize` with the byte tokenizer: any bytes (NUL, invalid UTF-8) round-trip exactly,
# stdin works, and bad input (missing file, a word that is not an id, an id outside the vocabulary,
# an unknown tokenizer) exits 2 with one line naming the problem.
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?set by ctest}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

printf 'a\x00b\xff\xfe\n\tz\xc3' >"$WORK/bytes.bin"
"$BIN" tokenize --tokenizer byte "$WORK/bytes.bin" >"$WORK/ids"
[ "$(cat "$WORK/ids")" = "97 0 98 255 254 10 9 122 195" ] || fail "byte ids: $(cat "$WORK/ids")"
"$BIN" tokenize --tokenizer byte --decode "$WORK/ids" >"$WORK/back"
cmp -s "$WORK/bytes.bin" "$WORK/back" || fail "decode(encode(x)) != x"
echo "ok   arbitrary bytes round-trip"

[ "$(printf 'hi' | "$BIN" tokenize -)" = "104 105" ] || fail "stdin"
[ "$(printf ' 104\n105 ' | "$BIN" tokenize --decode -)" = "hi" ] || fail "decode from stdin"
: >"$WORK/empty.txt"
[ "$("$BIN" tokenize "$WORK/empty.txt")" = "" ] || fail "empty file"
echo "ok   stdin and empty input"

expect_bad() {  # expect_bad FRAGMENT ARGS... (stdin from $WORK/in)
  local fragment=$1; shift
  set +e
  local err rc
  err=$("$BIN" tokenize "$@" <"$WORK/in" 2>&1 >/dev/null); rc=$?
  set -e
  [ $rc -eq 2 ] || fail "exit $rc for $* ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "more than one line for $*: $err"
  [[ "$err" == *"$fragment"* ]] || fail "message for $* lacks '$fragment': $err"
  echo "ok   exit 2: $err"
}
: >"$WORK/in"
expect_bad "$WORK/missing.txt" "$WORK/missing.txt"
expect_bad "unknown tokenizer 'bpe'" --tokenizer bpe "$WORK/empty.txt"
expect_bad "no such tokenizer directory" --tokenizer gpt2:"$WORK/nodir" "$WORK/empty.txt"
printf '1 2 three' >"$WORK/in"
expect_bad "token 3 'three' is not a token id" --decode -
printf '65 256' >"$WORK/in"
expect_bad "id 256 is outside the vocabulary (0..255)" --decode -
echo "all tokenize CLI checks passed"
