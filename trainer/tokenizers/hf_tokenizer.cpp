// Reading tokenizer.json (and tokenizer_config.json) into a BpeConfig.
#include "trainer/tokenizers/hf_tokenizer.h"

#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "trainer/formats/checksum.h"
#include "trainer/tokenizers/gpt2.h"

namespace trainer::tokenizers {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;
using nlohmann::json;

std::string str_or(const json& j, const char* key, const std::string& fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}
bool bool_or(const json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

// {"String": "x"} or {"Regex": "x"}.
Result<std::shared_ptr<const Regex>> pattern_of(const json& j) {
  if (j.is_object() && j.contains("Regex") && j["Regex"].is_string()) return Regex::compile(j["Regex"].get<std::string>());
  if (j.is_object() && j.contains("String") && j["String"].is_string())
    return Regex::compile(j["String"].get<std::string>(), /*literal=*/true);
  return Status::InvalidArgument("a pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

Status add_normalizer(const json& j, std::vector<NormalizerStep>* steps) {
  if (j.is_null()) return Status::Ok();
  const std::string type = str_or(j, "type", "");
  using K = NormalizerStep::Kind;
  if (type == "Sequence") {
    for (const json& n : j.value("normalizers", json::array())) NS_RETURN_IF_ERROR(add_normalizer(n, steps));
  } else if (type == "NFC") steps->push_back(NormalizerStep{K::kNfc, "", nullptr});
  else if (type == "NFD") steps->push_back(NormalizerStep{K::kNfd, "", nullptr});
  else if (type == "NFKC") steps->push_back(NormalizerStep{K::kNfkc, "", nullptr});
  else if (type == "NFKD") steps->push_back(NormalizerStep{K::kNfkd, "", nullptr});
  else if (type == "Lowercase") steps->push_back(NormalizerStep{K::kLowercase, "", nullptr});
  else if (type == "Prepend") steps->push_back(NormalizerStep{K::kPrepend, str_or(j, "prepend", ""), nullptr});
  else if (type == "Replace") {
    auto re = pattern_of(j.value("pattern", json()));
    if (!re.ok()) return re.status();
    steps->push_back({K::kReplace, str_or(j, "content", ""), *re});
  } else if (type == "Strip") {
    NormalizerStep s{K::kStrip, "", nullptr};
    s.strip_left = bool_or(j, "strip_left", false);
    s.strip_right = bool_or(j, "strip_right", false);
    steps->push_back(s);
  } else {
    return Status::InvalidArgument("normalizer '" + type + "' is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip)");
  }
  return Status::Ok();
}

Result<PreTokenizerStep> split_step(const std::string& pattern, bool literal, SplitBehavior behavior, bool invert) {
  auto re = Regex::compile(pattern, literal);
  if (!re.ok()) return re.status();
  PreTokenizerStep s;
  s.kind = PreTokenizerStep::Kind::kSplit;
  s.splitter = Splitter{*re, behavior, invert};
  return s;
}

constexpr const char* kGpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

Status add_pre_tokenizer(const json& j, BpeConfig* c, bool* byte_level) {
  if (j.is_null()) return Status::Ok();
  const std::string type = str_or(j, "type", "");
  auto push = [&](Result<PreTokenizerStep> s) -> Status {
    if (!s.ok()) return s.status();
    c->pre_tokenizer.push_back(std::move(*s));
    return Status::Ok();
  };
  if (type == "Sequence") {
    for (const json& p : j.value("pretokenizers", json::array())) NS_RETURN_IF_ERROR(add_pre_tokenizer(p, c, byte_level));
  } else if (type == "Split") {
    auto re = pattern_of(j.value("pattern", json()));
    if (!re.ok()) return re.status();
    auto behavior = parse_split_behavior(str_or(j, "behavior", "Isolated"));
    if (!behavior.ok()) return behavior.status();
    PreTokenizerStep s;
    s.splitter = Splitter{*re, *behavior, bool_or(j, "invert", false)};
    c->pre_tokenizer.push_back(std::move(s));
  } else if (type == "ByteLevel") {
    *byte_level = true;
    if (bool_or(j, "add_prefix_space", false)) {
      PreTokenizerStep s;
      s.kind = PreTokenizerStep::Kind::kPrefixSpace;
      c->pre_tokenizer.push_back(s);
    }
    if (bool_or(j, "use_regex", true)) return push(split_step(kGpt2Regex, false, SplitBehavior::kIsolated, false));
  } else if (type == "Digits") {
    return push(split_step(bool_or(j, "individual_digits", false) ? "\\p{N}" : "\\p{N}+", false, SplitBehavior::kIsolated, false));
  } else if (type == "Punctuation") {
    auto behavior = parse_split_behavior(str_or(j, "behavior", "Isolated"));
    if (!behavior.ok()) return behavior.status();
    return push(split_step("[\\p{P}!-/:-@\\[-`{-~]", false, *behavior, false));
  } else if (type == "Whitespace") {
    return push(split_step("\\w+|[^\\w\\s]+", false, SplitBehavior::kRemoved, true));
  } else if (type == "WhitespaceSplit") {
    return push(split_step("\\s+", false, SplitBehavior::kRemoved, false));
  } else if (type == "Metaspace") {
    PreTokenizerStep s;
    s.kind = PreTokenizerStep::Kind::kMetaspace;
    s.replacement = str_or(j, "replacement", "\xE2\x96\x81");
    const std::string scheme = str_or(j, "prepend_scheme", bool_or(j, "add_prefix_space", true) ? "always" : "never");
    s.prepend = scheme == "first" ? PreTokenizerStep::Prepend::kFirst
                : scheme == "never" ? PreTokenizerStep::Prepend::kNever : PreTokenizerStep::Prepend::kAlways;
    s.split = bool_or(j, "split", true);
    c->pre_tokenizer.push_back(s);
    c->decode_replacement = s.replacement;
    c->decode_strip_leading_space = s.prepend != PreTokenizerStep::Prepend::kNever;
  } else {
    return Status::InvalidArgument("pre-tokenizer '" + type + "' is not supported (supported: Sequence, Split, ByteLevel, Digits, Punctuation, Whitespace, WhitespaceSplit, Metaspace)");
  }
  return Status::Ok();
}

void read_decoder(const json& j, BpeConfig* c) {
  if (j.is_null()) return;
  const std::string type = str_or(j, "type", "");
  if (type == "Sequence") {
    for (const json& d : j.value("decoders", json::array())) read_decoder(d, c);
  } else if (type == "Replace") {
    const json p = j.value("pattern", json());
    if (p.is_object() && p.contains("String") && str_or(j, "content", "") == " ")
      c->decode_replacement = p["String"].get<std::string>();
  } else if (type == "ByteFallback") {
    c->decode_byte_fallback = true;
  } else if (type == "Strip") {
    if (str_or(j, "content", "") == " " && j.value("start", 0) >= 1) c->decode_strip_leading_space = true;
  } else if (type == "Metaspace") {
    c->decode_replacement = str_or(j, "replacement", "\xE2\x96\x81");
    const std::string scheme = str_or(j, "prepend_scheme", bool_or(j, "add_prefix_space", true) ? "always" : "never");
    c->decode_strip_leading_space = scheme != "never";
  }
  // ByteLevel, Fuse: nothing to do (tokens already hold their bytes).
}

// "name" or {"content": "name", ...} in tokenizer_config.json.
std::string token_name(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object()) return str_or(j, "content", "");
  return "";
}

Status read_model(const json& model, BpeConfig* c, bool byte_level, const std::string& where) {
  const std::string type = str_or(model, "type", "BPE");
  if (type != "BPE")
    return Status::InvalidArgument(where + ": model type '" + type + "' is not supported (only BPE)");
  if (!str_or(model, "continuing_subword_prefix", "").empty() || !str_or(model, "end_of_word_suffix", "").empty())
    return Status::InvalidArgument(where + ": BPE with continuing_subword_prefix or end_of_word_suffix is not supported");
  const json& vocab = model.value("vocab", json::object());
  if (!vocab.is_object() || vocab.empty()) return Status::Corruption(where + ": model.vocab is missing or empty");
  std::string bytes;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > (1 << 24))
      return Status::Corruption(where + ": token '" + it.key().substr(0, 40) + "' has a bad id");
    const size_t id = it.value().get<size_t>();
    if (id >= c->tokens.size()) c->tokens.resize(id + 1);
    // A byte-level token outside the alphabet (a special token written as itself) stays as it is.
    c->tokens[id] = byte_level && gpt2_alphabet_to_bytes(it.key(), &bytes) ? bytes : it.key();
  }
  const json& merges = model.value("merges", json::array());
  std::string left, right;
  for (const json& m : merges) {
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) return Status::Corruption(where + ": merge '" + s.substr(0, 40) + "' is not two symbols");
      left = s.substr(0, sp), right = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>(), right = m[1].get<std::string>();
    } else {
      return Status::Corruption(where + ": a merge is neither \"a b\" nor [\"a\", \"b\"]");
    }
    if (byte_level) {
      std::string l, r;
      if (!gpt2_alphabet_to_bytes(left, &l) || !gpt2_alphabet_to_bytes(right, &r))
        return Status::Corruption(where + ": merge '" + left + " " + right + "' has a character outside the byte alphabet");
      left = std::move(l), right = std::move(r);
    }
    c->merges.emplace_back(std::move(left), std::move(right));
  }
  c->byte_level = byte_level;
  c->ignore_merges = bool_or(model, "ignore_merges", false);
  c->byte_fallback = bool_or(model, "byte_fallback", false);
  c->fuse_unk = bool_or(model, "fuse_unk", false);
  const std::string unk = str_or(model, "unk_token", "");
  if (!unk.empty() && vocab.contains(unk)) c->unk = vocab[unk].get<int32_t>();
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<BpeTokenizer>> load_hf_tokenizer(const std::string& path, const std::string& spec) {
  std::error_code ec;
  fs::path file(path);
  if (fs::is_directory(file, ec)) file /= "tokenizer.json";
  const std::string where = file.string();
  if (!fs::exists(file, ec)) return Status::NotFound(where + ": no such file");
  NS_ASSIGN_OR_RETURN(std::string text, common::read_file(where));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return Status::Corruption(where + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("model")) return Status::Corruption(where + ": no \"model\" object (not a tokenizer.json)");

  BpeConfig c;
  c.spec = spec;
  bool byte_level = false;
  if (Status s = add_pre_tokenizer(j.value("pre_tokenizer", json()), &c, &byte_level); !s.ok()) return s.with_context(where);
  if (j.contains("decoder") && j["decoder"].is_object() && str_or(j["decoder"], "type", "") == "ByteLevel") byte_level = true;
  if (Status s = add_normalizer(j.value("normalizer", json()), &c.normalizer); !s.ok()) return s.with_context(where);
  read_decoder(j.value("decoder", json()), &c);
  NS_RETURN_IF_ERROR(read_model(j["model"], &c, byte_level, where));

  for (const json& a : j.value("added_tokens", json::array())) {
    AddedToken t;
    t.id = a.value("id", -1);
    t.content = str_or(a, "content", "");
    t.special = bool_or(a, "special", false);
    t.lstrip = bool_or(a, "lstrip", false);
    t.rstrip = bool_or(a, "rstrip", false);
    if (t.id < 0 || t.content.empty() || t.id > (1 << 24)) return Status::Corruption(where + ": an added token without an id or content");
    if (static_cast<size_t>(t.id) >= c.tokens.size()) c.tokens.resize(t.id + 1);
    c.added.push_back(std::move(t));
  }

  // tokenizer_config.json beside it: names of BOS/EOS/PAD/UNK and add_bos_token.
  json config;
  std::string config_text;
  const fs::path config_path = file.parent_path() / "tokenizer_config.json";
  if (fs::exists(config_path, ec)) {
    NS_ASSIGN_OR_RETURN(config_text, common::read_file(config_path.string()));
    try {
      config = json::parse(config_text);
    } catch (const json::exception& e) {
      return Status::Corruption(config_path.string() + ": not valid JSON (" + e.what() + ")");
    }
  }
  char fp[32];
  std::snprintf(fp, sizeof fp, "hf-v1-%08x", crc32(config_text.data(), config_text.size(), crc32(text.data(), text.size())));
  c.fingerprint = fp;

  // Which BOS the post-processor puts first, if any (TemplateProcessing, possibly in a Sequence).
  std::string template_bos;
  std::function<void(const json&)> scan_post = [&](const json& p) {
    if (!p.is_object()) return;
    const std::string type = str_or(p, "type", "");
    if (type == "Sequence")
      for (const json& q : p.value("processors", json::array())) scan_post(q);
    if (type == "TemplateProcessing") {
      const json single = p.value("single", json::array());
      if (!single.empty() && single[0].is_object() && single[0].contains("SpecialToken"))
        template_bos = str_or(single[0]["SpecialToken"], "id", "");
    }
  };
  scan_post(j.value("post_processor", json()));

  // Special ids by name.
  std::unordered_map<std::string, int32_t> by_text;
  for (size_t id = 0; id < c.tokens.size(); ++id) by_text.emplace(c.tokens[id], static_cast<int32_t>(id));
  for (const AddedToken& a : c.added) by_text[a.content] = a.id;
  auto find = [&](std::initializer_list<std::string> names) -> int32_t {
    for (const std::string& n : names)
      if (auto it = by_text.find(n); !n.empty() && it != by_text.end()) return it->second;
    return -1;
  };
  auto from_config = [&](const char* key) -> int32_t {
    return config.is_object() && config.contains(key) ? find({token_name(config[key])}) : -1;
  };
  SpecialIds& ids = c.special_ids;
  ids.bos = from_config("bos_token");
  ids.eos = from_config("eos_token");
  ids.pad = from_config("pad_token");
  ids.unk = from_config("unk_token");
  if (ids.bos < 0) ids.bos = find({template_bos, "<|begin_of_text|>", "<s>", "<bos>"});
  if (ids.eos < 0) ids.eos = find({"<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>"});
  if (ids.unk < 0) ids.unk = c.unk;
  ids.eot = find({"<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "<|end_of_text|>"});
  bool add_bos = !template_bos.empty();
  if (config.is_object() && config.contains("add_bos_token") && config["add_bos_token"].is_boolean())
    add_bos = config["add_bos_token"].get<bool>();
  c.add_bos = add_bos && ids.bos >= 0;
  NS_ASSIGN_OR_RETURN(std::unique_ptr<BpeTokenizer> t, BpeTokenizer::create(std::move(c)));
  return t;
}

}  // namespace trainer::tokenizers
