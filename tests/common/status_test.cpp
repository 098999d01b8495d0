// Tests for common/: Status, Result, units formatting, atomic file writes, FakeClock.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/units.h"

namespace {

common::Result<int> parse_positive(int x) {
  if (x <= 0) return common::Status::InvalidArgument("x must be positive, got " + std::to_string(x));
  return x * 2;
}

common::Status use_macro(int x, int* out) {
  NS_ASSIGN_OR_RETURN(int v, parse_positive(x));
  *out = v;
  return common::Status::Ok();
}

TEST(Status, OkAndErrorCarryMessages) {
  EXPECT_TRUE(common::Status::Ok().ok());
  common::Status s = common::Status::NotFound("profile 'x' not found").with_context("run.toml");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), common::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "run.toml: profile 'x' not found");
  EXPECT_EQ(s.to_string(), "not found: run.toml: profile 'x' not found");
}

TEST(Result, AssignOrReturnPropagates) {
  int out = 0;
  EXPECT_TRUE(use_macro(3, &out).ok());
  EXPECT_EQ(out, 6);
  common::Status s = use_macro(-1, &out);
  EXPECT_EQ(s.code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("-1"), std::string::npos);
}

TEST(Units, FormatsBytesAndDurations) {
  EXPECT_EQ(common::format_bytes(512), "512 B");
  EXPECT_EQ(common::format_bytes(3 * common::kMiB / 2), "1.5 MiB");
  EXPECT_EQ(common::format_bytes(8 * common::kGiB), "8.00 GiB");
  EXPECT_EQ(common::format_duration(65), "1m05s");
  EXPECT_EQ(common::format_duration(3720), "1h02m");
}

TEST(AtomicFile, WritesAndReplacesWithoutLeavingTemporaries) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("ns_atomic_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = (dir / "state.json").string();
  ASSERT_TRUE(common::write_file_atomic(path, "first").ok());
  ASSERT_TRUE(common::write_file_atomic(path, "second").ok());
  auto back = common::read_file(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "second");
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) { (void)e; ++files; }
  EXPECT_EQ(files, 1);
  EXPECT_EQ(common::read_file((dir / "missing").string()).status().code(), common::StatusCode::kNotFound);
  // A directory that does not exist: error, nothing created.
  EXPECT_FALSE(common::write_file_atomic((dir / "no" / "x").string(), "y").ok());
  fs::remove_all(dir);
}

TEST(FakeClock, AdvancesOnlyWhenTold) {
  common::FakeClock clock(10.0);
  EXPECT_DOUBLE_EQ(clock.now_s(), 10.0);
  clock.sleep_ms(1500);
  EXPECT_DOUBLE_EQ(clock.now_s(), 11.5);
  clock.advance_s(2);
  EXPECT_DOUBLE_EQ(clock.now_s(), 13.5);
}

}  // namespace
