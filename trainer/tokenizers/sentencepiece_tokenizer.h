// SentencePiece tokenizer.model files (Llama 2, TinyLlama, Mistral v0.1, Gemma) through Debian's
// libsentencepiece, which runs the model exactly as its authors' library does. The only includer of
// sentencepiece_processor.h. With parse_special, the text of control pieces (<s>, </s>...) is split
// out first and each other part encoded on its own (with the library's dummy-prefix space).
// read_sentencepiece_vocab gives the model's pieces as a GGUF `llama` vocabulary states them.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "trainer/tokenizers/sentencepiece_proto.h"
#include "trainer/tokenizers/tokenizer.h"
#include "trainer/tokenizers/vocab_data.h"

namespace trainer::tokenizers {

// `path`: tokenizer.model. Errors name the file: missing, or not a SentencePiece model.
common::Result<std::unique_ptr<Tokenizer>> load_sentencepiece(const std::string& path, const std::string& spec);

// `path`'s pieces, scores and types (the library's IsUnknown / IsControl / IsUnused / IsByte, and
// the user-defined pieces of the model), the library's bos/eos/unk/pad ids (unset when it has none),
// add_space_prefix (the normalizer's add_dummy_prefix); model "llama". `proto` receives the model's
// other settings. Errors as load_sentencepiece's.
common::Result<VocabData> read_sentencepiece_vocab(const std::string& path, SentencePieceProto* proto);

}  // namespace trainer::tokenizers
