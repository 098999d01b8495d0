// What a SentencePiece tokenizer.model states beyond libsentencepiece's accessors, read from its
// serialized ModelProto (protobuf wire format, proto2 defaults): each piece's type (normal, unknown,
// control, user-defined, unused, byte), the model type, and the normalizer's settings. The GGUF
// exporter needs the user-defined pieces and whether llama.cpp's SentencePiece tokenizer can run
// the model as the library does.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace trainer::tokenizers {

struct SentencePieceProto {
  std::vector<int32_t> piece_types;  // SentencePiece.Type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
  int32_t model_type = 1;            // TrainerSpec.ModelType: 1 unigram, 2 bpe, 3 word, 4 char
  bool treat_whitespace_as_suffix = false;
  std::string normalizer_name;       // NormalizerSpec.name ("identity", "nmt_nfkc", ...)
  bool has_charsmap = false;         // a non-empty precompiled_charsmap (a normalization runs)
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// Corruption naming `where` when the bytes are not a well-formed ModelProto.
common::Result<SentencePieceProto> parse_sentencepiece_proto(std::string_view bytes, const std::string& where);

}  // namespace trainer::tokenizers
