// Simulated nights: devices whose ungoverned steady state is far above the stop limit, governed by
// the threshold and the setpoint policy. The governed runs must stay below the stop limit, change
// action at most a few times per hour, and the setpoint policy must reach ≥ 90% of the analytic
// ideal. The figures of all three (no governor, threshold, setpoint) are printed for the record.
#include <gtest/gtest.h>

#include <cstdio>

#include "thermal/night_sim.h"

namespace thermal {
namespace {

struct Scenario {
  const char* name;
  double steady_max_c;
  double tau_s;
  double noise_c;
  int threads;
  double step_s;
};

NightSimOptions options_for(const Scenario& s, Policy policy) {
  NightSimOptions o;
  o.plant.ambient_c = 25;
  o.plant.idle_rise_c = 10;
  o.plant.steady_max_c = s.steady_max_c;
  o.plant.tau_s = s.tau_s;
  o.plant.noise_c = s.noise_c;
  o.plant.firmware_throttle_c = 0;  // nothing but the governor stands between the device and steady_max
  o.workload.threads_max = s.threads;
  o.workload.step_s = s.step_s;
  o.governor.policy = policy;
  o.hours = 8;
  return o;
}

class NightSim : public ::testing::TestWithParam<Scenario> {};

TEST_P(NightSim, GovernedNightsStayBelowTheStopLimit) {
  const Scenario& s = GetParam();
  NightSimResult r[3];
  const Policy policies[3] = {Policy::kNone, Policy::kThreshold, Policy::kSetpoint};
  for (int i = 0; i < 3; ++i) {
    auto res = simulate_night(options_for(s, policies[i]));
    ASSERT_TRUE(res.ok()) << res.status().to_string();
    r[i] = *res;
    std::printf("[%s] %-9s max_temp_c %6.1f  seconds_above_stop %6.0f  throughput_fraction %.3f  "
                "ideal_fraction %.3f  fraction_of_ideal %.3f  transitions_per_hour %.2f  checkpoints %d\n",
                s.name, policy_name(policies[i]), r[i].max_temp_c, r[i].seconds_above_stop, r[i].throughput_fraction,
                r[i].ideal_fraction, r[i].throughput_fraction / r[i].ideal_fraction, r[i].transitions_per_hour,
                r[i].checkpoints);
  }
  const double stop_c = GovernorConfig{}.stop_c;

  // No governor: the device cooks.
  EXPECT_GT(r[0].max_temp_c, stop_c + 20);
  EXPECT_GT(r[0].seconds_above_stop, 6 * 3600);
  EXPECT_NEAR(r[0].throughput_fraction, 1.0, 1e-9);

  for (int i = 1; i < 3; ++i) {
    SCOPED_TRACE(policy_name(policies[i]));
    EXPECT_LT(r[i].max_temp_c, stop_c);
    EXPECT_EQ(r[i].seconds_above_stop, 0);
    EXPECT_EQ(r[i].checkpoints, 0);
    EXPECT_FALSE(r[i].stopped);
    EXPECT_LE(r[i].transitions_per_hour, 3.0);
    EXPECT_GT(r[i].throughput_fraction, 0.3);
    // The ideal is an upper bound for any run that stays at or below its own hottest moment.
    EXPECT_LE(r[i].throughput_fraction,
              ideal_fraction(options_for(s, policies[i]).plant, options_for(s, policies[i]).workload, r[i].max_temp_c,
                             8) + 1e-6);
  }
  // The setpoint policy holds its target with ≥ 90% of the most any policy could do under it.
  EXPECT_GE(r[2].throughput_fraction, 0.9 * r[2].ideal_fraction);
  EXPECT_LT(r[2].max_temp_c, GovernorConfig{}.setpoint_c + 3);
}

INSTANTIATE_TEST_SUITE_P(
    HotDevices, NightSim,
    ::testing::Values(Scenario{"fanless_2core", 140, 120, 0.3, 2, 1.0},
                      Scenario{"fast_8core", 150, 45, 0.5, 8, 1.0},
                      Scenario{"slow_noisy_10core", 130, 600, 1.0, 10, 1.0},
                      Scenario{"long_steps_4core", 135, 120, 0.3, 4, 15.0}),
    [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

TEST(NightSimBasics, DeterministicForTheSameOptions) {
  NightSimOptions o = options_for({"x", 140, 120, 0.3, 2, 1.0}, Policy::kSetpoint);
  o.hours = 1;
  auto a = simulate_night(o);
  auto b = simulate_night(o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->throughput_fraction, b->throughput_fraction);
  EXPECT_EQ(a->max_temp_c, b->max_temp_c);
  EXPECT_EQ(a->events.size(), b->events.size());
}

TEST(NightSimBasics, BadOptionsNameTheField) {
  NightSimOptions o;
  o.hours = 0;
  EXPECT_NE(simulate_night(o).status().message().find("hours"), std::string::npos);
  o = NightSimOptions{};
  o.governor.stop_c = 80;  // below pause_c
  auto r = simulate_night(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("thermal.stop_c"), std::string::npos) << r.status().message();
  o = NightSimOptions{};
  o.plant.tau_s = -1;
  EXPECT_NE(simulate_night(o).status().message().find("tau_s"), std::string::npos);
}

TEST(IdealFraction, AnalyticCases) {
  PlantParams p;
  p.ambient_c = 25;
  p.idle_rise_c = 10;
  p.steady_max_c = 135;  // gain 100 °C per unit load
  p.tau_s = 360;
  p.firmware_throttle_c = 0;
  WorkloadModel w;
  w.threads_max = 4;
  w.parallel_fraction = 1.0;  // linear: work = load
  // u* = (85 − 35)/100 = 0.5; warm-up bonus tau·(cap − T0)/(gain·H) = 360·50/(100·3600) = 0.05.
  EXPECT_NEAR(ideal_fraction(p, w, 85, 1), 0.55, 1e-12);
  EXPECT_NEAR(ideal_fraction(p, w, 85, 100), 0.5 + 0.0005, 1e-12);
  EXPECT_DOUBLE_EQ(ideal_fraction(p, w, 140, 8), 1.0);  // the cap is above the steady state
  EXPECT_DOUBLE_EQ(ideal_fraction(p, w, 30, 8), 0.0);   // below idle: nothing is possible
  // A firmware throttle point below the cap is the real cap.
  p.firmware_throttle_c = 60;
  EXPECT_NEAR(ideal_fraction(p, w, 85, 100), 0.25 + 360.0 * 25 / (100 * 360000), 1e-12);
  // Sublinear scaling: one thread of four does more than a quarter of the work.
  p.firmware_throttle_c = 0;
  w.parallel_fraction = 0.9;
  double quarter = ideal_fraction(p, w, 35 + 25, 1e6);  // u* = 0.25 → exactly one thread's point
  EXPECT_NEAR(quarter, w.speed(1), 1e-6);
  EXPECT_GT(quarter, 0.25);
}

}  // namespace
}  // namespace thermal
