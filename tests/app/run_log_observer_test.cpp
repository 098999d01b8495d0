// Tests for the adapters between the training loop and the run log: RunLogObserver writes steps,
// evaluations into their step's row, de-duplicated directives, checkpoints and the end; the
// ControlGovernor turns control rows and dashboard commands into directives and acknowledges them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "app/runlog/run_log.h"
#include "app/runlog/run_log_observer.h"

namespace {

namespace fs = std::filesystem;

class ObserverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("ns_observer_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
             std::to_string(::getpid())))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto log = app::RunLog::open(dir_, {}, &clock_);
    ASSERT_TRUE(log.ok()) << log.status().message();
    log_ = std::move(log).value();
    ASSERT_TRUE(log_->begin_run({}).ok());
    auto reader = app::RunLogReader::open(dir_);
    ASSERT_TRUE(reader.ok());
    reader_ = std::move(reader).value();
  }
  void TearDown() override {
    reader_.reset();
    log_.reset();
    fs::remove_all(dir_);
  }
  static trainer::StepStats stats(int64_t step) {
    trainer::StepStats s;
    s.step = step;
    s.loss = 3.0f - 0.1f * static_cast<float>(step);
    s.lr = 1e-3f;
    s.tokens = 512;
    s.step_s = 0.25;
    s.threads = 2;
    return s;
  }

  std::string dir_;
  common::FakeClock clock_{0.0, 1.7e9};
  std::unique_ptr<app::RunLog> log_;
  std::unique_ptr<app::RunLogReader> reader_;
};

TEST_F(ObserverTest, StepsEvalsDirectivesCheckpointsAndTheEnd) {
  app::RunLogObserver observer(*log_);
  observer.set_enricher([](app::StepRecord& r) {
    r.temp_c = 66.5;
    r.governor = "normal";
  });
  for (int64_t i = 1; i <= 3; ++i) observer.on_step(stats(i), {});
  observer.on_eval(3, {2.5f, 4});
  app::Directive d;
  d.threads = 1;
  d.reason = "81 C >= 75 C";
  observer.on_directive(d);
  observer.on_directive(d);  // the same again: no second event
  fs::create_directories(dir_ + "/checkpoints/step-3");
  std::ofstream(dir_ + "/checkpoints/step-3/state.json") << std::string(100, 'x');
  observer.on_checkpoint(3, dir_ + "/checkpoints/step-3");
  app::LoopOutcome outcome;
  outcome.steps_done = 3;
  observer.on_finish(outcome);

  auto steps = reader_->steps(log_->run_id());
  ASSERT_EQ(steps->size(), 3u);
  const app::StepRecord& last = steps->back().record;
  EXPECT_EQ(last.step, 3);
  EXPECT_NEAR(last.loss, 2.7, 1e-6);
  EXPECT_NEAR(last.val_loss, 2.5, 1e-6);
  EXPECT_DOUBLE_EQ(last.tokens_per_s, 2048);
  EXPECT_EQ(last.tokens, 3u * 512);
  EXPECT_DOUBLE_EQ(last.temp_c, 66.5);
  EXPECT_TRUE(std::isnan(steps->front().record.val_loss));
  auto events = reader_->events(log_->run_id());
  std::vector<std::string> kinds;
  for (const auto& e : *events) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"eval", "governor", "checkpoint", "end"}));
  EXPECT_NE((*events)[1].detail.find("threads 1"), std::string::npos);
  auto ckpts = reader_->checkpoints(log_->run_id());
  ASSERT_EQ(ckpts->size(), 1u);
  EXPECT_EQ((*ckpts)[0].record.bytes, 100u);
  EXPECT_EQ(reader_->latest_run()->status, "finished");
}

TEST_F(ObserverTest, ControlGovernorObeysTheTableAndTheDashboard) {
  tui::CommandQueue commands;
  app::ControlGovernor governor(*log_, nullptr, &commands, clock_);
  int samples = 0;
  governor.set_sampler([&](double& temp_c, uint64_t& rss) {
    temp_c = 60;
    rss = 1 << 20;
    ++samples;
  });
  app::StepContext ctx;
  ctx.next_step = 11;
  EXPECT_EQ(governor.before_step(ctx).action, app::Directive::Action::kProceed);

  auto pause = reader_->send_control(app::ControlKind::kPause);
  ASSERT_TRUE(pause.ok());
  app::Directive d = governor.before_step(ctx);
  EXPECT_EQ(d.action, app::Directive::Action::kCheckpointAndWait);
  EXPECT_TRUE(governor.paused());
  clock_.advance_s(1.5);
  EXPECT_EQ(governor.before_step(ctx).action, app::Directive::Action::kCheckpointAndWait);
  EXPECT_EQ(samples, 2);
  ASSERT_TRUE(log_->flush().ok());
  EXPECT_EQ(reader_->latest_run()->status, "paused");
  EXPECT_EQ(reader_->control(false)->at(0).result, "ok");
  EXPECT_EQ(reader_->recent_events(log_->run_id(), 1)->at(0).kind, "pause");

  commands.push(tui::Command::kResume);
  commands.push(tui::Command::kCheckpoint);
  d = governor.before_step(ctx);
  EXPECT_EQ(d.action, app::Directive::Action::kProceed);
  EXPECT_TRUE(d.checkpoint);
  EXPECT_FALSE(governor.before_step(ctx).checkpoint);  // once

  ASSERT_TRUE(reader_->send_control(app::ControlKind::kStop).ok());
  EXPECT_EQ(governor.before_step(ctx).action, app::Directive::Action::kStop);
}

}  // namespace
