// Hand-written matcher for GPT-2's pre-tokenizer regex. At each position the first alternative that
// matches wins; each case below is one alternative, in the regex's order, with the backtracking
// the regex engine would do spelled out.
#include "trainer/tokenizers/gpt2_pretokenize.h"

#include "trainer/tokenizers/unicode.h"

namespace trainer {
namespace {

using unicode::CharClass;

struct Scanner {
  const unsigned char* begin;
  const unsigned char* end;

  size_t size() const { return static_cast<size_t>(end - begin); }
  // Class and byte length of the character at byte offset `at` (< size()).
  CharClass cls(size_t at, int* bytes) const {
    unicode::Utf8Char c = unicode::decode_utf8(begin + at, end);
    *bytes = c.bytes;
    return c.valid ? unicode::char_class(c.cp) : CharClass::kOther;
  }
  // End of the run of characters of class `k` starting at `at`.
  size_t run_end(size_t at, CharClass k) const {
    while (at < size()) {
      int n;
      if (cls(at, &n) != k) break;
      at += n;
    }
    return at;
  }
};

// Length of a contraction ('s 't 're 've 'm 'll 'd) at `at`, or 0. Case-sensitive, as in GPT-2.
size_t contraction_length(std::string_view s, size_t at) {
  if (s[at] != '\'' || at + 1 >= s.size()) return 0;
  const char a = s[at + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (at + 2 >= s.size()) return 0;
  const char b = s[at + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// Length of the match of the whole regex at `at`.
size_t match_length(std::string_view text, const Scanner& sc, size_t at) {
  if (size_t n = contraction_length(text, at)) return n;
  int n0;
  const CharClass c0 = sc.cls(at, &n0);
  // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional single space, then a run of one class.
  if (text[at] == ' ' && at + 1 < text.size()) {
    int n1;
    const CharClass c1 = sc.cls(at + 1, &n1);
    if (c1 != CharClass::kSpace) return sc.run_end(at + 1, c1) - at;
  }
  if (c0 != CharClass::kSpace) return sc.run_end(at, c0) - at;
  // "\s+(?!\S)": the whitespace run, minus its last character when a non-space follows it;
  // "\s+": when that leaves nothing (a single whitespace character before a non-space).
  const size_t end = sc.run_end(at, CharClass::kSpace);
  if (end == text.size()) return end - at;
  size_t last = at;  // start of the run's last character
  for (size_t i = at; i < end;) {
    last = i;
    int n;
    sc.cls(i, &n);
    i += n;
  }
  return last > at ? last - at : end - at;
}

}  // namespace

void gpt2_pretokenize(std::string_view text, std::vector<std::string_view>* pieces) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const Scanner sc{p, p + text.size()};
  for (size_t at = 0; at < text.size();) {
    const size_t n = match_length(text, sc, at);
    pieces->push_back(text.substr(at, n));
    at += n;
  }
}

}  // namespace trainer
