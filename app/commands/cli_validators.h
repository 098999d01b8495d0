// CLI11 validators shared by the subcommands' flags.
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <string>

namespace app {

// Refuses NaN and infinities. CLI::Range lets NaN through (every comparison with NaN is false), so
// number flags that feed arithmetic check this first. Text that is not a number is left to the
// option's own type check.
inline const CLI::Validator finite_number(
    [](std::string& text) -> std::string {
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str()) return std::string();
      return std::isfinite(v) ? std::string() : "'" + text + "' is not a finite number";
    },
    "", "finite");

}  // namespace app
