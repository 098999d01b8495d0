// Tokenizers: `byte` (ids 0..255 are the bytes) and `gpt2` (byte-level BPE from the standard
// encoder.json + vocab.bpe files, or vocab.json + merges.txt, with GPT-2's exact pre-tokenization).
// A tokenizer is immutable after loading and safe to use from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace trainer {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Ids outside [0, vocab_size) are a programming error (CHECK).
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  virtual int vocab_size() const = 0;
  // The spec it was made from, e.g. "byte" or "gpt2:/path/to/dir" (stored in checkpoints).
  virtual std::string spec() const = 0;
  // A short fingerprint of the vocabulary files (for cache keys); "byte" for the byte tokenizer.
  virtual std::string fingerprint() const = 0;
};

// "byte" or "gpt2:DIR". Errors name the missing or corrupt file and the problem.
common::Result<std::unique_ptr<Tokenizer>> make_tokenizer(const std::string& spec);

}  // namespace trainer
