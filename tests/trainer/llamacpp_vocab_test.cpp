// The models' tokenizers against llama.cpp's own test vectors: for every models/ggml-vocab-*.gguf
// of llama.cpp's source bundle (tests/reference/llamacpp, installed by scripts/setup.sh) that has
// .inp/.out vectors, the vocabulary (read with llama.cpp's gguf-py by
// tests/reference/gguf_vocab_fixture.py) gives exactly the .out ids through make_gguf_tokenizer, and
// the same tokenizer written as a Hugging Face tokenizer.json gives them through load_hf_tokenizer.
// Decoding round-trips random text and random bytes. Skips, saying why, when the bundle is absent.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

#include "common/atomic_file.h"
#include "trainer/tokenizers/gguf_vocab.h"
#include "trainer/tokenizers/tokenizer.h"
#include "trainer/tokenizers/hf_tokenizer.h"

namespace trainer::tokenizers {
namespace {

namespace fs = std::filesystem;

const fs::path kBundle = fs::path(NS_SOURCE_DIR) / "tests/reference/llamacpp/llama.cpp";
const fs::path kFixtures = fs::path(NS_BINARY_DIR) / "tokenizer_fixtures";

// Every vocabulary with vectors in the pinned bundle (node-llama-cpp 3.21.1), and why the
// unsupported ones are: the expected error names the tokenizer model.
struct VocabCase {
  const char* name;
  const char* unsupported;  // nullptr: supported
};
const VocabCase kCases[] = {
    {"bert-bge", "tokenizer model 'bert' is not supported"},  // WordPiece (an embedding model)
    {"command-r", nullptr}, {"deepseek-coder", nullptr}, {"deepseek-llm", nullptr}, {"falcon", nullptr},
    {"gemma-4", nullptr},   {"gpt-2", nullptr},          {"llama-bpe", nullptr},    {"llama-spm", nullptr},
    {"mpt", nullptr},       {"phi-3", nullptr},          {"qwen2", nullptr},        {"qwen35", nullptr},
    {"refact", nullptr},    {"starcoder", nullptr},
};

// Runs the fixture script once per process; empty string = ready, else why not.
std::string prepare_fixtures() {
  static std::once_flag once;
  static std::string why;
  std::call_once(once, [] {
    if (!fs::exists(kBundle / "models") || !fs::exists(kBundle / "gguf-py")) {
      why = "llama.cpp's source bundle is not installed (run scripts/setup.sh)";
      return;
    }
    const std::string cmd = "/usr/bin/python3 '" + std::string(NS_SOURCE_DIR) + "/tests/reference/gguf_vocab_fixture.py' '" +
                            kBundle.string() + "' '" + kFixtures.string() + "' > /dev/null";
    if (std::system(cmd.c_str()) != 0) why = "FAILED: " + cmd;
  });
  return why;
}

struct Vectors {
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> ids;
};

Vectors read_vectors(const std::string& name) {
  const std::string base = (kBundle / "models" / ("ggml-vocab-" + name + ".gguf")).string();
  common::Result<std::string> inp = common::read_file(base + ".inp");
  common::Result<std::string> out = common::read_file(base + ".out");
  EXPECT_TRUE(inp.ok() && out.ok()) << base;
  Vectors v;
  if (!inp.ok() || !out.ok()) return v;
  const std::string sep = "\n__ggml_vocab_test__\n";
  for (size_t pos = 0; pos < inp->size();) {  // the last item may lack its separator
    const size_t next = inp->find(sep, pos);
    v.texts.push_back(inp->substr(pos, next == std::string::npos ? std::string::npos : next - pos));
    if (next == std::string::npos) break;
    pos = next + sep.size();
  }
  size_t pos = 0;
  while (pos < out->size()) {
    size_t eol = out->find('\n', pos);
    if (eol == std::string::npos) eol = out->size();
    std::vector<int32_t> ids;
    const std::string line = out->substr(pos, eol - pos);
    for (size_t p = 0; p < line.size();) {
      const size_t q = line.find(' ', p);
      const std::string word = line.substr(p, q == std::string::npos ? std::string::npos : q - p);
      if (!word.empty()) ids.push_back(std::stoi(word));
      if (q == std::string::npos) break;
      p = q + 1;
    }
    v.ids.push_back(ids);
    pos = eol + 1;
  }
  EXPECT_EQ(v.texts.size(), v.ids.size()) << base;
  return v;
}

VocabData read_vocab(const std::string& name) {
  const std::string path = (kFixtures / ("ggml-vocab-" + name + ".vocab.json")).string();
  common::Result<std::string> text = common::read_file(path);
  EXPECT_TRUE(text.ok()) << path;
  VocabData v;
  if (!text.ok()) return v;
  const nlohmann::json j = nlohmann::json::parse(*text);
  v.source = "ggml-vocab-" + name + ".gguf";
  v.model = j.at("model").get<std::string>();
  v.pre = j.value("pre", "");
  v.tokens = j.at("tokens").get<std::vector<std::string>>();
  v.scores = j.value("scores", std::vector<float>{});
  v.token_types = j.value("token_types", std::vector<int32_t>{});
  v.merges = j.value("merges", std::vector<std::string>{});
  for (auto [key, field] : {std::pair{"bos_id", &v.bos_id}, {"eos_id", &v.eos_id}, {"eot_id", &v.eot_id},
                            {"unk_id", &v.unk_id}, {"pad_id", &v.pad_id}})
    if (j.contains(key)) *field = j[key].get<int32_t>();
  if (j.contains("add_bos")) v.add_bos = j["add_bos"].get<bool>();
  if (j.contains("add_space_prefix")) v.add_space_prefix = j["add_space_prefix"].get<bool>();
  return v;
}

// Every vector gives its ids; returns the number that do.
size_t check_vectors(const Tokenizer& tok, const Vectors& v, const std::string& what) {
  size_t matched = 0;
  for (size_t i = 0; i < v.texts.size() && i < v.ids.size(); ++i) {
    const std::vector<int32_t> got = tok.encode(v.texts[i]);
    EXPECT_EQ(got, v.ids[i]) << what << ", item " << i << ": '" << v.texts[i] << "'";
    matched += got == v.ids[i];
  }
  std::printf("%s: %zu of %zu strings give llama.cpp's ids\n", what.c_str(), matched, v.texts.size());
  return matched;
}

std::string printable_name(const ::testing::TestParamInfo<VocabCase>& info) {
  std::string s = info.param.name;
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

class LlamaCppVocab : public ::testing::TestWithParam<VocabCase> {
 protected:
  void SetUp() override {
    const std::string why = prepare_fixtures();
    if (why.starts_with("FAILED")) FAIL() << why;
    if (!why.empty()) GTEST_SKIP() << why;
    if (!fs::exists(kBundle / "models" / ("ggml-vocab-" + std::string(GetParam().name) + ".gguf.out")))
      GTEST_SKIP() << "this bundle has no vectors for " << GetParam().name;
  }
};

TEST_P(LlamaCppVocab, GgufVocabularyGivesTheVectorIds) {
  const VocabCase c = GetParam();
  const VocabData vocab = read_vocab(c.name);
  auto tok = make_gguf_tokenizer(vocab, std::string("test:") + c.name);
  if (c.unsupported) {
    ASSERT_FALSE(tok.ok()) << c.name << " was expected to be refused";
    EXPECT_NE(tok.status().message().find(c.unsupported), std::string::npos) << tok.status().message();
    EXPECT_NE(tok.status().message().find(vocab.source), std::string::npos) << tok.status().message();
    std::printf("ggml-vocab-%s: unsupported: %s\n", c.name, tok.status().message().c_str());
    return;
  }
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const Vectors v = read_vectors(c.name);
  ASSERT_FALSE(v.texts.empty());
  EXPECT_EQ(check_vectors(**tok, v, std::string("ggml-vocab-") + c.name + " (GGUF data)"), v.texts.size());
}

// The GGUF file itself through `--tokenizer gguf:FILE` (our GGUF reader, trainer/formats/gguf).
TEST_P(LlamaCppVocab, GgufFileReadDirectlyGivesTheVectorIds) {
  const VocabCase c = GetParam();
  const std::string path = (kBundle / "models" / ("ggml-vocab-" + std::string(c.name) + ".gguf")).string();
  auto tok = make_tokenizer("gguf:" + path);
  if (c.unsupported) {
    ASSERT_FALSE(tok.ok());
    EXPECT_NE(tok.status().message().find(path), std::string::npos) << tok.status().message();
    return;
  }
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const Vectors v = read_vectors(c.name);
  ASSERT_FALSE(v.texts.empty());
  EXPECT_EQ(check_vectors(**tok, v, std::string("ggml-vocab-") + c.name + " (GGUF file)"), v.texts.size());
}

TEST_P(LlamaCppVocab, HfTokenizerJsonGivesTheSameIds) {
  const VocabCase c = GetParam();
  const fs::path dir = kFixtures / ("ggml-vocab-" + std::string(c.name));
  if (c.unsupported || !fs::exists(dir / "tokenizer.json"))
    GTEST_SKIP() << "no tokenizer.json is written for " << c.name << " (only byte-level BPE and SentencePiece vocabularies)";
  auto tok = load_hf_tokenizer(dir.string(), "hf:" + dir.string());
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const Vectors v = read_vectors(c.name);
  ASSERT_FALSE(v.texts.empty());
  EXPECT_EQ(check_vectors(**tok, v, std::string("ggml-vocab-") + c.name + " (tokenizer.json)"), v.texts.size());
}

// Random text from a pool that mixes words, whitespace runs, digits, accents, CJK, emoji and bytes
// that are not UTF-8 (never U+2581, which SentencePiece-style vocabularies read as a space).
std::string random_text(std::mt19937& rng, const std::string& raw_bytes) {
  static const std::vector<std::string> pool = {"the", " cat", "  ", "\n", "\n\n", "\t", " ", "Hello", "'s", "'LL", "123",
                                                "4567", "é", "ü", "中文", "😀", "!!", "...", "—", "Ünï", " 9", "\r\n"};
  std::string s;
  const int n = std::uniform_int_distribution<int>(0, 12)(rng);
  for (int i = 0; i < n; ++i) {
    if (!raw_bytes.empty() && std::uniform_int_distribution<int>(0, 4)(rng) == 0) {
      s.push_back(raw_bytes[std::uniform_int_distribution<size_t>(0, raw_bytes.size() - 1)(rng)]);
    } else {
      s += pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)];
    }
  }
  if (s.find("\xE2\x96\x81") != std::string::npos) return "";
  return s;
}

TEST_P(LlamaCppVocab, DecodeRoundTripsRandomTextAndBytes) {
  const VocabCase c = GetParam();
  if (c.unsupported) GTEST_SKIP() << c.name << " is not supported";
  const VocabData vocab = read_vocab(c.name);
  const std::string vocab_model = vocab.model;
  auto tok = make_gguf_tokenizer(vocab, std::string("test:") + c.name);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  // The bytes the vocabulary can write (as a byte token or a <0xXX> token): some leave out bytes
  // that valid UTF-8 never has (0xC0, 0xF5...), and those are dropped, as llama.cpp does.
  std::string bytes;
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    if ((*tok)->token_id(std::string(1, static_cast<char>(b))) || (*tok)->token_id(hex)) bytes.push_back(static_cast<char>(b));
  }
  EXPECT_GE(bytes.size(), 200u) << c.name;
  // SentencePiece vocabularies cut the text at UTF-8 lead bytes without checking what follows (as
  // llama.cpp does), so a stray lead byte before a space takes part of its ▁: valid UTF-8 only there.
  if (vocab_model == "llama") bytes.clear();
  std::mt19937 rng(1234);
  for (int i = 0; i < 300; ++i) {
    const std::string text = random_text(rng, i % 2 == 1 ? bytes : std::string());
    const std::vector<int32_t> ids = (*tok)->encode(text);
    ASSERT_EQ((*tok)->decode(ids), text) << c.name << ": text " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Bundle, LlamaCppVocab, ::testing::ValuesIn(kCases), printable_name);

}  // namespace
}  // namespace trainer::tokenizers
