// SentencePiece tokenizer.model files (Llama 2, TinyLlama, Mistral v0.1, Gemma) through Debian's
// libsentencepiece, which runs the model exactly as its authors' library does. The only includer of
// sentencepiece_processor.h. With parse_special, the text of control pieces (<s>, </s>...) is split
// out first and each other part encoded on its own (with the library's dummy-prefix space).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "trainer/tokenizers/tokenizer.h"

namespace trainer::tokenizers {

// `path`: tokenizer.model. Errors name the file: missing, or not a SentencePiece model.
common::Result<std::unique_ptr<Tokenizer>> load_sentencepiece(const std::string& path, const std::string& spec);

}  // namespace trainer::tokenizers
