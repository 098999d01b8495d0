// float_to_shortest and float_as_decimal through std::to_chars (shortest round trip).
#include "common/float_text.h"

#include <charconv>
#include <cstdlib>

namespace common {

std::string float_to_shortest(float value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (ec != std::errc()) return std::to_string(value);
  return std::string(buf, end);
}

double float_as_decimal(float value) {
  const std::string text = float_to_shortest(value);
  return std::strtod(text.c_str(), nullptr);
}

}  // namespace common
