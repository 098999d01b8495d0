// Tests for trainer/tokenizer: the byte tokenizer, GPT-2's pre-tokenizer splits, the BPE merge loop
// against a direct transcription of GPT-2's bpe() on random merge tables, loading errors (each names
// the file), and the real GPT-2 vocabulary (known ids, byte round trips) when the data is present.
#include "trainer/tokenizers/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "common/atomic_file.h"
#include "trainer/tokenizers/gpt2.h"
#include "trainer/tokenizers/gpt2_pretokenize.h"
#include "trainer/tokenizers/unicode.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;
using common::StatusCode;

const std::string kGpt2Dir = std::string(NS_TEST_DATA_DIR) + "/gpt2";

std::vector<std::string> pieces_of(std::string_view text) {
  std::vector<std::string_view> v;
  gpt2_pretokenize(text, &v);
  return std::vector<std::string>(v.begin(), v.end());
}

// A token's raw bytes written in GPT-2's byte alphabet, UTF-8 encoded (as in encoder.json).
std::string to_alphabet(const std::string& bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    char32_t cp = gpt2_byte_to_unicode()[b];
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("ns_tok_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// Writes encoder.json (256 byte tokens + the merge results) and vocab.bpe for `merges` (raw bytes).
void write_vocab(const TempDir& dir, const std::vector<std::pair<std::string, std::string>>& merges,
                 const std::string& vocab_name = "encoder.json", const std::string& merges_name = "vocab.bpe") {
  nlohmann::json enc = nlohmann::json::object();
  int next = 0;
  for (int b = 0; b < 256; ++b) enc[to_alphabet(std::string(1, static_cast<char>(b)))] = next++;
  std::string bpe = "#version: 0.2\n";
  for (const auto& [l, r] : merges) {
    const std::string key = to_alphabet(l + r);
    if (!enc.contains(key)) enc[key] = next++;
    bpe += to_alphabet(l) + " " + to_alphabet(r) + "\n";
  }
  ASSERT_TRUE(common::write_file_atomic(dir.file(vocab_name), enc.dump()).ok());
  ASSERT_TRUE(common::write_file_atomic(dir.file(merges_name), bpe).ok());
}

// GPT-2's bpe() (encoder.py) transcribed literally: strings, min rank over pairs, merge left to right.
std::vector<std::string> reference_bpe(const std::string& piece, const std::map<std::pair<std::string, std::string>, int>& ranks) {
  std::vector<std::string> word;
  for (char c : piece) word.emplace_back(1, c);
  while (word.size() > 1) {
    int best = INT32_MAX;
    std::pair<std::string, std::string> bigram;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = ranks.find({word[i], word[i + 1]});
      if (it != ranks.end() && it->second < best) best = it->second, bigram = it->first;
    }
    if (best == INT32_MAX) break;
    std::vector<std::string> merged;
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == bigram.first && word[i + 1] == bigram.second) {
        merged.push_back(word[i] + word[i + 1]);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word = std::move(merged);
  }
  return word;
}

TEST(ByteTokenizerTest, EveryByteIsItsOwnId) {
  auto t = make_tokenizer("byte");
  ASSERT_TRUE(t.ok());
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::vector<int32_t> ids = (*t)->encode(all);
  ASSERT_EQ(ids.size(), 256u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(ids[b], b);
  EXPECT_EQ((*t)->decode(ids), all);
  EXPECT_EQ((*t)->vocab_size(), 256);
  EXPECT_EQ((*t)->spec(), "byte");
  EXPECT_EQ((*t)->fingerprint(), "byte");
}

TEST(MakeTokenizerTest, RejectsUnknownSpecs) {
  for (const char* spec : {"bpe", "gpt2", "gpt2:", "", "Byte"}) {
    auto t = make_tokenizer(spec);
    ASSERT_FALSE(t.ok()) << spec;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument) << spec;
  }
  auto t = make_tokenizer("gpt2:/no/such/dir");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("/no/such/dir"), std::string::npos);
}

TEST(PretokenizeTest, SplitsLikeGpt2Regex) {
  using V = std::vector<std::string>;
  EXPECT_EQ(pieces_of("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(pieces_of("it's we'll I'M"), (V{"it", "'s", " we", "'ll", " I", "'", "M"}));
  EXPECT_EQ(pieces_of("a  b"), (V{"a", " ", " b"}));              // \s+(?!\S) leaves the last space
  EXPECT_EQ(pieces_of("a \n\tb"), (V{"a", " \n", "\t", "b"}));    // \s+ takes a lone tab before a letter
  EXPECT_EQ(pieces_of("end   "), (V{"end", "   "}));              // trailing whitespace stays whole
  EXPECT_EQ(pieces_of("x2024y"), (V{"x", "2024", "y"}));
  EXPECT_EQ(pieces_of(" ...'s!?"), (V{" ...'", "s", "!?"}));      // contractions only start a match
  EXPECT_EQ(pieces_of("café Ω٣"), (V{"café", " Ω", "٣"}));         // \p{L} and \p{N} beyond ASCII
  EXPECT_EQ(pieces_of("a\u00a0b"), (V{"a", "\u00a0", "b"}));      // NBSP is whitespace
  EXPECT_EQ(pieces_of(""), V{});
}

TEST(PretokenizeTest, InvalidUtf8BytesAreOtherCharacters) {
  const std::string text = std::string("ab\xff\xfe c\xc3") + " \x80x";
  std::string joined;
  for (const auto& p : pieces_of(text)) joined += p;
  EXPECT_EQ(joined, text);
  EXPECT_EQ(pieces_of("ab\xff\xfe"), (std::vector<std::string>{"ab", "\xff\xfe"}));
}

TEST(UnicodeTest, ClassesAndDecoding) {
  using unicode::CharClass;
  EXPECT_EQ(unicode::char_class(U'é'), CharClass::kLetter);
  EXPECT_EQ(unicode::char_class(U'東'), CharClass::kLetter);
  EXPECT_EQ(unicode::char_class(U'½'), CharClass::kNumber);
  EXPECT_EQ(unicode::char_class(U'Ⅻ'), CharClass::kNumber);
  EXPECT_EQ(unicode::char_class(0x3000), CharClass::kSpace);
  EXPECT_EQ(unicode::char_class(0x1F600), CharClass::kOther);  // emoji
  EXPECT_EQ(unicode::char_class(0x0301), CharClass::kOther);   // combining accent (Mn)
  const unsigned char overlong[] = {0xC0, 0xAF};
  EXPECT_FALSE(unicode::decode_utf8(overlong, overlong + 2).valid);
  const unsigned char surrogate[] = {0xED, 0xA0, 0x80};
  EXPECT_FALSE(unicode::decode_utf8(surrogate, surrogate + 3).valid);
  const unsigned char emoji[] = {0xF0, 0x9F, 0x98, 0x80};
  unicode::Utf8Char c = unicode::decode_utf8(emoji, emoji + 4);
  EXPECT_TRUE(c.valid);
  EXPECT_EQ(c.cp, 0x1F600u);
  EXPECT_EQ(c.bytes, 4);
  EXPECT_FALSE(unicode::decode_utf8(emoji, emoji + 3).valid);  // truncated
}

TEST(Gpt2BpeTest, MatchesGpt2AlgorithmOnRandomMergeTables) {
  std::mt19937 rng(7);
  for (int table = 0; table < 20; ++table) {
    TempDir dir;
    std::vector<std::string> tokens = {"a", "b", "c"};
    std::vector<std::pair<std::string, std::string>> merges;
    std::map<std::pair<std::string, std::string>, int> ranks;
    for (int m = 0; m < 25; ++m) {
      const std::string& l = tokens[rng() % tokens.size()];
      const std::string& r = tokens[rng() % tokens.size()];
      if (ranks.count({l, r})) continue;
      ranks[{l, r}] = static_cast<int>(merges.size());
      merges.emplace_back(l, r);
      if (std::find(tokens.begin(), tokens.end(), l + r) == tokens.end()) tokens.push_back(l + r);
    }
    // Shuffle the ranks so that merges can use tokens that later merges create (worst case order).
    std::shuffle(merges.begin(), merges.end(), rng);
    ranks.clear();
    for (size_t i = 0; i < merges.size(); ++i) ranks[merges[i]] = static_cast<int>(i);
    write_vocab(dir, merges);
    auto t = Gpt2Tokenizer::load(dir.str(), "gpt2:" + dir.str());
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    for (int w = 0; w < 200; ++w) {
      std::string piece;
      const size_t len = 1 + rng() % 24;
      for (size_t i = 0; i < len; ++i) piece.push_back("abc"[rng() % (w % 2 ? 3 : 1)]);  // odd: mixed, even: runs
      std::vector<int32_t> ids;
      (*t)->bpe(piece, &ids);
      std::vector<std::string> got;
      for (int32_t id : ids) got.push_back((*t)->token_bytes(id));
      ASSERT_EQ(got, reference_bpe(piece, ranks)) << "table " << table << " piece " << piece;
    }
  }
}

TEST(Gpt2BpeTest, VocabJsonAndMergesTxtNamesWork) {
  TempDir dir;
  write_vocab(dir, {{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"}}, "vocab.json", "merges.txt");
  auto t = make_tokenizer("gpt2:" + dir.str());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  std::vector<int32_t> ids = (*t)->encode("hello world");
  ASSERT_EQ(ids.size(), 6u);  // "hello" " w" "o" "r" "l" "d"
  EXPECT_EQ((*t)->decode(ids), "hello world");
  EXPECT_EQ((*t)->vocab_size(), 256 + 5);
  EXPECT_EQ((*t)->fingerprint().rfind("gpt2-v2-", 0), 0u);
}

TEST(Gpt2LoadTest, ErrorsNameTheFileAndTheProblem) {
  struct Case {
    std::string vocab, merges, expect;
    StatusCode code;
  };
  const std::string bytes_vocab = [] {
    nlohmann::json enc;
    for (int b = 0; b < 256; ++b) enc[to_alphabet(std::string(1, static_cast<char>(b)))] = b;
    return enc.dump();
  }();
  std::string missing_byte = bytes_vocab;
  const std::vector<Case> cases = {
      {"{\"a\": 0,", "", "encoder.json: not valid JSON", StatusCode::kCorruption},
      {"[1, 2]", "", "encoder.json: expected a JSON object", StatusCode::kCorruption},
      {"{\"a\": \"x\"}", "", "non-integer id", StatusCode::kCorruption},
      {"{\"a\": 5}", "", "ids must be 0..0", StatusCode::kCorruption},
      {"{\"a\": 0, \" \": 1}", "", "outside GPT-2's byte alphabet", StatusCode::kCorruption},
      {"{\"a\": 0}", "", "no token for byte 0x00", StatusCode::kCorruption},
      {bytes_vocab, "#version: 0.2\na b c\n", "vocab.bpe:2: expected two symbols", StatusCode::kCorruption},
      {bytes_vocab, "#version: 0.2\nab\n", "vocab.bpe:2: expected two symbols", StatusCode::kCorruption},
      {bytes_vocab, "#version: 0.2\n\na b\n", "vocab.bpe:3: 'a b' uses or makes a token missing", StatusCode::kCorruption},
  };
  for (const Case& c : cases) {
    TempDir dir;
    ASSERT_TRUE(common::write_file_atomic(dir.file("encoder.json"), c.vocab).ok());
    ASSERT_TRUE(common::write_file_atomic(dir.file("vocab.bpe"), c.merges).ok());
    auto t = make_tokenizer("gpt2:" + dir.str());
    ASSERT_FALSE(t.ok()) << c.expect;
    EXPECT_EQ(t.status().code(), c.code) << t.status().to_string();
    EXPECT_NE(t.status().message().find(dir.str()), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find(c.expect), std::string::npos) << t.status().message();
  }
  TempDir empty;
  auto none = make_tokenizer("gpt2:" + empty.str());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("no encoder.json + vocab.bpe"), std::string::npos);
  TempDir half;
  ASSERT_TRUE(common::write_file_atomic(half.file("encoder.json"), bytes_vocab).ok());
  auto h = make_tokenizer("gpt2:" + half.str());
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kNotFound);
  EXPECT_NE(h.status().message().find("vocab.bpe"), std::string::npos) << h.status().message();
}

// Issue 21, item 11: an empty or truncated merges file is refused (it leaves tokens no merge makes).
TEST(Gpt2LoadTest, EmptyOrTruncatedMergesAreRefused) {
  const std::vector<std::pair<std::string, std::string>> merges = {{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}};
  for (const std::string& merges_text : {std::string(""), std::string("#version: 0.2\n"),
                                         std::string("#version: 0.2\nh e\nl l\n")}) {
    TempDir dir;
    write_vocab(dir, merges);
    ASSERT_TRUE(common::write_file_atomic(dir.file("vocab.bpe"), merges_text).ok());
    auto t = make_tokenizer("gpt2:" + dir.str());
    ASSERT_FALSE(t.ok()) << "merges '" << merges_text << "' accepted";
    EXPECT_EQ(t.status().code(), StatusCode::kCorruption);
    EXPECT_NE(t.status().message().find(dir.file("vocab.bpe")), std::string::npos) << t.status().message();
  }
  // Complete, and a vocabulary with only the bytes and a special token needs no merges.
  TempDir full;
  write_vocab(full, merges);
  EXPECT_TRUE(make_tokenizer("gpt2:" + full.str()).ok());
  TempDir bytes_only;
  write_vocab(bytes_only, {});
  nlohmann::json enc = nlohmann::json::parse(*common::read_file(bytes_only.file("encoder.json")));
  enc["<|endoftext|>"] = 256;
  ASSERT_TRUE(common::write_file_atomic(bytes_only.file("encoder.json"), enc.dump()).ok());
  auto b = make_tokenizer("gpt2:" + bytes_only.str());
  EXPECT_TRUE(b.ok()) << b.status().to_string();
}

// Issue 21, item 11: a single huge "word" is encoded in chunks of kMaxPieceBytes, so its work is
// bounded: the result is the concatenation of the chunks' BPE, and a normal word is unchanged.
TEST(Gpt2BpeTest, AHugeWordIsEncodedInBoundedChunks) {
  TempDir dir;
  write_vocab(dir, {{"a", "b"}, {"ab", "c"}, {"abc", "abc"}, {"abcabc", "abcabc"}});
  auto t = Gpt2Tokenizer::load(dir.str(), "gpt2:" + dir.str());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  std::string word;
  while (word.size() < 5 * Gpt2Tokenizer::kMaxPieceBytes + 7) word += "abc";  // chunk edges fall mid-"abc"
  std::vector<int32_t> want;
  for (size_t at = 0; at < word.size(); at += Gpt2Tokenizer::kMaxPieceBytes) {
    (*t)->bpe(std::string_view(word).substr(at, Gpt2Tokenizer::kMaxPieceBytes), &want);
  }
  EXPECT_EQ((*t)->encode(word), want);
  EXPECT_EQ((*t)->decode((*t)->encode(word)), word);
  std::vector<int32_t> small;
  (*t)->bpe("abcabcabc", &small);
  EXPECT_EQ((*t)->encode("abcabcabc"), small);
}

// --- the real GPT-2 vocabulary (../shared/data/gpt2) ---

class Gpt2RealTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kGpt2Dir + "/encoder.json")) return;
    auto t = make_tokenizer("gpt2:" + kGpt2Dir);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    tok_ = std::move(t).value().release();
  }
  static void TearDownTestSuite() {
    delete tok_;
    tok_ = nullptr;
  }
  void SetUp() override {
    if (tok_ == nullptr) GTEST_SKIP() << "GPT-2 vocabulary not found at " << kGpt2Dir;
  }
  static Tokenizer* tok_;
};
Tokenizer* Gpt2RealTest::tok_ = nullptr;

TEST_F(Gpt2RealTest, KnownIds) {
  // Expected ids computed once with the independent npm package gpt-3-encoder@1.1.4 (node 20):
  //   node -e "console.log(JSON.stringify(require('gpt-3-encoder').encode(TEXT)))"
  const std::vector<std::pair<std::string, std::vector<int32_t>>> cases = {
      {"Hello world", {15496, 995}},
      {"It's a test: don't we'll they've I'm you'd she're",
       {1026, 338, 257, 1332, 25, 836, 470, 356, 1183, 484, 1053, 314, 1101, 345, 1549, 673, 821}},
      {"naïve café, Zürich — Ελληνικά",
       {2616, 38776, 40304, 11, 1168, 9116, 7527, 851, 7377, 243, 39377, 39377, 138, 115, 26180, 29945, 43000, 138, 105}},
      {"東京タワー 😀👍🏽", {30266, 109, 12859, 105, 23376, 25589, 6312, 30325, 222, 41840, 235, 8582, 237, 121}},
      {"x = 12345 + 6.78;\n\tif (y) {  return;  }\n\n",
       {87, 796, 17031, 2231, 1343, 718, 13, 3695, 26, 198, 197, 361, 357, 88, 8, 1391, 220, 1441, 26, 220, 1782, 628}},
      {"   leading and trailing   ", {220, 220, 3756, 290, 25462, 220, 220, 220}},
      {"'S 'T upper-case contractions", {6, 50, 705, 51, 6727, 12, 7442, 2775, 507}},
  };
  for (const auto& [text, ids] : cases) {
    EXPECT_EQ(tok_->encode(text), ids) << text;
    EXPECT_EQ(tok_->decode(ids), text);
  }
  EXPECT_EQ(tok_->vocab_size(), 50257);
  const int32_t eot = 50256;
  EXPECT_EQ(tok_->decode(std::span<const int32_t>(&eot, 1)), "<|endoftext|>");
}

TEST_F(Gpt2RealTest, AnyBytesRoundTrip) {
  std::mt19937 rng(11);
  for (int i = 0; i < 200; ++i) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(i % 2 ? rng() : "ab é\xe6\x9d\xb1\n'1"[rng() % 12]);
    EXPECT_EQ(tok_->decode(tok_->encode(s)), s);
  }
  // Long runs are single pieces (the merge loop is O(n log n) on them). GPT-2 has no merge for two
  // spaces, so a run of spaces stays one token per space; a run of letters merges.
  for (const std::string& run : {std::string(100000, ' '), std::string(100000, 'a'), std::string(50000, '=')}) {
    std::vector<int32_t> ids = tok_->encode(run);
    EXPECT_EQ(tok_->decode(ids), run);
    if (run[0] != ' ') {
      EXPECT_LE(ids.size(), run.size() / 4);
    }
  }
}

}  // namespace
}  // namespace trainer
