// The simulated plant (exact first-order response, firmware throttling, statistics) and the replay
// source (CSV parsing with file:line errors, playback on the clock).
#include <gtest/gtest.h>

#include <cmath>

#include "common/clock.h"
#include "thermal/replay_source.h"
#include "thermal/simulated_plant.h"

namespace thermal {
namespace {

PlantParams quiet_plant() {
  PlantParams p;
  p.ambient_c = 25;
  p.idle_rise_c = 10;
  p.steady_max_c = 115;
  p.tau_s = 100;
  p.noise_c = 0;
  return p;
}

TEST(SimulatedPlant, FollowsTheFirstOrderSolution) {
  common::FakeClock clock;
  SimulatedPlant plant(quiet_plant(), clock);
  EXPECT_DOUBLE_EQ(plant.temp_c(), 35);  // idle
  plant.set_activity(1.0);
  clock.advance_s(100);  // one time constant: 63.2% of the way to 115
  EXPECT_NEAR(plant.temp_c(), 115 - 80 * std::exp(-1.0), 1e-9);
  // Half load settles at idle + half the gain.
  plant.set_activity(0.5);
  clock.advance_s(5000);
  EXPECT_NEAR(plant.temp_c(), 75, 1e-6);
  EXPECT_NEAR(plant.read().temp_c, 75, 1e-3);  // no noise: the millidegree reading
  // Idle again cools back.
  plant.set_activity(0);
  clock.advance_s(5000);
  EXPECT_NEAR(plant.temp_c(), 35, 1e-6);
}

TEST(SimulatedPlant, ResultDoesNotDependOnHowOftenItIsRead) {
  common::FakeClock c1, c2;
  SimulatedPlant a(quiet_plant(), c1), b(quiet_plant(), c2);
  a.set_activity(0.8);
  b.set_activity(0.8);
  for (int i = 0; i < 1000; ++i) {
    c1.advance_s(0.37);
    a.temp_c();
  }
  c2.advance_s(370);
  EXPECT_NEAR(a.temp_c(), b.temp_c(), 1e-9);
}

TEST(SimulatedPlant, CountsTimeAboveTheWatchAndTheMaximum) {
  common::FakeClock clock;
  SimulatedPlant plant(quiet_plant(), clock);
  plant.set_watch_c(75);
  plant.set_activity(1.0);
  clock.advance_s(1000);
  plant.set_activity(0.0);
  clock.advance_s(1000);
  plant.temp_c();
  // Crossing 75 upward at tau·ln(80/40), downward after tau·ln((T1 − 35)/40) more.
  double up = 100 * std::log(80.0 / 40.0);
  double t1 = 115 - 80 * std::exp(-10.0);
  double down = 100 * std::log((t1 - 35) / 40.0);
  EXPECT_NEAR(plant.seconds_above_watch(), (1000 - up) + down, 1e-6);
  EXPECT_NEAR(plant.max_temp_c(), t1, 1e-9);
}

TEST(SimulatedPlant, FirmwareThrottlingHoldsTheTemperature) {
  PlantParams p = quiet_plant();
  p.firmware_throttle_c = 95;
  common::FakeClock clock;
  SimulatedPlant plant(p, clock);
  plant.set_activity(1.0);
  clock.advance_s(2000);
  EXPECT_NEAR(plant.temp_c(), 95, 1e-9);
  EXPECT_LE(plant.max_temp_c(), 95 + 1e-9);
  EXPECT_GT(plant.seconds_firmware_throttled(), 1000);
  // The firmware allows the load that sits at 95 °C: (95 − 35) / 80 of full.
  EXPECT_NEAR(plant.firmware_speed_factor(1.0), 0.75, 1e-9);
  EXPECT_DOUBLE_EQ(plant.firmware_speed_factor(0.5), 1.0);
  EXPECT_EQ(*plant.read().max_c, 95);
}

TEST(SimulatedPlant, NoiseIsSeededAndDeterministic) {
  PlantParams p = quiet_plant();
  p.noise_c = 0.5;
  common::FakeClock c1, c2;
  SimulatedPlant a(p, c1), b(p, c2);
  bool differs_from_truth = false;
  for (int i = 0; i < 50; ++i) {
    double ra = a.read().temp_c;
    EXPECT_EQ(ra, b.read().temp_c);
    differs_from_truth |= std::abs(ra - 35) > 1e-3;
  }
  EXPECT_TRUE(differs_from_truth);
}

TEST(SimulatedPlant, ValidateNamesTheField) {
  PlantParams p = quiet_plant();
  p.tau_s = 0;
  EXPECT_NE(p.validate().message().find("tau_s"), std::string::npos);
  p = quiet_plant();
  p.steady_max_c = 30;
  EXPECT_NE(p.validate().message().find("steady_max_c"), std::string::npos);
  EXPECT_TRUE(quiet_plant().validate().ok());
}

TEST(ReplaySource, ParsesAndPlaysBackOnTheClock) {
  const char* csv =
      "# a night\n"
      "time_s,temp_c\n"
      "0,45.5\n"
      "10, 80\n"
      "\n"
      "20,error\n"
      "30,\n"
      "40,nan\n"
      "50,-273.15\n";
  auto rows = parse_replay_csv(csv, "night.csv");
  ASSERT_TRUE(rows.ok()) << rows.status().to_string();
  ASSERT_EQ(rows->size(), 6u);
  common::FakeClock clock(100);
  ReplaySource src(std::move(*rows), "night.csv", clock);
  EXPECT_DOUBLE_EQ(src.read().temp_c, 45.5);
  clock.advance_s(9.99);
  EXPECT_DOUBLE_EQ(src.read().temp_c, 45.5);
  clock.advance_s(0.01);
  EXPECT_DOUBLE_EQ(src.read().temp_c, 80);
  clock.advance_s(10);
  EXPECT_FALSE(src.read().ok);
  clock.advance_s(10);
  EXPECT_FALSE(src.read().ok);
  clock.advance_s(10);
  Reading nan = src.read();
  EXPECT_TRUE(nan.ok);
  EXPECT_TRUE(std::isnan(nan.temp_c));
  clock.advance_s(1000);
  EXPECT_DOUBLE_EQ(src.read().temp_c, -273.15);  // the last row is held
  EXPECT_EQ(src.describe(), "replay night.csv");
}

TEST(ReplaySource, MalformedFilesNameFileAndLine) {
  struct Case {
    const char* text;
    const char* expect;
  };
  for (const Case& c : {Case{"0,40\n10,41\nbanana\n", "night.csv:3: expected 'time_s,temp_c'"},
                        Case{"0,40\n10,hot\n", "night.csv:2: temperature 'hot' is not a number"},
                        Case{"0,40\n-5,41\n", "night.csv:2: time '-5'"},
                        Case{"0,40\n10,41\n5,42\n", "night.csv:3: time 5 s is before the previous row's 10 s"},
                        Case{"0,40,1\n", "night.csv:1: expected two fields"},
                        Case{"# only a comment\n", "night.csv: no data rows"}}) {
    auto rows = parse_replay_csv(c.text, "night.csv");
    ASSERT_FALSE(rows.ok()) << c.text;
    EXPECT_EQ(rows.status().code(), common::StatusCode::kInvalidArgument);
    EXPECT_NE(rows.status().message().find(c.expect), std::string::npos) << rows.status().message();
  }
}

TEST(ReplaySource, MissingFileIsNotFound) {
  common::FakeClock clock;
  auto src = ReplaySource::load("/nonexistent/night.csv", clock);
  ASSERT_FALSE(src.ok());
  EXPECT_EQ(src.status().code(), common::StatusCode::kNotFound);
  EXPECT_NE(src.status().message().find("/nonexistent/night.csv"), std::string::npos);
}

}  // namespace
}  // namespace thermal
