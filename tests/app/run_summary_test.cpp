// Tests for app/run_summary: a run log written through RunLog with known steps, samples and events
// must summarise to the figures computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "app/runlog/run_log.h"
#include "app/runlog/run_summary.h"
#include "common/clock.h"

namespace {

TEST(RunSummary, ComputesTheNightFromTheLog) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("ns_summary_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  common::FakeClock clock(0, 1000.0);
  {
    auto log = app::RunLog::open(dir.string(), {}, &clock);
    ASSERT_TRUE(log.ok()) << log.status().to_string();
    app::RunStart start;
    start.name = "night";
    start.model = "gpt-tiny";
    start.total_steps = 4;
    start.temp_warn_c = 75;
    start.temp_hot_c = 85;
    start.temp_crit_c = 95;
    ASSERT_TRUE((*log)->begin_run(start).ok());
    // Four steps of 1000 tokens at 1000 tokens/s (1 s of compute each), 10 s apart.
    const double temps[] = {70, 80, 90, 72};
    const int ranks[] = {16, 8, 8, 16};
    for (int i = 0; i < 4; ++i) {
      app::StepRecord r;
      r.step = i + 1;
      r.time_s = 1000.0 + 10.0 * (i + 1);
      r.loss = 3.0 - 0.5 * i;
      r.val_loss = (i == 1) ? 2.5 : (i == 3 ? 2.1 : app::kNullReal);
      r.tokens_per_s = 1000;
      r.tokens = 1000ull * (i + 1);
      r.temp_c = temps[i];
      r.lora_rank = ranks[i];
      r.threads = (i == 2) ? 1 : 2;
      (*log)->append_step(r);
    }
    (*log)->append_event("pause", "85 C: pause 500 ms per step");
    (*log)->append_event("warning", "run log write failed once");
    app::CheckpointRecord ck;
    ck.step = 4;
    ck.path = "checkpoints/step-4";
    (*log)->record_checkpoint(ck);
    clock.advance_s(50);  // finished at wall 1050
    ASSERT_TRUE((*log)->finish_run(app::RunStatus::kFinished).ok());
  }
  auto reader = app::RunLogReader::open(dir.string());
  ASSERT_TRUE(reader.ok());
  auto s = app::summarize_run(**reader);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->last_step, 4);
  EXPECT_EQ(s->tokens, 4000u);
  EXPECT_NEAR(s->elapsed_s, 50, 1e-6);
  EXPECT_NEAR(s->training_s, 4, 1e-6);
  EXPECT_NEAR(s->paused_s, 46, 1e-6);
  EXPECT_EQ(s->pause_reasons["pause"], 1);
  EXPECT_DOUBLE_EQ(s->temp_min_c, 70);
  EXPECT_DOUBLE_EQ(s->temp_max_c, 90);
  // Each reading holds for 10 s until the next: 80 (>75) and 90 (>75, >85).
  EXPECT_NEAR(s->seconds_above_warn, 20, 1e-6);
  EXPECT_NEAR(s->seconds_above_hot, 10, 1e-6);
  EXPECT_NEAR(s->seconds_above_crit, 0, 1e-6);
  EXPECT_EQ(s->rank_changes, 2);
  EXPECT_EQ(s->thread_changes, 2);
  EXPECT_DOUBLE_EQ(s->best_val_loss, 2.1);
  EXPECT_EQ(s->best_val_step, 4);
  ASSERT_EQ(s->checkpoints.size(), 1u);
  ASSERT_EQ(s->problems.size(), 1u);
  std::string text = app::render_summary_text(*s);
  EXPECT_NE(text.find("2.1000 at step 4"), std::string::npos) << text;
  EXPECT_NE(text.find("pause x1"), std::string::npos) << text;
  std::string json = app::render_summary_json(*s);
  EXPECT_NE(json.find("\"tokens\": 4000"), std::string::npos) << json;
  fs::remove_all(dir);
}

// A run trained by two processes: the first logs steps 1-6 (tokens 100 per step) and a checkpoint
// at step 4 and dies; 100 s later a second process resumes from step 4 with a raised step count.
// Logs of older versions restarted the tokens column in the second process; the sensor returned
// -273 °C once (a rejected reading stored as a temperature by older versions) and a fault event.
TEST(RunSummary, CountsEveryProcessOfAResumedRun) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("ns_summary_resume_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  common::FakeClock clock(0, 1000.0);
  {
    auto log = app::RunLog::open(dir.string(), {}, &clock);
    ASSERT_TRUE(log.ok()) << log.status().to_string();
    app::RunStart start;
    start.name = "resumed";
    start.total_steps = 6;
    ASSERT_TRUE((*log)->begin_run(start).ok());
    auto step = [&](int64_t n, uint64_t tokens, double temp) {
      app::StepRecord r;
      r.step = n;
      r.time_s = clock.wall_s();
      r.loss = 2.0;
      r.tokens_per_s = 100;  // 1 s of compute per step
      r.tokens = tokens;
      r.temp_c = temp;
      (*log)->append_step(r);
    };
    for (int64_t n = 1; n <= 6; ++n) {
      clock.advance_s(1);
      step(n, 100 * n, n == 3 ? -273.0 : 50.0);
      if (n == 4) {
        clock.advance_s(2);  // writing the checkpoint takes 2 s
        (*log)->record_checkpoint({4, "checkpoints/step-4", 0, ""});
      }
    }
    (*log)->append_event("thermal_sensor_fault", "sensor: implausible reading -273.0 °C");
    ASSERT_TRUE((*log)->flush().ok());
    clock.advance_s(100);  // nobody runs
    ASSERT_TRUE((*log)->continue_run((*log)->run_id()).ok());
    (*log)->append_event("resume", "resumed by a new process");
    for (int64_t n = 5; n <= 8; ++n) {
      clock.advance_s(1);
      step(n, 100 * (n - 4), 51.0);  // the old writer's counter: from 0 again
    }
    ASSERT_TRUE((*log)->finish_run(app::RunStatus::kFinished).ok());
  }
  auto reader = app::RunLogReader::open(dir.string());
  ASSERT_TRUE(reader.ok());
  auto s = app::summarize_run(**reader);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->last_step, 8);
  EXPECT_EQ(s->tokens, 800u) << "tokens of the first process up to the checkpoint plus the second's";
  EXPECT_DOUBLE_EQ(s->temp_min_c, 50) << "a rejected reading counted as a temperature";
  ASSERT_FALSE(s->problems.empty()) << "the sensor fault is not listed";
  EXPECT_EQ(s->problems[0].kind, "thermal_sensor_fault");
  std::string text = app::render_summary_text(*s);
  EXPECT_NE(text.find("8 (planned 6)"), std::string::npos) << text;
  EXPECT_NE(text.find("checkpoint I/O"), std::string::npos) << text;
  EXPECT_NE(text.find("downtime"), std::string::npos) << text;
  EXPECT_NE(text.find("1 restart"), std::string::npos) << text;
  std::string json = app::render_summary_json(*s);
  EXPECT_NE(json.find("\"downtime_s\": 100"), std::string::npos) << json;
  EXPECT_NE(json.find("\"checkpoint_s\": 2"), std::string::npos) << json;
  fs::remove_all(dir);
}

TEST(RunSummary, MissingRunDirIsAnError) {
  auto reader = app::RunLogReader::open("/nonexistent/run");
  EXPECT_FALSE(reader.ok());
}

}  // namespace
