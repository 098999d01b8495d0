// LogSink: the one place progress and warnings go. Nothing writes to stdout/stderr directly once a
// dashboard is up: the app swaps the sink (stderr lines, a ring buffer for the TUI, or both).
// Thread-safe: log() may be called from any thread.
#pragma once

#include <functional>
#include <mutex>
#include <string>

namespace common {

enum class LogLevel { kDebug = 0, kInfo, kWarning, kError };

const char* log_level_name(LogLevel level);

// Replace the process-wide sink. The default writes "[warn] message" lines to stderr.
// Returns the previous sink so a caller can restore it.
using LogFn = std::function<void(LogLevel, const std::string&)>;
LogFn set_log_sink(LogFn sink);
void log(LogLevel level, const std::string& message);

inline void log_info(const std::string& m) { log(LogLevel::kInfo, m); }
inline void log_warning(const std::string& m) { log(LogLevel::kWarning, m); }
inline void log_error(const std::string& m) { log(LogLevel::kError, m); }

}  // namespace common
