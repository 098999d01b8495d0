// Tests for trainer/dataset: sources (file, directory with binaries/symlinks/hidden entries, JSONL),
// the token cache (reuse, stale and corrupt rebuilds with a warning, atomic write, default folder),
// user errors naming the path, and BatchSampler (windows, determinism, seek, validation order).
#include "trainer/data/dataset.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "common/atomic_file.h"
#include "common/log.h"
#include "trainer/data/dataset_cache.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;
using common::StatusCode;

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("ns_ds_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "cache");
    byte_ = std::move(make_tokenizer("byte")).value();
    previous_sink_ = common::set_log_sink([this](common::LogLevel level, const std::string& m) {
      if (level == common::LogLevel::kWarning) warnings_.push_back(m);
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
  DatasetOptions options(const std::string& data, double val = 0.1) {
    DatasetOptions o;
    o.data_path = data;
    o.cache_dir = (root_ / "cache").string();
    o.val_fraction = val;
    return o;
  }
  std::string all_text(const TokenDataset& d) {
    std::vector<int32_t> all(d.train_tokens().begin(), d.train_tokens().end());
    all.insert(all.end(), d.val_tokens().begin(), d.val_tokens().end());
    return byte_->decode(all);
  }
  size_t files_in_cache() const {
    return static_cast<size_t>(std::distance(fs::directory_iterator(root_ / "cache"), fs::directory_iterator()));
  }

  fs::path root_;
  std::unique_ptr<Tokenizer> byte_;
  std::vector<std::string> warnings_;
  common::LogFn previous_sink_;
};

TEST_F(DatasetTest, SingleFileSplitsTheLastTenthForValidation) {
  std::string text;
  for (int i = 0; i < 99; ++i) text += "line " + std::to_string(i % 10) + "\n";  // 693 bytes
  const std::string data = put("corpus.txt", text);
  auto d = TokenDataset::open(options(data), *byte_);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_TRUE((*d)->built_cache());
  EXPECT_EQ((*d)->val_tokens().size(), 69u);  // floor(693 * 0.1)
  EXPECT_EQ((*d)->train_tokens().size(), 693u - 69u);
  EXPECT_EQ(all_text(**d), text);
  EXPECT_EQ(fs::path((*d)->cache_path()).parent_path(), root_ / "cache");

  auto again = TokenDataset::open(options(data), *byte_);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE((*again)->built_cache());
  EXPECT_EQ(all_text(**again), text);
  EXPECT_EQ(files_in_cache(), 1u);  // no temporary left behind
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(DatasetTest, DirectorySkipsBinariesSymlinksAndHiddenEntries) {
  put("d/b/second.txt", "second file\n");
  put("d/a.txt", "first file without newline");
  put("d/z.dat", std::string("\0\0\0\x02index", 9));
  put("d/.git/config", "hidden\n");
  put("d/empty.txt", "");
  fs::create_symlink(root_ / "d/a.txt", root_ / "d/a.u8");
  fs::create_directories(root_ / "elsewhere");
  put("elsewhere/outside.txt", "outside\n");
  fs::create_directory_symlink(root_ / "elsewhere", root_ / "d/linkdir");
  auto d = TokenDataset::open(options((root_ / "d").string(), 0.0), *byte_);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(all_text(**d), "first file without newline\nsecond file\n");
  EXPECT_TRUE((*d)->val_tokens().empty());
}

TEST_F(DatasetTest, FortuneDatabaseYieldsOnlyText) {
  const fs::path fortunes = "/usr/share/games/fortunes";
  if (!fs::is_directory(fortunes)) GTEST_SKIP() << fortunes << " is absent (Debian package fortunes-min)";
  // Expected: the regular, non-symlink files without NUL bytes, in sorted order, newline-terminated.
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fortunes))
    if (!e.is_symlink() && e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string expected;
  size_t binaries = 0;
  for (const fs::path& f : files) {
    std::string s = *common::read_file(f.string());
    if (s.find('\0') != std::string::npos) {
      ++binaries;
      continue;
    }
    expected += s;
    if (!s.empty() && s.back() != '\n') expected += '\n';
  }
  ASSERT_GT(binaries, 0u) << "expected the .dat index files";
  auto d = TokenDataset::open(options(fortunes.string()), *byte_);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  const std::string text = all_text(**d);
  EXPECT_EQ(text.size(), expected.size());
  EXPECT_TRUE(text == expected);
  EXPECT_EQ(text.find('\0'), std::string::npos);
}

TEST_F(DatasetTest, CacheFolderInsideTheDataIsNotData) {
  put("data/text.txt", "some text\n");
  DatasetOptions o = options((root_ / "data").string());
  o.cache_dir = (root_ / "data" / "cache").string();
  auto d = TokenDataset::open(o, *byte_);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_TRUE((*d)->built_cache());
  d = TokenDataset::open(o, *byte_);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_FALSE((*d)->built_cache());  // the cache file itself did not make the cache stale
  EXPECT_EQ(all_text(**d), "some text\n");
}

TEST_F(DatasetTest, JsonlTextFields) {
  const std::string data = put("docs.jsonl",
                               "{\"text\": \"alpha\"}\n\n{\"id\": 2, \"text\": \"beta\\n\"}\r\n{\"text\": \"\"}\n"
                               "{\"text\": \"\\u00e9t\\u00e9\"}");
  auto d = TokenDataset::open(options(data, 0.0), *byte_);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(all_text(**d), "alpha\nbeta\n\xc3\xa9t\xc3\xa9\n");
}

TEST_F(DatasetTest, BadJsonlLineIsNamed) {
  const std::string bad_json = put("bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"ok\"}\n{\"text\": oops}\n");
  auto d = TokenDataset::open(options(bad_json), *byte_);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find(bad_json + ":3: not valid JSON"), std::string::npos) << d.status().message();

  const std::string no_text = put("notext.jsonl", "{\"text\": \"ok\"}\n{\"body\": \"x\"}\n");
  d = TokenDataset::open(options(no_text), *byte_);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find(no_text + ":2: an object with fields {body} fits no data format"),
            std::string::npos)
      << d.status().message();
  EXPECT_EQ(files_in_cache(), 0u);  // nothing half-written
}

TEST_F(DatasetTest, MissingOrEmptyDataIsAnErrorNamingThePath) {
  const std::string missing = (root_ / "nope.txt").string();
  auto d = TokenDataset::open(options(missing), *byte_);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kNotFound);
  EXPECT_NE(d.status().message().find(missing), std::string::npos);

  const std::string empty = put("empty.txt", "");
  d = TokenDataset::open(options(empty), *byte_);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find(empty + ": no text to train on"), std::string::npos) << d.status().message();

  put("bin/x.dat", std::string("\0\1", 2));
  d = TokenDataset::open(options((root_ / "bin").string()), *byte_);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("1 of them binary"), std::string::npos) << d.status().message();

  d = TokenDataset::open(options(put("ok.txt", "text\n"), 1.0), *byte_);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(DatasetTest, StaleCacheIsRebuiltWithAWarning) {
  const std::string data = put("c.txt", "one\n");
  ASSERT_TRUE(TokenDataset::open(options(data), *byte_).ok());
  put("c.txt", "two!\n");  // new size and mtime
  auto d = TokenDataset::open(options(data), *byte_);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE((*d)->built_cache());
  EXPECT_EQ(all_text(**d), "two!\n");
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("stale"), std::string::npos) << warnings_[0];

  // Same size, only the mtime differs: still rebuilt.
  put("c.txt", "six!\n");
  fs::last_write_time(data, fs::last_write_time(data) + std::chrono::seconds(5));
  d = TokenDataset::open(options(data), *byte_);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE((*d)->built_cache());
  EXPECT_EQ(all_text(**d), "six!\n");
}

TEST_F(DatasetTest, CorruptCacheIsRebuiltWithAWarning) {
  const std::string data = put("c.txt", std::string(1000, 'x') + "\n");
  auto first = TokenDataset::open(options(data), *byte_);
  ASSERT_TRUE(first.ok());
  const std::string cache = (*first)->cache_path();
  first = common::Status::Internal("release the mapping");
  std::string blob = *common::read_file(cache);

  const std::vector<std::pair<std::string, std::string>> damages = {
      {"token checksum", [&] { std::string b = blob; b[b.size() - 100] ^= 1; return b; }()},
      {"truncated", blob.substr(0, blob.size() - 4)},
      {"header checksum", [&] { std::string b = blob; b[20] ^= 1; return b; }()},
      {"bad magic", "garbage that is longer than sixty-four bytes, so only the magic is wrong ......"},
      {"truncated header", "NSTOK"},
  };
  for (const auto& [what, bytes] : damages) {
    warnings_.clear();
    ASSERT_TRUE(common::write_file_atomic(cache, bytes).ok());
    auto d = TokenDataset::open(options(data), *byte_);
    ASSERT_TRUE(d.ok()) << what;
    EXPECT_TRUE((*d)->built_cache()) << what;
    EXPECT_EQ(all_text(**d), std::string(1000, 'x') + "\n") << what;
    ASSERT_EQ(warnings_.size(), 1u) << what;
    EXPECT_NE(warnings_[0].find("corrupt"), std::string::npos) << warnings_[0];
    EXPECT_NE(warnings_[0].find(what), std::string::npos) << warnings_[0];
  }
}

TEST_F(DatasetTest, DefaultCacheFolder) {
  const std::string data = put("w/data.txt", "x\n");
  // The user's cache directory, never beside the data (a shared or read-only data folder).
  EXPECT_EQ(default_cache_dir(data, "/xdg", "/home/u"), "/xdg/nightshift");
  EXPECT_EQ(default_cache_dir((root_ / "w").string() + "/", nullptr, "/home/u"), "/home/u/.cache/nightshift");
  EXPECT_EQ(default_cache_dir("/usr/share/games/fortunes", "/xdg", "/home/u"), "/xdg/nightshift");
  EXPECT_EQ(default_cache_dir("/usr/share/games/fortunes", nullptr, "/home/u"), "/home/u/.cache/nightshift");
  EXPECT_EQ(default_cache_dir("/usr/share/games/fortunes", "relative", "/home/u"), "/home/u/.cache/nightshift");
  // The cache name depends on the data path and the tokenizer.
  EXPECT_NE(cache_file_name(data, "byte"), cache_file_name(data, "gpt2-v1-00000000"));
  EXPECT_EQ(cache_file_name(data, "byte").rfind("data.txt.", 0), 0u);
}

// --- BatchSampler, over a dataset whose token at position i is i ---

class CountingDataset final : public TokenDataset {
 public:
  CountingDataset(size_t train, size_t val) : tokens_(train + val) {
    std::iota(tokens_.begin(), tokens_.end(), 0);
    train_ = std::span<const int32_t>(tokens_).first(train);
    val_ = std::span<const int32_t>(tokens_).last(val);
  }
  std::span<const int32_t> train_tokens() const override { return train_; }
  std::span<const int32_t> val_tokens() const override { return val_; }
  const std::string& cache_path() const override { return path_; }

 private:
  std::vector<int32_t> tokens_;
  std::span<const int32_t> train_, val_;
  std::string path_ = "counting";
};

std::vector<int32_t> draw(BatchSampler& s, int B, int T, std::vector<int32_t>* targets = nullptr) {
  std::vector<int32_t> in(B * T), tg(B * T);
  s.next(in.data(), tg.data());
  if (targets) *targets = tg;
  return in;
}

TEST(BatchSamplerTest, TrainWindowsAreContiguousAndInRange) {
  const int B = 4, T = 16;
  CountingDataset data(1000, 100);
  BatchSampler s(data, Split::kTrain, B, T, 42);
  int32_t lowest = INT32_MAX, highest = 0;
  for (int d = 0; d < 500; ++d) {
    std::vector<int32_t> tg;
    std::vector<int32_t> in = draw(s, B, T, &tg);
    for (int b = 0; b < B; ++b) {
      const int32_t start = in[b * T];
      EXPECT_EQ(static_cast<uint64_t>(start), s.window_start(d, b));
      for (int t = 0; t < T; ++t) {
        ASSERT_EQ(in[b * T + t], start + t);
        ASSERT_EQ(tg[b * T + t], start + t + 1);
      }
      ASSERT_LE(start + T, 999);  // the target of the last position is still a training token
      lowest = std::min(lowest, start);
      highest = std::max(highest, start);
    }
  }
  EXPECT_LT(lowest, 20);           // 2,000 draws over 984 starts reach both ends
  EXPECT_GT(highest, 1000 - T - 21);
  EXPECT_EQ(s.position(), 500u);
}

TEST(BatchSamplerTest, SameSeedSameStreamAndSeekRestoresIt) {
  const int B = 3, T = 8;
  CountingDataset data(5000, 500);
  BatchSampler a(data, Split::kTrain, B, T, 7), b(data, Split::kTrain, B, T, 7), c(data, Split::kTrain, B, T, 8);
  std::vector<std::vector<int32_t>> stream;
  bool differs = false;
  for (int d = 0; d < 30; ++d) {
    stream.push_back(draw(a, B, T));
    EXPECT_EQ(draw(b, B, T), stream.back());
    differs |= draw(c, B, T) != stream.back();
  }
  EXPECT_TRUE(differs);
  BatchSampler resumed(data, Split::kTrain, B, T, 7);
  resumed.seek(17);
  EXPECT_EQ(resumed.position(), 17u);
  for (int d = 17; d < 30; ++d) EXPECT_EQ(draw(resumed, B, T), stream[d]) << d;
  resumed.reset();
  EXPECT_EQ(draw(resumed, B, T), stream[0]);
}

TEST(BatchSamplerTest, ValidationIsConsecutiveAndCoversTheSplitOnce) {
  const int B = 2, T = 10;
  CountingDataset data(1000, 95);  // 9 windows of T+1 tokens stepping by T
  BatchSampler s(data, Split::kVal, B, T, 1);
  EXPECT_EQ(s.val_batches(), 4);
  std::set<int32_t> starts;
  for (int64_t d = 0; d < s.val_batches(); ++d) {
    std::vector<int32_t> tg;
    std::vector<int32_t> in = draw(s, B, T, &tg);
    for (int b = 0; b < B; ++b) {
      EXPECT_EQ(in[b * T], 1000 + (d * B + b) * T);
      EXPECT_EQ(tg[b * T + T - 1], in[b * T] + T);
      starts.insert(in[b * T]);
    }
  }
  EXPECT_EQ(starts.size(), 8u);
  // Past the end it wraps around: window 9 mod 9 = 0.
  s.seek(4);
  std::vector<int32_t> in = draw(s, B, T);
  EXPECT_EQ(in[0], 1000 + 8 * T);
  EXPECT_EQ(in[T], 1000);
  // Fewer windows than the batch: still one batch.
  BatchSampler small(data, Split::kVal, 64, T, 1);
  EXPECT_EQ(small.val_batches(), 1);
}

TEST(BatchSamplerTest, CheckFitsExplainsASplitTooShort) {
  CountingDataset data(100, 8);
  EXPECT_TRUE(BatchSampler::check_fits(data, Split::kTrain, 4, 99).ok());
  common::Status s = BatchSampler::check_fits(data, Split::kTrain, 4, 100);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("holds 100 tokens, fewer than seq_len+1 = 101"), std::string::npos) << s.message();
  s = BatchSampler::check_fits(data, Split::kVal, 4, 8);
  EXPECT_NE(s.message().find("validation split holds 8 tokens"), std::string::npos) << s.message();
  EXPECT_FALSE(BatchSampler::check_fits(data, Split::kTrain, 0, 4).ok());
}

}  // namespace
}  // namespace trainer
