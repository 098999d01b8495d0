// CSV and JSON rendering of run log tables. Reals use fmt's shortest round-trip form; JSON goes
// through nlohmann-json so strings are escaped correctly.
#include "app/runlog/run_log_export.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace app {
namespace {

std::string csv_field(const SqlValue& v) {
  if (std::holds_alternative<std::monostate>(v)) return "";
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) return fmt::format("{}", *d);
  const std::string& s = std::get<std::string>(v);
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

nlohmann::ordered_json json_value(const SqlValue& v) {
  if (std::holds_alternative<std::monostate>(v)) return nullptr;
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return std::get<std::string>(v);
}

constexpr std::array<const char*, 5> kTimeColumns = {"time", "started", "finished", "updated", "done_time"};

}  // namespace

std::string iso8601_utc(double epoch_s) {
  double whole = std::floor(epoch_s);
  long long ms = std::llround((epoch_s - whole) * 1000.0);
  std::time_t t = static_cast<std::time_t>(whole);
  if (ms >= 1000) {
    ms -= 1000;
    ++t;
  }
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];  // room for any int the compiler cannot bound
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(std::clamp(ms, 0LL, 999LL)));
  return buf;
}

void add_iso_time_columns(TableData& table) {
  for (size_t c = table.columns.size(); c-- > 0;) {
    const std::string name = table.columns[c];
    if (std::find(kTimeColumns.begin(), kTimeColumns.end(), name) == kTimeColumns.end()) continue;
    table.columns.insert(table.columns.begin() + static_cast<std::ptrdiff_t>(c) + 1, name + "_iso");
    for (auto& row : table.rows) {
      if (c >= row.size()) continue;
      SqlValue iso;
      if (const auto* d = std::get_if<double>(&row[c])) iso = iso8601_utc(*d);
      if (const auto* i = std::get_if<int64_t>(&row[c])) iso = iso8601_utc(static_cast<double>(*i));
      row.insert(row.begin() + static_cast<std::ptrdiff_t>(c) + 1, std::move(iso));
    }
  }
}

std::string table_to_csv(const TableData& table) {
  std::string out;
  for (size_t c = 0; c < table.columns.size(); ++c) {
    out += (c ? "," : "") + csv_field(table.columns[c]);
  }
  out += "\n";
  for (const auto& row : table.rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (c) out += ',';
      out += csv_field(row[c]);
    }
    out += "\n";
  }
  return out;
}

std::string table_to_json(const TableData& table) {
  std::string out = "[";
  for (size_t r = 0; r < table.rows.size(); ++r) {
    nlohmann::ordered_json obj = nlohmann::ordered_json::object();
    for (size_t c = 0; c < table.columns.size() && c < table.rows[r].size(); ++c) {
      obj[table.columns[c]] = json_value(table.rows[r][c]);
    }
    out += (r ? ",\n" : "\n") + obj.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
  return out + "\n]\n";
}

}  // namespace app
