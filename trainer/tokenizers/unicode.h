// The Unicode facts GPT-2's pre-tokenizer needs: UTF-8 decoding that never fails (an invalid byte
// is one character of its own) and the classes of its regex (\p{L}, \p{N}, \s, everything else).
// Not a general Unicode library: no normalization, no case mapping, no other categories.
#pragma once

#include <cstddef>
#include <cstdint>

namespace trainer::unicode {

// An inclusive range of code points.
struct CodeRange {
  char32_t first;
  char32_t last;
};

// Generated tables (tokenizer_unicode_tables.cpp), sorted and disjoint.
extern const CodeRange kLetterRanges[];
extern const size_t kLetterRangesCount;
extern const CodeRange kNumberRanges[];
extern const size_t kNumberRangesCount;

enum class CharClass : uint8_t {
  kLetter,  // general category L (Lu Ll Lt Lm Lo)
  kNumber,  // general category N (Nd Nl No)
  kSpace,   // the White_Space property (what \s matches in the regex module GPT-2 used)
  kOther,   // everything else, including bytes that are not valid UTF-8
};

CharClass char_class(char32_t cp);

// One character decoded at the start of [p, end) (p < end). `bytes` is 1..4. Malformed input
// (stray continuation byte, overlong form, surrogate, beyond U+10FFFF, truncated sequence) yields
// valid = false, bytes = 1 and cp = the byte value, so that every byte string splits into characters.
struct Utf8Char {
  char32_t cp;
  int bytes;
  bool valid;
};
Utf8Char decode_utf8(const unsigned char* p, const unsigned char* end);

}  // namespace trainer::unicode
