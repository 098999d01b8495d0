// MemoryWatch against a fake /proc/meminfo (and a fake PSI file): it shrinks the micro-batch
// keeping the effective batch, pauses at micro-batch 1, resumes and restores with margins; and
// once against this machine with a real child process that allocates memory.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "app/governors/memory_watch.h"
#include "common/units.h"

namespace app {
namespace {

using common::kGiB;
using common::kMiB;

class FakeMeminfo : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir();
    config_.meminfo_path = dir_ + "/meminfo_" + std::to_string(::getpid());
    config_.pressure_path = dir_ + "/psi_" + std::to_string(::getpid());
    config_.low_water_bytes = kGiB;
    config_.resume_margin_bytes = 256 * kMiB;
    config_.restore_after_polls = 2;
    std::remove(config_.pressure_path.c_str());
  }
  void TearDown() override {
    std::remove(config_.meminfo_path.c_str());
    std::remove(config_.pressure_path.c_str());
  }
  void set_available(uint64_t bytes) {
    std::ofstream out(config_.meminfo_path);
    out << "MemTotal:       " << (16 * kGiB) / 1024 << " kB\n"
        << "MemFree:        " << bytes / 2048 << " kB\n"
        << "MemAvailable:   " << bytes / 1024 << " kB\n";
  }
  void set_pressure(double some10, double full10) {
    std::ofstream out(config_.pressure_path);
    out << "some avg10=" << some10 << " avg60=0.00 avg300=0.00 total=1\n"
        << "full avg10=" << full10 << " avg60=0.00 avg300=0.00 total=1\n";
  }
  MemoryDecision poll(MemoryWatch& w) {
    common::Result<MemoryDecision> d = w.poll();
    EXPECT_TRUE(d.ok()) << d.status().message();
    return d.ok() ? *d : MemoryDecision{};
  }
  std::string dir_;
  MemoryWatchConfig config_;
};

TEST_F(FakeMeminfo, PlentyOfMemoryChangesNothing) {
  MemoryWatch w(config_, {8, 2}, 200 * kMiB);
  set_available(8 * kGiB);
  MemoryDecision d = poll(w);
  EXPECT_EQ(d.action, MemoryAction::kContinue);
  EXPECT_FALSE(d.changed());
  EXPECT_EQ(d.shape.micro_batch, 8);
  EXPECT_EQ(d.available_bytes, 8 * kGiB);
  EXPECT_FALSE(d.pressure.has_value());  // no PSI file: ignored
}

TEST_F(FakeMeminfo, LowMemoryShrinksTheMicroBatchKeepingTheEffectiveBatch) {
  MemoryWatch w(config_, {8, 2}, 200 * kMiB);  // effective batch 16
  set_available(700 * kMiB);                   // 324 MiB below low water (+128 MiB margin)
  MemoryDecision d = poll(w);
  EXPECT_EQ(d.action, MemoryAction::kShrinkMicroBatch);
  EXPECT_TRUE(d.changed());
  // Frees at least 452 MiB at 200 MiB per sequence: 3 sequences, and 8 -> 4 is the largest
  // divisor of 16 below 8 that does.
  EXPECT_EQ(d.shape.micro_batch, 4);
  EXPECT_EQ(d.shape.accumulation_steps, 4);
  EXPECT_EQ(d.shape.effective(), 16);
  EXPECT_NE(d.reason.find("same effective batch 16"), std::string::npos) << d.reason;
  // Still low: shrink again, down to 1; then pause.
  d = poll(w);
  EXPECT_EQ(d.action, MemoryAction::kShrinkMicroBatch);
  EXPECT_LT(d.shape.micro_batch, 4);
  EXPECT_EQ(d.shape.effective(), 16);
  while (w.shape().micro_batch > 1) poll(w);
  d = poll(w);
  EXPECT_EQ(d.action, MemoryAction::kPause);
  EXPECT_TRUE(w.paused());
  d = poll(w);
  EXPECT_EQ(d.action, MemoryAction::kContinue);  // still paused, nothing new
  EXPECT_TRUE(w.paused());
}

TEST_F(FakeMeminfo, PauseEndsOnlyWithAMargin) {
  MemoryWatch w(config_, {1, 8}, 100 * kMiB);
  set_available(900 * kMiB);
  EXPECT_EQ(poll(w).action, MemoryAction::kPause);
  set_available(kGiB + 100 * kMiB);  // above low water, below low water + margin
  EXPECT_EQ(poll(w).action, MemoryAction::kContinue);
  EXPECT_TRUE(w.paused());
  set_available(2 * kGiB);
  MemoryDecision d = poll(w);
  EXPECT_EQ(d.action, MemoryAction::kResume);
  EXPECT_FALSE(w.paused());
  EXPECT_EQ(d.shape.micro_batch, 1);
  EXPECT_EQ(d.shape.accumulation_steps, 8);
}

TEST_F(FakeMeminfo, RestoresThePlannedMicroBatchAfterAHealthyStreak) {
  MemoryWatch w(config_, {4, 1}, 200 * kMiB);
  set_available(900 * kMiB);
  MemoryDecision d = poll(w);
  ASSERT_EQ(d.action, MemoryAction::kShrinkMicroBatch);
  const int shrunk = d.shape.micro_batch;
  ASSERT_LT(shrunk, 4);
  set_available(4 * kGiB);
  EXPECT_EQ(poll(w).action, MemoryAction::kContinue);  // healthy poll 1 of 2
  d = poll(w);
  EXPECT_EQ(d.action, MemoryAction::kRestoreMicroBatch);
  EXPECT_EQ(d.shape.micro_batch, 4);
  EXPECT_EQ(d.shape.accumulation_steps, 1);
}

TEST_F(FakeMeminfo, PressureStallsActEvenWithMemoryAvailable) {
  MemoryWatch w(config_, {4, 1}, 100 * kMiB);
  set_available(8 * kGiB);
  set_pressure(35.0, 1.0);
  MemoryDecision d = poll(w);
  ASSERT_TRUE(d.pressure.has_value());
  EXPECT_DOUBLE_EQ(d.pressure->some_avg10, 35.0);
  EXPECT_EQ(d.action, MemoryAction::kShrinkMicroBatch);
  EXPECT_EQ(d.shape.micro_batch, 2);
  EXPECT_NE(d.reason.find("pressure"), std::string::npos);
  set_pressure(0.5, 0.0);
  EXPECT_EQ(poll(w).action, MemoryAction::kContinue);
}

TEST_F(FakeMeminfo, UnreadableMeminfoIsAnError) {
  MemoryWatch w(config_, {2, 1}, kMiB);
  std::remove(config_.meminfo_path.c_str());
  EXPECT_FALSE(w.poll().ok());
}

TEST(RealMemory, ASecondProcessAllocatingTriggersTheWatcher) {
  profiles::MemInfo before = *profiles::read_meminfo();
  const uint64_t grab = 6 * kGiB;  // margins of 3 GiB absorb other processes' churn (tests run in parallel)
  if (before.available_bytes < 2 * grab) GTEST_SKIP() << "not enough free memory on this machine for the test";
  MemoryWatchConfig config;
  config.low_water_bytes = before.available_bytes - grab / 2;  // act once the child holds its memory
  config.resume_margin_bytes = 128 * kMiB;
  config.pressure_some_avg10 = 1000;  // only MemAvailable matters here
  config.pressure_full_avg10 = 1000;
  MemoryWatch w(config, {1, 4}, 100 * kMiB);

  int to_parent[2], to_child[2];
  ASSERT_EQ(pipe(to_parent), 0);
  ASSERT_EQ(pipe(to_child), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the child: allocate and touch, report, wait to be told to exit
    // In huge pages where the kernel allows (madvise mode): touching 6 GiB of fresh memory in 4 KiB
    // pages takes tens of seconds on a new virtual machine.
    void* m = mmap(nullptr, grab, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char* p = m == MAP_FAILED ? nullptr : static_cast<char*>(m);
    if (p) {
      (void)madvise(p, grab, MADV_HUGEPAGE);
      std::memset(p, 1, grab);
    }
    char c = p ? 'y' : 'n';
    (void)!write(to_parent[1], &c, 1);
    (void)!read(to_child[0], &c, 1);
    _exit(p ? 0 : 1);
  }
  char c = 0;
  ASSERT_EQ(read(to_parent[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  common::Result<MemoryDecision> d = w.poll();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->action, MemoryAction::kPause) << d->reason;
  (void)!write(to_child[1], "x", 1);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  d = w.poll();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->action, MemoryAction::kResume) << d->reason;
}

}  // namespace
}  // namespace app
