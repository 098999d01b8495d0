// Concurrency of the run log: a reader holding a snapshot never blocks the writer and sees a
// consistent state; a writer thread and a reader thread running together never see a torn batch.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "app/runlog/run_log.h"

namespace {

namespace fs = std::filesystem;

class RunLogConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("ns_run_log_conc_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
             "_" + std::to_string(::getpid())))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static app::StepRecord step(int64_t i) {
    app::StepRecord s;
    s.step = i;
    s.loss = 1.0 / (1 + i);
    s.tokens = static_cast<uint64_t>(i) * 64;
    s.governor = "normal";
    return s;
  }
  std::string dir_;
};

TEST_F(RunLogConcurrencyTest, ReaderSnapshotDoesNotBlockWriter) {
  app::RunLogOptions options;
  options.busy_timeout_ms = 0;  // any lock conflict would fail the flush at once
  auto log = app::RunLog::open(dir_, options);
  ASSERT_TRUE(log.ok()) << log.status().message();
  auto id = (*log)->begin_run({});
  for (int i = 0; i < 10; ++i) (*log)->append_step(step(i));
  ASSERT_TRUE((*log)->flush().ok());

  auto reader = app::RunLogReader::open(dir_);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE((*reader)->begin_snapshot().ok());
  EXPECT_EQ((*reader)->steps(*id)->size(), 10u);
  for (int batch = 0; batch < 20; ++batch) {
    for (int i = 0; i < 10; ++i) (*log)->append_step(step(10 + batch * 10 + i));
    ASSERT_TRUE((*log)->flush().ok()) << "batch " << batch;
    (*log)->append_event("eval", "batch " + std::to_string(batch));
  }
  EXPECT_EQ((*log)->stats().failed_flushes, 0u);
  // Still inside the snapshot: the reader sees the state when it began.
  EXPECT_EQ((*reader)->steps(*id)->size(), 10u);
  EXPECT_TRUE((*reader)->events(*id)->empty());
  (*reader)->end_snapshot();
  EXPECT_EQ((*reader)->steps(*id)->size(), 210u);
  EXPECT_EQ((*reader)->events(*id)->size(), 20u);
}

TEST_F(RunLogConcurrencyTest, WriterAndReaderThreadsSeeWholeBatches) {
  constexpr int kBatch = 50;
  constexpr int kSteps = 4000;
  app::RunLogOptions options;
  options.flush_every_steps = kBatch;
  options.flush_interval_s = 1e9;  // only full batches are written
  auto log = app::RunLog::open(dir_, options);
  ASSERT_TRUE(log.ok());
  auto id = (*log)->begin_run({});
  ASSERT_TRUE((*log)->flush().ok());

  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::string reader_error;
  std::thread reader_thread([&] {
    auto reader = app::RunLogReader::open(dir_);
    if (!reader.ok()) {
      reader_error = reader.status().message();
      return;
    }
    size_t last = 0;
    while (!done.load() || reads.load() < 3) {
      if (!(*reader)->begin_snapshot().ok()) { reader_error = "snapshot failed"; return; }
      auto steps = (*reader)->steps(*id);
      auto events = (*reader)->events(*id);
      (*reader)->end_snapshot();
      if (!steps.ok() || !events.ok()) { reader_error = "read failed"; return; }
      size_t n = steps->size();
      // Whole batches only, never fewer rows than before, steps contiguous from 0, and no event
      // visible before the step it follows.
      if (n % kBatch != 0) { reader_error = "torn batch: " + std::to_string(n); return; }
      if (n < last) { reader_error = "went backwards"; return; }
      for (size_t i = 0; i < n; ++i) {
        if ((*steps)[i].record.step != static_cast<int64_t>(i)) { reader_error = "gap"; return; }
      }
      for (const app::EventRow& e : *events) {
        if (std::stoul(e.detail) >= n) { reader_error = "event before its step: " + e.detail; return; }
      }
      last = n;
      reads.fetch_add(1);
    }
  });
  for (int i = 0; i < kSteps; ++i) {
    (*log)->append_step(step(i));
    // A batch has just been written when i+1 is a multiple of kBatch; an event follows every
    // tenth batch (events flush at once, with the steps buffered so far: none at that point).
    if ((i + 1) % (kBatch * 10) == 0) (*log)->append_event("eval", std::to_string(i));
  }
  done.store(true);
  reader_thread.join();
  EXPECT_EQ(reader_error, "");
  EXPECT_EQ((*log)->stats().failed_flushes, 0u);
  EXPECT_EQ((*log)->stats().steps_written, static_cast<uint64_t>(kSteps));
  EXPECT_GE(reads.load(), 3);
}

}  // namespace
