// Added tokens (special ones such as <|im_end|>, and user-defined ones such as runs of spaces) are
// split out of the text before anything else runs, as the models' tokenizers do: at each position
// the longest added token that starts there, leftmost first. Special tokens are split out only when
// asked (parse_special); the others always.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace trainer::tokenizers {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;  // a control token: split out only with parse_special
  bool lstrip = false;   // swallows the whitespace before it
  bool rstrip = false;   // swallows the whitespace after it
};

// A part of the text: plain text (id -1) or one added token.
struct Fragment {
  std::string_view text;
  int32_t id = -1;
};

class AddedTokenSplitter {
 public:
  AddedTokenSplitter() = default;
  explicit AddedTokenSplitter(std::vector<AddedToken> tokens);

  // Appends the fragments of `text` to `out`; plain-text fragments are never empty.
  void split(std::string_view text, bool parse_special, std::vector<Fragment>* out) const;
  bool empty() const { return tokens_.empty(); }
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  std::vector<AddedToken> tokens_;
  // First byte -> indices into tokens_, longest content first.
  std::unordered_map<unsigned char, std::vector<size_t>> by_first_byte_;
};

}  // namespace trainer::tokenizers
