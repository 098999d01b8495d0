// gguf_tokenizer_metadata (trainer/formats/gguf_export.h) for a model's own tokenizer files, without
// llama.cpp: a small byte-level tokenizer.json gets the tokenizer.ggml.pre name whose regexes are its
// pre-tokenizer (ByteLevel's GPT-2 regex -> gpt-2, Digits + ByteLevel -> smollm, Llama 3's Split with
// ignore_merges -> llama-bpe, without -> dbrx), its tokens in id order with [PAD<id>] holes, the types
// of added tokens, merges as "a b" (pairs with a space in a part as U+0120), special ids and
// add_bos from tokenizer_config.json; an unknown regex, a normalizer and a Metaspace tokenizer.json
// without tokenizer.model are refused. A SentencePiece model trained by spm_train without the dummy
// prefix writes add_space_prefix false; a unigram one is refused. The check against llama.cpp itself
// is tests/integration/export_gguf_tokenizers_test.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "trainer/formats/gguf_export.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class GgufTokenizerExport : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ns_gguf_tok_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A byte-level tokenizer.json: a, b, ab, Ġ, Ġa, then (id 6) <|endoftext|> special and (id 7)
  // <tool> not special; id 5 is a hole.
  json byte_level(json pre_tokenizer, bool ignore_merges = false, json merges = json::array({"a b", "Ġ a"})) {
    return {{"version", "1.0"},
            {"normalizer", nullptr},
            {"pre_tokenizer", pre_tokenizer},
            {"added_tokens",
             json::array({{{"id", 6}, {"content", "<|endoftext|>"}, {"special", true}},
                          {{"id", 7}, {"content", "<tool>"}, {"special", false}}})},
            {"model",
             {{"type", "BPE"},
              {"ignore_merges", ignore_merges},
              {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}, {"\xC4\xA0", 3}, {"\xC4\xA0" "a", 4}}},
              {"merges", merges}}}};
  }
  void write(const std::string& name, const json& j) { std::ofstream(dir_ / name) << j.dump(); }
  common::Result<trainer::formats::GgufMetadata> metadata(int vocab_size = 10) {
    return trainer::gguf_tokenizer_metadata("hf:" + dir_.string(), vocab_size);
  }
  static const trainer::formats::GgufValue* find(const trainer::formats::GgufMetadata& m, const std::string& key) {
    for (const auto& [k, v] : m)
      if (k == key) return &v;
    return nullptr;
  }
  static std::string pre_of(const trainer::formats::GgufMetadata& m) {
    const auto* v = find(m, "tokenizer.ggml.pre");
    return v ? v->str : "<absent>";
  }
  fs::path dir_;
};

const json kByteLevelRegex = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
const json kByteLevelOnly = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

json split(const std::string& regex) {
  return {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
}

TEST_F(GgufTokenizerExport, ByteLevelVocabulary) {
  write("tokenizer.json", byte_level(kByteLevelRegex, false, json::array({json::array({"a", "b"}), "Ġ a"})));
  auto m = metadata();
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(find(*m, "tokenizer.ggml.model")->str, "gpt2");
  EXPECT_EQ(pre_of(*m), "gpt-2");
  EXPECT_EQ(find(*m, "tokenizer.ggml.tokens")->strings,
            (std::vector<std::string>{"a", "b", "ab", "\xC4\xA0", "\xC4\xA0" "a", "[PAD5]", "<|endoftext|>", "<tool>",
                                      "[PAD8]", "[PAD9]"}));
  EXPECT_EQ(find(*m, "tokenizer.ggml.token_type")->ints, (std::vector<int64_t>{1, 1, 1, 1, 1, 5, 3, 4, 5, 5}));
  EXPECT_EQ(find(*m, "tokenizer.ggml.merges")->strings, (std::vector<std::string>{"a b", "\xC4\xA0 a"}));
  ASSERT_NE(find(*m, "tokenizer.ggml.eos_token_id"), nullptr);  // found by name, as nightshift finds it
  EXPECT_EQ(find(*m, "tokenizer.ggml.eos_token_id")->i, 6);
  EXPECT_FALSE(find(*m, "tokenizer.ggml.add_bos_token")->i);
}

TEST_F(GgufTokenizerExport, PreTokenizerNames) {
  write("tokenizer.json", byte_level({{"type", "Sequence"}, {"pretokenizers", json::array({{{"type", "Digits"}, {"individual_digits", true}}, kByteLevelRegex})}}));
  auto m = metadata();
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(pre_of(*m), "smollm");
  const json llama3 = {{"type", "Sequence"}, {"pretokenizers", json::array({split(kLlama3), kByteLevelOnly})}};
  write("tokenizer.json", byte_level(llama3, true));
  m = metadata();
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(pre_of(*m), "llama-bpe");
  write("tokenizer.json", byte_level(llama3, false));  // the same regex, merges always applied
  m = metadata();
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(pre_of(*m), "dbrx");
}

TEST_F(GgufTokenizerExport, RefusesWhatLlamaCppSplitsOtherwise) {
  write("tokenizer.json", byte_level({{"type", "Sequence"}, {"pretokenizers", json::array({split("\\d"), kByteLevelRegex})}}));
  auto m = metadata();
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("no pre-tokenizer"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("tokenizer.json"), std::string::npos) << m.status().message();
  json lower = byte_level(kByteLevelRegex);
  lower["normalizer"] = {{"type", "Lowercase"}};
  write("tokenizer.json", lower);
  EXPECT_FALSE(metadata().ok());
  json prefix = byte_level({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}});
  write("tokenizer.json", prefix);
  EXPECT_FALSE(metadata().ok());
  // A character-level BPE (Metaspace) with no tokenizer.model beside it.
  json chars = byte_level({{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}});
  write("tokenizer.json", chars);
  m = metadata();
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("no tokenizer.model"), std::string::npos) << m.status().message();
  // A token id beyond the model's vocabulary.
  write("tokenizer.json", byte_level(kByteLevelRegex));
  EXPECT_FALSE(metadata(7).ok());
}

TEST_F(GgufTokenizerExport, SpecialIdsFromTokenizerConfig) {
  json j = byte_level(kByteLevelRegex);
  j["added_tokens"].push_back({{"id", 8}, {"content", "<|begin|>"}, {"special", true}});
  write("tokenizer.json", j);
  write("tokenizer_config.json", {{"bos_token", "<|begin|>"}, {"eos_token", {{"content", "<|endoftext|>"}}},
                                  {"add_bos_token", true}, {"chat_template", "{{ messages }}"}});
  write("config.json", {{"pad_token_id", 7}, {"eos_token_id", 2}});
  auto m = metadata();
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(find(*m, "tokenizer.ggml.bos_token_id")->i, 8);
  EXPECT_EQ(find(*m, "tokenizer.ggml.eos_token_id")->i, 6);  // tokenizer_config.json's name wins
  EXPECT_EQ(find(*m, "tokenizer.ggml.padding_token_id")->i, 7);
  EXPECT_TRUE(find(*m, "tokenizer.ggml.add_bos_token")->i);
  EXPECT_EQ(find(*m, "tokenizer.chat_template")->str, "{{ messages }}");
}

TEST_F(GgufTokenizerExport, SentencePieceModels) {
  if (!fs::exists("/usr/bin/spm_train"))
    GTEST_SKIP() << "Debian's sentencepiece tools are not installed (scripts/setup.sh installs them)";
  const std::string corpus = std::string(NS_TEST_DATA_DIR) + "/tinyshakespeare.txt";
  if (!fs::exists(corpus)) GTEST_SKIP() << corpus << " is missing";
  const std::string common = "/usr/bin/spm_train --input=" + corpus + " --vocab_size=400 --input_sentence_size=5000 --minloglevel=2";
  const std::string bpe = common + " --model_prefix=" + (dir_ / "bpe").string() +
                          " --model_type=bpe --byte_fallback=true --normalization_rule_name=identity"
                          " --remove_extra_whitespaces=false --add_dummy_prefix=false > /dev/null 2>&1";
  ASSERT_EQ(std::system(bpe.c_str()), 0) << bpe;
  auto m = trainer::gguf_tokenizer_metadata("spm:" + (dir_ / "bpe.model").string(), 400);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(find(*m, "tokenizer.ggml.model")->str, "llama");
  EXPECT_FALSE(find(*m, "tokenizer.ggml.add_space_prefix")->i);
  const auto& types = find(*m, "tokenizer.ggml.token_type")->ints;
  ASSERT_EQ(types.size(), 400u);
  EXPECT_EQ(types[0], 2);    // <unk>
  EXPECT_EQ(types[1], 3);    // <s>
  EXPECT_EQ(types[3], 6);    // <0x00>
  EXPECT_EQ(types[399], 1);  // a merged piece
  EXPECT_EQ(find(*m, "tokenizer.ggml.tokens")->strings[3], "<0x00>");
  const std::string uni = common + " --model_prefix=" + (dir_ / "uni").string() + " > /dev/null 2>&1";
  ASSERT_EQ(std::system(uni.c_str()), 0) << uni;
  m = trainer::gguf_tokenizer_metadata("spm:" + (dir_ / "uni.model").string(), 400);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("unigram"), std::string::npos) << m.status().message();
}

}  // namespace
