// Host detection pieces: meminfo and PSI parsing, the hwmon sensor list from a fake sysfs tree,
// sensor pattern matching, the host profile built from hand-made facts, and hwloc on this machine.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/units.h"
#include "profiles/host.h"

namespace profiles {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMeminfo =
    "MemTotal:       16384000 kB\n"
    "MemFree:         1000000 kB\n"
    "MemAvailable:    6000000 kB\n"
    "Buffers:          100000 kB\n"
    "Cached:          3000000 kB\n"
    "SwapTotal:       2000000 kB\n"
    "SwapFree:        1500000 kB\n"
    "HugePages_Total:       0\n";

TEST(Meminfo, ParsesTheFields) {
  common::Result<MemInfo> m = parse_meminfo(kMeminfo);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->total_bytes, 16384000ull * 1024);
  EXPECT_EQ(m->available_bytes, 6000000ull * 1024);
  EXPECT_EQ(m->swap_free_bytes, 1500000ull * 1024);
  EXPECT_TRUE(m->has_available);
}

TEST(Meminfo, OldKernelsEstimateAvailable) {
  common::Result<MemInfo> m = parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 200 kB\n");
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->has_available);
  EXPECT_EQ(m->available_bytes, 310ull * 1024);
}

TEST(Meminfo, RejectsGarbage) {
  EXPECT_FALSE(parse_meminfo("MemFree: 100 kB\n").ok());  // no MemTotal
  common::Result<MemInfo> m = parse_meminfo("MemTotal: lots kB\n", "fake");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("fake:1"), std::string::npos);
  EXPECT_EQ(read_meminfo("/nonexistent/meminfo").status().code(), common::StatusCode::kNotFound);
}

TEST(Meminfo, ReadsThisMachine) {
  common::Result<MemInfo> m = read_meminfo();
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_GT(m->total_bytes, 64 * common::kMiB);
  EXPECT_LE(m->available_bytes, m->total_bytes);
}

TEST(MemoryPressure, ParsesSomeAndFull) {
  common::Result<MemoryPressure> p = parse_memory_pressure(
      "some avg10=12.50 avg60=3.00 avg300=1.00 total=123456\nfull avg10=4.25 avg60=1.00 avg300=0.10 total=789\n", "psi");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_DOUBLE_EQ(p->some_avg10, 12.5);
  EXPECT_DOUBLE_EQ(p->full_avg10, 4.25);
  EXPECT_EQ(p->some_total_us, 123456u);
  EXPECT_FALSE(parse_memory_pressure("full avg10=1 avg60=1 total=1\n", "psi").ok());
  EXPECT_FALSE(parse_memory_pressure("some avg10=x avg60=1 total=1\n", "psi").ok());
  EXPECT_EQ(read_memory_pressure("/nonexistent/psi").status().code(), common::StatusCode::kUnavailable);
}

class FakeHwmon : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(testing::TempDir()) / ("hwmon_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    add("hwmon0", "acpitz", {{1, ""}});
    add("hwmon3", "k10temp", {{1, "Tctl"}, {3, "Tccd1"}});
    add("hwmon2", "nvme", {{1, "Composite"}});
    fs::create_directories(root_ / "hwmon9");  // no name file: skipped
  }
  void TearDown() override { fs::remove_all(root_); }
  void add(const std::string& dir, const std::string& name, std::vector<std::pair<int, std::string>> temps) {
    fs::create_directories(root_ / dir);
    std::ofstream(root_ / dir / "name") << name << "\n";
    for (const auto& [i, label] : temps) {
      std::ofstream(root_ / dir / ("temp" + std::to_string(i) + "_input")) << "45000\n";
      if (!label.empty()) std::ofstream(root_ / dir / ("temp" + std::to_string(i) + "_label")) << label << "\n";
    }
  }
  fs::path root_;
};

TEST_F(FakeHwmon, ListsSensorsInOrderWithLabels) {
  std::vector<HwmonSensor> s = list_hwmon_sensors(root_.string());
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].chip, "acpitz");
  EXPECT_EQ(s[0].label, "temp1");  // no label file
  EXPECT_EQ(s[1].chip, "nvme");
  EXPECT_EQ(s[2].chip, "k10temp");
  EXPECT_EQ(s[2].label, "Tctl");
  EXPECT_EQ(s[3].label, "Tccd1");
  EXPECT_NE(s[2].input_path.find("temp1_input"), std::string::npos);
  EXPECT_TRUE(list_hwmon_sensors((root_ / "missing").string()).empty());
}

TEST_F(FakeHwmon, PatternsPickThePreferredSensor) {
  std::vector<HwmonSensor> s = list_hwmon_sensors(root_.string());
  EXPECT_TRUE(sensor_matches("k10temp*", s[2]));
  EXPECT_TRUE(sensor_matches("k10temp/Tc*", s[3]));
  EXPECT_FALSE(sensor_matches("k10temp/Tctl", s[3]));
  EXPECT_FALSE(sensor_matches("coretemp*", s[2]));
  const HwmonSensor* pick = pick_sensor({"coretemp*", "k10temp*/Tctl", "*"}, s);
  ASSERT_NE(pick, nullptr);
  EXPECT_EQ(pick->label, "Tctl");
  EXPECT_EQ(pick_sensor({"coretemp*"}, s), nullptr);
}

TEST_F(FakeHwmon, HostProfileFromFacts) {
  HostInfo info;
  info.topology.cores = 8;
  info.topology.pus = 16;
  info.cpu_model = "Test CPU";
  info.simd_flops_per_cycle = 32;
  info.max_freq_ghz = 3.0;
  info.memory = *parse_meminfo(kMeminfo);
  info.sensors = list_hwmon_sensors(root_.string());
  HardwareProfile p = host_profile_from(info);
  EXPECT_EQ(p.name, "host");
  EXPECT_EQ(p.compute.cores, 8);
  EXPECT_DOUBLE_EQ(p.compute.peak_gflops, 8 * 32 * 3.0);
  ASSERT_EQ(p.memory.reservations.size(), 2u);
  EXPECT_EQ(p.memory.reservations[0].name, "in_use");
  EXPECT_EQ(p.memory.reservations[0].bytes, (16384000ull - 6000000ull) * 1024);
  const uint64_t margin = 16384000ull * 1024 / 20;  // 5% of RAM (within [256 MiB, 1 GiB])
  EXPECT_EQ(p.memory.reservations[1].bytes, margin);
  EXPECT_EQ(p.memory.available_bytes(), 6000000ull * 1024 - margin);
  // CPU drivers first, ACPI last.
  ASSERT_EQ(p.thermal.sensors.size(), 4u);
  EXPECT_EQ(p.thermal.sensors.front(), "k10temp/Tctl");
  EXPECT_EQ(p.thermal.sensors.back(), "acpitz/temp1");
}

TEST(HostMargin, ClampedBetweenLimits) {
  EXPECT_EQ(host_swap_margin_bytes(2 * common::kGiB), 256 * common::kMiB);
  EXPECT_EQ(host_swap_margin_bytes(10 * common::kGiB), 10 * common::kGiB / 20);
  EXPECT_EQ(host_swap_margin_bytes(64 * common::kGiB), common::kGiB);
}

TEST(Hwloc, DetectsThisMachine) {
  common::Result<HostTopology> t = detect_topology();
  if (!t.ok()) GTEST_SKIP() << t.status().message();
  EXPECT_GE(t->packages, 1);
  EXPECT_GE(t->cores, 1);
  EXPECT_GE(t->pus, t->cores);
}

}  // namespace
}  // namespace profiles
