// The real temperature source: lm-sensors' libsensors (the only file that includes
// <sensors/sensors.h> is libsensors_source.cpp). Lists temperature features and reads the chosen
// one fresh on every call; sensors are identified by chip name + label, never by hwmon number.
// libsensors' default hooks (which print to stderr or call exit) are replaced: parse errors go to
// common::log, a fatal error marks the library unusable and every read then fails cleanly.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "thermal/sensor_select.h"
#include "thermal/sensor_source.h"

namespace thermal {

// Every temperature feature libsensors sees right now, with its current value, max and crit.
// Empty when the machine has no temperature sensors (that is not an error).
// Unavailable when libsensors cannot start (no sysfs) or hit a fatal error earlier.
// libsensors keeps global state: call from one thread only (this applies to the whole file).
common::Result<std::vector<SensorInfo>> list_temperature_sensors();

class LibsensorsSource final : public SensorSource {
 public:
  // Chooses the sensor with choose_sensor(list_temperature_sensors(), patterns).
  // NotFound (listing the sensors that exist) when nothing fits; Unavailable as above.
  static common::Result<std::unique_ptr<LibsensorsSource>> open(const std::vector<std::string>& patterns);

  LibsensorsSource(const LibsensorsSource&) = delete;
  LibsensorsSource& operator=(const LibsensorsSource&) = delete;
  ~LibsensorsSource() override;

  // A fresh sysfs read of the input (libsensors applies sensors.conf compute rules). On an error
  // the library is reloaded once and the sensor looked up again by chip name + label (it may have
  // moved to another hwmon number or disappeared); failing that, a Reading with ok=false.
  Reading read() override;
  std::string describe() const override;
  // The sensor as it was when chosen (value fields are from that moment).
  const SensorInfo& sensor() const { return info_; }

 private:
  explicit LibsensorsSource(SensorInfo info);
  struct Handle;
  SensorInfo info_;
  std::unique_ptr<Handle> handle_;
};

}  // namespace thermal
