// Replay CSV parsing and playback.
#include "thermal/replay_source.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "common/atomic_file.h"

namespace thermal {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::optional<double> parse_number(std::string_view s) {
  double v = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

}  // namespace

common::Result<std::vector<ReplayRow>> parse_replay_csv(std::string_view text, const std::string& name) {
  std::vector<ReplayRow> rows;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    auto bad = [&](const std::string& what) {
      return common::Status::InvalidArgument(fmt::format("{}:{}: {}", name, line_no, what));
    };
    size_t comma = line.find(',');
    if (comma == std::string_view::npos) {
      return bad(fmt::format("expected 'time_s,temp_c', got '{}'", line));
    }
    std::string_view time_field = trim(line.substr(0, comma));
    std::string_view temp_field = trim(line.substr(comma + 1));
    if (temp_field.find(',') != std::string_view::npos) {
      return bad(fmt::format("expected two fields 'time_s,temp_c', got '{}'", line));
    }
    if (rows.empty() && time_field == "time_s") continue;  // the header
    std::optional<double> time_s = parse_number(time_field);
    if (!time_s || !std::isfinite(*time_s) || *time_s < 0) {
      return bad(fmt::format("time '{}' is not a non-negative number of seconds", time_field));
    }
    if (!rows.empty() && *time_s < rows.back().time_s) {
      return bad(fmt::format("time {:g} s is before the previous row's {:g} s", *time_s, rows.back().time_s));
    }
    ReplayRow row;
    row.time_s = *time_s;
    if (!temp_field.empty() && temp_field != "error") {
      std::optional<double> temp_c = parse_number(temp_field);
      if (!temp_c) return bad(fmt::format("temperature '{}' is not a number (or 'error')", temp_field));
      row.temp_c = *temp_c;
    }
    rows.push_back(row);
  }
  if (rows.empty()) return common::Status::InvalidArgument(fmt::format("{}: no data rows", name));
  return rows;
}

common::Result<std::unique_ptr<ReplaySource>> ReplaySource::load(const std::string& path, const common::Clock& clock) {
  common::Result<std::string> text = common::read_file(path);
  if (!text.ok()) return text.status();
  NS_ASSIGN_OR_RETURN(std::vector<ReplayRow> rows, parse_replay_csv(*text, path));
  return std::make_unique<ReplaySource>(std::move(rows), path, clock);
}

ReplaySource::ReplaySource(std::vector<ReplayRow> rows, std::string name, const common::Clock& clock)
    : rows_(std::move(rows)), name_(std::move(name)), clock_(clock), start_s_(clock.now_s()) {}

Reading ReplaySource::read() {
  double t = clock_.now_s() - start_s_;
  auto it = std::upper_bound(rows_.begin(), rows_.end(), t,
                             [](double value, const ReplayRow& row) { return value < row.time_s; });
  const ReplayRow& row = it == rows_.begin() ? rows_.front() : *(it - 1);
  if (!row.temp_c) return Reading::failure(fmt::format("{} at {:g} s: read error", name_, row.time_s));
  return Reading::value(*row.temp_c);
}

}  // namespace thermal
