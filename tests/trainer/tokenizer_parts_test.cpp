// Tests for the parts of the models' tokenizers (trainer/tokenizers/): regex splitting with each
// Split behavior, Unicode normalization, added-token splitting, and small hand-made tokenizer.json
// files (byte-level with merges in both stored forms and ignore_merges; SentencePiece-style BPE with
// byte fallback), their errors, and make_tokenizer's specs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "trainer/tokenizers/tokenizer.h"
#include "trainer/tokenizers/gpt2.h"
#include "trainer/tokenizers/added_tokens.h"
#include "trainer/tokenizers/hf_tokenizer.h"
#include "trainer/tokenizers/normalizer.h"
#include "trainer/tokenizers/regex_split.h"

namespace trainer::tokenizers {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> split(const std::string& pattern, SplitBehavior b, bool invert, const std::string& text) {
  auto re = Regex::compile(pattern);
  EXPECT_TRUE(re.ok()) << re.status().to_string();
  std::vector<std::string_view> out;
  Splitter{*re, b, invert}.split(text, &out);
  return std::vector<std::string>(out.begin(), out.end());
}

using V = std::vector<std::string>;

TEST(RegexSplit, EachBehaviorPlacesTheMatchesAsTokenizersDoes) {
  EXPECT_EQ(split("\\d+", SplitBehavior::kRemoved, false, "a1b22c"), (V{"a", "b", "c"}));
  EXPECT_EQ(split("\\d+", SplitBehavior::kIsolated, false, "a1b22c"), (V{"a", "1", "b", "22", "c"}));
  EXPECT_EQ(split("\\d+", SplitBehavior::kMergedWithPrevious, false, "a1b22c"), (V{"a1", "b22", "c"}));
  EXPECT_EQ(split("\\d+", SplitBehavior::kMergedWithNext, false, "a1b22c"), (V{"a", "1b", "22c"}));
  EXPECT_EQ(split("\\d", SplitBehavior::kContiguous, false, "a1b22c"), (V{"a", "1", "b", "22", "c"}));
  EXPECT_EQ(split("\\d", SplitBehavior::kIsolated, false, "a1b22c"), (V{"a", "1", "b", "2", "2", "c"}));
  // invert: the matches are the pieces, what lies between them is removed
  EXPECT_EQ(split("\\w+", SplitBehavior::kRemoved, true, "hi, you!"), (V{"hi", "you"}));
}

TEST(RegexSplit, UnicodePropertiesAndBytesThatAreNotUtf8) {
  // \p{L} by Unicode; an invalid byte never matches and keeps its place
  EXPECT_EQ(split("\\p{L}+", SplitBehavior::kIsolated, false, "h\xC3\xA9llo\xFF\xE4\xB8\xAD" "1"),
            (V{"h\xC3\xA9llo", "\xFF", "\xE4\xB8\xAD", "1"}));
  // lookahead sees only the piece: \s+(?!\S) keeps the last space for the word after it
  EXPECT_EQ(split("\\s+(?!\\S)|\\s+", SplitBehavior::kIsolated, false, "a   b"), (V{"a", "  ", " ", "b"}));
  // case-insensitive contractions as Llama 3 writes them
  EXPECT_EQ(split("(?i:'s|'ll)", SplitBehavior::kIsolated, false, "IT'S we'LL"), (V{"IT", "'S", " we", "'LL"}));
}

TEST(RegexSplit, ABadPatternIsAnErrorThatQuotesIt) {
  auto re = Regex::compile("(unclosed");
  ASSERT_FALSE(re.ok());
  EXPECT_NE(re.status().message().find("(unclosed"), std::string::npos) << re.status().message();
}

TEST(Normalizer, UnicodeFormsAndReplaceAndPrepend) {
  using K = NormalizerStep::Kind;
  EXPECT_EQ(unicode_normalize(K::kNfc, "e\xCC\x81"), "\xC3\xA9");   // e + combining acute -> é
  EXPECT_EQ(unicode_normalize(K::kNfd, "\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(unicode_normalize(K::kNfkc, "\xEF\xAC\x81"), "fi");       // the ligature ﬁ
  EXPECT_EQ(unicode_normalize(K::kNfc, "a\xFF" "e\xCC\x81"), "a\xFF\xC3\xA9");  // a stray byte stays
  auto space = Regex::compile(" ", true);
  ASSERT_TRUE(space.ok());
  const std::vector<NormalizerStep> llama2 = {{K::kPrepend, "\xE2\x96\x81", nullptr}, {K::kReplace, "\xE2\x96\x81", *space}};
  EXPECT_EQ(normalize(llama2, "a b"), "\xE2\x96\x81" "a\xE2\x96\x81" "b");
  EXPECT_EQ(normalize(llama2, ""), "");
  EXPECT_EQ(normalize({{K::kLowercase, "", nullptr}}, "\xC3\x89" "A"), "\xC3\xA9" "a");
}

TEST(AddedTokens, LeftmostLongestAndSpecialOnlyWhenAsked) {
  AddedTokenSplitter s({{10, "<|a|>", true}, {11, "<|a|><|b|>", true}, {12, "  ", false}, {13, "<x>", false, true, true}});
  std::vector<Fragment> f;
  s.split("q<|a|><|b|>r  s <x> t", true, &f);
  std::vector<std::pair<std::string, int>> got;
  for (const Fragment& x : f) got.emplace_back(std::string(x.text), x.id);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, int>>{
                     {"q", -1}, {"<|a|><|b|>", 11}, {"r", -1}, {"  ", 12}, {"s", -1}, {"<x>", 13}, {"t", -1}}));
  f.clear();
  got.clear();
  s.split("q<|a|>r  s", false, &f);  // special tokens stay text; the user-defined one is split out
  for (const Fragment& x : f) got.emplace_back(std::string(x.text), x.id);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, int>>{{"q<|a|>r", -1}, {"  ", 12}, {"s", -1}}));
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("ns_tokparts_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return (path_ / name).string();
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// Bytes in GPT-2's byte alphabet (as tokenizer.json writes byte-level tokens).
std::string alphabet(const std::string& bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    const char32_t cp = gpt2_byte_to_unicode()[b];
    if (cp < 0x80) out.push_back(static_cast<char>(cp));
    else out += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
  }
  return out;
}

// A byte-level tokenizer.json: the 256 bytes, then "ab" (256), "abc" (257), " c" (258), "<|end|>" (259).
json byte_level_json(bool merges_as_pairs, bool ignore_merges) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[alphabet(std::string(1, static_cast<char>(b)))] = b;
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  vocab[alphabet(" c")] = 258;
  const std::vector<std::pair<std::string, std::string>> merges = {{"a", "b"}, {alphabet(" "), "c"}};
  json m = json::array();
  for (auto& [l, r] : merges) m.push_back(merges_as_pairs ? json::array({l, r}) : json(l + " " + r));
  return {{"version", "1.0"},
          {"added_tokens", json::array({{{"id", 259}, {"content", "<|end|>"}, {"special", true}}})},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}, {"ignore_merges", ignore_merges}}}};
}

TEST(HfTokenizer, ByteLevelMergesInBothFormsAndIgnoreMerges) {
  TempDir dir;
  for (bool pairs : {false, true}) {
    dir.write("tokenizer.json", byte_level_json(pairs, false).dump());
    auto tok = load_hf_tokenizer(dir.str(), "hf:x");
    ASSERT_TRUE(tok.ok()) << tok.status().to_string();
    EXPECT_EQ((*tok)->encode("abc c"), (std::vector<int32_t>{256, 'c', 258})) << "pairs " << pairs;
    EXPECT_EQ((*tok)->encode("x<|end|>"), (std::vector<int32_t>{'x', '<', '|', 'e', 'n', 'd', '|', '>'}));
    EXPECT_EQ((*tok)->encode_with("x<|end|>", {.parse_special = true}), (std::vector<int32_t>{'x', 259}));
    EXPECT_EQ((*tok)->decode(std::vector<int32_t>{256, 259, 258}), "ab<|end|> c");
    EXPECT_EQ((*tok)->token_id("<|end|>"), 259);
    EXPECT_TRUE((*tok)->is_special(259));
    EXPECT_EQ((*tok)->special_ids().eot, 259);
  }
  dir.write("tokenizer.json", byte_level_json(false, true).dump());
  auto tok = load_hf_tokenizer(dir.str() + "/tokenizer.json", "hf:x");
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  EXPECT_EQ((*tok)->encode("abc"), (std::vector<int32_t>{257}));  // a whole piece that is a token
}

TEST(HfTokenizer, SentencePieceStyleBpeWithByteFallback) {
  const std::string sp = "\xE2\x96\x81";  // ▁
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  vocab[sp] = 259, vocab["a"] = 260, vocab["b"] = 261, vocab[sp + "a"] = 262, vocab["ab"] = 263, vocab[sp + "ab"] = 264;
  const json j = {
      {"added_tokens", json::array({{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                                    {{"id", 1}, {"content", "<s>"}, {"special", true}},
                                    {{"id", 2}, {"content", "</s>"}, {"special", true}}})},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", sp}},
                                                                       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", sp}}})}}},
      {"pre_tokenizer", nullptr},
      {"post_processor", {{"type", "TemplateProcessing"}, {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                                                                  {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}}},
      {"decoder", {{"type", "Sequence"}, {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", sp}}}, {"content", " "}},
                                                                  {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                                                                  {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
      {"model", {{"type", "BPE"}, {"byte_fallback", true}, {"fuse_unk", true}, {"unk_token", "<unk>"}, {"vocab", vocab},
                 {"merges", json::array({sp + " a", "a b", sp + "a b"})}}}};
  TempDir dir;
  dir.write("tokenizer.json", j.dump());
  auto tok = load_hf_tokenizer(dir.str(), "hf:x");
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  // "▁ab" via ▁a then ▁ab; " b" -> ▁ b; "中" (E4 B8 AD) -> its three byte tokens
  EXPECT_EQ((*tok)->encode("ab b"), (std::vector<int32_t>{264, 259, 261}));
  EXPECT_EQ((*tok)->encode("\xE4\xB8\xAD"), (std::vector<int32_t>{259, 3 + 0xE4, 3 + 0xB8, 3 + 0xAD}));
  EXPECT_EQ((*tok)->decode((*tok)->encode("ab b\xE4\xB8\xAD")), "ab b\xE4\xB8\xAD");
  EXPECT_TRUE((*tok)->add_bos());
  EXPECT_EQ((*tok)->special_ids().bos, 1);
  EXPECT_EQ((*tok)->encode_with("a", {.add_bos = true}), (std::vector<int32_t>{1, 262}));
}

TEST(HfTokenizer, ErrorsNameTheFileAndTheProblem) {
  TempDir dir;
  const std::string f = dir.write("tokenizer.json", "{not json");
  auto bad = load_hf_tokenizer(f, "hf:x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(f), std::string::npos) << bad.status().message();
  dir.write("tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})");
  auto wp = load_hf_tokenizer(dir.str(), "hf:x");
  ASSERT_FALSE(wp.ok());
  EXPECT_NE(wp.status().message().find("'WordPiece' is not supported"), std::string::npos) << wp.status().message();
  json j = byte_level_json(false, false);
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  dir.write("tokenizer.json", j.dump());
  auto pre = load_hf_tokenizer(dir.str(), "hf:x");
  ASSERT_FALSE(pre.ok());
  EXPECT_NE(pre.status().message().find("'BertPreTokenizer' is not supported"), std::string::npos) << pre.status().message();
}

TEST(MakeTokenizer, AcceptsHfSpecsAndPlainPaths) {
  TempDir dir;
  dir.write("tokenizer.json", byte_level_json(false, false).dump());
  for (const std::string& spec : {"hf:" + dir.str(), dir.str(), dir.str() + "/tokenizer.json"}) {
    auto tok = make_tokenizer(spec);
    ASSERT_TRUE(tok.ok()) << spec << ": " << tok.status().to_string();
    EXPECT_EQ((*tok)->vocab_size(), 260);
    EXPECT_EQ((*tok)->encode("ab"), (std::vector<int32_t>{256}));
  }
  auto missing = make_tokenizer(dir.str() + "/nothing-here");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nothing-here"), std::string::npos);
  auto spm = make_tokenizer("spm:" + dir.write("bad.model", "not a model"));
  ASSERT_FALSE(spm.ok());
  EXPECT_NE(spm.status().message().find("not a SentencePiece model"), std::string::npos) << spm.status().message();
}

}  // namespace
}  // namespace trainer::tokenizers
