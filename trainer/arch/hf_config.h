// HfConfig: a Hugging Face config.json as the architectures read it — typed lookups of its keys
// (with the aliases some model families use) whose errors name the file and the key. Keeps the JSON
// library inside trainer/arch/hf_config.cpp.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainer {

class HfConfig {
 public:
  // Reads and parses `path`. NotFound / InvalidArgument naming the file.
  static common::Result<HfConfig> load(const std::string& path);
  // From JSON text (`source` names it in errors).
  static common::Result<HfConfig> parse(const std::string& text, const std::string& source);
  HfConfig(HfConfig&&) noexcept;
  HfConfig& operator=(HfConfig&&) noexcept;
  ~HfConfig();

  const std::string& source() const;
  // The first present key of `keys` (aliases): its value, nullopt when none is present or it is null;
  // InvalidArgument naming the file and the key when present with another type.
  common::Result<std::optional<int64_t>> get_int(std::initializer_list<const char*> keys) const;
  common::Result<std::optional<double>> get_number(std::initializer_list<const char*> keys) const;
  common::Result<std::optional<bool>> get_bool(std::initializer_list<const char*> keys) const;
  common::Result<std::optional<std::string>> get_string(std::initializer_list<const char*> keys) const;
  // Present and not null.
  bool has(const char* key) const;
  // A nested object as a config of its own ("rope_scaling"); nullopt when absent or null.
  common::Result<std::optional<HfConfig>> get_object(const char* key) const;
  // The strings of an array ("architectures", "layer_types"); empty when absent.
  common::Result<std::vector<std::string>> get_strings(const char* key) const;
  // The integers of an array ("full_attn_idxs"); empty when absent.
  common::Result<std::vector<int64_t>> get_ints(const char* key) const;

  // A required integer: InvalidArgument "FILE: missing 'key'" when absent.
  common::Result<int64_t> require_int(std::initializer_list<const char*> keys) const;

 private:
  struct Impl;
  explicit HfConfig(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainer
