// Which tokenizer a spec names, for the models' own tokenizers:
//   hf:PATH    tokenizer.json (PATH is the file or its directory; tokenizer_config.json beside it is read)
//   spm:FILE   a SentencePiece tokenizer.model
//   gguf:FILE  a GGUF file's tokenizer.ggml.* vocabulary
//   PATH       a directory with tokenizer.json (preferred), tokenizer.model, or GPT-2's encoder.json +
//              vocab.bpe; or a file named *.json, *.model or *.gguf
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "trainer/tokenizers/tokenizer.h"

namespace trainer::tokenizers {

// Errors name the path and the problem (InvalidArgument for a spec that names nothing loadable).
common::Result<std::unique_ptr<Tokenizer>> make_model_tokenizer(const std::string& spec);

}  // namespace trainer::tokenizers
