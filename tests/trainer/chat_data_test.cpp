// Data formats, examples and packing: JSONL records of every format detected line by line (and a
// line that fits none named by file and line), chat and prompt/completion records rendered and
// masked, documents ending with their end token, the separate validation set and the validation split
// by whole examples, the token cache keeping masks and document starts (an old version rebuilt), and
// packed rows (whole examples, positions restarting, no target across examples, truncate/split,
// padding without packing, determinism and seek).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <numeric>
#include <set>

#include "common/atomic_file.h"
#include "common/log.h"
#include "trainer/data/batch_source.h"
#include "trainer/data/dataset.h"
#include "trainer/data/examples.h"
#include "trainer/data/packing.h"
#include "trainer/data/records.h"
#include "trainer/formats/checksum.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;

TEST(Records, EachFormatIsDetectedFromItsFields) {
  auto text = parse_record(R"({"text": "hello"})");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->kind, Record::Kind::kText);
  auto pc = parse_record(R"({"prompt": "2+2=", "completion": "4"})");
  ASSERT_TRUE(pc.ok());
  EXPECT_EQ(pc->kind, Record::Kind::kPromptCompletion);
  EXPECT_EQ(pc->completion, "4");
  auto chat = parse_record(R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})");
  ASSERT_TRUE(chat.ok());
  ASSERT_EQ(chat->messages.size(), 2u);
  EXPECT_EQ(chat->messages[1].role, "assistant");
  auto share = parse_record(
      R"({"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]})");
  ASSERT_TRUE(share.ok());
  EXPECT_EQ(share->kind, Record::Kind::kChat);
  EXPECT_EQ(share->messages[0].role, "system");
  EXPECT_EQ(share->messages[1].role, "user");
  EXPECT_EQ(share->messages[2].role, "assistant");
  auto alpaca = parse_record(R"({"instruction": "Translate", "input": "chat", "output": "cat"})");
  ASSERT_TRUE(alpaca.ok());
  EXPECT_EQ(alpaca->kind, Record::Kind::kPromptCompletion);
  EXPECT_EQ(alpaca->prompt, "Translate\n\nchat");
  EXPECT_EQ(alpaca->completion, "cat");
  auto no_input = parse_record(R"({"instruction": "Say hi", "input": "", "output": "hi"})");
  EXPECT_EQ(no_input->prompt, "Say hi");
}

TEST(Records, ALineThatFitsNothingSaysWhy) {
  auto none = parse_record(R"({"question": "q", "answer": "a"})");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("fields {answer, question} fits no data format"), std::string::npos)
      << none.status().message();
  auto bad_role = parse_record(R"({"conversations": [{"from": "bot", "value": "x"}]})");
  ASSERT_FALSE(bad_role.ok());
  EXPECT_NE(bad_role.status().message().find("conversations[0]: role 'bot' (expected human, gpt or system)"),
            std::string::npos)
      << bad_role.status().message();
  EXPECT_FALSE(parse_record(R"({"prompt": 3, "completion": "x"})").ok());
  EXPECT_FALSE(parse_record(R"({"messages": []})").ok());
  EXPECT_FALSE(parse_record("[1, 2]").ok());
}

class ChatDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("ns_chat_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "cache");
    byte_ = std::move(make_tokenizer("byte")).value();
    previous_sink_ = common::set_log_sink([this](common::LogLevel level, const std::string& m) {
      (level == common::LogLevel::kWarning ? warnings_ : infos_).push_back(m);
    });
  }
  void TearDown() override {
    common::set_log_sink(previous_sink_);
    fs::remove_all(root_);
  }
  std::string put(const std::string& rel, const std::string& content) {
    fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    EXPECT_TRUE(common::write_file_atomic(p.string(), content).ok());
    return p.string();
  }
  DatasetOptions options(const std::string& data, double val = 0.0) {
    DatasetOptions o;
    o.data_path = data;
    o.cache_dir = (root_ / "cache").string();
    o.val_fraction = val;
    return o;
  }
  // The text of the trained tokens of a split, and all of its text.
  std::string trained(std::span<const int32_t> ids, std::span<const uint8_t> mask) {
    std::vector<int32_t> t;
    for (size_t i = 0; i < ids.size(); ++i)
      if (mask.empty() || mask[i]) t.push_back(ids[i]);
    return byte_->decode(t);
  }
  fs::path root_;
  std::unique_ptr<Tokenizer> byte_;
  std::vector<std::string> warnings_, infos_;
  common::LogFn previous_sink_;
};

const char kChatLine[] =
    R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]})";

TEST_F(ChatDataTest, ChatRecordsAreRenderedAndMaskedToTheAssistant) {
  const std::string data = put("chat.jsonl", std::string(kChatLine) + "\n" +
                                                 R"({"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]})" "\n");
  DatasetOptions o = options(data);
  o.chat_template = "chatml";
  auto d = TokenDataset::open(o, *byte_);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_TRUE((*d)->examples());
  const auto ids = (*d)->train_tokens();
  EXPECT_EQ(byte_->decode(std::vector<int32_t>(ids.begin(), ids.end())),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
            "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n");
  EXPECT_EQ(trained(ids, (*d)->train_mask()), "Hello!<|im_end|>A<|im_end|>");
  const auto starts = (*d)->train_doc_starts();
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[0], 0u);
  EXPECT_EQ(starts[1], std::string("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n").size());

  // --train-on all trains every token, and is another cache.
  o.train_on = "all";
  auto all = TokenDataset::open(o, *byte_);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE((*all)->built_cache());
  EXPECT_EQ(trained((*all)->train_tokens(), (*all)->train_mask()).size(), ids.size());
}

TEST_F(ChatDataTest, ChatWithoutATemplateIsAnErrorNamingFileAndLine) {
  const std::string data = put("chat.jsonl", std::string(R"({"text": "plain"})") + "\n" + kChatLine + "\n");
  auto d = TokenDataset::open(options(data), *byte_);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find(data + ":2: chat data needs a chat template: byte: the tokenizer has no chat template"),
            std::string::npos)
      << d.status().message();
  DatasetOptions o = options(data);
  o.chat_template = "nosuch";
  auto named = TokenDataset::open(o, *byte_);
  ASSERT_FALSE(named.ok());
  EXPECT_NE(named.status().message().find("unknown chat template 'nosuch'"), std::string::npos);
  o.chat_template = "";
  o.train_on = "everything";
  EXPECT_FALSE(TokenDataset::open(o, *byte_).ok());
}

TEST_F(ChatDataTest, PromptCompletionWithoutTemplateTrainsTheCompletionAndItsEnd) {
  const std::string data = put("pc.jsonl", R"({"prompt": "2+2=", "completion": "4"})" "\n"
                                           R"({"instruction": "Name a cat", "output": "Tom"})" "\n"
                                           R"({"text": "free text"})" "\n");
  auto d = TokenDataset::open(options(data), *byte_);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  const auto ids = (*d)->train_tokens();
  // No EOS in the byte tokenizer: each document ends with a newline.
  EXPECT_EQ(byte_->decode(std::vector<int32_t>(ids.begin(), ids.end())), "2+2=4\nName a catTom\nfree text\n");
  EXPECT_EQ(trained(ids, (*d)->train_mask()), "4\nTom\nfree text\n");
  EXPECT_EQ((*d)->train_doc_starts().size(), 3u);
  // With a template they are a user turn and an assistant turn.
  DatasetOptions o = options(data);
  o.chat_template = "llama3";
  auto t = TokenDataset::open(o, *byte_);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(trained((*t)->train_tokens(), (*t)->train_mask()), "4<|eot_id|>Tom<|eot_id|>free text\n");
}

TEST_F(ChatDataTest, SeparateValidationSetAndSplitByWholeExamples) {
  std::string lines;
  for (int i = 0; i < 10; ++i)
    lines += R"({"prompt": "q)" + std::to_string(i) + R"(", "completion": "answer )" + std::to_string(i) + "\"}\n";
  const std::string data = put("train.jsonl", lines);
  auto d = TokenDataset::open(options(data, 0.25), *byte_);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  // Every document is 11 tokens ("qN" + "answer N" + "\n"): the split falls on a document start.
  const size_t n = (*d)->train_tokens().size() + (*d)->val_tokens().size();
  EXPECT_EQ(n, 110u);
  EXPECT_EQ((*d)->val_tokens().size(), 22u);  // floor(110 * 0.25) = 27 from the end, moved to the next start
  EXPECT_EQ(byte_->decode(std::vector<int32_t>((*d)->val_tokens().begin(), (*d)->val_tokens().begin() + 2)), "q8");
  ASSERT_EQ((*d)->val_doc_starts().size(), 2u);
  EXPECT_EQ((*d)->val_doc_starts()[0], 0u);
  EXPECT_EQ((*d)->val_doc_starts()[1], 11u);

  DatasetOptions o = options(data, 0.5);
  o.val_data_path = put("val.jsonl", R"({"prompt": "v", "completion": "w"})" "\n");
  auto sep = TokenDataset::open(o, *byte_);
  ASSERT_TRUE(sep.ok()) << sep.status().to_string();
  EXPECT_EQ((*sep)->train_tokens().size(), 110u);  // the fraction is unused
  EXPECT_EQ(byte_->decode(std::vector<int32_t>((*sep)->val_tokens().begin(), (*sep)->val_tokens().end())), "vw\n");
}

TEST_F(ChatDataTest, CacheKeepsMaskAndDocumentsAndRebuildsAnOldVersion) {
  const std::string data = put("chat.jsonl", std::string(kChatLine) + "\n" + kChatLine + "\n");
  DatasetOptions o = options(data);
  o.chat_template = "chatml";
  auto first = TokenDataset::open(o, *byte_);
  ASSERT_TRUE(first.ok());
  const std::string want = trained((*first)->train_tokens(), (*first)->train_mask());
  const std::string path = (*first)->cache_path();
  first->reset();
  auto again = TokenDataset::open(o, *byte_);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE((*again)->built_cache());
  EXPECT_EQ(trained((*again)->train_tokens(), (*again)->train_mask()), want);
  EXPECT_EQ((*again)->train_doc_starts().size(), 2u);
  EXPECT_TRUE((*again)->examples());
  again->reset();
  // A version-1 header (with a valid header checksum) is stale, never read as version 2.
  auto bytes = common::read_file(path);
  ASSERT_TRUE(bytes.ok());
  std::string b = *bytes;
  b[8] = 1;
  const uint32_t crc = crc32(b.data(), 40);
  for (int i = 0; i < 4; ++i) b[40 + i] = static_cast<char>(crc >> (8 * i));
  ASSERT_TRUE(common::write_file_atomic(path, b).ok());
  auto rebuilt = TokenDataset::open(o, *byte_);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_TRUE((*rebuilt)->built_cache());
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("stale (format version 1)"), std::string::npos) << warnings_[0];
  EXPECT_EQ(trained((*rebuilt)->train_tokens(), (*rebuilt)->train_mask()), want);
}

// --- packing, over a split whose token at offset i is i ---

struct Split3 {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> mask;
  std::vector<uint64_t> starts;
};
// Documents of the given lengths; the first token of each is untrained (a header).
Split3 docs(std::vector<int> lengths) {
  Split3 s;
  for (int len : lengths) {
    s.starts.push_back(s.tokens.size());
    for (int j = 0; j < len; ++j) {
      s.mask.push_back(j == 0 ? 0 : 1);
      s.tokens.push_back(static_cast<int32_t>(s.tokens.size()));
    }
  }
  return s;
}

TEST(Packing, RowsHoldWholeExamplesThatNeverSeeEachOther) {
  const Split3 s = docs({5, 3, 7, 4, 2, 6});
  const int B = 2, T = 8;
  PackingOptions o;
  o.pad_id = 999;
  PackedSampler p(s.tokens, s.mask, s.starts, true, B, T, 11, o);
  EXPECT_EQ(p.stats().examples, 6);
  EXPECT_EQ(p.stats().tokens, 27);
  std::multiset<int32_t> seen;
  for (int64_t draw = 0; draw * B < p.rows(); ++draw) {
    std::vector<int32_t> in(B * T), tg(B * T), pos(B * T);
    p.next(in.data(), tg.data(), pos.data());
    for (int b = 0; b < B && draw * B + b < p.rows(); ++b) {
      for (int t = 0; t < T; ++t) {
        const int i = b * T + t;
        if (pos[i] == 0 || in[i] == 999) continue;  // an example's start, or padding
        // Inside an example: consecutive tokens, and the position counts from its start.
        ASSERT_EQ(in[i], in[i - 1] + 1);
        ASSERT_EQ(pos[i], pos[i - 1] + 1);
      }
      for (int t = 0; t < T; ++t) {
        const int i = b * T + t;
        const bool next_in_doc = t + 1 < T ? pos[i + 1] != 0 : tg[i] >= 0;
        if (tg[i] >= 0) {
          EXPECT_EQ(tg[i], in[i] + 1);
          EXPECT_TRUE(s.mask[tg[i]]);  // only trained tokens are targets
          seen.insert(tg[i]);
        }
        if (!next_in_doc) {
          EXPECT_EQ(tg[i], -1) << "a target across examples";
        }
      }
    }
  }
  // One pass trains every trained token exactly once.
  std::multiset<int32_t> want;
  for (size_t i = 0; i < s.tokens.size(); ++i)
    if (s.mask[i]) want.insert(static_cast<int32_t>(i));
  EXPECT_EQ(seen, want);
}

TEST(Packing, LongExamplesAreTruncatedOrSplitAndCounted) {
  const Split3 s = docs({20, 4});
  const int T = 8;
  PackedSampler cut(s.tokens, s.mask, s.starts, false, 1, T, 1, {});
  EXPECT_EQ(cut.stats().truncated, 1);
  EXPECT_EQ(cut.stats().tokens, 9 + 4);
  PackingOptions split;
  split.long_examples = LongExamples::kSplit;
  PackedSampler chunks(s.tokens, s.mask, s.starts, false, 1, T, 1, split);
  EXPECT_EQ(chunks.stats().split, 1);
  // Chunks of 9 overlapping by one: 0-8, 8-16, 16-19; every target 1..19 once.
  std::set<int32_t> targets;
  for (int64_t r = 0; r < chunks.rows(); ++r) {
    std::vector<int32_t> in(T), tg(T), pos(T);
    chunks.next(in.data(), tg.data(), pos.data());
    for (int t = 0; t < T; ++t)
      if (tg[t] >= 0 && tg[t] < 20) {
        EXPECT_TRUE(targets.insert(tg[t]).second) << tg[t];
      }
  }
  EXPECT_EQ(targets.size(), 19u);
  EXPECT_NE(packing_summary(chunks.stats(), T).find("1 longer than seq_len+1 split into chunks"), std::string::npos);
}

TEST(Packing, NoPackingPadsOneExamplePerRow) {
  const Split3 s = docs({3, 4});
  PackingOptions o;
  o.packing = false;
  o.pad_id = 99;
  PackedSampler p(s.tokens, s.mask, s.starts, false, 2, 6, 1, o);
  ASSERT_EQ(p.rows(), 2);
  std::vector<int32_t> in(12), tg(12), pos(12);
  p.next(in.data(), tg.data(), pos.data());
  EXPECT_EQ(std::vector<int32_t>(in.begin(), in.begin() + 6), (std::vector<int32_t>{0, 1, 2, 99, 99, 99}));
  EXPECT_EQ(std::vector<int32_t>(tg.begin(), tg.begin() + 6), (std::vector<int32_t>{1, 2, -1, -1, -1, -1}));
  EXPECT_EQ(std::vector<int32_t>(pos.begin(), pos.begin() + 6), (std::vector<int32_t>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(std::vector<int32_t>(in.begin() + 6, in.end()), (std::vector<int32_t>{3, 4, 5, 6, 99, 99}));
}

TEST(Packing, SameSeedSameRowsAndSeekRestoresThem) {
  std::vector<int> lens;
  for (int i = 0; i < 40; ++i) lens.push_back(2 + (i * 7) % 9);
  const Split3 s = docs(lens);
  const int B = 3, T = 12;
  PackedSampler a(s.tokens, s.mask, s.starts, true, B, T, 5, {}), c(s.tokens, s.mask, s.starts, true, B, T, 6, {});
  std::vector<std::vector<int32_t>> stream;
  bool differs = false;
  for (int d = 0; d < 25; ++d) {  // several epochs
    std::vector<int32_t> in(B * T), tg(B * T), pos(B * T), in2(B * T);
    a.next(in.data(), tg.data(), pos.data());
    c.next(in2.data(), tg.data(), pos.data());
    differs |= in != in2;
    stream.push_back(in);
  }
  EXPECT_TRUE(differs);
  PackedSampler resumed(s.tokens, s.mask, s.starts, true, B, T, 5, {});
  resumed.seek(17);
  for (int d = 17; d < 25; ++d) {
    std::vector<int32_t> in(B * T), tg(B * T), pos(B * T);
    resumed.next(in.data(), tg.data(), pos.data());
    EXPECT_EQ(in, stream[d]) << d;
  }
}

TEST_F(ChatDataTest, TextWindowsRestartPositionsAtDocumentStarts) {
  const std::string dir = (root_ / "d").string();
  put("d/a.txt", "aaaa\n");
  put("d/b.txt", "bbbbbb\n");
  auto d = TokenDataset::open(options(dir), *byte_);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE((*d)->examples());
  SamplerBatchSource src(**d, Split::kTrain, 1, 11, 3);
  EXPECT_TRUE(src.packed());  // two documents
  std::vector<int32_t> in(11), tg(11), pos(11);
  src.next_packed(in.data(), tg.data(), pos.data());  // the only window: "aaaa\nbbbbbb"
  EXPECT_EQ(pos, (std::vector<int32_t>{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(tg[4], 'b');  // text: the end of a document predicts the next one's start
  EXPECT_EQ(tg[3], '\n');
  EXPECT_EQ(tg[10], '\n');
  // One file: the windows are as before, not packed.
  auto one = TokenDataset::open(options(put("one.txt", "just one document here\n")), *byte_);
  SamplerBatchSource plain(**one, Split::kTrain, 1, 8, 3);
  EXPECT_FALSE(plain.packed());
}

TEST_F(ChatDataTest, ExampleDataIsDrawnAsPackedRows) {
  std::string lines;
  for (int i = 0; i < 6; ++i) lines += std::string(kChatLine) + "\n";
  DatasetOptions o = options(put("chat.jsonl", lines), 0.34);
  o.chat_template = "chatml";
  auto d = TokenDataset::open(o, *byte_);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(SamplerBatchSource::check_fits(**d, Split::kVal, 2, 128).ok());
  SamplerBatchSource val(**d, Split::kVal, 2, 128, 1);
  EXPECT_TRUE(val.packed());
  EXPECT_EQ(val.batches_per_pass(), 1);  // 2 examples of 69 tokens: one row each at T = 128
  std::vector<int32_t> in(256), tg(256), pos(256);
  val.next_packed(in.data(), tg.data(), pos.data());
  std::string row_trained;
  for (int t = 0; t < 128; ++t)
    if (tg[t] >= 0) row_trained += static_cast<char>(tg[t]);
  EXPECT_EQ(row_trained, "Hello!<|im_end|>");
  SamplerBatchSource train(**d, Split::kTrain, 2, 140, 1);
  EXPECT_EQ(train.packing_stats()->rows, 2);  // 4 examples of 69: two to a row of 141
}

}  // namespace
}  // namespace trainer
