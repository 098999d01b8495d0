// gguf_hf_vocabulary (gguf_tokenizer_sources.h): a Hugging Face tokenizer.json byte-level BPE as
// llama.cpp's converter writes it (get_vocab_base, _set_vocab_gpt2): tokens in id order (the
// model's vocab in GPT-2's byte alphabet, added tokens as their text, holes as unused [PAD<id>]),
// token types (normal; control for special added tokens, user-defined for the others), merges as
// "a b" strings. tokenizer.ggml.pre: the converter recognises a pre-tokenizer by hashing the ids
// its tokenizer gives a check string, which names only the models it was shown; here the file's
// pre-tokenizer itself is read (its Split regexes, ByteLevel's GPT-2 regex, Digits) and matched
// against the regexes and ignore_merges llama.cpp applies for each name (the table of
// trainer/tokenizers/gguf_pre_tokenizers.cpp), so any vocabulary with a known pre-tokenizer
// exports and nothing is written for one llama.cpp would split otherwise.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "trainer/formats/gguf_tokenizer_sources.h"
#include "trainer/tokenizers/gguf_vocab.h"

namespace trainer {

using common::Result;
using common::Status;
using formats::GgufMetadata;
using formats::GgufType;
using formats::GgufValue;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;

// The regex of HF's ByteLevel pre-tokenizer (use_regex) and llama.cpp's GPT-2 regex: the same split,
// llama.cpp leaving out the final "|\s+" (text no alternative matches stays a piece of its own).
constexpr const char* kHfByteLevelRegex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlamaGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

// Models' tokenizer.json files write English contractions case-insensitively, "(?i:'s|'t|...)",
// where llama.cpp's source spells out the ASCII cases, "(?:'[sS]|'[tT]|...)"; llama.cpp's converter
// maps the one to the other (Llama 3, Qwen2), and so does this comparison.
constexpr const char* kContractionsI = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
constexpr const char* kContractionsAscii = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

std::string canonical(std::string regex) {
  if (regex == kHfByteLevelRegex) return kLlamaGpt2Regex;
  const std::string from = kContractionsI;
  for (size_t p; (p = regex.find(from)) != std::string::npos;) regex.replace(p, from.size(), kContractionsAscii);
  return regex;
}

// The regexes of a pre-tokenizer, in order, each splitting the pieces of the previous one with its
// matches isolated; "" (with *why) for a step llama.cpp has no counterpart of.
bool pre_regexes(const json& p, std::vector<std::string>* out, bool* byte_level, std::string* why) {
  if (p.is_null()) return true;
  const std::string type = p.is_object() ? p.value("type", "") : "";
  if (*byte_level) {
    *why = "a pre-tokenizer step after ByteLevel";
    return false;
  }
  if (type == "Sequence") {
    for (const json& q : p.value("pretokenizers", json::array()))
      if (!pre_regexes(q, out, byte_level, why)) return false;
    return true;
  }
  if (type == "Split") {
    const json pattern = p.value("pattern", json());
    if (p.value("behavior", "") != "Isolated" || p.value("invert", false) || !pattern.is_object() ||
        !pattern.contains("Regex") || !pattern["Regex"].is_string()) {
      *why = "a Split that is not an isolated regex";
      return false;
    }
    out->push_back(canonical(pattern["Regex"].get<std::string>()));
    return true;
  }
  if (type == "Digits") {
    out->push_back(p.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
    return true;
  }
  if (type == "ByteLevel") {
    if (p.value("add_prefix_space", false)) {
      *why = "ByteLevel with add_prefix_space";
      return false;
    }
    if (p.value("use_regex", true)) out->push_back(kLlamaGpt2Regex);
    *byte_level = true;
    return true;
  }
  *why = "the pre-tokenizer step '" + type + "'";
  return false;
}

// The tokenizer.ggml.pre name llama.cpp splits as `regexes` with `ignore_merges`: the usual name of
// the models that use it first, else the first name of the table.
std::optional<std::string> pre_name(const std::vector<std::string>& regexes, bool ignore_merges) {
  std::vector<std::string> names = {"llama-bpe", "dbrx", "qwen2", "qwen35", "smollm", "gpt-2", "default"};
  for (const std::string& n : tokenizers::gguf_pre_names()) names.push_back(n);
  for (const std::string& n : names) {
    const auto pre = tokenizers::gguf_pre_tokenizer(n);
    if (!pre || pre->ignore_merges != ignore_merges || pre->regexes.size() != regexes.size()) continue;
    bool same = true;
    for (size_t i = 0; i < regexes.size() && same; ++i) same = canonical(pre->regexes[i]) == regexes[i];
    if (same) return n;
  }
  return std::nullopt;
}

bool has_byte_level(const json& p) {
  if (!p.is_object()) return false;
  if (p.value("type", "") == "ByteLevel") return true;
  for (const json& q : p.value("pretokenizers", json::array()))
    if (has_byte_level(q)) return true;
  return false;
}

// A normalizer llama.cpp's BPE leaves out without changing the ids: none, or NFC (text is NFC
// already as written almost everywhere; llama.cpp's converter writes Qwen2's NFC the same way).
bool normalizer_ok(const json& n) {
  if (n.is_null()) return true;
  const std::string type = n.is_object() ? n.value("type", "") : "";
  if (type == "NFC") return true;
  if (type == "Sequence") {
    for (const json& m : n.value("normalizers", json::array()))
      if (!normalizer_ok(m)) return false;
    return true;
  }
  return false;
}

// A merge as GGUF stores it: "a b", a space inside a part written as U+0120 (gguf-py's reading).
std::string merge_text(const json& m) {
  if (m.is_string()) return m.get<std::string>();
  std::string out;
  for (size_t k = 0; k < 2; ++k) {
    if (k) out += ' ';
    for (char c : m[k].get<std::string>()) out += c == ' ' ? std::string("\xC4\xA0") : std::string(1, c);
  }
  return out;
}

}  // namespace

Result<GgufMetadata> gguf_hf_vocabulary(const std::string& file, const Tokenizer& ours, int vocab_size) {
  const fs::path dir = fs::path(file).parent_path();
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::NotFound(file + ": cannot open");
  const json j = json::parse(in, nullptr, false);
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
    return Status::Corruption(file + ": not a tokenizer.json (no \"model\" object)");
  const json& model = j["model"];
  const std::string refuse = file + ": cannot be written as a GGUF vocabulary llama.cpp tokenizes the same: ";
  if (model.value("type", "BPE") != "BPE") return Status::InvalidArgument(refuse + "its model is not BPE");

  if (!has_byte_level(j.value("pre_tokenizer", json()))) {
    // A BPE over characters (SentencePiece converted, as Llama 2's): the converter reads tokenizer.model.
    std::error_code ec;
    const fs::path spm = dir / "tokenizer.model";
    if (fs::is_regular_file(spm, ec)) return gguf_sentencepiece_vocabulary(spm.string(), ours, vocab_size);
    return Status::InvalidArgument(refuse + "a BPE over characters (not byte-level) and no tokenizer.model beside it");
  }
  std::vector<std::string> regexes;
  bool byte_level = false;
  std::string why;
  if (!pre_regexes(j.value("pre_tokenizer", json()), &regexes, &byte_level, &why)) return Status::InvalidArgument(refuse + why + " (llama.cpp has no pre-tokenizer for it)");
  if (!normalizer_ok(j.value("normalizer", json())))
    return Status::InvalidArgument(refuse + "its normalizer (llama.cpp's BPE applies none)");
  if (model.value("byte_fallback", false)) return Status::InvalidArgument(refuse + "byte-level BPE with byte_fallback");
  const bool ignore_merges = model.value("ignore_merges", false);
  const std::optional<std::string> pre = pre_name(regexes, ignore_merges);
  if (!pre)
    return Status::InvalidArgument(refuse + "llama.cpp knows no pre-tokenizer with its " +
                                   std::to_string(regexes.size()) + " regex(es)" +
                                   (ignore_merges ? " and ignore_merges" : ""));

  // Tokens by id: the model's vocabulary, then the added tokens over it.
  std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
  std::vector<int64_t> types(static_cast<size_t>(vocab_size), kGgufTokenUnused);
  std::vector<bool> filled(static_cast<size_t>(vocab_size), false);
  auto place = [&](int64_t id, const std::string& text, int64_t type) -> Status {
    if (id < 0 || id >= vocab_size)
      return Status::InvalidArgument(file + ": token id " + std::to_string(id) + " ('" + text.substr(0, 40) +
                                     "') is outside the model's vocabulary of " + std::to_string(vocab_size));
    tokens[id] = text, types[id] = type, filled[id] = true;
    return Status::Ok();
  };
  const json vocab = model.value("vocab", json::object());
  if (!vocab.is_object() || vocab.empty()) return Status::Corruption(file + ": model.vocab is missing or empty");
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) return Status::Corruption(file + ": token '" + it.key().substr(0, 40) + "' has a bad id");
    NS_RETURN_IF_ERROR(place(it.value().get<int64_t>(), it.key(), kGgufTokenNormal));
  }
  for (const json& a : j.value("added_tokens", json::array())) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
        !a["content"].is_string())
      return Status::Corruption(file + ": an added token without an id or content");
    std::string text = a["content"].get<std::string>();
    const bool special = a.value("special", false);
    if (!special)  // user-defined spaces as spaces, as the converter writes them
      for (size_t p; (p = text.find("\xE2\x96\x81")) != std::string::npos;) text.replace(p, 3, " ");
    NS_RETURN_IF_ERROR(place(a["id"].get<int64_t>(), text, special ? kGgufTokenControl : kGgufTokenUserDefined));
  }
  for (int i = 0; i < vocab_size; ++i)
    if (!filled[i]) tokens[i] = "[PAD" + std::to_string(i) + "]";

  std::vector<std::string> merges;
  for (const json& m : model.value("merges", json::array())) {
    if (!m.is_string() && !(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()))
      return Status::Corruption(file + ": a merge is neither \"a b\" nor [\"a\", \"b\"]");
    merges.push_back(merge_text(m));
  }

  NS_ASSIGN_OR_RETURN(GgufSpecialVocab special, read_gguf_special_vocab(dir.string(), vocab_size));
  GgufMetadata m;
  m.emplace_back("tokenizer.ggml.model", GgufValue::string("gpt2"));
  m.emplace_back("tokenizer.ggml.pre", GgufValue::string(*pre));
  m.emplace_back("tokenizer.ggml.tokens", GgufValue::string_array(std::move(tokens)));
  m.emplace_back("tokenizer.ggml.token_type", GgufValue::int_array(GgufType::kI32, std::move(types)));
  m.emplace_back("tokenizer.ggml.merges", GgufValue::string_array(std::move(merges)));
  append_gguf_special_vocab(std::move(special), ours, vocab_size, &m);
  return m;
}

}  // namespace trainer
