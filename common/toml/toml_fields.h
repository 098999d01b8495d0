// Typed readers of the fields of a TOML table (toml++), shared by every file that reads a TOML
// config: the hardware profiles, the model configs and presets, the run config and its [lora]
// table. One place for the checks each field needs (its type, a range, required or optional) and
// for the one-line error naming the file, the position and the key. This module is the one that
// includes toml++: the config readers include this header for the toml:: types.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace common::tomlf {

// "file:line:column" of a place in a TOML file.
std::string where(const toml::source_region& src, const std::string& file);
inline std::string where(const toml::node& n, const std::string& file) { return where(n.source(), file); }
// A parse failure as one line: "file:line:column: what is wrong".
Status parse_error(const toml::parse_error& e, const std::string& file);

// How strictly a value must have the TOML type asked for.
enum class Types {
  kStrict,  // an integer is a TOML integer, a boolean is true or false
  // toml++'s own conversions (what its node::value<T>() gives): a boolean reads as 0 or 1 where an
  // integer is asked for, an integer as false or true where a boolean is. Floats are never integers.
  kConversions,
};

// The fields of one table of one file. A reader leaves *out alone when the key is absent (an error
// only when the key is required) and otherwise stores the value or returns InvalidArgument:
//   "file:line:column: 'key' must be an integer"        (errors at the value, the default)
//   "file: [lora] key must be an integer"                (with in_table("[lora]"): errors name the table)
class Fields {
 public:
  Fields(const toml::table& table, const std::string& file, Types types = Types::kStrict)
      : table_(table), file_(file), types_(types) {}
  // Messages name `table_name` instead of the value's position.
  Fields& in_table(std::string table_name) {
    table_name_ = std::move(table_name);
    return *this;
  }

  // Integers and floats alike.
  Status number(const char* key, double* out) const;
  Status number(const char* key, float* out) const;
  Status number(const char* key, std::optional<double>* out) const;
  // A number in [lo, hi] ("'key' = 120 is out of range [0, 100]"). A missing required key is
  // reported at `missing_at` (default: the table).
  Status number_in(const char* key, double lo, double hi, double* out, bool required = false,
                   const toml::node* missing_at = nullptr) const;

  // An integer, stored with static_cast (no range check).
  template <typename T>
  Status integer(const char* key, T* out) const {
    std::optional<int64_t> v;
    NS_RETURN_IF_ERROR(read_integer(key, &v));
    if (v) assign(out, *v);
    return Status::Ok();
  }
  // An integer in [lo, hi].
  Status integer_in(const char* key, int64_t lo, int64_t hi, int* out, bool required = false) const;

  Status string(const char* key, std::string* out) const;
  Status string(const char* key, std::optional<std::string>* out) const;
  Status boolean(const char* key, bool* out) const;

  // An error about `key` in this table's style: "file:line:column: 'key' <what>" at the value (the
  // table when the key is absent), or "file: [lora] key <what>".
  Status bad(const char* key, const std::string& what) const;

 private:
  Status read_integer(const char* key, std::optional<int64_t>* out) const;
  Status missing(const char* key, const toml::node* at) const;
  template <typename T>
  static void assign(T* out, int64_t v) {
    *out = static_cast<T>(v);
  }
  template <typename T>
  static void assign(std::optional<T>* out, int64_t v) {
    *out = static_cast<T>(v);
  }

  const toml::table& table_;
  std::string file_;
  Types types_;
  std::string table_name_;
};

}  // namespace common::tomlf
