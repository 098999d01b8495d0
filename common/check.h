// CHECK: invariants that only a bug can break. Aborts with file:line and the failed condition.
// User-caused errors never go through CHECK; they return a Status (common/status.h).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace common {
[[noreturn]] void check_failed(const char* file, int line, const char* cond, const char* msg);
}  // namespace common

#define CHECK(cond)                                                    \
  do {                                                                 \
    if (!(cond)) ::common::check_failed(__FILE__, __LINE__, #cond, ""); \
  } while (0)

#define CHECK_MSG(cond, msg)                                              \
  do {                                                                    \
    if (!(cond)) ::common::check_failed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
