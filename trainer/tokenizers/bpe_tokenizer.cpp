// BpeTokenizer: the encode pipeline (added tokens, normalizer, pre-tokenizer, BPE with a per-piece
// cache) and the decoder. The merge loop takes the adjacent pair of lowest rank, leftmost first, as
// tokenizers and llama.cpp do, with a heap: O(n log n) per piece.
#include "trainer/tokenizers/bpe_tokenizer.h"

#include <cstdio>
#include <mutex>
#include <queue>

#include "common/check.h"

namespace trainer::tokenizers {
namespace {

using common::Result;
using common::Status;

size_t utf8_char_length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  return i + n <= s.size() ? n : 1;
}

// "<0x0A>" -> 10; -1 if `t` is not a byte token.
int byte_token_value(std::string_view t) {
  if (t.size() != 6 || !t.starts_with("<0x") || t[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = t[i];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

void replace_all(std::string* s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  for (size_t pos = 0; (pos = s->find(from, pos)) != std::string::npos; pos += to.size())
    s->replace(pos, from.size(), to);
}

}  // namespace

Result<std::unique_ptr<BpeTokenizer>> BpeTokenizer::create(BpeConfig config) {
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());
  t->c_ = std::move(config);
  BpeConfig& c = t->c_;
  const int32_t n = static_cast<int32_t>(c.tokens.size());
  t->special_.assign(n, 0);
  for (const AddedToken& a : c.added) {
    if (a.id < 0 || a.id >= n)
      return Status::Corruption("added token '" + a.content + "' has id " + std::to_string(a.id) +
                                " outside the vocabulary of " + std::to_string(n));
    c.tokens[a.id] = a.content;
    if (a.special) t->special_[a.id] = 1;
  }
  // Token -> id: of equal tokens the last wins (as llama.cpp reads a GGUF vocabulary), and an
  // added special token never shadows a model token.
  t->ids_.reserve(n);
  for (int32_t id = 0; id < n; ++id)
    if (!t->special_[id]) t->ids_[c.tokens[id]] = id;
  for (int32_t id = 0; id < n; ++id)
    if (t->special_[id]) t->ids_.emplace(c.tokens[id], id);

  t->byte_ids_.fill(-1);
  for (int b = 0; b < 256; ++b) {
    if (c.byte_level) {  // a byte without a token (vocabularies may omit 0xC0, 0xF5..) is dropped, as in llama.cpp
      auto it = t->ids_.find(std::string(1, static_cast<char>(b)));
      if (it != t->ids_.end()) t->byte_ids_[b] = it->second;
    } else {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      auto it = t->ids_.find(name);
      if (it != t->ids_.end()) t->byte_ids_[b] = it->second;
    }
  }

  int32_t rank = 0;
  for (const auto& [left, right] : c.merges) {
    auto l = t->ids_.find(left), r = t->ids_.find(right), m = t->ids_.find(left + right);
    const int32_t this_rank = rank++;
    if (l == t->ids_.end() || r == t->ids_.end() || m == t->ids_.end()) continue;
    t->merges_.emplace(pair_key(l->second, r->second), Merge{this_rank, m->second});  // a repeat keeps its first rank
  }
  c.merges.clear();
  c.merges.shrink_to_fit();

  t->decoded_.resize(n);
  for (int32_t id = 0; id < n; ++id) {
    std::string d = c.tokens[id];
    if (!t->special_[id] && !c.byte_level) {
      const int byte = c.decode_byte_fallback ? byte_token_value(d) : -1;
      if (byte >= 0) d = std::string(1, static_cast<char>(byte));
      else if (!c.decode_replacement.empty()) replace_all(&d, c.decode_replacement, " ");
    }
    t->decoded_[id] = std::move(d);
  }
  t->added_ = AddedTokenSplitter(c.added);
  return t;
}

bool BpeTokenizer::is_special(int32_t id) const {
  CHECK_MSG(id >= 0 && id < vocab_size(), "token id out of range");
  return special_[id] != 0;
}

std::string BpeTokenizer::token_text(int32_t id) const {
  CHECK_MSG(id >= 0 && id < vocab_size(), "token id out of range");
  return c_.tokens[id];
}

std::optional<int32_t> BpeTokenizer::token_id(std::string_view text) const {
  auto it = ids_.find(std::string(text));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> BpeTokenizer::pre_tokenize(std::string_view text, bool at_text_start) const {
  std::vector<std::string> pieces;
  pieces.push_back(c_.normalizer.empty() ? std::string(text) : normalize(c_.normalizer, text));
  if (pieces[0].empty()) return {};
  std::vector<std::string> next;
  std::vector<std::string_view> parts;
  for (const PreTokenizerStep& step : c_.pre_tokenizer) {
    next.clear();
    for (size_t i = 0; i < pieces.size(); ++i) {
      std::string& p = pieces[i];
      switch (step.kind) {
        case PreTokenizerStep::Kind::kSplit:
          parts.clear();
          step.splitter.split(p, &parts);
          for (std::string_view s : parts) next.emplace_back(s);
          break;
        case PreTokenizerStep::Kind::kPrefixSpace:
          next.push_back(p.starts_with(' ') ? p : " " + p);
          break;
        case PreTokenizerStep::Kind::kMetaspace: {
          std::string s = p;
          replace_all(&s, " ", step.replacement);
          const bool first = at_text_start && i == 0;
          if ((step.prepend == PreTokenizerStep::Prepend::kAlways ||
               (step.prepend == PreTokenizerStep::Prepend::kFirst && first)) &&
              !s.starts_with(step.replacement))
            s = step.replacement + s;
          if (!step.split) {
            next.push_back(std::move(s));
            break;
          }
          size_t start = 0;  // cut before each replacement (MergedWithNext)
          for (size_t pos = s.find(step.replacement, 1); pos != std::string::npos; pos = s.find(step.replacement, pos + 1)) {
            next.push_back(s.substr(start, pos - start));
            start = pos;
          }
          next.push_back(s.substr(start));
          break;
        }
      }
    }
    pieces.swap(next);
  }
  std::erase_if(pieces, [](const std::string& s) { return s.empty(); });
  return pieces;
}

void BpeTokenizer::bpe(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.empty()) return;
  if (c_.ignore_merges || (c_.ignore_merges_newlines && piece.find_first_not_of('\n') == std::string_view::npos)) {
    auto it = ids_.find(std::string(piece));
    if (it != ids_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  // Symbols: a doubly linked list; a merged symbol lives at its leftmost slot. id -1 = unknown.
  std::vector<int32_t> sym, prev, next;
  std::vector<std::pair<uint32_t, uint32_t>> span;  // bytes of each initial symbol (unknowns)
  if (c_.byte_level) {
    for (size_t i = 0; i < piece.size(); ++i) {
      sym.push_back(byte_ids_[static_cast<unsigned char>(piece[i])]);
      span.emplace_back(static_cast<uint32_t>(i), 1);
    }
  } else {
    std::string ch;
    for (size_t i = 0; i < piece.size();) {
      const size_t len = utf8_char_length(piece, i);
      ch.assign(piece.data() + i, len);
      auto it = ids_.find(ch);
      sym.push_back(it != ids_.end() && !special_[it->second] ? it->second : -1);
      span.emplace_back(static_cast<uint32_t>(i), static_cast<uint32_t>(len));
      i += len;
    }
  }
  const int32_t n = static_cast<int32_t>(sym.size());
  prev.resize(n);
  next.resize(n);
  for (int32_t i = 0; i < n; ++i) prev[i] = i - 1, next[i] = i + 1;
  struct Candidate {
    int32_t rank, pos, left, right, merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push_pair = [&](int32_t p) {
    if (p < 0) return;
    const int32_t q = next[p];
    if (q >= n || sym[p] < 0 || sym[q] < 0) return;
    auto it = merges_.find(pair_key(sym[p], sym[q]));
    if (it != merges_.end()) heap.push({it->second.rank, p, sym[p], sym[q], it->second.id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    if (sym[c.pos] != c.left) continue;  // stale
    const int32_t q = next[c.pos];
    if (q >= n || sym[q] != c.right) continue;
    sym[c.pos] = c.merged;
    sym[q] = -2;
    next[c.pos] = next[q];
    if (next[q] < n) prev[next[q]] = c.pos;
    push_pair(prev[c.pos]);
    push_pair(c.pos);
  }
  bool last_unk = false;
  for (int32_t i = 0; i < n; i = next[i]) {
    if (sym[i] >= 0) {
      out->push_back(sym[i]);
      last_unk = false;
      continue;
    }
    const auto [b, len] = span[i];
    bool bytes_ok = c_.byte_fallback;
    for (uint32_t k = 0; bytes_ok && k < len; ++k) bytes_ok = byte_ids_[static_cast<unsigned char>(piece[b + k])] >= 0;
    if (bytes_ok) {
      for (uint32_t k = 0; k < len; ++k) out->push_back(byte_ids_[static_cast<unsigned char>(piece[b + k])]);
      last_unk = false;
    } else if (c_.unk >= 0 && !(c_.fuse_unk && last_unk)) {
      out->push_back(c_.unk);
      last_unk = true;
    }
    // else: no way to write this character; it is dropped, as llama.cpp does
  }
}

void BpeTokenizer::encode_piece_cached(const std::string& piece, std::vector<int32_t>* out) const {
  {
    std::shared_lock lock(cache_mu_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> fresh;
  bpe(piece, &fresh);
  out->insert(out->end(), fresh.begin(), fresh.end());
  std::unique_lock lock(cache_mu_);
  if (cache_.size() >= kCacheMaxEntries) cache_.clear();
  cache_.emplace(piece, std::move(fresh));
}

void BpeTokenizer::encode_text(std::string_view text, bool at_text_start, std::vector<int32_t>* out) const {
  for (const std::string& piece : pre_tokenize(text, at_text_start)) encode_piece_cached(piece, out);
}

std::vector<int32_t> BpeTokenizer::encode_with(std::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 2);
  if (options.add_bos && c_.add_bos && c_.special_ids.bos >= 0) ids.push_back(c_.special_ids.bos);
  if (added_.empty()) {
    encode_text(text, true, &ids);
    return ids;
  }
  std::vector<Fragment> fragments;
  added_.split(text, options.parse_special, &fragments);
  for (const Fragment& f : fragments) {
    if (f.id >= 0) ids.push_back(f.id);
    else encode_text(f.text, f.text.data() == text.data(), &ids);
  }
  return ids;
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  bool at_start = true;  // at the start of the text or just after a special token
  for (int32_t id : ids) {
    CHECK_MSG(id >= 0 && id < vocab_size(), "token id out of range");
    const std::string& d = decoded_[id];
    if (special_[id]) {
      out += d;
      at_start = true;
      continue;
    }
    if (at_start && c_.decode_strip_leading_space && d.starts_with(' ')) out.append(d, 1, std::string::npos);
    else out += d;
    at_start = false;
  }
  return out;
}

}  // namespace trainer::tokenizers
