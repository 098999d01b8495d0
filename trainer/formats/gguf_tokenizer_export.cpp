// gguf_tokenizer_metadata (gguf_export.h): a run's tokenizer as the tokenizer.ggml.* keys of a GGUF
// model. A GGUF vocabulary is copied key by key (tokens, scores or merges, token types, special ids,
// add_bos, pre-tokenizer, chat template); nightshift's byte tokenizer and GPT-2's files become a
// `gpt2` (byte-level BPE) vocabulary, whose tokens are written in GPT-2's byte-to-unicode alphabet:
// the byte tokenizer as the 256 one-byte tokens in byte order and no merges, so llama.cpp's BPE
// gives each byte its own id, as nightshift does. A model's tokenizer.json or tokenizer.model is
// written by gguf_tokenizer_sources.h.
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "trainer/formats/gguf_export.h"
#include "trainer/formats/gguf_tokenizer_sources.h"
#include "trainer/tokenizers/gpt2.h"

namespace trainer {

using common::Result;
using common::Status;
using formats::GgufMetadata;
using formats::GgufType;
using formats::GgufValue;

namespace {

std::string utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

// A byte-level BPE vocabulary: tokens (GPT-2 alphabet), their types, merges, special ids.
GgufMetadata bpe_vocabulary(std::vector<std::string> tokens, std::vector<int64_t> types,
                            std::vector<std::string> merges, const std::string& pre, int64_t eos, int vocab_size) {
  for (int i = static_cast<int>(tokens.size()); i < vocab_size; ++i) {
    tokens.push_back("[PAD" + std::to_string(i) + "]");
    types.push_back(kGgufTokenUnused);
  }
  GgufMetadata m;
  m.emplace_back("tokenizer.ggml.model", GgufValue::string("gpt2"));
  m.emplace_back("tokenizer.ggml.pre", GgufValue::string(pre));
  m.emplace_back("tokenizer.ggml.tokens", GgufValue::string_array(std::move(tokens)));
  m.emplace_back("tokenizer.ggml.token_type", GgufValue::int_array(GgufType::kI32, std::move(types)));
  m.emplace_back("tokenizer.ggml.merges", GgufValue::string_array(std::move(merges)));
  if (eos >= 0) {
    m.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(eos)));
    m.emplace_back("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(eos)));
  }
  m.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(false));
  m.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::boolean(false));
  return m;
}

Result<GgufMetadata> byte_vocabulary(int vocab_size) {
  std::vector<std::string> tokens;
  for (char32_t c : gpt2_byte_to_unicode()) tokens.push_back(utf8(c));
  return bpe_vocabulary(std::move(tokens), std::vector<int64_t>(256, kGgufTokenNormal), {}, "default", -1, vocab_size);
}

Result<std::string> read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Status::NotFound(p.string() + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// GPT-2's encoder.json + vocab.bpe (or vocab.json + merges.txt) as stored: the token strings are
// already in the byte-to-unicode alphabet GGUF's gpt2 vocabularies use.
Result<GgufMetadata> gpt2_vocabulary(const std::string& dir, int vocab_size) {
  namespace fs = std::filesystem;
  const bool encoder = fs::exists(fs::path(dir) / "encoder.json");
  const fs::path vocab_file = fs::path(dir) / (encoder ? "encoder.json" : "vocab.json");
  const fs::path merges_file = fs::path(dir) / (encoder ? "vocab.bpe" : "merges.txt");
  NS_ASSIGN_OR_RETURN(std::string vocab_text, read_text(vocab_file));
  NS_ASSIGN_OR_RETURN(std::string merges_text, read_text(merges_file));
  const auto j = nlohmann::json::parse(vocab_text, nullptr, false);
  if (!j.is_object()) return Status::Corruption(vocab_file.string() + ": not a JSON object");
  std::map<int64_t, std::string> by_id;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number_integer())
      return Status::Corruption(vocab_file.string() + ": id of '" + it.key() + "' is not an integer");
    by_id[it.value().get<int64_t>()] = it.key();
  }
  std::vector<std::string> tokens;
  std::vector<int64_t> types;
  int64_t eos = -1;
  for (const auto& [id, text] : by_id) {
    if (id != static_cast<int64_t>(tokens.size()))
      return Status::Corruption(vocab_file.string() + ": ids are not 0..N-1");
    const bool special = text == "<|endoftext|>";
    if (special) eos = id;
    tokens.push_back(text);
    types.push_back(special ? kGgufTokenControl : kGgufTokenNormal);
  }
  std::vector<std::string> merges;
  std::istringstream lines(merges_text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    merges.push_back(line);
  }
  if (static_cast<int>(tokens.size()) > vocab_size)
    return Status::InvalidArgument(dir + ": the tokenizer has " + std::to_string(tokens.size()) +
                                   " tokens, the model " + std::to_string(vocab_size));
  return bpe_vocabulary(std::move(tokens), std::move(types), std::move(merges), "gpt2", eos, vocab_size);
}

// Every tokenizer.* key of a GGUF file, in its order.
Result<GgufMetadata> gguf_vocabulary(const std::string& path, int vocab_size) {
  NS_ASSIGN_OR_RETURN(std::unique_ptr<formats::GgufFile> f, formats::GgufFile::open(path));
  GgufMetadata m;
  int64_t n_tokens = -1;
  for (const auto& [key, value] : f->metadata()) {
    if (key.rfind("tokenizer.", 0) != 0) continue;
    if (key == "tokenizer.ggml.tokens") n_tokens = static_cast<int64_t>(value.array_size());
    m.emplace_back(key, value);
  }
  if (n_tokens < 0) return Status::InvalidArgument(path + ": has no tokenizer.ggml.tokens to export");
  if (n_tokens != vocab_size)
    return Status::InvalidArgument(path + ": its vocabulary has " + std::to_string(n_tokens) + " tokens, the model " +
                                   std::to_string(vocab_size) + " (llama.cpp needs them equal)");
  return m;
}

// A model's own tokenizer files (hf:PATH, spm:FILE, or a plain path as make_tokenizer reads it).
Result<GgufMetadata> model_vocabulary(const std::string& spec, const Tokenizer* ours, int vocab_size) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string hf, spm;
  if (spec.starts_with("hf:")) {
    hf = spec.substr(3);
    if (fs::is_directory(hf, ec)) hf = (fs::path(hf) / "tokenizer.json").string();
  } else if (spec.starts_with("spm:")) {
    spm = spec.substr(4);
  } else if (fs::is_directory(spec, ec)) {
    const fs::path d(spec);
    if (fs::exists(d / "tokenizer.json", ec)) hf = (d / "tokenizer.json").string();
    else if (fs::exists(d / "tokenizer.model", ec)) spm = (d / "tokenizer.model").string();
    else if (fs::exists(d / "encoder.json", ec) || fs::exists(d / "vocab.json", ec)) return gpt2_vocabulary(spec, vocab_size);
  } else if (spec.ends_with(".json")) {
    hf = spec;
  } else if (spec.ends_with(".model")) {
    spm = spec;
  }
  if (hf.empty() && spm.empty())
    return Status::InvalidArgument("tokenizer " + spec + ": not a tokenizer that can be written into a GGUF");
  std::unique_ptr<Tokenizer> loaded;
  if (ours == nullptr) {
    NS_ASSIGN_OR_RETURN(loaded, make_tokenizer(spec));
    ours = loaded.get();
  }
  if (!hf.empty()) return gguf_hf_vocabulary(hf, *ours, vocab_size);
  return gguf_sentencepiece_vocabulary(spm, *ours, vocab_size);
}

}  // namespace

Result<GgufMetadata> gguf_tokenizer_metadata(const std::string& spec, int vocab_size, const Tokenizer* ours) {
  if (spec == "byte") {
    if (vocab_size < 256) return Status::InvalidArgument("the byte tokenizer needs a vocabulary of 256 or more");
    return byte_vocabulary(vocab_size);
  }
  if (spec.rfind("gpt2:", 0) == 0) return gpt2_vocabulary(spec.substr(5), vocab_size);
  if (spec.rfind("gguf:", 0) == 0) return gguf_vocabulary(spec.substr(5), vocab_size);
  if (spec.size() > 5 && spec.compare(spec.size() - 5, 5, ".gguf") == 0) return gguf_vocabulary(spec, vocab_size);
  return model_vocabulary(spec, ours, vocab_size);
}

}  // namespace trainer
