// Parsing of /proc/meminfo and /proc/pressure/memory.
#include "profiles/meminfo.h"

#include <charconv>
#include <fstream>
#include <sstream>

namespace profiles {

using common::Result;
using common::Status;

namespace {

Result<std::string> slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<MemInfo> parse_meminfo(std::string_view text, const std::string& source) {
  MemInfo m;
  bool has_total = false;
  uint64_t buffers = 0, cached = 0;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon);
    std::string_view rest = trim(line.substr(colon + 1));
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
    if (ec != std::errc()) {
      return Status::InvalidArgument(source + ":" + std::to_string(line_no) + ": '" + std::string(key) +
                                     "' is not a number");
    }
    std::string_view unit = trim(std::string_view(ptr, rest.data() + rest.size() - ptr));
    uint64_t bytes = unit == "kB" ? value * 1024 : value;
    if (key == "MemTotal") {
      m.total_bytes = bytes;
      has_total = true;
    } else if (key == "MemFree") {
      m.free_bytes = bytes;
    } else if (key == "MemAvailable") {
      m.available_bytes = bytes;
      m.has_available = true;
    } else if (key == "Buffers") {
      buffers = bytes;
    } else if (key == "Cached") {
      cached = bytes;
    } else if (key == "SwapTotal") {
      m.swap_total_bytes = bytes;
    } else if (key == "SwapFree") {
      m.swap_free_bytes = bytes;
    }
  }
  if (!has_total) return Status::InvalidArgument(source + ": no MemTotal line");
  if (!m.has_available) m.available_bytes = std::min(m.total_bytes, m.free_bytes + buffers + cached);
  return m;
}

Result<MemInfo> read_meminfo(const std::string& path) {
  NS_ASSIGN_OR_RETURN(std::string text, slurp(path));
  return parse_meminfo(text, path);
}

Result<MemoryPressure> parse_memory_pressure(std::string_view text, const std::string& source) {
  MemoryPressure p;
  bool has_some = false;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string kind, field;
    ls >> kind;
    if (kind != "some" && kind != "full") continue;
    double avg10 = 0, avg60 = 0;
    uint64_t total = 0;
    int seen = 0;
    while (ls >> field) {
      size_t eq = field.find('=');
      if (eq == std::string::npos) continue;
      std::string k = field.substr(0, eq), v = field.substr(eq + 1);
      try {
        if (k == "avg10") avg10 = std::stod(v), ++seen;
        else if (k == "avg60") avg60 = std::stod(v), ++seen;
        else if (k == "total") total = std::stoull(v), ++seen;
      } catch (const std::exception&) {
        return Status::InvalidArgument(source + ": bad value in '" + field + "'");
      }
    }
    if (seen < 3) return Status::InvalidArgument(source + ": '" + kind + "' line lacks avg10/avg60/total");
    if (kind == "some") {
      p.some_avg10 = avg10, p.some_avg60 = avg60, p.some_total_us = total;
      has_some = true;
    } else {
      p.full_avg10 = avg10, p.full_avg60 = avg60, p.full_total_us = total;
    }
  }
  if (!has_some) return Status::InvalidArgument(source + ": no 'some' line");
  return p;
}

Result<MemoryPressure> read_memory_pressure(const std::string& path) {
  Result<std::string> text = slurp(path);
  if (!text.ok()) return Status::Unavailable(path + ": no pressure stall information on this kernel");
  return parse_memory_pressure(*text, path);
}

}  // namespace profiles
