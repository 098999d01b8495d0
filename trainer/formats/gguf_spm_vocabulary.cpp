// gguf_sentencepiece_vocabulary (gguf_tokenizer_sources.h): a SentencePiece tokenizer.model as
// llama.cpp's converter writes it (_set_vocab_sentencepiece): model `llama`, pre `default`, the
// pieces with their scores and types as libsentencepiece reports them (through the wrapper in
// trainer/tokenizers/sentencepiece_tokenizer.h), the model's ids beyond its pieces taken from
// added_tokens.json and tokenizer_config.json's added_tokens_decoder (score -1000; control when
// special, else user-defined), the rest unused [PAD<id>] with score -10000; add_space_prefix from the
// model's add_dummy_prefix. llama.cpp runs such a vocabulary with SentencePiece's BPE (merging the
// best-scored pair first) and no normalizer, so a unigram model, a normalization rule or
// extra-whitespace removal is refused rather than written to tokenize otherwise.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "trainer/formats/gguf_tokenizer_sources.h"
#include "trainer/tokenizers/sentencepiece_tokenizer.h"

namespace trainer {

using common::Result;
using common::Status;
using formats::GgufMetadata;
using formats::GgufType;
using formats::GgufValue;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;

json read_json_or_null(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return json();
  return json::parse(in, nullptr, false);
}

// gguf-py's does_token_look_special, for added tokens not marked special.
bool looks_special(const std::string& t) {
  auto wrapped = [&](const char* a, const char* b) {
    const std::string l(a), r(b);
    return t.size() >= l.size() + r.size() && t.starts_with(l) && t.ends_with(r);
  };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || wrapped("<|", "|>") ||
         wrapped("<\xEF\xBD\x9C", "\xEF\xBD\x9C>") || wrapped("<unused", ">");
}

}  // namespace

Result<GgufMetadata> gguf_sentencepiece_vocabulary(const std::string& file, const Tokenizer& ours, int vocab_size) {
  tokenizers::SentencePieceProto proto;
  NS_ASSIGN_OR_RETURN(tokenizers::VocabData v, tokenizers::read_sentencepiece_vocab(file, &proto));
  const std::string refuse = file + ": cannot be written as a GGUF vocabulary llama.cpp tokenizes the same: ";
  if (proto.model_type != 2)
    return Status::InvalidArgument(refuse + "a " + (proto.model_type == 1 ? std::string("unigram") : "non-BPE") +
                                   " model (llama.cpp runs SentencePiece vocabularies as BPE)");
  if (proto.has_charsmap)
    return Status::InvalidArgument(refuse + "its normalization rule '" + proto.normalizer_name +
                                   "' (llama.cpp normalizes nothing)");
  if (proto.remove_extra_whitespaces)
    return Status::InvalidArgument(refuse + "it removes extra whitespace (llama.cpp keeps it)");
  if (proto.treat_whitespace_as_suffix || !proto.escape_whitespaces)
    return Status::InvalidArgument(refuse + "its whitespace handling (llama.cpp writes a space as a leading U+2581)");
  const int n = static_cast<int>(v.tokens.size());
  if (n > vocab_size)
    return Status::InvalidArgument(file + ": the tokenizer has " + std::to_string(n) + " pieces, the model " +
                                   std::to_string(vocab_size));

  std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
  std::vector<double> scores(static_cast<size_t>(vocab_size), -10000.0);
  std::vector<int64_t> types(static_cast<size_t>(vocab_size), kGgufTokenUnused);
  for (int i = 0; i < vocab_size; ++i) tokens[i] = "[PAD" + std::to_string(i) + "]";
  for (int i = 0; i < n; ++i) tokens[i] = v.tokens[i], scores[i] = v.scores[i], types[i] = v.token_types[i];
  // Tokens the model has beyond the pieces (nightshift's tokenizer has the pieces only, so those
  // keep the model's own text and type).
  const fs::path dir = fs::path(file).parent_path();
  auto add = [&](int64_t id, std::string text, bool special) {
    if (id < n || id >= vocab_size) return;
    if (!special) {
      for (size_t p; (p = text.find("\xE2\x96\x81")) != std::string::npos;) text.replace(p, 3, " ");
    }
    tokens[id] = std::move(text), scores[id] = -1000.0;
    types[id] = special ? kGgufTokenControl : kGgufTokenUserDefined;
  };
  const json added = read_json_or_null(dir / "added_tokens.json");
  if (added.is_object())
    for (auto it = added.begin(); it != added.end(); ++it)
      if (it.value().is_number_integer()) add(it.value().get<int64_t>(), it.key(), false);
  const json config = read_json_or_null(dir / "tokenizer_config.json");
  if (config.is_object() && config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object())
    for (auto it = config["added_tokens_decoder"].begin(); it != config["added_tokens_decoder"].end(); ++it) {
      const json& t = it.value();
      if (!t.is_object() || !t.contains("content") || !t["content"].is_string()) continue;
      char* end = nullptr;
      const long long id = std::strtoll(it.key().c_str(), &end, 10);
      if (end == it.key().c_str() || *end != '\0') continue;
      const std::string content = t["content"].get<std::string>();
      add(id, content, t.value("special", false) || looks_special(content));
    }

  NS_ASSIGN_OR_RETURN(GgufSpecialVocab special, read_gguf_special_vocab(dir.string(), vocab_size));
  // Where the files beside name none, the model's own (SentencePiece's bos/eos/unk/pad ids).
  if (v.bos_id) special.set("bos", *v.bos_id);
  if (v.eos_id) special.set("eos", *v.eos_id);
  if (v.unk_id) special.set("unk", *v.unk_id);
  if (v.pad_id) special.set("pad", *v.pad_id);
  GgufMetadata m;
  m.emplace_back("tokenizer.ggml.model", GgufValue::string("llama"));
  m.emplace_back("tokenizer.ggml.pre", GgufValue::string("default"));
  m.emplace_back("tokenizer.ggml.tokens", GgufValue::string_array(std::move(tokens)));
  m.emplace_back("tokenizer.ggml.scores", GgufValue::float_array(GgufType::kF32, std::move(scores)));
  m.emplace_back("tokenizer.ggml.token_type", GgufValue::int_array(GgufType::kI32, std::move(types)));
  m.emplace_back("tokenizer.ggml.add_space_prefix", GgufValue::boolean(proto.add_dummy_prefix));
  append_gguf_special_vocab(std::move(special), ours, vocab_size, &m);
  return m;
}

}  // namespace trainer
