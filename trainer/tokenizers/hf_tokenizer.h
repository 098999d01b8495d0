// Hugging Face tokenizer.json files with a BPE model (byte-level as in GPT-2, Llama 3, Qwen2,
// SmolLM; or over characters with byte fallback as in Llama 2 / Mistral conversions), read into a
// BpeTokenizer. What the file states runs as stated: its pre-tokenizer regexes (PCRE2), its
// normalizers, its added tokens. BOS/EOS and add_bos come from tokenizer_config.json beside the file
// when present, else from the file's post-processor template and well-known token names.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "trainer/tokenizers/bpe_tokenizer.h"

namespace trainer::tokenizers {

// `path`: tokenizer.json, or a directory holding it. Errors name the file and the problem: not JSON,
// a model type other than BPE, a pre-tokenizer, normalizer or option this reader does not know.
common::Result<std::unique_ptr<BpeTokenizer>> load_hf_tokenizer(const std::string& path, const std::string& spec);

}  // namespace trainer::tokenizers
