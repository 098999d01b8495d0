// GPT-2's pre-tokenization, by hand: splits text the way the regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// does (leftmost match, alternatives in order, greedy with backtracking). Works on any bytes: a byte
// that is not valid UTF-8 counts as one character of the "other" class, so the pieces always
// concatenate back to the input. Not the BPE itself (tokenizer_gpt2.cpp).
#pragma once

#include <string_view>
#include <vector>

namespace trainer {

// Appends the pieces of `text` to `pieces` (views into `text`, in order, none empty).
void gpt2_pretokenize(std::string_view text, std::vector<std::string_view>* pieces);

}  // namespace trainer
