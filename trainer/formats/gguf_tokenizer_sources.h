// The parts of gguf_tokenizer_metadata (gguf_export.h) that read a model's own tokenizer files:
// a Hugging Face tokenizer.json (byte-level BPE -> a `gpt2` vocabulary), a SentencePiece
// tokenizer.model (-> a `llama` vocabulary), and the special tokens, add_bos and chat template that
// llama.cpp's converter (convert_hf_to_gguf.py with gguf-py's SpecialVocab) finds beside them.
// `ours` is the tokenizer nightshift trained with, made from the same files: where the converter's
// reading and nightshift's could differ (add_bos, the BOS id it adds, add_eos), nightshift's is
// written, so that llama.cpp tokenizes as the run did.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "trainer/formats/gguf.h"
#include "trainer/tokenizers/tokenizer.h"

namespace trainer {

// tokenizer.ggml.token_type values.
inline constexpr int64_t kGgufTokenNormal = 1, kGgufTokenUnknown = 2, kGgufTokenControl = 3,
                         kGgufTokenUserDefined = 4, kGgufTokenUnused = 5, kGgufTokenByte = 6;

// `file`: tokenizer.json. A byte-level BPE becomes `gpt2` with the tokenizer.ggml.pre name whose
// regexes llama.cpp applies exactly as the file's pre-tokenizer; a BPE over characters with a
// tokenizer.model beside it is exported from that file (as the converter does for Llama 2).
// InvalidArgument naming the file for what llama.cpp would tokenize otherwise.
common::Result<formats::GgufMetadata> gguf_hf_vocabulary(const std::string& file, const Tokenizer& ours,
                                                         int vocab_size);

// `file`: tokenizer.model. InvalidArgument naming it for a model llama.cpp's SentencePiece
// tokenizer would run otherwise (unigram, a normalization, extra-whitespace removal).
common::Result<formats::GgufMetadata> gguf_sentencepiece_vocabulary(const std::string& file, const Tokenizer& ours,
                                                                    int vocab_size);

// The special tokens gguf-py's SpecialVocab finds in `dir` (tokenizer.json's added tokens and
// post-processor, tokenizer_config.json's *_token names and add_*_token flags, config.json's
// *_token_id), in the order found: ("bos", id), ("eos", id), ("unk", id), ("eot", id)...
struct GgufSpecialVocab {
  std::vector<std::pair<std::string, int64_t>> ids;
  std::optional<int64_t> id(const std::string& type) const;
  void set(const std::string& type, int64_t id);  // kept only when `type` is not set yet
};
common::Result<GgufSpecialVocab> read_gguf_special_vocab(const std::string& dir, int n_vocab);

// Appends the special ids (nightshift's BOS when it adds one, its EOS / EOT where the files name
// none), add_bos_token = ours.add_bos(), add_eos_token = false (nightshift never appends EOS) and
// ours' chat template to `m`.
void append_gguf_special_vocab(GgufSpecialVocab special, const Tokenizer& ours, int n_vocab,
                               formats::GgufMetadata* m);

}  // namespace trainer
