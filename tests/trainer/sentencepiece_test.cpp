// SentencePiece models against SentencePiece itself: a small BPE model with byte fallback is trained
// on Shakespeare by Debian's spm_train (as Llama 2's tokenizer.model is made: identity normalization,
// spaces kept); then spm_encode's ids for each line are compared with (1) the libsentencepiece
// wrapper (spm:FILE) and (2) SpmTokenizer, llama.cpp's algorithm for GGUF vocabularies, fed the
// model's pieces and scores as a GGUF file would store them. Skips, saying why, without the tools.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/atomic_file.h"
#include "trainer/tokenizers/tokenizer.h"
#include "trainer/tokenizers/spm_tokenizer.h"

namespace trainer::tokenizers {
namespace {

namespace fs = std::filesystem;

std::vector<std::vector<int32_t>> read_id_lines(const std::string& path) {
  std::vector<std::vector<int32_t>> out;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) {
    std::istringstream ss(line);
    std::vector<int32_t> ids;
    for (int32_t id; ss >> id;) ids.push_back(id);
    out.push_back(ids);
  }
  return out;
}

class SentencePieceModel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists("/usr/bin/spm_train") || !fs::exists("/usr/bin/spm_encode"))
      GTEST_SKIP() << "Debian's sentencepiece tools are not installed (scripts/setup.sh installs them)";
    const std::string corpus = std::string(NS_TEST_DATA_DIR) + "/tinyshakespeare.txt";
    if (!fs::exists(corpus)) GTEST_SKIP() << corpus << " is missing";
    dir_ = fs::temp_directory_path() / ("ns_spm_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const std::string prefix = (dir_ / "m").string();
    const std::string train = "/usr/bin/spm_train --input=" + corpus + " --model_prefix=" + prefix +
                              " --vocab_size=700 --model_type=bpe --byte_fallback=true --normalization_rule_name=identity"
                              " --remove_extra_whitespaces=false --input_sentence_size=20000 --minloglevel=2 > /dev/null 2>&1";
    ASSERT_EQ(std::system(train.c_str()), 0) << train;
    model_ = prefix + ".model";
    // Test lines: Shakespeare's, and some that need byte fallback or have runs of spaces.
    std::ifstream in(corpus);
    std::ofstream lines(dir_ / "lines.txt");
    int n = 0;
    for (std::string line; n < 300 && std::getline(in, line); ++n) lines << line << "\n";
    lines << "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80!\n"
          << "   three spaces first, two  inside\n"
          << "\tTabs\tand digits 12345\n";
    lines.close();
    const std::string encode = "/usr/bin/spm_encode --model=" + model_ + " --output_format=id < " + (dir_ / "lines.txt").string() +
                               " > " + (dir_ / "ids.txt").string();
    ASSERT_EQ(std::system(encode.c_str()), 0) << encode;
    std::ifstream again(dir_ / "lines.txt");
    for (std::string line; std::getline(again, line);) texts_.push_back(line);
    expected_ = read_id_lines((dir_ / "ids.txt").string());
    ASSERT_EQ(texts_.size(), expected_.size());
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  fs::path dir_;
  std::string model_;
  std::vector<std::string> texts_;
  std::vector<std::vector<int32_t>> expected_;
};

TEST_F(SentencePieceModel, LibraryWrapperGivesSpmEncodeIdsAndDecodesBack) {
  auto tok = make_tokenizer("spm:" + model_);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  for (size_t i = 0; i < texts_.size(); ++i) {
    ASSERT_EQ((*tok)->encode(texts_[i]), expected_[i]) << "line " << i << ": " << texts_[i];
    ASSERT_EQ((*tok)->decode((*tok)->encode(texts_[i])), texts_[i]) << "line " << i;
  }
  const SpecialIds ids = (*tok)->special_ids();
  EXPECT_EQ(ids.bos, 1);
  EXPECT_EQ(ids.eos, 2);
  EXPECT_TRUE((*tok)->add_bos());
  // Special-token text is text unless asked; then it is the token.
  const std::vector<int32_t> plain = (*tok)->encode("</s>");
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 2), 0);
  EXPECT_EQ((*tok)->encode_with("hi</s>", {.parse_special = true, .add_bos = true}).front(), 1);
  EXPECT_EQ((*tok)->encode_with("hi</s>", {.parse_special = true}).back(), 2);
  EXPECT_EQ((*tok)->decode(std::vector<int32_t>{1}), "<s>");
}

TEST_F(SentencePieceModel, GgufStyleVocabularyGivesSpmEncodeIds) {
  // The pieces and scores as GGUF stores them (convert_hf_to_gguf's token types).
  const std::string vocab_file = (dir_ / "m.vocab").string();
  const std::string cmd = "/usr/bin/spm_export_vocab --model=" + model_ + " > " + vocab_file;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  VocabData v;
  v.model = "llama";
  v.source = vocab_file;
  std::ifstream f(vocab_file);
  for (std::string line; std::getline(f, line);) {
    const size_t tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    const std::string piece = line.substr(0, tab);
    v.tokens.push_back(piece);
    v.scores.push_back(std::stof(line.substr(tab + 1)));
    const bool byte = piece.size() == 6 && piece.starts_with("<0x") && piece.back() == '>';
    v.token_types.push_back(piece == "<unk>" ? 2 : piece == "<s>" || piece == "</s>" ? 3 : byte ? 6 : 1);
  }
  auto tok = SpmTokenizer::create(v, "test", "test");
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  size_t matched = 0;
  for (size_t i = 0; i < texts_.size(); ++i) {
    const std::vector<int32_t> got = (*tok)->encode(texts_[i]);
    EXPECT_EQ(got, expected_[i]) << "line " << i << ": " << texts_[i];
    matched += got == expected_[i];
    ASSERT_EQ((*tok)->decode(got), texts_[i]) << "line " << i;
  }
  std::printf("SpmTokenizer: %zu of %zu lines give spm_encode's ids\n", matched, texts_.size());
}

}  // namespace
}  // namespace trainer::tokenizers
