// SpmTokenizer: the pairwise merge by score over a linked list of symbols with a max-heap.
#include "trainer/tokenizers/spm_tokenizer.h"

#include <cstdio>
#include <queue>

#include "common/check.h"

namespace trainer::tokenizers {
namespace {

using common::Result;
using common::Status;

constexpr const char* kSpace = "\xE2\x96\x81";  // ▁

size_t utf8_char_length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  return i + n <= s.size() ? n : 1;
}

void replace_all(std::string* s, std::string_view from, std::string_view to) {
  for (size_t pos = 0; (pos = s->find(from, pos)) != std::string::npos; pos += to.size()) s->replace(pos, from.size(), to);
}

bool is_type(const std::vector<int32_t>& types, int32_t id, GgufTokenType t) {
  return !types.empty() && types[id] == static_cast<int32_t>(t);
}

}  // namespace

Result<std::unique_ptr<SpmTokenizer>> SpmTokenizer::create(const VocabData& v, const std::string& spec,
                                                           const std::string& fingerprint) {
  const size_t n = v.tokens.size();
  if (n == 0) return Status::Corruption(v.source + ": the vocabulary has no tokens");
  if (!v.scores.empty() && v.scores.size() != n)
    return Status::Corruption(v.source + ": " + std::to_string(v.scores.size()) + " scores for " + std::to_string(n) + " tokens");
  if (!v.token_types.empty() && v.token_types.size() != n)
    return Status::Corruption(v.source + ": " + std::to_string(v.token_types.size()) + " token types for " + std::to_string(n) + " tokens");
  std::unique_ptr<SpmTokenizer> t(new SpmTokenizer());
  t->spec_ = spec;
  t->fingerprint_ = fingerprint;
  t->tokens_ = v.tokens;
  t->scores_ = v.scores.empty() ? std::vector<float>(n, 0.0f) : v.scores;
  t->types_ = v.token_types;
  for (size_t id = 0; id < n; ++id) t->by_text_[t->tokens_[id]] = static_cast<int32_t>(id);  // the last wins, as in llama.cpp
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto it = t->by_text_.find(name);
    if (it == t->by_text_.end()) it = t->by_text_.find(std::string(1, static_cast<char>(b)));
    t->byte_ids_[b] = it == t->by_text_.end() ? -1 : it->second;
  }
  std::vector<AddedToken> added;
  for (size_t id = 0; id < n; ++id) {
    const int32_t i = static_cast<int32_t>(id);
    const bool control = is_type(t->types_, i, GgufTokenType::kControl) || is_type(t->types_, i, GgufTokenType::kUnknown);
    if ((control || is_type(t->types_, i, GgufTokenType::kUserDefined)) && !t->tokens_[id].empty())
      added.push_back({i, t->tokens_[id], control});
  }
  t->added_ = AddedTokenSplitter(std::move(added));
  auto in_range = [&](std::optional<int32_t> id, int32_t fallback) {
    const int32_t x = id.value_or(fallback);
    return x >= 0 && static_cast<size_t>(x) < n ? x : -1;
  };
  t->ids_.bos = in_range(v.bos_id, 1);
  t->ids_.eos = in_range(v.eos_id, 2);
  t->ids_.unk = in_range(v.unk_id, 0);
  t->ids_.pad = in_range(v.pad_id, -1);
  t->ids_.eot = in_range(v.eot_id, -1);
  if (t->ids_.eot < 0)
    for (const char* name : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>"})
      if (auto it = t->by_text_.find(name); it != t->by_text_.end()) {
        t->ids_.eot = it->second;
        break;
      }
  t->add_bos_ = v.add_bos.value_or(true);
  t->add_space_prefix_ = v.add_space_prefix.value_or(true);
  return t;
}

bool SpmTokenizer::is_special(int32_t id) const {
  CHECK_MSG(id >= 0 && id < vocab_size(), "token id out of range");
  return is_type(types_, id, GgufTokenType::kControl) || is_type(types_, id, GgufTokenType::kUnknown);
}

std::string SpmTokenizer::token_text(int32_t id) const {
  CHECK_MSG(id >= 0 && id < vocab_size(), "token id out of range");
  return tokens_[id];
}

std::optional<int32_t> SpmTokenizer::token_id(std::string_view text) const {
  auto it = by_text_.find(std::string(text));
  if (it == by_text_.end()) return std::nullopt;
  return it->second;
}

void SpmTokenizer::encode_text(std::string_view text, std::vector<int32_t>* out) const {
  struct Symbol {
    int32_t prev, next;
    size_t begin, len;
  };
  std::vector<Symbol> sym;
  for (size_t i = 0; i < text.size();) {
    const size_t len = utf8_char_length(text, i);
    const int32_t idx = static_cast<int32_t>(sym.size());
    sym.push_back({idx - 1, i + len == text.size() ? -1 : idx + 1, i, len});
    i += len;
  }
  struct Bigram {
    int32_t left, right;
    float score;
    size_t size;
    bool operator<(const Bigram& o) const { return score < o.score || (score == o.score && left > o.left); }
  };
  std::priority_queue<Bigram> heap;
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const size_t size = sym[l].len + sym[r].len;
    auto it = by_text_.find(std::string(text.substr(sym[l].begin, size)));
    if (it == by_text_.end()) return;
    heap.push({l, r, scores_[it->second], size});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);
  while (!heap.empty()) {
    const Bigram b = heap.top();
    heap.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.size) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int32_t i = sym.empty() ? -1 : 0; i != -1; i = sym[i].next) {
    const std::string_view piece = text.substr(sym[i].begin, sym[i].len);
    auto it = by_text_.find(std::string(piece));
    if (it != by_text_.end()) {
      out->push_back(it->second);
      continue;
    }
    for (char c : piece) {
      const int32_t id = byte_ids_[static_cast<unsigned char>(c)];
      if (id >= 0) out->push_back(id);
    }
  }
}

std::vector<int32_t> SpmTokenizer::encode_with(std::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (options.add_bos && add_bos_ && ids_.bos >= 0) out.push_back(ids_.bos);
  std::vector<Fragment> fragments;
  added_.split(text, options.parse_special, &fragments);
  bool prev_special = true;  // a space goes first at the start and after each special token
  std::string escaped;
  for (const Fragment& f : fragments) {
    if (f.id >= 0) {
      out.push_back(f.id);
      prev_special = true;
      continue;
    }
    escaped.assign(add_space_prefix_ && prev_special ? " " : "");
    escaped += f.text;
    replace_all(&escaped, " ", kSpace);
    encode_text(escaped, &out);
    prev_special = false;
  }
  return out;
}

std::string SpmTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  bool at_start = true;
  for (int32_t id : ids) {
    CHECK_MSG(id >= 0 && id < vocab_size(), "token id out of range");
    if (is_special(id)) {
      out += tokens_[id];
      at_start = true;
      continue;
    }
    std::string piece = tokens_[id];
    const bool user_defined = is_type(types_, id, GgufTokenType::kUserDefined);
    if (is_type(types_, id, GgufTokenType::kByte) && piece.size() == 6 && piece.starts_with("<0x")) {
      piece = std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
    } else {
      replace_all(&piece, kSpace, " ");
    }
    if (at_start && add_space_prefix_ && piece.starts_with(' ')) piece.erase(0, 1);
    out += piece;
    at_start = user_defined;  // encode puts a space after every added token, as after a special one
  }
  return out;
}

}  // namespace trainer::tokenizers
