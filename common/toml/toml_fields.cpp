// The typed TOML field readers (toml_fields.h).
#include "common/toml/toml_fields.h"

#include <sstream>

namespace common::tomlf {

std::string where(const toml::source_region& src, const std::string& file) {
  return file + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
}

Status parse_error(const toml::parse_error& e, const std::string& file) {
  return Status::InvalidArgument(where(e.source(), file) + ": " + std::string(e.description()));
}

Status Fields::bad(const char* key, const std::string& what) const {
  if (!table_name_.empty()) return Status::InvalidArgument(file_ + ": " + table_name_ + " " + key + " " + what);
  const toml::node* n = table_.get(key);
  return Status::InvalidArgument(where(n ? *n : static_cast<const toml::node&>(table_), file_) + ": '" + key + "' " +
                                 what);
}

Status Fields::missing(const char* key, const toml::node* at) const {
  const std::string what = std::string("missing required key '") + key + "'";
  if (!table_name_.empty()) return Status::InvalidArgument(file_ + ": " + table_name_ + " " + what);
  return Status::InvalidArgument(where(at ? *at : static_cast<const toml::node&>(table_), file_) + ": " + what);
}

namespace {

template <typename T>
std::string out_of_range(const char* key, T v, T lo, T hi) {
  std::ostringstream os;
  os << "= " << v << " is out of range [" << lo << ", " << hi << "]";
  return os.str();
}

}  // namespace

Status Fields::number(const char* key, double* out) const {
  const toml::node* n = table_.get(key);
  if (!n) return Status::Ok();
  if (!n->is_number()) return bad(key, "must be a number");
  *out = *n->value<double>();
  return Status::Ok();
}

Status Fields::number(const char* key, float* out) const {
  double v = 0;
  if (!table_.get(key)) return Status::Ok();
  NS_RETURN_IF_ERROR(number(key, &v));
  *out = static_cast<float>(v);
  return Status::Ok();
}

Status Fields::number(const char* key, std::optional<double>* out) const {
  double v = 0;
  if (!table_.get(key)) return Status::Ok();
  NS_RETURN_IF_ERROR(number(key, &v));
  *out = v;
  return Status::Ok();
}

Status Fields::number_in(const char* key, double lo, double hi, double* out, bool required,
                         const toml::node* missing_at) const {
  if (!table_.get(key)) return required ? missing(key, missing_at) : Status::Ok();
  double v = 0;
  NS_RETURN_IF_ERROR(number(key, &v));
  if (!(v >= lo && v <= hi)) return bad(key, out_of_range(key, v, lo, hi));
  *out = v;
  return Status::Ok();
}

Status Fields::read_integer(const char* key, std::optional<int64_t>* out) const {
  const toml::node* n = table_.get(key);
  if (!n) return Status::Ok();
  const bool ok = types_ == Types::kStrict ? n->is_integer() : n->is_integer() || n->is_boolean();
  if (!ok) return bad(key, "must be an integer");
  *out = *n->value<int64_t>();
  return Status::Ok();
}

Status Fields::integer_in(const char* key, int64_t lo, int64_t hi, int* out, bool required) const {
  std::optional<int64_t> v;
  NS_RETURN_IF_ERROR(read_integer(key, &v));
  if (!v) return required ? missing(key, nullptr) : Status::Ok();
  if (*v < lo || *v > hi) return bad(key, out_of_range(key, *v, lo, hi));
  *out = static_cast<int>(*v);
  return Status::Ok();
}

Status Fields::string(const char* key, std::string* out) const {
  const toml::node* n = table_.get(key);
  if (!n) return Status::Ok();
  if (!n->is_string()) return bad(key, "must be a string");
  *out = *n->value<std::string>();
  return Status::Ok();
}

Status Fields::string(const char* key, std::optional<std::string>* out) const {
  std::string v;
  if (!table_.get(key)) return Status::Ok();
  NS_RETURN_IF_ERROR(string(key, &v));
  *out = std::move(v);
  return Status::Ok();
}

Status Fields::boolean(const char* key, bool* out) const {
  const toml::node* n = table_.get(key);
  if (!n) return Status::Ok();
  const bool ok = types_ == Types::kStrict ? n->is_boolean() : n->is_boolean() || n->is_integer();
  if (!ok) return bad(key, "must be true or false");
  *out = *n->value<bool>();
  return Status::Ok();
}

}  // namespace common::tomlf
