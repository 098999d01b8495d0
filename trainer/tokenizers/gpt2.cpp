// GPT-2 byte-level BPE: loading and validating the vocabulary and merges, the BPE merge loop, and
// encode/decode. The merge loop gives exactly GPT-2's result (repeatedly: take the adjacent pair of
// lowest rank, merge all its occurrences left to right) in O(n log n) with a heap, so a piece of
// 100k identical bytes costs no more than a few milliseconds.
#include "trainer/tokenizers/gpt2.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>

#include "common/atomic_file.h"
#include "common/check.h"
#include "trainer/formats/checksum.h"
#include "trainer/tokenizers/gpt2_pretokenize.h"
#include "trainer/tokenizers/unicode.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

constexpr char32_t kNoByte = 0xFFFFFFFF;
constexpr size_t kAlphabetEnd = 0x144;  // the byte map's code points are all below U+0144

std::array<char32_t, 256> make_byte_to_unicode() {
  std::array<char32_t, 256> map{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    map[b] = printable ? static_cast<char32_t>(b) : next++;
  }
  return map;
}

// The inverse map: code point (< kAlphabetEnd) -> byte, kNoByte outside the alphabet.
const std::array<char32_t, kAlphabetEnd>& unicode_to_byte() {
  static const std::array<char32_t, kAlphabetEnd> inverse = [] {
    std::array<char32_t, kAlphabetEnd> inv;
    inv.fill(kNoByte);
    const auto& fwd = gpt2_byte_to_unicode();
    for (int b = 0; b < 256; ++b) inv[fwd[b]] = static_cast<char32_t>(b);
    return inv;
  }();
  return inverse;
}

std::string printable(std::string_view s) { return s.size() > 40 ? std::string(s.substr(0, 40)) + "..." : std::string(s); }

}  // namespace

const std::array<char32_t, 256>& gpt2_byte_to_unicode() {
  static const std::array<char32_t, 256> map = make_byte_to_unicode();
  return map;
}

bool gpt2_alphabet_to_bytes(std::string_view s, std::string* out) {
  out->clear();
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unicode::Utf8Char c = unicode::decode_utf8(p, end);
    if (!c.valid || c.cp >= kAlphabetEnd || unicode_to_byte()[c.cp] == kNoByte) return false;
    out->push_back(static_cast<char>(unicode_to_byte()[c.cp]));
    p += c.bytes;
  }
  return true;
}

Result<std::unique_ptr<Gpt2Tokenizer>> Gpt2Tokenizer::load(const std::string& dir, const std::string& spec) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::NotFound(dir + ": no such tokenizer directory");
  if (!fs::is_directory(dir, ec)) return Status::InvalidArgument(dir + ": not a directory (gpt2:DIR expects a folder)");
  const fs::path d(dir);
  fs::path vocab_path = d / "encoder.json", merges_path = d / "vocab.bpe";
  if (!fs::exists(vocab_path, ec) && !fs::exists(merges_path, ec)) {
    vocab_path = d / "vocab.json", merges_path = d / "merges.txt";
    if (!fs::exists(vocab_path, ec) && !fs::exists(merges_path, ec))
      return Status::NotFound(dir + ": no encoder.json + vocab.bpe (or vocab.json + merges.txt) in this directory");
  }
  const std::string vocab_name = vocab_path.string(), merges_name = merges_path.string();
  NS_ASSIGN_OR_RETURN(std::string vocab_text, common::read_file(vocab_name));
  NS_ASSIGN_OR_RETURN(std::string merges_text, common::read_file(merges_name));

  std::unique_ptr<Gpt2Tokenizer> t(new Gpt2Tokenizer());
  t->spec_ = spec;
  // v2: pre-tokens longer than kMaxPieceBytes are encoded in chunks (token caches of v1 are redone).
  char fp[32];
  std::snprintf(fp, sizeof fp, "gpt2-v2-%08x", crc32(merges_text.data(), merges_text.size(),
                                                     crc32(vocab_text.data(), vocab_text.size())));
  t->fingerprint_ = fp;

  // The vocabulary: {"token in the byte alphabet": id, ...} with ids 0..N-1.
  nlohmann::json vocab;
  try {
    vocab = nlohmann::json::parse(vocab_text);
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(vocab_name + ": not valid JSON (" + e.what() + ")");
  }
  if (!vocab.is_object() || vocab.empty())
    return Status::Corruption(vocab_name + ": expected a JSON object mapping tokens to ids");
  t->tokens_.assign(vocab.size(), std::string());
  std::vector<bool> seen(vocab.size(), false);
  std::unordered_map<std::string, int32_t> ids;
  ids.reserve(vocab.size());
  std::string bytes;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer())
      return Status::Corruption(vocab_name + ": token '" + printable(it.key()) + "' has a non-integer id");
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || id >= static_cast<int64_t>(vocab.size()) || seen[id])
      return Status::Corruption(vocab_name + ": token '" + printable(it.key()) + "' has id " + std::to_string(id) +
                                ": ids must be 0.." + std::to_string(vocab.size() - 1) + ", each once");
    if (!gpt2_alphabet_to_bytes(it.key(), &bytes))
      return Status::Corruption(vocab_name + ": token '" + printable(it.key()) +
                                "' has a character outside GPT-2's byte alphabet");
    if (!ids.emplace(bytes, static_cast<int32_t>(id)).second)
      return Status::Corruption(vocab_name + ": two tokens stand for the same bytes ('" + printable(it.key()) + "')");
    seen[id] = true;
    t->tokens_[id] = bytes;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = ids.find(std::string(1, static_cast<char>(b)));
    if (it == ids.end()) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      return Status::Corruption(vocab_name + ": no token for byte " + hex + " (a byte-level vocabulary needs all 256)");
    }
    t->byte_ids_[b] = it->second;
  }

  // The merges: an optional "#version" line, then "left right" per line, best (lowest rank) first.
  std::vector<bool> made(t->tokens_.size(), false);  // tokens some merge makes
  int32_t rank = 0;
  size_t line_no = 0;
  std::string left, right;
  for (size_t pos = 0; pos < merges_text.size();) {
    size_t eol = merges_text.find('\n', pos);
    if (eol == std::string::npos) eol = merges_text.size();
    std::string_view line(merges_text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_no == 1 && line.starts_with("#version")) continue;
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    const std::string where = merges_name + ":" + std::to_string(line_no) + ": ";
    const size_t sp = line.find(' ');
    if (sp == 0 || sp == std::string_view::npos || line.find_first_of(" \t", sp + 1) != std::string_view::npos ||
        sp + 1 == line.size())
      return Status::Corruption(where + "expected two symbols separated by one space, got '" + printable(line) + "'");
    if (!gpt2_alphabet_to_bytes(line.substr(0, sp), &left) || !gpt2_alphabet_to_bytes(line.substr(sp + 1), &right))
      return Status::Corruption(where + "a character outside GPT-2's byte alphabet in '" + printable(line) + "'");
    auto l = ids.find(left), r = ids.find(right), m = ids.find(left + right);
    if (l == ids.end() || r == ids.end() || m == ids.end())
      return Status::Corruption(where + "'" + printable(line) + "' uses or makes a token missing from " + vocab_name);
    // A repeated pair keeps its last rank, as GPT-2's dict(zip(merges, range(n))) does.
    t->merges_[pair_key(l->second, r->second)] = Merge{rank++, m->second};
    made[m->second] = true;
  }
  // An empty or truncated merges file leaves tokens of the vocabulary that nothing can make (every
  // token is a byte, a merge result or a special token such as <|endoftext|>): refused, because
  // training with it would silently tokenize differently from the model's origin.
  if (merges_text.find_first_not_of(" \t\r\n") == std::string::npos && t->tokens_.size() > 256) {
    return Status::Corruption(merges_name + ": empty, but " + vocab_name + " has " +
                              std::to_string(t->tokens_.size() - 256) + " tokens beyond the 256 bytes");
  }
  int64_t unmade = 0;
  std::string example;
  for (size_t id = 0; id < t->tokens_.size(); ++id) {
    const std::string& tok = t->tokens_[id];
    const bool special = tok.size() > 4 && tok.starts_with("<|") && tok.ends_with("|>");
    if (tok.size() <= 1 || special || made[id]) continue;
    if (unmade++ == 0) example = tok;
  }
  if (unmade > 0) {
    return Status::Corruption(merges_name + ": ends after " + std::to_string(rank) + " merges (truncated?): " +
                              std::to_string(unmade) + " tokens of " + vocab_name + " such as '" + printable(example) +
                              "' are made by no merge");
  }
  return t;
}

const std::string& Gpt2Tokenizer::token_bytes(int32_t id) const {
  CHECK_MSG(id >= 0 && id < vocab_size(), "token id out of range");
  return tokens_[id];
}

void Gpt2Tokenizer::bpe(std::string_view piece, std::vector<int32_t>* out) const {
  const int32_t n = static_cast<int32_t>(piece.size());
  if (n == 0) return;
  // A doubly linked list over the byte positions; a merged symbol lives at its leftmost position.
  std::vector<int32_t> sym(n), prev(n), next(n);
  for (int32_t i = 0; i < n; ++i) {
    sym[i] = byte_ids_[static_cast<unsigned char>(piece[i])];
    prev[i] = i - 1;
    next[i] = i + 1;
  }
  struct Candidate {
    int32_t rank, pos, left, right, merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push_pair = [&](int32_t p) {
    const int32_t q = next[p];
    if (p < 0 || q >= n) return;
    auto it = merges_.find(pair_key(sym[p], sym[q]));
    if (it != merges_.end()) heap.push({it->second.rank, p, sym[p], sym[q], it->second.id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);

  std::vector<Candidate> batch;
  while (!heap.empty()) {
    // All occurrences of the lowest-rank pair, merged left to right; stale entries are skipped.
    const int32_t best = heap.top().rank;
    batch.clear();
    while (!heap.empty() && heap.top().rank == best) {
      batch.push_back(heap.top());
      heap.pop();
    }
    for (const Candidate& c : batch) {  // popped in increasing position
      if (sym[c.pos] != c.left) continue;
      const int32_t q = next[c.pos];
      if (q >= n || sym[q] != c.right) continue;
      sym[c.pos] = c.merged;
      sym[q] = -1;
      next[c.pos] = next[q];
      if (next[q] < n) prev[next[q]] = c.pos;
      if (prev[c.pos] >= 0) push_pair(prev[c.pos]);
      push_pair(c.pos);
    }
  }
  for (int32_t i = 0; i < n; i = next[i]) out->push_back(sym[i]);
}

std::vector<int32_t> Gpt2Tokenizer::encode(std::string_view text) const {
  std::vector<std::string_view> pieces;
  gpt2_pretokenize(text, &pieces);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  std::vector<int32_t> fresh;
  for (std::string_view whole : pieces) {
    // A pre-token longer than kMaxPieceBytes (a 16 MB "word" of base64, a run of one character) is
    // encoded in chunks of that size, so the work and memory per piece stay bounded; pieces of
    // ordinary text are far shorter and encode exactly as before.
    for (size_t at = 0; at < whole.size(); at += kMaxPieceBytes) {
      encode_piece(whole.substr(at, kMaxPieceBytes), &ids, &fresh);
    }
  }
  return ids;
}

void Gpt2Tokenizer::encode_piece(std::string_view piece, std::vector<int32_t>* ids, std::vector<int32_t>* fresh) const {
  {
    std::shared_lock lock(cache_mu_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  fresh->clear();
  bpe(piece, fresh);
  ids->insert(ids->end(), fresh->begin(), fresh->end());
  std::unique_lock lock(cache_mu_);
  if (cache_.size() >= kCacheMaxEntries) cache_.clear();
  cache_.emplace(std::string(piece), *fresh);
}

std::string Gpt2Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) out += token_bytes(id);
  return out;
}

}  // namespace trainer
