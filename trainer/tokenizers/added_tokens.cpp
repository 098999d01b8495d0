// Leftmost-longest matching of added tokens, with lstrip/rstrip.
#include "trainer/tokenizers/added_tokens.h"

#include <algorithm>

namespace trainer::tokenizers {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

AddedTokenSplitter::AddedTokenSplitter(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i)
    if (!tokens_[i].content.empty())
      by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
  for (auto& [byte, list] : by_first_byte_)
    std::stable_sort(list.begin(), list.end(),
                     [&](size_t a, size_t b) { return tokens_[a].content.size() > tokens_[b].content.size(); });
}

void AddedTokenSplitter::split(std::string_view text, bool parse_special, std::vector<Fragment>* out) const {
  size_t plain_begin = 0;  // start of the pending plain text
  size_t i = 0;
  while (i < text.size()) {
    const AddedToken* hit = nullptr;
    auto it = by_first_byte_.find(static_cast<unsigned char>(text[i]));
    if (it != by_first_byte_.end()) {
      for (size_t k : it->second) {
        const AddedToken& t = tokens_[k];
        if ((parse_special || !t.special) && text.substr(i).starts_with(t.content)) {
          hit = &t;
          break;
        }
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    size_t plain_end = i;
    if (hit->lstrip)
      while (plain_end > plain_begin && is_space(text[plain_end - 1])) --plain_end;
    if (plain_end > plain_begin) out->push_back({text.substr(plain_begin, plain_end - plain_begin), -1});
    out->push_back({text.substr(i, hit->content.size()), hit->id});
    i += hit->content.size();
    if (hit->rstrip)
      while (i < text.size() && is_space(text[i])) ++i;
    plain_begin = i;
  }
  if (text.size() > plain_begin) out->push_back({text.substr(plain_begin), -1});
}

}  // namespace trainer::tokenizers
