// A model's vocabulary as a GGUF file stores it (the tokenizer.ggml.* metadata), as plain data: the
// GGUF reader fills one, make_gguf_tokenizer (gguf_vocab.h) turns it into a tokenizer. Strings are as
// stored: byte-level BPE tokens and merges in GPT-2's byte alphabet ("Ġthe"), SentencePiece pieces
// with ▁ for a space and <0xXX> for bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trainer::tokenizers {

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class GgufTokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct VocabData {
  std::string model;                 // tokenizer.ggml.model: "gpt2", "llama", "gemma4", ...
  std::string pre;                   // tokenizer.ggml.pre ("llama-bpe", "qwen2", ...); empty if absent
  std::vector<std::string> tokens;   // tokenizer.ggml.tokens
  std::vector<float> scores;         // tokenizer.ggml.scores (may be empty for BPE)
  std::vector<int32_t> token_types;  // tokenizer.ggml.token_type (empty: all normal)
  std::vector<std::string> merges;   // tokenizer.ggml.merges, "left right", best first
  // Special ids; absent keys stay unset and the model type's defaults apply (llama: bos 1, eos 2, unk 0).
  std::optional<int32_t> bos_id, eos_id, eot_id, unk_id, pad_id;
  std::optional<bool> add_bos;           // tokenizer.ggml.add_bos_token
  std::optional<bool> add_space_prefix;  // tokenizer.ggml.add_space_prefix
  std::string source;                    // the file it came from, for error messages
};

}  // namespace trainer::tokenizers
