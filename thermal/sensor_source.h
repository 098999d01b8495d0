// SensorSource: one temperature reading at a time, from wherever it comes (libsensors, the
// simulated plant, a replay file, a test fake). The governor only ever sees this interface.
// Not a sensor list or a selector: see thermal/sensor_select.h for choosing among sensors.
#pragma once

#include <optional>
#include <string>

namespace thermal {

// One sample. When ok is false, temp_c is NaN and error says why ("k10temp-pci-00c3/Tctl:
// Kernel interface error"). max_c / crit_c are the sensor's own limits when the chip reports them.
struct Reading {
  bool ok = false;
  double temp_c = 0.0;
  std::optional<double> max_c;
  std::optional<double> crit_c;
  std::string error;

  static Reading value(double temp_c, std::optional<double> max_c = std::nullopt,
                       std::optional<double> crit_c = std::nullopt);
  static Reading failure(std::string error);
};

// A temperature source. read() takes a fresh sample every call (no caching across calls).
// Implementations are used from one thread; read() never throws and never blocks for long
// (a sysfs read, a CSV lookup, a few floating-point operations).
class SensorSource {
 public:
  virtual ~SensorSource() = default;
  virtual Reading read() = 0;
  // One line for logs and the dashboard: "libsensors k10temp-pci-00c3/Tctl",
  // "simulated plant (ambient 25 °C, tau 120 s, steady max 130 °C)", "replay night.csv".
  virtual std::string describe() const = 0;
};

}  // namespace thermal
