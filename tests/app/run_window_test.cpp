// Tests for app/run_window (deadlines and daily windows on a FakeClock), app/power_supply (a fake
// power-supply tree) and app/disk_space.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "app/governors/disk_space.h"
#include "app/governors/power_supply.h"
#include "app/governors/run_window.h"
#include "common/clock.h"

namespace {

// A FakeClock whose wall time is midnight UTC of some day plus `start_s`.
constexpr double kMidnight = 1700006400.0;  // 2023-11-15 00:00:00 UTC (a multiple of 86400)

TEST(RunWindow, ParsesTimesAndRejectsBadOnes) {
  auto t = app::parse_time_of_day("07:30", "--until");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->minutes, 450);
  for (const char* bad : {"7:3", "24:00", "12:60", "ab:cd", "1230", "", "12:345", "-1:00"}) {
    auto r = app::parse_time_of_day(bad, "--until");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--until"), std::string::npos);
  }
  EXPECT_FALSE(app::parse_daily_window("22:00").ok());
  EXPECT_FALSE(app::parse_daily_window("22:00-22:00").ok());
  EXPECT_FALSE(app::parse_daily_window("22:00-25:00").ok());
  auto w = app::parse_daily_window("22:00-07:00");
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(w->contains(23 * 60));
  EXPECT_TRUE(w->contains(6 * 60 + 59));
  EXPECT_FALSE(w->contains(7 * 60));
  EXPECT_FALSE(w->contains(12 * 60));
}

TEST(RunWindow, UntilStopsAtTheNextOccurrence) {
  common::FakeClock clock(0, kMidnight + 22 * 3600);  // starts 22:00 UTC
  app::RunWindowOptions opt;
  opt.until = app::TimeOfDay{7 * 60};
  app::RunWindow window(opt, &clock);
  EXPECT_EQ(window.decide().action, app::WindowAction::kTrain);
  EXPECT_NEAR(window.seconds_left(), 9 * 3600, 1e-6);
  clock.advance_s(9 * 3600 - 1);
  EXPECT_EQ(window.decide().action, app::WindowAction::kTrain);
  clock.advance_s(1);
  app::WindowDecision d = window.decide();
  EXPECT_EQ(d.action, app::WindowAction::kStop);
  EXPECT_NE(d.reason.find("07:00"), std::string::npos);
}

TEST(RunWindow, UntilHonoursTheUtcOffset) {
  common::FakeClock clock(0, kMidnight + 20 * 3600);  // 20:00 UTC = 22:00 at UTC+2
  app::RunWindowOptions opt;
  opt.until = app::TimeOfDay{23 * 60};
  opt.utc_offset_s = 2 * 3600;
  app::RunWindow window(opt, &clock);
  EXPECT_NEAR(window.seconds_left(), 3600, 1e-6);
}

TEST(RunWindow, MaxHours) {
  common::FakeClock clock(0, kMidnight);
  app::RunWindowOptions opt;
  opt.max_hours = 1.5;
  app::RunWindow window(opt, &clock);
  clock.advance_s(5399);
  EXPECT_EQ(window.decide().action, app::WindowAction::kTrain);
  clock.advance_s(1);
  EXPECT_EQ(window.decide().action, app::WindowAction::kStop);
}

// Issue 21, item 2: a wall clock stepped after the start (NTP on a board without RTC) moves no
// deadline: --max-hours counts monotonic time, --until and --window follow the time elapsed since
// the start; each step of the wall clock is reported once.
TEST(RunWindow, MaxHoursIgnoresWallClockSteps) {
  common::FakeClock clock(0, kMidnight + 22 * 3600);
  app::RunWindowOptions opt;
  opt.max_hours = 8;
  app::RunWindow window(opt, &clock);
  clock.advance_s(2);
  clock.step_wall_s(9 * 3600);  // forward: the run must not end after 2 s
  app::WindowDecision d = window.decide();
  EXPECT_EQ(d.action, app::WindowAction::kTrain);
  EXPECT_NE(d.clock_jump.find("+32400"), std::string::npos) << d.clock_jump;
  EXPECT_EQ(window.decide().clock_jump, "");  // reported once
  EXPECT_NEAR(window.seconds_left(), 8 * 3600 - 2, 1e-6);
  clock.step_wall_s(-12 * 3600);  // backward: the run must not overrun
  clock.advance_s(8 * 3600 - 2);
  d = window.decide();
  EXPECT_EQ(d.action, app::WindowAction::kStop);
  EXPECT_NE(d.clock_jump.find("-43200"), std::string::npos) << d.clock_jump;
}

TEST(RunWindow, UntilFollowsElapsedTimeNotWallClockSteps) {
  common::FakeClock clock(0, kMidnight + 22 * 3600);  // 22:00, --until 07:00: 9 h
  app::RunWindowOptions opt;
  opt.until = app::TimeOfDay{7 * 60};
  app::RunWindow window(opt, &clock);
  clock.advance_s(10);
  clock.step_wall_s(10 * 3600);  // the wall clock now reads 08:00
  EXPECT_EQ(window.decide().action, app::WindowAction::kTrain);
  EXPECT_FALSE(window.deadline_passed());
  clock.advance_s(9 * 3600 - 10);
  EXPECT_TRUE(window.deadline_passed());
  EXPECT_EQ(window.decide().action, app::WindowAction::kStop);
}

TEST(RunWindow, WindowFollowsElapsedTimeNotWallClockSteps) {
  common::FakeClock clock(0, kMidnight + 23 * 3600);  // 23:00 inside 22:00-07:00
  app::RunWindowOptions opt;
  opt.window = *app::parse_daily_window("22:00-07:00");
  app::RunWindow window(opt, &clock);
  EXPECT_EQ(window.decide().action, app::WindowAction::kTrain);
  clock.step_wall_s(-6 * 3600);  // the wall clock reads 17:00
  EXPECT_EQ(window.decide().action, app::WindowAction::kTrain);
  clock.advance_s(8 * 3600);  // 07:00 by elapsed time
  EXPECT_EQ(window.decide().action, app::WindowAction::kWaitForWindow);
}

TEST(RunWindow, WaitsForTheWindowThenTrainsThenWaitsOrStops) {
  for (bool stop_at_end : {false, true}) {
    common::FakeClock clock(0, kMidnight + 18 * 3600);  // 18:00
    app::RunWindowOptions opt;
    opt.window = *app::parse_daily_window("22:00-07:00");
    opt.stop_at_window_end = stop_at_end;
    app::RunWindow window(opt, &clock);
    app::WindowDecision d = window.decide();
    EXPECT_EQ(d.action, app::WindowAction::kWaitForWindow);
    EXPECT_NEAR(d.wait_s, 4 * 3600, 1e-6);
    clock.advance_s(d.wait_s);
    EXPECT_EQ(window.decide().action, app::WindowAction::kTrain);  // 22:00
    clock.advance_s(8 * 3600);                                      // 06:00
    EXPECT_EQ(window.decide().action, app::WindowAction::kTrain);
    clock.advance_s(3600);                                          // 07:00: closed
    d = window.decide();
    if (stop_at_end) {
      EXPECT_EQ(d.action, app::WindowAction::kStop);
    } else {
      EXPECT_EQ(d.action, app::WindowAction::kWaitForWindow);
      EXPECT_NEAR(d.wait_s, 15 * 3600, 1e-6);
    }
  }
}

class FakePowerTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("ns_power_" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void put(const std::string& dev, const std::string& file, const std::string& value) {
    std::filesystem::create_directories(root_ / dev);
    std::ofstream(root_ / dev / file) << value << "\n";
  }
  std::filesystem::path root_;
};

TEST_F(FakePowerTree, DetectsBatteryDischargingWithoutMains) {
  put("AC", "type", "Mains");
  put("AC", "online", "0");
  put("BAT0", "type", "Battery");
  put("BAT0", "status", "Discharging");
  put("BAT0", "capacity", "43");
  app::PowerState s = app::read_power_state(root_.string());
  EXPECT_TRUE(s.has_battery);
  EXPECT_TRUE(s.on_battery);
  EXPECT_DOUBLE_EQ(s.battery_percent, 43);
  EXPECT_NE(s.detail.find("Discharging"), std::string::npos);
  put("AC", "online", "1");
  put("BAT0", "status", "Charging");
  s = app::read_power_state(root_.string());
  EXPECT_FALSE(s.on_battery);
  EXPECT_EQ(s.detail, "AC online");
}

TEST_F(FakePowerTree, NoTreeMeansMains) {
  app::PowerState s = app::read_power_state((root_ / "missing").string());
  EXPECT_FALSE(s.has_battery);
  EXPECT_FALSE(s.on_battery);
}

TEST(DiskSpace, ReportsFreeBytesAndRefusesImpossibleCheckpoints) {
  auto free_bytes = app::free_disk_bytes(std::filesystem::temp_directory_path().string());
  ASSERT_TRUE(free_bytes.ok());
  EXPECT_GT(*free_bytes, 0u);
  EXPECT_TRUE(app::check_disk_room(std::filesystem::temp_directory_path().string(), 1024).ok());
  common::Status s = app::check_disk_room(std::filesystem::temp_directory_path().string(), *free_bytes * 2);
  EXPECT_EQ(s.code(), common::StatusCode::kResourceExhausted);
  EXPECT_FALSE(app::free_disk_bytes("/nonexistent/dir").ok());
}

}  // namespace
