// The text normalizers that models' tokenizer.json files use: Unicode normalization forms (NFC, NFD,
// NFKC, NFKD, through utf8proc), Lowercase, Prepend, Replace (a string or a regex) and Strip, applied
// in order. Bytes that are not valid UTF-8 pass through unchanged and split the text around them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "trainer/tokenizers/regex_split.h"

namespace trainer::tokenizers {

struct NormalizerStep {
  enum class Kind { kNfc, kNfd, kNfkc, kNfkd, kLowercase, kPrepend, kReplace, kStrip };
  Kind kind;
  std::string text;                    // Prepend: what to put first; Replace: the replacement
  std::shared_ptr<const Regex> regex;  // Replace: what to replace
  bool strip_left = false, strip_right = false;
};

// Applies `steps` in order.
std::string normalize(const std::vector<NormalizerStep>& steps, std::string_view text);

// One Unicode normalization form of `text` (valid UTF-8 runs only; other bytes are kept).
std::string unicode_normalize(NormalizerStep::Kind form, std::string_view text);

}  // namespace trainer::tokenizers
