#!/usr/bin/env python3
"""Test fixtures from llama.cpp's vocabulary files (its models/ggml-vocab-*.gguf), read with the
small GGUF metadata reader below (written from the format, independent of nightshift's C++ reader),
for the tokenizer tests (tests/trainer/llamacpp_vocab_test.cpp and the tokenizer integration tests).

  python3 gguf_vocab_fixture.py LLAMA_CPP_DIR OUT_DIR

For each vocabulary file NAME.gguf that has test vectors (NAME.gguf.inp and .out) it writes
  OUT_DIR/NAME.vocab.json   the tokenizer.ggml.* data (the fields of trainer/tokenizers/vocab_data.h)
  OUT_DIR/NAME/tokenizer.json   the same tokenizer in Hugging Face's format, when it can be written:
      byte-level BPE ("gpt2"): model.vocab, model.merges, a Split pre-tokenizer per regex that
      llama.cpp's src/llama-vocab.cpp applies for the file's `pre` name (read from that source here,
      not from nightshift), ByteLevel, added_tokens;
      SentencePiece ("llama"): a BPE model with byte fallback whose merges are ranked by the score of
      the token they make, with the Prepend/Replace normalizers, as Llama 2's tokenizer.json is.
Merges are written as "a b" strings for every other file and as ["a", "b"] pairs for the rest, so
both stored forms are read. A file already written is kept when it is newer than its source.
"""
import json
import os
import re
import sys


def c_unescape(s):
    """A C string literal's body to its text (the escapes llama-vocab.cpp uses)."""
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == '\\' and i + 1 < len(s):
            n = s[i + 1]
            out.append({'n': '\n', 'r': '\r', 't': '\t', '\\': '\\', '"': '"', "'": "'"}.get(n, '\\' + n))
            i += 2
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def llama_cpp_pre_table(src):
    """pre name -> (regexes, ignore_merges) as llama-vocab.cpp defines them."""
    # case LLAMA_VOCAB_PRE_TYPE_X: ... regex_exprs = { "...", ... };
    body = src[src.index('struct llm_tokenizer_bpe : llm_tokenizer'):src.index('struct llm_tokenizer_bpe_session')]
    regexes, pending = {}, []
    for m in re.finditer(r'case (LLAMA_VOCAB_PRE_TYPE_\w+):|default:|regex_exprs = \{(.*?)\n\s*\};', body, re.S):
        if m.group(1) or m.group(0) == 'default:':
            pending.append(m.group(1) or 'DEFAULT')
        else:
            exprs = []
            for line in m.group(2).split('\n'):
                line = line.strip()
                lm = re.match(r'^"(.*)",?\s*(//.*)?$', line)
                if lm:
                    exprs.append(c_unescape(lm.group(1)))
            for p in pending:
                regexes[p] = exprs
            pending = []
    regexes.setdefault('LLAMA_VOCAB_PRE_TYPE_DEFAULT', regexes.get('DEFAULT'))
    # tokenizer_pre == "name" || ... { pre_type = X; [ignore_merges = true;] }
    table = {}
    load = src[src.index('void llama_vocab::impl::load('):]
    for m in re.finditer(r'((?:tokenizer_pre == "[^"]+"\s*\|*\s*)+)\)\s*\{(.*?)\}', load, re.S):
        names = re.findall(r'tokenizer_pre == "([^"]+)"', m.group(1))
        t = re.search(r'pre_type = (LLAMA_VOCAB_PRE_TYPE_\w+)', m.group(2))
        if not t or t.group(1) not in regexes:
            continue
        for n in names:
            table[n] = (regexes[t.group(1)], 'ignore_merges = true' in m.group(2))
    table['default'] = (regexes['LLAMA_VOCAB_PRE_TYPE_DEFAULT'], False)
    return table


# GGUF value types (llama.cpp's gguf-py/gguf/constants.py, GGUFValueType): struct format per scalar.
_SCALAR = {0: '<B', 1: '<b', 2: '<H', 3: '<h', 4: '<I', 5: '<i', 6: '<f', 7: '<?', 10: '<Q', 11: '<q', 12: '<d'}
_STRING, _ARRAY = 8, 9


def read_gguf_metadata(path):
    """The key-value section of a GGUF file (v2/v3) as a dict: strings, numbers, bools, lists.

    gguf-py's GGUFReader reads the same but builds a numpy view per array element, which takes
    minutes for a vocabulary of 250k tokens; this reads the header only, in a second."""
    import mmap
    import struct
    with open(path, 'rb') as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if buf[:4] != b'GGUF':
        raise ValueError(f'{path}: not a GGUF file')
    version, _n_tensors, n_kv = struct.unpack_from('<IQQ', buf, 4)
    if version not in (2, 3):
        raise ValueError(f'{path}: GGUF version {version}')
    pos = 24

    def string():
        nonlocal pos
        (n,) = struct.unpack_from('<Q', buf, pos)
        pos += 8 + n
        return buf[pos - n:pos].decode('utf-8', errors='surrogateescape')

    def value(vtype):
        nonlocal pos
        if vtype == _STRING:
            return string()
        if vtype == _ARRAY:
            etype, count = struct.unpack_from('<IQ', buf, pos)
            pos += 12
            if etype in _SCALAR:
                fmt = _SCALAR[etype]
                size = struct.calcsize(fmt)
                out = [v[0] for v in struct.iter_unpack(fmt, buf[pos:pos + size * count])]
                pos += size * count
                return out
            return [value(etype) for _ in range(count)]
        fmt = _SCALAR[vtype]
        (v,) = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return v

    out = {}
    for _ in range(n_kv):
        key = string()
        (vtype,) = struct.unpack_from('<I', buf, pos)
        pos += 4
        out[key] = value(vtype)
    return out


def field(meta, key):
    return meta.get(key)


def vocab_data(reader):
    d = {
        'model': field(reader, 'tokenizer.ggml.model'),
        'pre': field(reader, 'tokenizer.ggml.pre') or '',
        'tokens': field(reader, 'tokenizer.ggml.tokens'),
        'scores': field(reader, 'tokenizer.ggml.scores') or [],
        'token_types': field(reader, 'tokenizer.ggml.token_type') or [],
        'merges': field(reader, 'tokenizer.ggml.merges') or [],
    }
    for key, name in [('bos_id', 'bos_token_id'), ('eos_id', 'eos_token_id'), ('eot_id', 'eot_token_id'),
                      ('unk_id', 'unknown_token_id'), ('pad_id', 'padding_token_id'),
                      ('add_bos', 'add_bos_token'), ('add_space_prefix', 'add_space_prefix')]:
        v = field(reader, 'tokenizer.ggml.' + name)
        if v is not None:
            d[key] = v
    return d


CONTROL, UNKNOWN, USER_DEFINED, BYTE, NORMAL = 3, 2, 4, 6, 1


def added_tokens(d):
    out = []
    for i, (t, ty) in enumerate(zip(d['tokens'], d['token_types'])):
        if ty in (CONTROL, UNKNOWN, USER_DEFINED) and t:
            out.append({'id': i, 'content': t, 'single_word': False, 'lstrip': False, 'rstrip': False,
                        'normalized': False, 'special': ty != USER_DEFINED})
    return out


def write_merges(pairs, as_pairs):
    return [[a, b] for a, b in pairs] if as_pairs else [a + ' ' + b for a, b in pairs]


def hf_byte_level(d, pre_table, as_pairs):
    if d['pre'] not in pre_table:
        return None
    regexes, ignore_merges = pre_table[d['pre']]
    added = {a['id'] for a in added_tokens(d)}
    vocab = {t: i for i, t in enumerate(d['tokens']) if i not in added}
    merges = [m.split(' ', 1) for m in d['merges'] if ' ' in m[1:]]
    pre = [{'type': 'Split', 'pattern': {'Regex': r}, 'behavior': 'Isolated', 'invert': False} for r in regexes]
    pre.append({'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False})
    return {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': added_tokens(d),
        'normalizer': None,
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': pre},
        'post_processor': None,
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': None,
                  'end_of_word_suffix': None, 'fuse_unk': False, 'byte_fallback': False,
                  'ignore_merges': ignore_merges, 'vocab': vocab, 'merges': write_merges(merges, as_pairs)},
    }


def hf_sentencepiece(d, as_pairs):
    tokens, scores, types = d['tokens'], d['scores'], d['token_types']
    added = {a['id'] for a in added_tokens(d)}
    vocab = {t: i for i, t in enumerate(tokens) if i not in added or types[i] == UNKNOWN}
    mergeable = {t: i for i, t in enumerate(tokens) if types[i] in (NORMAL, USER_DEFINED)}
    merges = []
    for t, i in mergeable.items():
        for k in range(1, len(t)):
            left, right = t[:k], t[k:]
            if left in mergeable and right in mergeable:
                merges.append((-scores[i], mergeable[left], mergeable[right], left, right))
    merges.sort()
    unk = next((tokens[i] for i, ty in enumerate(types) if ty == UNKNOWN), None)
    space = '\u2581'
    return {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': added_tokens(d),
        'normalizer': {'type': 'Sequence', 'normalizers': [
            {'type': 'Prepend', 'prepend': space},
            {'type': 'Replace', 'pattern': {'String': ' '}, 'content': space}]},
        'pre_tokenizer': None,
        'post_processor': None,
        'decoder': {'type': 'Sequence', 'decoders': [
            {'type': 'Replace', 'pattern': {'String': space}, 'content': ' '},
            {'type': 'ByteFallback'}, {'type': 'Fuse'},
            {'type': 'Strip', 'content': ' ', 'start': 1, 'stop': 0}]},
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': unk, 'continuing_subword_prefix': None,
                  'end_of_word_suffix': None, 'fuse_unk': True, 'byte_fallback': True, 'ignore_merges': False,
                  'vocab': vocab, 'merges': write_merges([(m[3], m[4]) for m in merges], as_pairs)},
    }


def write_json(path, obj):
    tmp = '%s.tmp%d' % (path, os.getpid())  # several test processes may write at once
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(obj, f, ensure_ascii=False)
    os.replace(tmp, path)


def main():
    if len(sys.argv) < 3:
        sys.exit('usage: gguf_vocab_fixture.py LLAMA_CPP_DIR OUT_DIR [NAME...]  (NAME: e.g. ggml-vocab-qwen2; default all)')
    root, out, only = sys.argv[1], sys.argv[2], set(sys.argv[3:])
    with open(os.path.join(root, 'src', 'llama-vocab.cpp'), encoding='utf-8') as f:
        pre_table = llama_cpp_pre_table(f.read())
    os.makedirs(out, exist_ok=True)
    models = os.path.join(root, 'models')
    names = sorted(n[:-len('.gguf')] for n in os.listdir(models) if n.startswith('ggml-vocab-') and n.endswith('.gguf')
                   and os.path.exists(os.path.join(models, n + '.out')) and os.path.exists(os.path.join(models, n + '.inp')))
    if only:
        names = [n for n in names if n in only]
    for index, name in enumerate(names):
        src = os.path.join(models, name + '.gguf')
        vocab_path = os.path.join(out, name + '.vocab.json')
        if os.path.exists(vocab_path) and os.path.getmtime(vocab_path) > os.path.getmtime(src):
            continue
        d = vocab_data(read_gguf_metadata(src))
        hf = None
        as_pairs = index % 2 == 1
        if d['model'] == 'gpt2':
            hf = hf_byte_level(d, pre_table, as_pairs)
        elif d['model'] == 'llama' and d['scores'] and d['token_types']:
            hf = hf_sentencepiece(d, as_pairs)
        if hf is not None:
            os.makedirs(os.path.join(out, name), exist_ok=True)
            write_json(os.path.join(out, name, 'tokenizer.json'), hf)
        write_json(vocab_path, d)  # last: its presence means the file is done
        print(f'{name}: {d["model"]}/{d["pre"] or "-"} {len(d["tokens"])} tokens' + (' + tokenizer.json' if hf else ''))


if __name__ == '__main__':
    main()
