// Character classes by binary search over the generated range tables (ASCII by a lookup table) and a
// strict UTF-8 decoder (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
#include "trainer/tokenizers/unicode.h"

#include <algorithm>
#include <array>

namespace trainer::unicode {
namespace {

constexpr std::array<CharClass, 128> make_ascii_classes() {
  std::array<CharClass, 128> t{};
  for (int c = 0; c < 128; ++c) {
    CharClass k = CharClass::kOther;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) k = CharClass::kLetter;
    if (c >= '0' && c <= '9') k = CharClass::kNumber;
    if (c == ' ' || (c >= '\t' && c <= '\r')) k = CharClass::kSpace;
    t[c] = k;
  }
  return t;
}
constexpr std::array<CharClass, 128> kAsciiClasses = make_ascii_classes();

// White_Space outside ASCII (Unicode PropList.txt; unchanged since Unicode 6.3).
constexpr CodeRange kSpaceRanges[] = {{0x85, 0x85},     {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
                                      {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}};

bool in_ranges(const CodeRange* ranges, size_t count, char32_t cp) {
  const CodeRange* end = ranges + count;
  const CodeRange* it = std::upper_bound(ranges, end, cp, [](char32_t v, const CodeRange& r) { return v < r.first; });
  return it != ranges && cp <= (it - 1)->last;
}

}  // namespace

CharClass char_class(char32_t cp) {
  if (cp < 128) return kAsciiClasses[cp];
  if (in_ranges(kLetterRanges, kLetterRangesCount, cp)) return CharClass::kLetter;
  if (in_ranges(kNumberRanges, kNumberRangesCount, cp)) return CharClass::kNumber;
  if (in_ranges(kSpaceRanges, std::size(kSpaceRanges), cp)) return CharClass::kSpace;
  return CharClass::kOther;
}

Utf8Char decode_utf8(const unsigned char* p, const unsigned char* end) {
  const unsigned char b0 = p[0];
  if (b0 < 0x80) return {b0, 1, true};
  const Utf8Char bad{b0, 1, false};
  int n;
  char32_t cp;
  char32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return bad;
  }
  if (end - p < n) return bad;
  for (int i = 1; i < n; ++i) {
    if ((p[i] & 0xC0) != 0x80) return bad;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return bad;
  return {cp, n, true};
}

}  // namespace trainer::unicode
