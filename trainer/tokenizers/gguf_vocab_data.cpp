// read_gguf_vocab (gguf_vocab_data.h): tokenizer.ggml.model, pre, tokens, scores, token_type, merges,
// the special ids and the add_bos / add_space_prefix flags, as llama.cpp's loader names them.
#include "trainer/tokenizers/gguf_vocab_data.h"

namespace trainer::tokenizers {

using common::Result;
using common::Status;
using formats::GgufType;
using formats::GgufValue;

namespace {

std::optional<int32_t> optional_id(const formats::GgufFile& f, const char* key) {
  const GgufValue* v = f.find(key);
  if (v == nullptr || !v->is_int()) return std::nullopt;
  return static_cast<int32_t>(v->i);
}

std::optional<bool> optional_bool(const formats::GgufFile& f, const char* key) {
  const GgufValue* v = f.find(key);
  if (v == nullptr || v->type != GgufType::kBool) return std::nullopt;
  return v->i != 0;
}

}  // namespace

Result<VocabData> read_gguf_vocab(const formats::GgufFile& f) {
  VocabData d;
  d.source = f.path();
  NS_ASSIGN_OR_RETURN(d.model, f.get_string("tokenizer.ggml.model"));
  if (const GgufValue* pre = f.find("tokenizer.ggml.pre"); pre != nullptr && pre->type == GgufType::kString) d.pre = pre->str;
  NS_ASSIGN_OR_RETURN(const GgufValue* tokens, f.get_array("tokenizer.ggml.tokens", GgufType::kString));
  d.tokens = tokens->strings;
  if (const GgufValue* scores = f.find("tokenizer.ggml.scores"); scores != nullptr) {
    if (scores->type != GgufType::kArray || scores->floats.size() != d.tokens.size())
      return Status::InvalidArgument(f.path() + ": tokenizer.ggml.scores must be one float per token");
    d.scores.assign(scores->floats.begin(), scores->floats.end());
  }
  if (const GgufValue* types = f.find("tokenizer.ggml.token_type"); types != nullptr) {
    if (types->type != GgufType::kArray || types->ints.size() != d.tokens.size())
      return Status::InvalidArgument(f.path() + ": tokenizer.ggml.token_type must be one integer per token");
    d.token_types.assign(types->ints.begin(), types->ints.end());
  }
  if (const GgufValue* merges = f.find("tokenizer.ggml.merges"); merges != nullptr) {
    if (merges->type != GgufType::kArray || merges->elem != GgufType::kString)
      return Status::InvalidArgument(f.path() + ": tokenizer.ggml.merges must be an array of strings");
    d.merges = merges->strings;
  }
  d.bos_id = optional_id(f, "tokenizer.ggml.bos_token_id");
  d.eos_id = optional_id(f, "tokenizer.ggml.eos_token_id");
  d.eot_id = optional_id(f, "tokenizer.ggml.eot_token_id");
  d.unk_id = optional_id(f, "tokenizer.ggml.unknown_token_id");
  d.pad_id = optional_id(f, "tokenizer.ggml.padding_token_id");
  d.add_bos = optional_bool(f, "tokenizer.ggml.add_bos_token");
  d.add_space_prefix = optional_bool(f, "tokenizer.ggml.add_space_prefix");
  return d;
}

}  // namespace trainer::tokenizers
