// Splitting text with a regular expression, as the Hugging Face tokenizers' Split pre-tokenizer does:
// PCRE2 in UTF mode with Unicode properties (\p{L}, \s and \w by Unicode), so each model's own
// pre-tokenizer regex runs as written. The only includer of pcre2.h. Bytes that are not valid
// UTF-8 never match (they land in the pieces between matches), so a split never loses a byte.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace trainer::tokenizers {

// What happens to the matches (the "delimiters"), as in tokenizers' SplitDelimiterBehavior.
enum class SplitBehavior {
  kRemoved,             // dropped
  kIsolated,            // pieces of their own
  kMergedWithPrevious,  // appended to the piece before
  kMergedWithNext,      // prepended to the piece after
  kContiguous,          // adjacent matches form one piece
};

// "Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous".
common::Result<SplitBehavior> parse_split_behavior(std::string_view name);

class Regex {
 public:
  // `literal`: the pattern is a plain string. Errors quote PCRE2's message and offset.
  static common::Result<std::shared_ptr<const Regex>> compile(const std::string& pattern, bool literal = false);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // The non-empty matches in `text`, left to right, as [begin, end) byte offsets. Lookarounds see
  // only `text`. Thread-safe.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>* matches) const;
  const std::string& pattern() const { return pattern_; }

 private:
  Regex() = default;
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8
};

// One Split step: the regex, what to do with its matches, and `invert` (the matches are the pieces
// and what lies between them the delimiters).
struct Splitter {
  std::shared_ptr<const Regex> regex;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;

  // Appends the pieces of `text` (views into it, none empty) to `out`.
  void split(std::string_view text, std::vector<std::string_view>* out) const;
};

}  // namespace trainer::tokenizers
