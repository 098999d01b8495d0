// CSV and JSON rendering of run log tables. Reals use fmt's shortest round-trip form; JSON goes
// through nlohmann-json so strings are escaped correctly.
#include "app/runlog/run_log_export.h"

#include <fmt/format.h>

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

}  // namespace

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
