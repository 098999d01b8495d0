// HfConfig over nlohmann::json (hf_config.h).
#include "trainer/arch/hf_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace trainer {

using common::Result;
using common::Status;

struct HfConfig::Impl {
  nlohmann::json json;
  std::string source;

  // The first present, non-null key of `keys`, or nullptr.
  const nlohmann::json* find(std::initializer_list<const char*> keys, const char** found) const {
    for (const char* k : keys) {
      auto it = json.find(k);
      if (it != json.end() && !it->is_null()) {
        *found = k;
        return &*it;
      }
    }
    return nullptr;
  }
  Status wrong(const char* key, const char* what) const {
    return Status::InvalidArgument(source + ": '" + key + "' must be " + what);
  }
};

HfConfig::HfConfig(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HfConfig::HfConfig(HfConfig&&) noexcept = default;
HfConfig& HfConfig::operator=(HfConfig&&) noexcept = default;
HfConfig::~HfConfig() = default;

Result<HfConfig> HfConfig::parse(const std::string& text, const std::string& source) {
  auto impl = std::make_unique<Impl>();
  impl->source = source;
  impl->json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (impl->json.is_discarded()) return Status::InvalidArgument(source + ": not valid JSON");
  if (!impl->json.is_object()) return Status::InvalidArgument(source + ": expected a JSON object");
  return HfConfig(std::move(impl));
}

Result<HfConfig> HfConfig::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(path + ": cannot open (a Hugging Face model directory needs config.json)");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

const std::string& HfConfig::source() const { return impl_->source; }

Result<std::optional<int64_t>> HfConfig::get_int(std::initializer_list<const char*> keys) const {
  const char* k = nullptr;
  const nlohmann::json* v = impl_->find(keys, &k);
  if (v == nullptr) return std::optional<int64_t>();
  if (!v->is_number_integer()) return impl_->wrong(k, "an integer");
  return std::optional<int64_t>(v->get<int64_t>());
}

Result<std::optional<double>> HfConfig::get_number(std::initializer_list<const char*> keys) const {
  const char* k = nullptr;
  const nlohmann::json* v = impl_->find(keys, &k);
  if (v == nullptr) return std::optional<double>();
  if (!v->is_number()) return impl_->wrong(k, "a number");
  return std::optional<double>(v->get<double>());
}

Result<std::optional<bool>> HfConfig::get_bool(std::initializer_list<const char*> keys) const {
  const char* k = nullptr;
  const nlohmann::json* v = impl_->find(keys, &k);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) return impl_->wrong(k, "true or false");
  return std::optional<bool>(v->get<bool>());
}

Result<std::optional<std::string>> HfConfig::get_string(std::initializer_list<const char*> keys) const {
  const char* k = nullptr;
  const nlohmann::json* v = impl_->find(keys, &k);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return impl_->wrong(k, "a string");
  return std::optional<std::string>(v->get<std::string>());
}

bool HfConfig::has(const char* key) const {
  auto it = impl_->json.find(key);
  return it != impl_->json.end() && !it->is_null();
}

Result<std::optional<HfConfig>> HfConfig::get_object(const char* key) const {
  auto it = impl_->json.find(key);
  if (it == impl_->json.end() || it->is_null()) return std::optional<HfConfig>();
  if (!it->is_object()) return impl_->wrong(key, "an object");
  auto impl = std::make_unique<Impl>();
  impl->json = *it;
  impl->source = impl_->source + " (" + key + ")";
  return std::optional<HfConfig>(HfConfig(std::move(impl)));
}

Result<std::vector<std::string>> HfConfig::get_strings(const char* key) const {
  std::vector<std::string> out;
  auto it = impl_->json.find(key);
  if (it == impl_->json.end() || it->is_null()) return out;
  if (!it->is_array()) return impl_->wrong(key, "an array of strings");
  for (const auto& v : *it) {
    if (!v.is_string()) return impl_->wrong(key, "an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<std::vector<int64_t>> HfConfig::get_ints(const char* key) const {
  std::vector<int64_t> out;
  auto it = impl_->json.find(key);
  if (it == impl_->json.end() || it->is_null()) return out;
  if (!it->is_array()) return impl_->wrong(key, "an array of integers");
  for (const auto& v : *it) {
    if (!v.is_number_integer()) return impl_->wrong(key, "an array of integers");
    out.push_back(v.get<int64_t>());
  }
  return out;
}

Result<int64_t> HfConfig::require_int(std::initializer_list<const char*> keys) const {
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> v, get_int(keys));
  if (!v) return Status::InvalidArgument(impl_->source + ": missing '" + std::string(*keys.begin()) + "'");
  return *v;
}

}  // namespace trainer
