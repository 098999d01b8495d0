// make_gguf_tokenizer: VocabData -> BpeTokenizer (gpt2, gemma4) or SpmTokenizer (llama).
#include "trainer/tokenizers/gguf_vocab.h"

#include <cstdio>

#include "trainer/formats/checksum.h"
#include "trainer/tokenizers/gpt2.h"
#include "trainer/tokenizers/bpe_tokenizer.h"
#include "trainer/tokenizers/spm_tokenizer.h"

namespace trainer::tokenizers {
namespace {

using common::Result;
using common::Status;

std::string fingerprint_of(const VocabData& v) {
  uint32_t crc = crc32(v.model.data(), v.model.size());
  crc = crc32(v.pre.data(), v.pre.size(), crc);
  for (const std::string& t : v.tokens) crc = crc32(t.data(), t.size() + 1, crc);  // with the terminator
  for (const std::string& m : v.merges) crc = crc32(m.data(), m.size() + 1, crc);
  if (!v.scores.empty()) crc = crc32(v.scores.data(), v.scores.size() * sizeof(float), crc);
  if (!v.token_types.empty()) crc = crc32(v.token_types.data(), v.token_types.size() * sizeof(int32_t), crc);
  char fp[32];
  std::snprintf(fp, sizeof fp, "gguf-v1-%08x", crc);
  return fp;
}

int32_t type_of(const VocabData& v, size_t id) {
  return v.token_types.empty() ? static_cast<int32_t>(GgufTokenType::kNormal) : v.token_types[id];
}

int32_t in_range(std::optional<int32_t> id, size_t n) {
  return id && *id >= 0 && static_cast<size_t>(*id) < n ? *id : -1;
}

Result<std::unique_ptr<Tokenizer>> make_bpe(const VocabData& v, const std::string& spec, bool byte_level) {
  const size_t n = v.tokens.size();
  BpeConfig c;
  c.spec = spec;
  c.fingerprint = fingerprint_of(v);
  c.byte_level = byte_level;
  c.tokens.resize(n);
  std::string bytes;
  for (size_t id = 0; id < n; ++id) {
    const int32_t type = type_of(v, id);
    const bool control = type == static_cast<int32_t>(GgufTokenType::kControl) || type == static_cast<int32_t>(GgufTokenType::kUnknown);
    const bool user = type == static_cast<int32_t>(GgufTokenType::kUserDefined);
    if ((control || user) && !v.tokens[id].empty()) {
      c.added.push_back({static_cast<int32_t>(id), v.tokens[id], control});
      continue;
    }
    c.tokens[id] = byte_level && gpt2_alphabet_to_bytes(v.tokens[id], &bytes) ? bytes : v.tokens[id];
  }
  std::string left, right;
  for (const std::string& m : v.merges) {
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos) continue;  // llama.cpp keeps it under an empty pair that never matches
    if (byte_level) {
      if (!gpt2_alphabet_to_bytes(std::string_view(m).substr(0, sp), &left) || !gpt2_alphabet_to_bytes(std::string_view(m).substr(sp + 1), &right))
        continue;
    } else {
      left = m.substr(0, sp), right = m.substr(sp + 1);
    }
    c.merges.emplace_back(left, right);
  }
  if (byte_level) {
    std::optional<GgufPreTokenizer> pre = gguf_pre_tokenizer(v.pre);
    if (!pre) {
      std::string known;
      for (const std::string& name : gguf_pre_names()) known += (known.empty() ? "" : ", ") + name;
      return Status::InvalidArgument(v.source + ": pre-tokenizer '" + v.pre + "' is not supported (known: " + known + ")");
    }
    for (const std::string& r : pre->regexes) {
      auto re = Regex::compile(r);
      if (!re.ok()) return re.status().with_context(v.source);
      PreTokenizerStep s;
      s.splitter = Splitter{*re, SplitBehavior::kIsolated, false};
      c.pre_tokenizer.push_back(std::move(s));
    }
    c.ignore_merges = pre->ignore_merges;
    c.add_bos = v.add_bos.value_or(pre->add_bos);
  } else {  // gemma4: spaces as ▁ over raw UTF-8, split only at newlines, <0xXX> byte fallback
    auto space = Regex::compile(" ", true);
    auto lines = Regex::compile(R"([^\n]+|[\n]+)");
    if (!space.ok() || !lines.ok()) return Status::Internal("gemma4 patterns do not compile");
    c.normalizer.push_back({NormalizerStep::Kind::kReplace, "\xE2\x96\x81", *space});
    PreTokenizerStep s;
    s.splitter = Splitter{*lines, SplitBehavior::kIsolated, false};
    c.pre_tokenizer.push_back(std::move(s));
    c.byte_fallback = true;
    c.ignore_merges_newlines = true;
    c.decode_replacement = "\xE2\x96\x81";
    c.decode_byte_fallback = true;
    c.add_bos = true;  // llama.cpp turns it on for Gemma 4 whatever the file says
  }
  SpecialIds& ids = c.special_ids;
  ids.bos = in_range(v.bos_id, n);
  ids.eos = in_range(v.eos_id, n);
  ids.unk = in_range(v.unk_id, n);
  ids.pad = in_range(v.pad_id, n);
  ids.eot = in_range(v.eot_id, n);
  if (ids.eot < 0)
    for (const char* name : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>"})
      for (const AddedToken& a : c.added)
        if (ids.eot < 0 && a.content == name) ids.eot = a.id;
  c.unk = byte_level ? -1 : ids.unk;
  c.add_bos = c.add_bos && ids.bos >= 0;
  NS_ASSIGN_OR_RETURN(std::unique_ptr<BpeTokenizer> t, BpeTokenizer::create(std::move(c)));
  return std::unique_ptr<Tokenizer>(std::move(t));
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> make_gguf_tokenizer(const VocabData& v, const std::string& spec) {
  if (v.tokens.empty()) return Status::Corruption(v.source + ": tokenizer.ggml.tokens is missing or empty");
  if (!v.token_types.empty() && v.token_types.size() != v.tokens.size())
    return Status::Corruption(v.source + ": " + std::to_string(v.token_types.size()) + " token types for " +
                              std::to_string(v.tokens.size()) + " tokens");
  if (v.model == "gpt2") {
    if (v.merges.empty()) return Status::Corruption(v.source + ": tokenizer.ggml.merges is missing (a gpt2 vocabulary needs it)");
    return make_bpe(v, spec, true);
  }
  if (v.model == "gemma4") {
    if (v.merges.empty()) return Status::Corruption(v.source + ": tokenizer.ggml.merges is missing (a gemma4 vocabulary needs it)");
    return make_bpe(v, spec, false);
  }
  if (v.model == "llama") {
    NS_ASSIGN_OR_RETURN(std::unique_ptr<SpmTokenizer> t, SpmTokenizer::create(v, spec, fingerprint_of(v)));
    return std::unique_ptr<Tokenizer>(std::move(t));
  }
  return Status::InvalidArgument(v.source + ": tokenizer model '" + v.model +
                                 "' is not supported (supported: gpt2, llama, gemma4)");
}

}  // namespace trainer::tokenizers
