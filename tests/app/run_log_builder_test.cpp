// Tests for the dashboard snapshot built from a run log (incremental reads, rewinds after a
// resume, ETA, staleness, pause-time samples) and for the control round trip through the demo
// writer: a pause asked by a reader pauses the writer, which records it, and stop ends the run
// with a checkpoint.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "app/loop/dashboard_model_builder.h"
#include "app/runlog/run_log.h"
#include "app/runlog/run_log_demo.h"

namespace {

namespace fs = std::filesystem;

class BuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("ns_builder_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
             std::to_string(::getpid())))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto log = app::RunLog::open(dir_, {}, &clock_);
    ASSERT_TRUE(log.ok()) << log.status().message();
    log_ = std::move(log).value();
  }
  void TearDown() override {
    log_.reset();
    fs::remove_all(dir_);
  }
  std::unique_ptr<app::RunLogReader> reader() {
    auto r = app::RunLogReader::open(dir_);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return std::move(r).value();
  }
  void steps(int from, int to, double loss_offset = 0) {
    for (int i = from; i < to; ++i) {
      app::StepRecord s;
      s.step = i;
      s.time_s = clock_.wall_s();
      s.loss = 5.0 - 0.01 * i + loss_offset;
      s.val_loss = i % 10 == 0 ? 5.5 - 0.01 * i : app::kNullReal;
      s.temp_c = 60 + 0.1 * i;
      s.tokens_per_s = 1000;
      s.lora_rank = i < 50 ? 16 : 8;
      s.threads = 2;
      s.tokens = static_cast<uint64_t>(i) * 100;
      s.rss_bytes = 100 << 20;
      s.planned_bytes = 120 << 20;
      s.governor = i < 50 ? "normal" : "throttle";
      log_->append_step(s);
      clock_.advance_s(1.0);  // one step per second
    }
    ASSERT_TRUE(log_->flush().ok());
  }

  std::string dir_;
  common::FakeClock clock_{0.0, 1.7e9};
  std::unique_ptr<app::RunLog> log_;
};

TEST_F(BuilderTest, SnapshotFollowsTheLogIncrementally) {
  app::RunStart start;
  start.name = "builder";
  start.total_steps = 200;
  start.budget_bytes = 1ull << 30;
  start.temp_warn_c = 75;
  ASSERT_TRUE(log_->begin_run(start).ok());
  steps(0, 100);
  log_->append_event("governor", "throttle: rank 16->8");
  auto r = reader();
  app::DashboardModelBuilder builder(*r);
  auto m = builder.refresh(clock_.wall_s());
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->run_name, "builder");
  EXPECT_EQ(m->step, 99);
  EXPECT_EQ(m->total_steps, 200);
  EXPECT_DOUBLE_EQ(m->loss, 5.0 - 0.99);
  EXPECT_DOUBLE_EQ(m->val_loss, 5.5 - 0.90);  // the most recent evaluation
  EXPECT_EQ(m->loss_steps.size(), 100u);
  EXPECT_EQ(m->val_steps.size(), 10u);
  EXPECT_EQ(m->lora_rank, 8);
  EXPECT_EQ(m->governor_state, "throttle");
  ASSERT_EQ(m->governor_decisions.size(), 1u);
  EXPECT_EQ(m->budget_bytes, 1ull << 30);
  EXPECT_DOUBLE_EQ(m->temp_warn_c, 75);
  EXPECT_NEAR(m->eta_s, 100.0, 1.0);  // 100 steps left at one per second
  EXPECT_TRUE(m->live);
  EXPECT_FALSE(m->paused);

  steps(100, 150);
  m = builder.refresh(clock_.wall_s());
  EXPECT_EQ(m->step, 149);
  EXPECT_EQ(m->loss_steps.size(), 150u);  // old rows kept, only new ones read
  EXPECT_EQ(m->tokens, 149u * 100);
}

TEST_F(BuilderTest, RewrittenStepsRewindTheSeries) {
  ASSERT_TRUE(log_->begin_run({}).ok());
  steps(0, 60);
  auto r = reader();
  app::DashboardModelBuilder builder(*r);
  ASSERT_TRUE(builder.refresh(clock_.wall_s()).ok());
  steps(40, 45, /*loss_offset=*/10.0);  // resumed from a checkpoint at step 40
  auto m = builder.refresh(clock_.wall_s());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->step, 44);
  ASSERT_EQ(m->loss_steps.size(), 45u);
  EXPECT_DOUBLE_EQ(m->loss_values.back(), 5.0 - 0.44 + 10.0);
}

TEST_F(BuilderTest, PausedSamplesStalenessAndFinish) {
  app::RunStart start;
  start.total_steps = 100;
  ASSERT_TRUE(log_->begin_run(start).ok());
  steps(0, 10);
  log_->set_status(app::RunStatus::kPaused);
  clock_.advance_s(2);
  log_->append_sample(55.5, 90 << 20);
  ASSERT_TRUE(log_->flush().ok());
  auto r = reader();
  app::DashboardModelBuilder builder(*r);
  auto m = builder.refresh(clock_.wall_s());
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->paused);
  EXPECT_DOUBLE_EQ(m->temp_c, 55.5);  // the sample is newer than the last step
  EXPECT_EQ(m->rss_bytes, 90u << 20);
  EXPECT_EQ(m->temp_time_s.size(), 11u);
  EXPECT_TRUE(m->live);

  m = builder.refresh(clock_.wall_s() + 600);  // ten minutes without a word
  EXPECT_FALSE(m->live);
  EXPECT_NE(m->notice.find("no word from the trainer"), std::string::npos);

  ASSERT_TRUE(log_->finish_run(app::RunStatus::kStopped).ok());
  m = builder.refresh(clock_.wall_s() + 600);
  EXPECT_TRUE(m->finished);
  EXPECT_EQ(m->status, "stopped");
  EXPECT_TRUE(m->notice.empty());
  EXPECT_TRUE(std::isnan(m->eta_s));
}

TEST_F(BuilderTest, ADeadTrainerIsShownStoppedWithWhen) {
  app::RunStart start;
  start.total_steps = 100;
  ASSERT_TRUE(log_->begin_run(start).ok());
  steps(0, 10);
  auto r = reader();
  app::DashboardModelBuilder builder(*r);
  auto m = builder.refresh(clock_.wall_s());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->status, "running");
  EXPECT_FALSE(std::isnan(m->eta_s));
  log_.reset();  // the trainer dies: no final status, the writer's lock is released
  m = builder.refresh(clock_.wall_s() + 600);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->status, "stopped");
  EXPECT_TRUE(m->finished);
  EXPECT_FALSE(m->live);
  EXPECT_TRUE(std::isnan(m->eta_s)) << "an ETA for a dead run";
  EXPECT_NE(m->notice.find("last heartbeat"), std::string::npos) << m->notice;
}

TEST_F(BuilderTest, EmptyLogIsNotFound) {
  auto r = reader();
  app::DashboardModelBuilder builder(*r);
  auto m = builder.refresh(clock_.wall_s());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), common::StatusCode::kNotFound);
}

TEST_F(BuilderTest, ControlRoundTripThroughTheDemoWriter) {
  app::DemoOptions options;
  options.steps = 1000;
  options.checkpoint_every = 0;
  app::DemoWriter writer(*log_, dir_, options, clock_);
  ASSERT_TRUE(writer.begin().ok());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(writer.tick());
    clock_.advance_s(0.1);
  }
  EXPECT_EQ(writer.step(), 20);

  auto r = reader();
  auto pause = r->send_control(app::ControlKind::kPause);
  ASSERT_TRUE(pause.ok()) << pause.status().message();
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(writer.tick());
    clock_.advance_s(0.1);
  }
  EXPECT_TRUE(writer.paused());
  EXPECT_EQ(writer.step(), 20);  // no steps while paused
  ASSERT_TRUE(log_->flush().ok());
  app::DashboardModelBuilder builder(*r);
  auto m = builder.refresh(clock_.wall_s());
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->paused);
  EXPECT_EQ(m->step, 20);
  EXPECT_EQ(m->events.back().kind, "pause");
  EXPECT_GE(r->samples(log_->run_id())->size(), 2u);  // temperature keeps coming while paused
  auto control = r->control(false);
  ASSERT_EQ(control->size(), 1u);
  EXPECT_TRUE((*control)[0].done);
  EXPECT_EQ((*control)[0].result, "ok");

  // Dashboard commands in-process take the same path.
  tui::CommandQueue commands;
  commands.push(tui::Command::kResume);
  ASSERT_TRUE(writer.tick(&commands));
  EXPECT_FALSE(writer.paused());
  EXPECT_EQ(writer.step(), 21);

  ASSERT_TRUE(r->send_control(app::ControlKind::kStop).ok());
  EXPECT_FALSE(writer.tick());
  ASSERT_TRUE(writer.end().ok());
  auto run = r->latest_run();
  EXPECT_EQ(run->status, "stopped");
  EXPECT_FALSE(std::isnan(run->finished_s));
  auto ckpts = r->checkpoints(run->id);
  ASSERT_EQ(ckpts->size(), 1u);
  EXPECT_EQ((*ckpts)[0].record.step, 21);
  EXPECT_TRUE(fs::exists((*ckpts)[0].record.path));
}

}  // namespace
