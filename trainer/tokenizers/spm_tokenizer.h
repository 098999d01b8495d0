// SentencePiece-style vocabularies as GGUF stores them (tokenizer.ggml.model "llama": Llama 2,
// TinyLlama, Mistral v0.1, Phi-3), tokenized the way llama.cpp does for them: a space first (after
// the start and after each special token), spaces as ▁, then characters merged pairwise by the score
// of the token they form (highest first, leftmost on ties), and characters that form no token written
// as their <0xXX> byte tokens. SentencePiece's own library needs the .model file instead
// (sentencepiece_tokenizer.h).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "trainer/tokenizers/tokenizer.h"
#include "trainer/tokenizers/added_tokens.h"
#include "trainer/tokenizers/vocab_data.h"

namespace trainer::tokenizers {

class SpmTokenizer final : public Tokenizer {
 public:
  // `vocab.model` must be "llama". Errors name vocab.source: scores or types of the wrong length.
  static common::Result<std::unique_ptr<SpmTokenizer>> create(const VocabData& vocab, const std::string& spec,
                                                               const std::string& fingerprint);

  std::vector<int32_t> encode(std::string_view text) const override { return encode_with(text, {}); }
  std::vector<int32_t> encode_with(std::string_view text, const EncodeOptions& options) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int vocab_size() const override { return static_cast<int>(tokens_.size()); }
  std::string spec() const override { return spec_; }
  std::string fingerprint() const override { return fingerprint_; }
  SpecialIds special_ids() const override { return ids_; }
  bool add_bos() const override { return add_bos_; }
  bool is_special(int32_t id) const override;
  std::string token_text(int32_t id) const override;
  std::optional<int32_t> token_id(std::string_view text) const override;

 private:
  SpmTokenizer() = default;
  void encode_text(std::string_view escaped, std::vector<int32_t>* out) const;

  std::string spec_, fingerprint_;
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<int32_t> types_;
  std::unordered_map<std::string, int32_t> by_text_;
  std::array<int32_t, 256> byte_ids_{};
  AddedTokenSplitter added_;
  SpecialIds ids_;
  bool add_bos_ = true;
  bool add_space_prefix_ = true;
};

}  // namespace trainer::tokenizers
