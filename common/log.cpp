// Process-wide log sink, stderr by default.
#include "common/log.h"

#include <cstdio>
#include <utility>

namespace common {

namespace {
std::mutex g_mu;
void stderr_sink(LogLevel level, const std::string& msg) {
  std::fprintf(stderr, "[%s] %s\n", log_level_name(level), msg.c_str());
}
LogFn& sink() {
  static LogFn s = stderr_sink;
  return s;
}
}  // namespace

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warn";
    case LogLevel::kError: return "error";
  }
  return "?";
}

LogFn set_log_sink(LogFn s) {
  std::lock_guard<std::mutex> lock(g_mu);
  LogFn old = std::move(sink());
  sink() = s ? std::move(s) : LogFn(stderr_sink);
  return old;
}

void log(LogLevel level, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_mu);
  sink()(level, message);
}

}  // namespace common
