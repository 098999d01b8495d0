// The GPT-2 byte-level BPE tokenizer: loads encoder.json + vocab.bpe (or vocab.json + merges.txt),
// pre-tokenizes with GPT-2's regex (tokenizer_pretokenize.h) and applies the merges by rank, with a
// cache of pieces already seen. Exposed for tests; other code uses make_tokenizer("gpt2:DIR").
// Special tokens such as <|endoftext|> decode to their text but are never produced by encode(),
// as in GPT-2's own encoder.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "trainer/tokenizers/tokenizer.h"

namespace trainer {

// GPT-2's byte-to-unicode map: the printable bytes (! to ~, ¡ to ¬, ® to ÿ) map to themselves and
// the other 68 bytes to U+0100 onwards, in byte order. Token strings in encoder.json use it.
const std::array<char32_t, 256>& gpt2_byte_to_unicode();
// A token written in that alphabet back to its raw bytes; false if a character is outside it.
bool gpt2_alphabet_to_bytes(std::string_view s, std::string* out);

class Gpt2Tokenizer final : public Tokenizer {
 public:
  // Loads DIR/encoder.json + DIR/vocab.bpe, else DIR/vocab.json + DIR/merges.txt. Errors name the
  // file: NotFound (missing), Corruption (not JSON, a token outside the byte alphabet, ids not
  // 0..N-1, a byte without its token, a merges line that is not two symbols or whose parts or result
  // are not in the vocabulary: "merges.txt:12: ...", an empty or truncated merges file that leaves
  // tokens no merge makes).
  static common::Result<std::unique_ptr<Gpt2Tokenizer>> load(const std::string& dir, const std::string& spec);

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int vocab_size() const override { return static_cast<int>(tokens_.size()); }
  std::string spec() const override { return spec_; }
  std::string fingerprint() const override { return fingerprint_; }

  // The raw bytes of token `id` (CHECKs the range).
  const std::string& token_bytes(int32_t id) const;
  // BPE of one pre-tokenized piece (bytes), uncached.
  void bpe(std::string_view piece, std::vector<int32_t>* out) const;
  // encode() splits pre-tokens longer than this into chunks of this many bytes before BPE.
  static constexpr size_t kMaxPieceBytes = 4096;

 private:
  Gpt2Tokenizer() = default;
  // One piece (at most kMaxPieceBytes) through the cache and BPE, appended to `ids`.
  void encode_piece(std::string_view piece, std::vector<int32_t>* ids, std::vector<int32_t>* fresh) const;
  struct Merge {
    int32_t rank;
    int32_t id;  // the merged token
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  std::string spec_;
  std::string fingerprint_;
  std::vector<std::string> tokens_;                // id -> raw bytes
  std::array<int32_t, 256> byte_ids_{};            // byte -> id of its one-byte token
  std::unordered_map<uint64_t, Merge> merges_;     // (left id, right id) -> rank and merged id

  // Pieces already encoded. Bounded: cleared when it reaches kCacheMaxEntries.
  static constexpr size_t kCacheMaxEntries = 1 << 18;
  mutable std::shared_mutex cache_mu_;
  struct PieceHash {
    using is_transparent = void;  // find(string_view) without building a std::string
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable std::unordered_map<std::string, std::vector<int32_t>, PieceHash, std::equal_to<>> cache_;
};

}  // namespace trainer
