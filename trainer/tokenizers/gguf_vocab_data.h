// The tokenizer.ggml.* metadata of a GGUF file as VocabData (vocab_data.h), ready for
// make_gguf_tokenizer: the one place that knows those keys.
#pragma once

#include "common/status.h"
#include "trainer/formats/gguf.h"
#include "trainer/tokenizers/vocab_data.h"

namespace trainer::tokenizers {

// InvalidArgument naming the file when the vocabulary keys are missing or of the wrong type.
common::Result<VocabData> read_gguf_vocab(const formats::GgufFile& file);

}  // namespace trainer::tokenizers
