// Sensor choice without libsensors: glob patterns, the CPU priority table, and the errors that
// list the sensors that exist.
#include <gtest/gtest.h>

#include "thermal/sensor_select.h"

namespace thermal {
namespace {

SensorInfo sensor(const std::string& prefix, const std::string& chip, const std::string& label,
                  std::optional<double> temp_c = 50.0) {
  SensorInfo s;
  s.chip_prefix = prefix;
  s.chip = chip;
  s.label = label;
  s.feature = "temp1";
  s.temp_c = temp_c;
  return s;
}

TEST(SensorSelect, PatternsMatchChipPrefixFullNameOrLabel) {
  SensorInfo s = sensor("k10temp", "k10temp-pci-00c3", "Tctl");
  EXPECT_TRUE(sensor_matches(s, "k10temp"));
  EXPECT_TRUE(sensor_matches(s, "k10temp*"));
  EXPECT_TRUE(sensor_matches(s, "k10temp-pci-00c3"));
  EXPECT_TRUE(sensor_matches(s, "Tctl"));
  EXPECT_TRUE(sensor_matches(s, "k10temp*/Tctl"));
  EXPECT_TRUE(sensor_matches(s, "*/T*"));
  EXPECT_FALSE(sensor_matches(s, "k10temp*/Tdie"));
  EXPECT_FALSE(sensor_matches(s, "coretemp"));
  EXPECT_FALSE(sensor_matches(s, "Tct"));
}

TEST(SensorSelect, AutoPrefersCpuPackageOverBoardAndDisks) {
  std::vector<SensorInfo> sensors = {
      sensor("acpitz", "acpitz-acpi-0", "temp1"),
      sensor("nvme", "nvme-pci-0100", "Composite"),
      sensor("coretemp", "coretemp-isa-0000", "Core 0"),
      sensor("coretemp", "coretemp-isa-0000", "Package id 0"),
  };
  auto chosen = choose_sensor(sensors, {});
  ASSERT_TRUE(chosen.ok()) << chosen.status().to_string();
  EXPECT_EQ(sensors[*chosen].label, "Package id 0");

  sensors.pop_back();
  EXPECT_EQ(sensors[*choose_sensor(sensors, {})].label, "Core 0");
  sensors.pop_back();
  EXPECT_EQ(sensors[*choose_sensor(sensors, {})].chip_prefix, "acpitz");
}

TEST(SensorSelect, AmdPrefersTctlAndArmCpuThermal) {
  std::vector<SensorInfo> amd = {sensor("k10temp", "k10temp-pci-00c3", "Tccd1"),
                                 sensor("k10temp", "k10temp-pci-00c3", "Tctl"),
                                 sensor("amdgpu", "amdgpu-pci-0300", "edge")};
  EXPECT_EQ(amd[*choose_sensor(amd, {})].label, "Tctl");
  std::vector<SensorInfo> pi = {sensor("rp1_adc", "rp1_adc-isa-0000", "temp1"),
                                sensor("cpu_thermal", "cpu_thermal-virtual-0", "temp1")};
  EXPECT_EQ(pi[*choose_sensor(pi, {})].chip_prefix, "cpu_thermal");
}

TEST(SensorSelect, UnreadableSensorsAreSkippedAutomatically) {
  std::vector<SensorInfo> sensors = {sensor("coretemp", "coretemp-isa-0000", "Package id 0", std::nullopt),
                                     sensor("acpitz", "acpitz-acpi-0", "temp1")};
  EXPECT_EQ(sensors[*choose_sensor(sensors, {})].chip_prefix, "acpitz");
  // ...but an explicit pattern may still choose it.
  EXPECT_EQ(*choose_sensor(sensors, {"coretemp*/Package*"}), 0u);
}

TEST(SensorSelect, OnlyNonCpuSensorsIsNotFoundUnlessAsked) {
  std::vector<SensorInfo> sensors = {sensor("nvme", "nvme-pci-0100", "Composite")};
  auto chosen = choose_sensor(sensors, {});
  ASSERT_FALSE(chosen.ok());
  EXPECT_NE(chosen.status().message().find("nvme-pci-0100/Composite"), std::string::npos);
  EXPECT_EQ(*choose_sensor(sensors, {"nvme"}), 0u);
}

TEST(SensorSelect, CatchAllPatternDoesNotPickADisk) {
  std::vector<SensorInfo> disk_only = {sensor("nvme", "nvme-pci-0100", "Composite")};
  EXPECT_FALSE(choose_sensor(disk_only, {"macsmc*", "*"}).ok());
  EXPECT_EQ(*choose_sensor(disk_only, {"nvme*"}), 0u);
  std::vector<SensorInfo> both = {sensor("nvme", "nvme-pci-0100", "Composite"), sensor("acpitz", "acpitz-acpi-0", "temp1")};
  EXPECT_EQ(*choose_sensor(both, {"*"}), 1u);
}

TEST(SensorSelect, PatternsInOrderOfPreference) {
  std::vector<SensorInfo> sensors = {sensor("acpitz", "acpitz-acpi-0", "temp1"),
                                     sensor("k10temp", "k10temp-pci-00c3", "Tctl")};
  EXPECT_EQ(*choose_sensor(sensors, {"acpitz*", "k10temp*"}), 0u);
  EXPECT_EQ(*choose_sensor(sensors, {"zenpower*", "k10temp*/Tctl", "*"}), 1u);
  // "*" matches everything: the priority table decides among the matches.
  EXPECT_EQ(*choose_sensor(sensors, {"*"}), 1u);
}

TEST(SensorSelect, UnknownPatternListsTheSensorsThatExist) {
  std::vector<SensorInfo> sensors = {sensor("k10temp", "k10temp-pci-00c3", "Tctl"),
                                     sensor("acpitz", "acpitz-acpi-0", "temp1")};
  auto chosen = choose_sensor(sensors, {"coretemp*"});
  ASSERT_FALSE(chosen.ok());
  EXPECT_EQ(chosen.status().code(), common::StatusCode::kNotFound);
  const std::string& m = chosen.status().message();
  EXPECT_NE(m.find("'coretemp*'"), std::string::npos) << m;
  EXPECT_NE(m.find("k10temp-pci-00c3/Tctl, acpitz-acpi-0/temp1"), std::string::npos) << m;
}

TEST(SensorSelect, NoSensorsAtAll) {
  auto chosen = choose_sensor({}, {});
  ASSERT_FALSE(chosen.ok());
  EXPECT_NE(chosen.status().message().find("no temperature sensors"), std::string::npos);
  EXPECT_EQ(list_sensor_ids({}), "none");
}

TEST(SensorSelect, PriorityTableOrder) {
  auto rank = [](const char* prefix, const char* label) {
    return sensor_priority(sensor(prefix, std::string(prefix) + "-x-0", label));
  };
  EXPECT_LT(*rank("coretemp", "Package id 0"), *rank("coretemp", "Core 3"));
  EXPECT_LT(*rank("k10temp", "Tctl"), *rank("acpitz", "temp1"));
  EXPECT_LT(*rank("zenpower", "Tdie"), *rank("acpitz", "temp1"));
  EXPECT_LT(*rank("cpu_thermal", "temp1"), *rank("acpitz", "temp1"));
  EXPECT_LT(*rank("acpitz", "temp1"), *rank("some_new_driver", "temp1"));
  EXPECT_FALSE(rank("nvme", "Composite").has_value());
  EXPECT_FALSE(rank("iwlwifi_1", "temp1").has_value());
}

}  // namespace
}  // namespace thermal
