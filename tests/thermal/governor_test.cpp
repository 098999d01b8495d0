// Governor unit tests on a FakeClock with scripted readings: the threshold bands and their
// hysteresis, knobs coming back when cool, checkpoint-and-wait, the emergency stop, the setpoint
// controller's outputs, config validation, and the fail-safe for every kind of sensor fault.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "thermal/governor.h"

namespace thermal {
namespace {

class GovernorTest : public ::testing::Test {
 protected:
  std::unique_ptr<Governor> make(GovernorConfig config, Knobs knobs = {8, 16}) {
    auto g = Governor::create(config, knobs, clock_);
    EXPECT_TRUE(g.ok()) << g.status().to_string();
    return std::move(*g);
  }
  // Advances the clock by dt_s, then decides on `temp_c` after a 1-second step.
  Decision at(Governor& g, double dt_s, double temp_c) { return at(g, dt_s, Reading::value(temp_c)); }
  Decision at(Governor& g, double dt_s, const Reading& r) {
    clock_.advance_s(dt_s);
    Decision d = g.decide(r, StepReport{1.0, g.last_decision().threads, g.last_decision().lora_rank});
    for (Event& e : g.take_events()) events_.push_back(std::move(e));
    return d;
  }
  int count(EventKind kind) const {
    int n = 0;
    for (const Event& e : events_) n += e.kind == kind;
    return n;
  }

  common::FakeClock clock_{0.0};
  std::vector<Event> events_;
};

TEST_F(GovernorTest, ColdDeviceRunsNormallyWithFullKnobs) {
  auto g = make({});
  Decision d = at(*g, 0, 50);
  EXPECT_EQ(d.action, Action::kNormal);
  EXPECT_EQ(d.threads, 8);
  EXPECT_EQ(d.lora_rank, 16);
  EXPECT_EQ(d.pause_ms, 0);
  EXPECT_FALSE(d.checkpoint);
  EXPECT_TRUE(events_.empty());
}

TEST_F(GovernorTest, ThresholdBandsEscalateImmediately) {
  auto g = make({});
  at(*g, 0, 60);
  Decision d = at(*g, 1, 76);
  EXPECT_EQ(d.action, Action::kThrottle);
  EXPECT_EQ(d.lora_rank, 8);   // halved
  EXPECT_EQ(d.threads, 4);     // halved
  d = at(*g, 1, 86);
  EXPECT_EQ(d.action, Action::kPause);
  EXPECT_DOUBLE_EQ(d.pause_ms, 500);
  EXPECT_NEAR(d.duty, 1.0 / 1.5, 1e-9);  // 1 s step + 0.5 s pause
  d = at(*g, 1, 96);
  EXPECT_EQ(d.action, Action::kCheckpointAndWait);
  EXPECT_TRUE(d.checkpoint);
  ASSERT_EQ(count(EventKind::kTransition), 3);
  EXPECT_EQ(events_[0].from, Action::kNormal);
  EXPECT_EQ(events_[0].to, Action::kThrottle);
  EXPECT_DOUBLE_EQ(events_[0].temp_c, 76);
  EXPECT_DOUBLE_EQ(events_[2].time_s, 3);
}

TEST_F(GovernorTest, RankShrinksByHalvingDownToTheFloorWhileStillRising) {
  GovernorConfig c;
  c.rank_floor = 4;
  auto g = make(c, {8, 32});
  at(*g, 0, 60);
  Decision d = at(*g, 1, 76);  // entering the band halves rank and threads
  EXPECT_EQ(d.lora_rank, 16);
  EXPECT_EQ(d.threads, 4);
  EXPECT_EQ(at(*g, 30, 79).lora_rank, 16);  // rising, but the adjust interval has not passed
  d = at(*g, 31, 80);                       // 61 s after entering, still rising: rank halves again,
  EXPECT_EQ(d.lora_rank, 8);                // one thread step (threads_max / 8) goes
  EXPECT_EQ(d.threads, 3);
  d = at(*g, 61, 82);
  EXPECT_EQ(d.lora_rank, 4);
  EXPECT_EQ(d.threads, 2);
  d = at(*g, 61, 84);
  EXPECT_EQ(d.lora_rank, 4);  // the floor
  EXPECT_EQ(d.threads, 1);
  d = at(*g, 61, 84.8);       // not rising by more than the noise margin: no change
  EXPECT_EQ(d.threads, 1);
  EXPECT_EQ(d.action, Action::kThrottle);
}

TEST_F(GovernorTest, RankAndThreadsComeBackWhenCool) {
  auto g = make({});
  at(*g, 0, 60);
  Decision d = at(*g, 1, 78);
  EXPECT_EQ(d.action, Action::kThrottle);
  EXPECT_EQ(d.threads, 4);
  EXPECT_EQ(d.lora_rank, 8);
  // Cool, but within the dwell time: nothing comes back yet.
  EXPECT_EQ(at(*g, 10, 70).threads, 4);
  // After the dwell, one thread step per adjust interval, then the rank, then normal.
  int threads = 4, rank = 8, intervals = 0;
  while (d.action != Action::kNormal && intervals < 20) {
    d = at(*g, 61, 70);
    ++intervals;
    EXPECT_GE(d.threads, threads);
    EXPECT_GE(d.lora_rank, rank);
    if (d.lora_rank > rank) {
      EXPECT_EQ(d.threads, 8) << "threads come back before the rank";
    }
    threads = d.threads;
    rank = d.lora_rank;
  }
  EXPECT_EQ(d.action, Action::kNormal);
  EXPECT_EQ(d.threads, 8);
  EXPECT_EQ(d.lora_rank, 16);
  EXPECT_EQ(intervals, 5);  // 4 thread steps + 1 rank doubling
  EXPECT_EQ(count(EventKind::kTransition), 2);
  EXPECT_EQ(count(EventKind::kAdjust), 4);
}
TEST_F(GovernorTest, HysteresisKeepsTheStateNearAThreshold) {
  auto g = make({});
  at(*g, 0, 60);
  at(*g, 1, 75.5);
  // Noise around the threshold (±1 °C < hysteresis 3 °C) for an hour: no transitions.
  for (int i = 0; i < 3600; ++i) at(*g, 1, 75 + (i % 2 == 0 ? 1.0 : -1.0));
  EXPECT_EQ(count(EventKind::kTransition), 1);
  EXPECT_EQ(g->last_decision().action, Action::kThrottle);
}

TEST_F(GovernorTest, FlappingIsDampedByALongerDwell) {
  // Two threads, no LoRA: one step down, one step back, so every cool spell could end the throttle.
  auto g = make({}, {2, 0});
  at(*g, 0, 60);
  // Alternate hot and cool every 70 s (longer than the 60 s dwell) for two hours.
  double t = 0;
  for (int cycle = 0; t < 7200; ++cycle) {
    for (int i = 0; i < 70; ++i, t += 1) at(*g, 1, cycle % 2 == 0 ? 78 : 70);
  }
  // Undamped that is ~100 transitions. The first 70 s cool spell (> 60 s dwell) does end the
  // throttle; coming back within the flap window doubles the dwell beyond the cool spells.
  EXPECT_GE(count(EventKind::kTransition), 3);
  EXPECT_LE(count(EventKind::kTransition), 4);
  int late = 0;  // in the second hour the dwell is long: at most a few
  for (const Event& e : events_) late += e.kind == EventKind::kTransition && e.time_s >= 3600;
  EXPECT_LE(late, 4);
}

TEST_F(GovernorTest, CheckpointAndWaitUntilBelowResume) {
  auto g = make({});
  at(*g, 0, 80);
  Decision d = at(*g, 1, 95.5);
  EXPECT_EQ(d.action, Action::kCheckpointAndWait);
  EXPECT_TRUE(d.checkpoint);
  EXPECT_DOUBLE_EQ(d.pause_ms, 5000);
  // Still hot, then cooling but above resume (75): wait, no second checkpoint.
  for (double temp : {94.0, 88.0, 80.0, 75.5}) {
    d = at(*g, 5, temp);
    EXPECT_EQ(d.action, Action::kCheckpointAndWait) << temp;
    EXPECT_FALSE(d.checkpoint);
  }
  d = at(*g, 5, 74.5);
  EXPECT_NE(d.action, Action::kCheckpointAndWait);
  EXPECT_NE(d.action, Action::kStop);
  // Resumes throttled to the floor; knobs come back one notch per interval while cool.
  EXPECT_EQ(d.threads, 1);
  EXPECT_EQ(d.lora_rank, 4);
  for (int i = 0; i < 10; ++i) d = at(*g, 61, 65);
  EXPECT_EQ(d.action, Action::kNormal);
  EXPECT_EQ(d.threads, 8);
  EXPECT_EQ(d.lora_rank, 16);
}

TEST_F(GovernorTest, WaitingTooLongStops) {
  GovernorConfig c;
  c.max_wait_s = 600;
  auto g = make(c);
  at(*g, 0, 96);
  Decision d;
  for (int i = 0; i < 130; ++i) d = at(*g, 5, 90);
  EXPECT_EQ(d.action, Action::kStop);
  // Final: a cool reading afterwards does not restart the run.
  EXPECT_EQ(at(*g, 5, 40).action, Action::kStop);
}

TEST_F(GovernorTest, EmergencyLimitUsesTheSensorsCritAndStops) {
  auto g = make({});
  Decision d = at(*g, 0, Reading::value(91, 85.0, 90.0));
  EXPECT_EQ(d.action, Action::kStop);
  EXPECT_TRUE(d.checkpoint);
  auto g2 = make({});
  // No crit reported: stop_c + 10.
  EXPECT_EQ(at(*g2, 0, 104).action, Action::kCheckpointAndWait);
  EXPECT_EQ(at(*g2, 1, 105).action, Action::kStop);
}

// Issue 21, item 5: a nonsense crit limit (0, 20, -5 °C) from the sensor is ignored with a warning
// event instead of stopping the run at a normal temperature.
TEST_F(GovernorTest, ACritLimitBelowTheNormalBandIsIgnoredWithAWarning) {
  for (double crit : {0.0, 20.0, -5.0, 75.0}) {
    events_.clear();
    auto g = make({});
    Decision d = at(*g, 0, Reading::value(45, std::nullopt, crit));
    EXPECT_EQ(d.action, Action::kNormal) << "crit " << crit;
    d = at(*g, 1, Reading::value(46, std::nullopt, crit));
    EXPECT_EQ(d.action, Action::kNormal) << "crit " << crit;
    ASSERT_EQ(count(EventKind::kSensorWarning), 1) << "crit " << crit;
    for (const Event& e : events_) {
      if (e.kind == EventKind::kSensorWarning) {
        EXPECT_NE(e.reason.find("crit limit"), std::string::npos) << e.reason;
      }
    }
    // The emergency limit falls back to stop_c + 10.
    EXPECT_EQ(at(*g, 1, Reading::value(105, std::nullopt, crit)).action, Action::kStop) << "crit " << crit;
  }
}

TEST_F(GovernorTest, PausePerStepFollowsTheStepTimeForADutyCycle) {
  GovernorConfig c;
  c.policy = Policy::kSetpoint;
  auto g = make(c, {4, 0});
  clock_.advance_s(1);
  Decision d = g->decide(Reading::value(80), StepReport{2.0, 4, 0});
  // At the setpoint with the initial integral: power u = 0.5 of 4 threads, as threads × duty.
  EXPECT_NEAR(d.threads * d.duty / 4, 0.5, 1e-9);
  EXPECT_LT(d.threads, 4);
  EXPECT_EQ(d.lora_rank, 0);  // not a LoRA run: rank untouched
  // Hotter: less power, fewer threads, then duty below 1 with a pause from the step time.
  for (int i = 0; i < 100; ++i) {
    clock_.advance_s(1);
    d = g->decide(Reading::value(86), StepReport{2.0, d.threads, 0});
  }
  EXPECT_EQ(d.action, Action::kPause);
  EXPECT_EQ(d.threads, 1);
  EXPECT_LT(d.duty, 1.0);
  EXPECT_GE(d.duty, c.duty_min - 1e-9);
  // pause = step · (1 − duty) / duty, with the step scaled to the new thread count.
  double step_s = 2.0;
  EXPECT_NEAR(d.duty, step_s / (step_s + d.pause_ms / 1000), 1e-9);
}

TEST_F(GovernorTest, SetpointRunsFullSpeedWhenCoolAndThrottlesWhenHot) {
  GovernorConfig c;
  c.policy = Policy::kSetpoint;
  auto g = make(c, {2, 16});
  Decision d = at(*g, 0, 50);
  EXPECT_EQ(d.action, Action::kNormal);
  EXPECT_EQ(d.threads, 2);
  EXPECT_EQ(d.lora_rank, 16);
  for (int i = 0; i < 300; ++i) d = at(*g, 1, 90);
  EXPECT_EQ(d.action, Action::kPause);
  EXPECT_NEAR(d.duty, c.duty_min, 1e-6);  // saturated low, no windup beyond it...
  // ...so it recovers within a few filter time constants once the temperature drops.
  for (int i = 0; i < 60; ++i) d = at(*g, 1, 70);
  EXPECT_EQ(d.action, Action::kNormal);
}

TEST_F(GovernorTest, ConfigValidationNamesTheField) {
  GovernorConfig c;
  c.pause_c = 70;  // below shrink_c 75
  common::Status s = c.validate();
  EXPECT_EQ(s.code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("thermal.pause_c (70)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("thermal.shrink_c (75)"), std::string::npos) << s.message();

  GovernorConfig c2;
  c2.stop_c = 84;
  EXPECT_NE(c2.validate().message().find("thermal.stop_c"), std::string::npos);
  GovernorConfig c3;
  c3.duty_min = 0;
  EXPECT_NE(c3.validate().message().find("thermal.duty_min"), std::string::npos);
  GovernorConfig c4;
  c4.setpoint_c = 99;
  EXPECT_NE(c4.validate().message().find("thermal.setpoint_c"), std::string::npos);
  GovernorConfig c5;
  c5.hysteresis_c = 12;
  EXPECT_NE(c5.validate().message().find("thermal.hysteresis_c"), std::string::npos);

  auto g = Governor::create(c, {2, 8}, clock_);
  EXPECT_FALSE(g.ok());
  EXPECT_TRUE(GovernorConfig{}.validate().ok());
  EXPECT_FALSE(Governor::create({}, {0, 8}, clock_).ok());
}

TEST_F(GovernorTest, PolicyNamesParse) {
  EXPECT_EQ(*parse_policy("setpoint"), Policy::kSetpoint);
  EXPECT_EQ(*parse_fail_safe("min-duty"), FailSafe::kMinDuty);
  auto bad = parse_policy("pid");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'pid'"), std::string::npos);
}

// ---- sensor faults ----

struct FaultCase {
  const char* name;
  Reading reading;
};

class FaultTest : public GovernorTest, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(FaultTest, FailsSafeAfterTheGraceAndRecovers) {
  auto g = make({});
  at(*g, 0, 60);
  at(*g, 1, 78);  // throttled
  const Reading bad = GetParam().reading;
  // Within the grace period: the last decision holds, one fault event.
  Decision d = at(*g, 1, bad);
  EXPECT_EQ(d.action, Action::kThrottle);
  EXPECT_FALSE(d.fail_safe);
  EXPECT_EQ(count(EventKind::kSensorFault), 1);
  // After the grace (10 s): fail-safe pause = checkpoint and wait.
  d = at(*g, 10, bad);
  EXPECT_EQ(d.action, Action::kCheckpointAndWait);
  EXPECT_TRUE(d.fail_safe);
  EXPECT_TRUE(d.checkpoint);
  EXPECT_EQ(count(EventKind::kSensorFault), 2);
  d = at(*g, 5, bad);
  EXPECT_FALSE(d.checkpoint);  // only once
  EXPECT_EQ(count(EventKind::kSensorFault), 2);
  // A good reading again: recovered (logged), training resumes cautiously.
  d = at(*g, 5, 60);
  EXPECT_FALSE(d.fail_safe);
  EXPECT_NE(d.action, Action::kCheckpointAndWait);
  EXPECT_EQ(count(EventKind::kSensorRecovered), 1);
}

TEST_P(FaultTest, MinDutyFailSafeKeepsTrainingSlowly) {
  GovernorConfig c;
  c.fail_safe = FailSafe::kMinDuty;
  c.fault_grace_s = 0;
  auto g = make(c);
  at(*g, 0, 60);
  Decision d = at(*g, 1, GetParam().reading);
  EXPECT_EQ(d.action, Action::kPause);
  EXPECT_TRUE(d.fail_safe);
  EXPECT_EQ(d.threads, 1);
  EXPECT_EQ(d.lora_rank, 4);
  EXPECT_NEAR(d.duty, c.fail_safe_duty, 1e-9);
  // The 1 s step ran on 8 threads; on 1 it is estimated at 8 s, so duty 0.25 is a 24 s pause.
  EXPECT_NEAR(d.pause_ms, 24000, 1e-6);
}

TEST_P(FaultTest, NoGoodReadingEverMeansFailSafeAtOnce) {
  auto g = make({});
  Decision d = at(*g, 0, GetParam().reading);
  EXPECT_EQ(d.action, Action::kCheckpointAndWait);
  EXPECT_TRUE(d.fail_safe);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, FaultTest,
    ::testing::Values(FaultCase{"read_error", Reading::failure("k10temp-pci-00c3/Tctl: Kernel interface error")},
                      FaultCase{"disappeared", Reading::failure("k10temp-pci-00c3/Tctl: sensor not found")},
                      FaultCase{"absolute_zero", Reading::value(-273.15)},
                      FaultCase{"absurdly_hot", Reading::value(250)},
                      FaultCase{"nan", Reading::value(std::nan(""))},
                      FaultCase{"infinite", Reading::value(std::numeric_limits<double>::infinity())}),
    [](const ::testing::TestParamInfo<FaultCase>& info) { return std::string(info.param.name); });

TEST_F(GovernorTest, StuckSensorIsAFault) {
  GovernorConfig c;
  c.stuck_after_s = 300;
  auto g = make(c);
  Decision d;
  for (int i = 0; i <= 299; ++i) d = at(*g, 1, 70.125);
  EXPECT_FALSE(d.fail_safe);
  for (int i = 0; i < 20; ++i) d = at(*g, 1, 70.125);
  EXPECT_TRUE(d.fail_safe);
  EXPECT_EQ(d.action, Action::kCheckpointAndWait);
  ASSERT_GE(count(EventKind::kSensorFault), 1);
  EXPECT_NE(events_.front().reason.find("stuck"), std::string::npos) << events_.front().reason;
  // It moves again: recovered.
  d = at(*g, 1, 69.875);
  EXPECT_FALSE(d.fail_safe);
  EXPECT_EQ(count(EventKind::kSensorRecovered), 1);
}

TEST_F(GovernorTest, SteadyValueUnderSteadyLoadIsNotStuck) {
  // A 1 °C-resolution zone on a well-cooled machine: the value moves while the run warms up, then
  // sits at 60 °C for an hour of constant full load. That is not a fault.
  GovernorConfig c;
  c.stuck_after_s = 300;
  auto g = make(c);
  for (double temp : {45.0, 50.0, 55.0, 58.0}) at(*g, 30, temp);
  Decision d;
  for (int i = 0; i < 3600; ++i) d = at(*g, 1, 60.0);
  EXPECT_FALSE(d.fail_safe);
  EXPECT_EQ(d.action, Action::kNormal);
  EXPECT_EQ(count(EventKind::kSensorFault), 0);
}

// Issue 21, item 4: a sensor that fails 9 reads in 10 must not keep the run at full duty by
// resetting the grace with each good read: faults are counted over a window.
TEST_F(GovernorTest, ASensorFailingMostReadsTriggersTheFailSafe) {
  auto g = make({});
  int full_duty_after_warmup = 0, fail_safe = 0;
  for (int i = 0; i < 300; ++i) {
    const Reading r = i % 10 == 0 ? Reading::value(60) : Reading::failure("k10temp: Kernel interface error");
    Decision d = at(*g, 1, r);
    if (i >= 20 && !d.fail_safe && d.action == Action::kNormal) ++full_duty_after_warmup;
    fail_safe += d.fail_safe;
  }
  EXPECT_GT(fail_safe, 0);
  EXPECT_EQ(full_duty_after_warmup, 0) << "steps at full duty on a sensor failing 9 reads in 10";
  EXPECT_GE(count(EventKind::kSensorFault), 1);
  // Once it reads well again for a while, the fail-safe lifts.
  Decision d;
  for (int i = 0; i < 200; ++i) d = at(*g, 1, 60);
  EXPECT_FALSE(d.fail_safe);
  EXPECT_NE(d.action, Action::kCheckpointAndWait);
}

TEST_F(GovernorTest, AnOccasionalFaultStaysWithinTheGrace) {
  auto g = make({});
  for (int i = 0; i < 200; ++i) {
    const Reading r = i % 10 == 5 ? Reading::failure("glitch") : Reading::value(60);
    EXPECT_FALSE(at(*g, 1, r).fail_safe) << "reading " << i;
  }
}

TEST_F(GovernorTest, SensorGoneAllNightStopsAfterMaxWait) {
  GovernorConfig c;
  c.max_wait_s = 1800;
  auto g = make(c);
  at(*g, 0, 60);
  Decision d;
  for (int i = 0; i < 400; ++i) d = at(*g, 5, Reading::failure("gone"));
  EXPECT_EQ(d.action, Action::kStop);
}

TEST_F(GovernorTest, EveryEventCarriesTimeTemperatureAndStates) {
  auto g = make({});
  at(*g, 0, 60);
  at(*g, 2.5, 86);
  ASSERT_EQ(events_.size(), 1u);
  const Event& e = events_[0];
  EXPECT_DOUBLE_EQ(e.time_s, 2.5);
  EXPECT_DOUBLE_EQ(e.temp_c, 86);
  EXPECT_EQ(e.from, Action::kNormal);
  EXPECT_EQ(e.to, Action::kPause);
  EXPECT_NE(e.reason.find("pause"), std::string::npos);
  std::string line = e.describe();
  EXPECT_NE(line.find("normal -> pause"), std::string::npos) << line;
}

}  // namespace
}  // namespace thermal
