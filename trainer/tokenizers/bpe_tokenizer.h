// A BPE tokenizer assembled from parts, the way a Hugging Face tokenizer.json describes one: added
// tokens split out first, then a normalizer, pre-tokenizer steps (regex splits, ByteLevel's prefix
// space, Metaspace), and the BPE model itself (merges by rank; byte-level, or over characters with
// byte fallback as SentencePiece-style BPE does), and a decoder. The HF loader (hf_tokenizer.h) and
// the GGUF vocabulary (gguf_vocab.h) both fill a BpeConfig.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "trainer/tokenizers/tokenizer.h"
#include "trainer/tokenizers/added_tokens.h"
#include "trainer/tokenizers/normalizer.h"
#include "trainer/tokenizers/regex_split.h"

namespace trainer::tokenizers {

struct PreTokenizerStep {
  enum class Kind {
    kSplit,        // split each piece with `splitter`
    kPrefixSpace,  // ByteLevel's add_prefix_space: a space before a piece that has none
    kMetaspace,    // spaces become `replacement`, which is also put first (per `prepend`), and
                   // with `split` each piece is cut before every replacement
  };
  enum class Prepend { kAlways, kFirst, kNever };
  Kind kind = Kind::kSplit;
  Splitter splitter;
  std::string replacement = "\xE2\x96\x81";  // U+2581
  Prepend prepend = Prepend::kAlways;
  bool split = false;
};

struct BpeConfig {
  std::string spec;
  std::string fingerprint;
  // id -> the token: its bytes for a byte-level model, else its text (e.g. "▁the", "<0x0A>").
  // Added tokens' entries are their content.
  std::vector<std::string> tokens;
  // Merges, best first, in the same form as `tokens`. A merge whose parts or result are not tokens
  // can never apply and is skipped.
  std::vector<std::pair<std::string, std::string>> merges;
  bool byte_level = true;     // symbols are bytes; else UTF-8 characters
  bool byte_fallback = false; // character model: unknown characters as their <0xXX> byte tokens
  int32_t unk = -1;           // character model without byte fallback: the token for unknown ones
  bool fuse_unk = false;      // consecutive unknowns give one unk
  bool ignore_merges = false; // a piece that is itself a token is that token
  bool ignore_merges_newlines = false;  // the same, only for pieces made of '\n' (Gemma 4)
  std::vector<AddedToken> added;
  std::vector<NormalizerStep> normalizer;
  std::vector<PreTokenizerStep> pre_tokenizer;
  // Decoding: `replacement` (e.g. "▁") back to a space, <0xXX> tokens as bytes, and one leading
  // space dropped at the start of the text and after a special token (SentencePiece's dummy prefix).
  std::string decode_replacement;
  bool decode_byte_fallback = false;
  bool decode_strip_leading_space = false;
  SpecialIds special_ids;
  bool add_bos = false;
};

class BpeTokenizer final : public Tokenizer {
 public:
  // Errors: an added token id outside the vocabulary.
  static common::Result<std::unique_ptr<BpeTokenizer>> create(BpeConfig config);

  std::vector<int32_t> encode(std::string_view text) const override { return encode_with(text, {}); }
  std::vector<int32_t> encode_with(std::string_view text, const EncodeOptions& options) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int vocab_size() const override { return static_cast<int>(c_.tokens.size()); }
  std::string spec() const override { return c_.spec; }
  std::string fingerprint() const override { return c_.fingerprint; }
  SpecialIds special_ids() const override { return c_.special_ids; }
  bool add_bos() const override { return c_.add_bos; }
  bool is_special(int32_t id) const override;
  std::string token_text(int32_t id) const override;
  std::optional<int32_t> token_id(std::string_view text) const override;

  // The pieces the normalizer and pre-tokenizer make of plain text (for tests).
  std::vector<std::string> pre_tokenize(std::string_view text, bool at_text_start) const;
  // BPE of one piece, uncached.
  void bpe(std::string_view piece, std::vector<int32_t>* out) const;

 private:
  BpeTokenizer() = default;
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  void encode_text(std::string_view text, bool at_text_start, std::vector<int32_t>* out) const;
  void encode_piece_cached(const std::string& piece, std::vector<int32_t>* out) const;

  BpeConfig c_;
  std::unordered_map<std::string, int32_t> ids_;  // token -> id
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_{};           // byte-level: byte -> its token; else its <0xXX> token
  std::vector<uint8_t> special_;                  // id -> 1 for special added tokens
  std::vector<std::string> decoded_;              // id -> its decoded bytes
  AddedTokenSplitter added_;

  static constexpr size_t kCacheMaxEntries = 1 << 18;
  mutable std::shared_mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace trainer::tokenizers
