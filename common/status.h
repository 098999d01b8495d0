// Status and Result<T>: errors as values (leveldb style). An OK Status holds nothing.
// Status carries a code and one human-readable line; callers propagate with
//   if (!s.ok()) return s;
// Not for programming errors: those use CHECK (common/check.h).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace common {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // user input is wrong (config, flag, file content)
  kNotFound,         // a file, profile, preset or sensor does not exist
  kCorruption,       // a file exists but its content is damaged (checksum, truncation)
  kIOError,          // the OS refused (disk full, permission, read error)
  kResourceExhausted,// the plan does not fit the memory budget
  kUnavailable,      // a device or service is absent (no sensors, no torch)
  kInternal,         // should not happen; a bug reported as an error
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return Status(StatusCode::kInvalidArgument, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(StatusCode::kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(StatusCode::kCorruption, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(StatusCode::kIOError, std::move(msg)); }
  static Status ResourceExhausted(std::string msg) { return Status(StatusCode::kResourceExhausted, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(StatusCode::kUnavailable, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(StatusCode::kInternal, std::move(msg)); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid argument: run.toml: unknown block kind 'foo'"
  std::string to_string() const;
  // Prefix the message with context, e.g. the file name: s.with_context("run.toml").
  Status with_context(const std::string& context) const;

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Result<T>: a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}    // NOLINT: implicit by design
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace common

// Propagate a non-OK Status from an expression returning Status.
#define NS_RETURN_IF_ERROR(expr)          \
  do {                                    \
    ::common::Status _ns_s = (expr);      \
    if (!_ns_s.ok()) return _ns_s;        \
  } while (0)

#define NS_CONCAT_INNER(a, b) a##b
#define NS_CONCAT(a, b) NS_CONCAT_INNER(a, b)
// NS_ASSIGN_OR_RETURN(auto x, make_x()); binds the value or returns the Status.
#define NS_ASSIGN_OR_RETURN(lhs, expr)                                   \
  auto NS_CONCAT(_ns_r_, __LINE__) = (expr);                             \
  if (!NS_CONCAT(_ns_r_, __LINE__).ok()) return NS_CONCAT(_ns_r_, __LINE__).status(); \
  lhs = std::move(NS_CONCAT(_ns_r_, __LINE__)).value()
