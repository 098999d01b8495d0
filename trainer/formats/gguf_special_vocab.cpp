// read_gguf_special_vocab / append_gguf_special_vocab (gguf_tokenizer_sources.h): the special-token
// ids as gguf-py's SpecialVocab finds them for llama.cpp's converter. First the tokenizer.json
// post-processor (a TemplateProcessing whose single sequence starts or ends with a special token
// names BOS / EOS when tokenizer_config.json does not; RobertaProcessing adds both), then
// tokenizer_config.json's bos/eos/unk/sep/pad/cls/mask_token names, looked up among tokenizer.json's
// added tokens (first match), then config.json's *_token_id; a type keeps the first id found.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "trainer/formats/gguf_tokenizer_sources.h"

namespace trainer {

using common::Result;
using common::Status;
using formats::GgufMetadata;
using formats::GgufValue;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;

Result<json> read_json(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return json();
  std::ifstream in(p, std::ios::binary);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) return Status::Corruption(p.string() + ": not valid JSON");
  return j;
}

// "name" or {"content": "name"}; "" otherwise.
std::string token_name(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return "";
}

std::string special_token_id(const json& item) {
  if (!item.is_object() || !item.contains("SpecialToken") || !item["SpecialToken"].is_object()) return "";
  return token_name(item["SpecialToken"].value("id", json()));
}

}  // namespace

std::optional<int64_t> GgufSpecialVocab::id(const std::string& type) const {
  for (const auto& [t, i] : ids)
    if (t == type) return i;
  return std::nullopt;
}

void GgufSpecialVocab::set(const std::string& type, int64_t value) {
  if (!id(type)) ids.emplace_back(type, value);
}

Result<GgufSpecialVocab> read_gguf_special_vocab(const std::string& dir, int n_vocab) {
  GgufSpecialVocab v;
  std::vector<std::string> types = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
  NS_ASSIGN_OR_RETURN(json tokenizer, read_json(fs::path(dir) / "tokenizer.json"));
  NS_ASSIGN_OR_RETURN(json config, read_json(fs::path(dir) / "tokenizer_config.json"));
  const bool has_config = config.is_object() && !config.empty();
  auto set_id = [&](const std::string& type, const json& id) {
    if (id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < n_vocab) v.set(type, id.get<int64_t>());
  };
  json added = json::array();
  if (tokenizer.is_object()) {
    added = tokenizer.value("added_tokens", json::array());
    std::string bos = has_config ? token_name(config.value("bos_token", json())) : "";
    std::string eos = has_config ? token_name(config.value("eos_token", json())) : "";
    std::string cls = has_config ? token_name(config.value("cls_token", json())) : "";
    const std::string sep = has_config ? token_name(config.value("sep_token", json())) : "";
    if (bos.empty() && !cls.empty()) config["bos_token"] = bos = cls;
    if (eos.empty() && !sep.empty()) config["eos_token"] = eos = sep;
    const json post = tokenizer.value("post_processor", json());
    json processors = json::array();
    if (post.is_object()) processors = post.contains("processors") ? post["processors"] : json::array({post});
    for (const json& p : processors) {
      if (!p.is_object() || p.value("type", "") != "TemplateProcessing") continue;
      const json single = p.value("single", json::array());
      if (!single.is_array() || single.size() < 2) continue;
      const std::string first = special_token_id(single.front()), last = special_token_id(single.back());
      if (!first.empty() && has_config && first != bos && first != cls) {
        if (bos.empty()) config["bos_token"] = bos = first;
        if (cls.empty()) config["cls_token"] = cls = first;
      }
      if (!last.empty() && has_config && last != eos) {
        // The template's last token is the EOS; the one tokenizer_config.json named becomes the EOT.
        types.push_back("eot");
        config["eot_token"] = eos;
        config["eos_token"] = eos = last;
      }
    }
  }
  if (has_config) {
    for (const std::string& type : types) {
      const std::string name = token_name(config.value(type + "_token", json()));
      if (name.empty()) continue;
      for (const json& a : added)
        if (a.is_object() && token_name(a) == name) {
          set_id(type, a.value("id", json()));
          break;
        }
    }
  }
  NS_ASSIGN_OR_RETURN(json model_config, read_json(fs::path(dir) / "config.json"));
  if (model_config.is_object())
    for (const std::string& type : types) {
      json id = model_config.value(type + "_token_id", json());
      if (id.is_null() && model_config.contains("text_config") && model_config["text_config"].is_object())
        id = model_config["text_config"].value(type + "_token_id", json());
      set_id(type, id);
    }
  return v;
}

void append_gguf_special_vocab(GgufSpecialVocab special, const Tokenizer& ours, int n_vocab, GgufMetadata* m) {
  const SpecialIds mine = ours.special_ids();
  auto valid = [n_vocab](int32_t id) { return id >= 0 && id < n_vocab; };
  // The BOS nightshift puts first is the one llama.cpp must add.
  if (ours.add_bos() && valid(mine.bos)) {
    std::erase_if(special.ids, [](const auto& e) { return e.first == "bos"; });
    special.set("bos", mine.bos);
  }
  if (valid(mine.eos)) special.set("eos", mine.eos);
  if (valid(mine.eot)) special.set("eot", mine.eot);
  static const std::pair<const char*, const char*> kKeys[] = {
      {"bos", "bos_token_id"},         {"eos", "eos_token_id"},     {"eot", "eot_token_id"},
      {"unk", "unknown_token_id"},     {"sep", "seperator_token_id"}, {"pad", "padding_token_id"},
      {"cls", "cls_token_id"},         {"mask", "mask_token_id"}};
  for (const auto& [type, key] : kKeys)
    if (auto id = special.id(type))
      m->emplace_back(std::string("tokenizer.ggml.") + key, GgufValue::u32(static_cast<uint32_t>(*id)));
  m->emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(ours.add_bos()));
  m->emplace_back("tokenizer.ggml.add_eos_token", GgufValue::boolean(false));
  if (!ours.chat_template().empty())
    m->emplace_back("tokenizer.chat_template", GgufValue::string(ours.chat_template()));
}

}  // namespace trainer
