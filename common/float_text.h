// Decimal text of float32 values. A float widened to double prints its binary noise
// (0.001f -> 0.0010000000474974513); these give the shortest decimal that reads back as the same
// float instead, for files and messages people read (model.toml, run config JSON, config diffs).
#pragma once

#include <string>

namespace common {

// The shortest decimal that parses back to `value` as a float ("0.001", "1e-05", "0.9").
std::string float_to_shortest(float value);
// That decimal as a double (0.001f -> 0.001): what to hand to a writer that prints doubles.
double float_as_decimal(float value);

}  // namespace common
