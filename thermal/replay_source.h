// ReplaySource: temperatures from a CSV file of "time_s,temp_c" rows, played back on the injected
// Clock (time 0 = when the source was loaded). For `--thermal replay:FILE`, for reproducing a
// night, and for tests that need a scripted temperature course through the real wiring.
// File format: optional "time_s,temp_c" header, '#' comments and blank lines ignored, times
// non-decreasing. A temp_c of "error" or an empty field is a failed read at that time; "nan" and
// any number are passed through (the governor decides what is plausible).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "thermal/sensor_source.h"

namespace thermal {

struct ReplayRow {
  double time_s = 0;
  std::optional<double> temp_c;   // nullopt: a failed read
};

// Parses the CSV text. InvalidArgument "NAME:LINE: problem" for a malformed row, a time going
// backwards, or a file without data rows ("NAME: no data rows").
common::Result<std::vector<ReplayRow>> parse_replay_csv(std::string_view text, const std::string& name);

class ReplaySource final : public SensorSource {
 public:
  // Reads and parses `path` (NotFound / IOError / InvalidArgument naming the file).
  static common::Result<std::unique_ptr<ReplaySource>> load(const std::string& path, const common::Clock& clock);
  ReplaySource(std::vector<ReplayRow> rows, std::string name, const common::Clock& clock);

  // The row in force at (now − start): the last one whose time is not after it; before the first
  // row, the first; after the last, the last (held).
  Reading read() override;
  std::string describe() const override { return "replay " + name_; }

 private:
  std::vector<ReplayRow> rows_;
  std::string name_;
  const common::Clock& clock_;
  double start_s_;
};

}  // namespace thermal
