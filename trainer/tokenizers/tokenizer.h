// Tokenizers: `byte` (ids 0..255 are the bytes), `gpt2` (byte-level BPE from the standard
// encoder.json + vocab.bpe files, or vocab.json + merges.txt, with GPT-2's exact pre-tokenization), and
// the models' own tokenizers in trainer/tokenizers/ (Hugging Face tokenizer.json, SentencePiece
// tokenizer.model, GGUF vocabularies). A tokenizer is immutable after loading and safe to use from
// several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace trainer {

// The ids a model gives a meaning to; -1 where the tokenizer has none.
struct SpecialIds {
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t eot = -1;  // end of a turn (<|eot_id|>, <|im_end|>, <end_of_turn>...), else -1
  int32_t unk = -1;
  int32_t pad = -1;
};

struct EncodeOptions {
  // Split out the text of special tokens (e.g. "<|im_end|>") as those tokens: for chat templates,
  // never for user text. Non-special added tokens are always split out, as the models' own
  // tokenizers do.
  bool parse_special = false;
  // Put the BOS token first when the model's tokenizer adds one (add_bos() and a bos id).
  bool add_bos = false;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Plain text: no BOS, special-token text is tokenized as text.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // encode() with options. The default serves tokenizers without special tokens.
  virtual std::vector<int32_t> encode_with(std::string_view text, const EncodeOptions& options) const {
    std::vector<int32_t> ids;
    if (options.add_bos && add_bos() && special_ids().bos >= 0) ids.push_back(special_ids().bos);
    std::vector<int32_t> rest = encode(text);
    ids.insert(ids.end(), rest.begin(), rest.end());
    return ids;
  }
  // Ids outside [0, vocab_size) are a programming error (CHECK).
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  virtual int vocab_size() const = 0;
  // The spec it was made from, e.g. "byte" or "gpt2:/path/to/dir" (stored in checkpoints).
  virtual std::string spec() const = 0;
  // A short fingerprint of the vocabulary files (for cache keys); "byte" for the byte tokenizer.
  virtual std::string fingerprint() const = 0;

  virtual SpecialIds special_ids() const { return {}; }
  // Whether the model's tokenizer puts BOS before a text (Llama, Gemma: yes; GPT-2, Qwen2: no).
  virtual bool add_bos() const { return false; }
  // True for control tokens (BOS, EOS, <|im_start|>...): the ones parse_special splits out.
  virtual bool is_special(int32_t id) const { return false; }
  // The token's text: special tokens as written ("<|im_end|>"), byte-level BPE tokens as their bytes,
  // SentencePiece pieces as stored ("▁the", "<0x0A>"). CHECKs the range.
  virtual std::string token_text(int32_t id) const { return decode(std::span<const int32_t>(&id, 1)); }
  // The id of the token whose token_text is `text`, if any.
  virtual std::optional<int32_t> token_id(std::string_view text) const { return std::nullopt; }
  // The model's chat template as its files state it (Jinja text from tokenizer_config.json's
  // "chat_template" or GGUF's tokenizer.chat_template); "" when it has none. trainer/chat/ matches
  // it to a template family.
  virtual std::string chat_template() const { return ""; }
};

// "byte", "gpt2:DIR", or a model's tokenizer (trainer/tokenizers/model_tokenizer.h): "hf:DIR" or
// "hf:FILE.json" (tokenizer.json), "spm:FILE" (tokenizer.model), or a plain path to a directory
// holding tokenizer.json or tokenizer.model, or to such a file. Errors name the missing or corrupt
// file and the problem.
common::Result<std::unique_ptr<Tokenizer>> make_tokenizer(const std::string& spec);

}  // namespace trainer
