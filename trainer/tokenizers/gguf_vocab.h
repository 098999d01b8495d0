// Tokenizers from GGUF vocabulary data (vocab_data.h), matching llama.cpp token for token:
//   "gpt2"   byte-level BPE; the `pre` name chooses the pre-tokenizer regexes llama.cpp uses for it
//            (run with PCRE2), and whether whole pieces that are tokens skip the merges;
//   "gemma4" BPE over characters with ▁ for spaces and <0xXX> byte fallback;
//   "llama"  SentencePiece vocabularies (spm_tokenizer.h).
// Control and user-defined tokens are added tokens; user-defined ones are always split out.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/tokenizers/tokenizer.h"
#include "trainer/tokenizers/vocab_data.h"

namespace trainer::tokenizers {

// Errors name vocab.source and the problem: an unsupported model type (naming the supported ones),
// an unknown pre name, sizes that disagree.
common::Result<std::unique_ptr<Tokenizer>> make_gguf_tokenizer(const VocabData& vocab, const std::string& spec);

// The regexes llama.cpp splits text with, in order, for a gpt2-model `pre` name; empty if unknown.
struct GgufPreTokenizer {
  std::vector<std::string> regexes;
  bool ignore_merges = false;
  bool add_bos = false;  // the default when tokenizer.ggml.add_bos_token is absent
};
std::optional<GgufPreTokenizer> gguf_pre_tokenizer(const std::string& pre);

// The pre names gguf_pre_tokenizer knows, for error messages and tests.
std::vector<std::string> gguf_pre_names();

}  // namespace trainer::tokenizers
