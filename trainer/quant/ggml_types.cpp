// Lookups of the ggml types (see ggml_types.h) by id and name in the weight type table
// (weight_types.cpp), and ggml's names of the types nightshift does not handle.
#include "trainer/quant/ggml_types.h"

#include <cctype>

namespace trainer::quant {
namespace {

// ggml's names of every type id up to 42 (ggml.c type_traits[].type_name), for messages about
// types nightshift does not handle. Empty: an id ggml removed.
constexpr const char* kAllNames[] = {
    "f32",  "f16",    "q4_0",  "q4_1",    "", "", "q5_0", "q5_1", "q8_0", "q8_1", "q2_K", "q3_K",
    "q4_K", "q5_K",   "q6_K",  "q8_K",    "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s",
    "iq2_s", "iq4_xs", "i8",   "i16",     "i32", "i64", "f64", "iq1_m", "bf16", "", "", "", "tq1_0",
    "tq2_0", "", "", "", "mxfp4", "nvfp4", "q1_0", "q2_0"};

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

}  // namespace

const TypeTraits* type_traits(uint32_t ggml_id) {
  for (const TypeTraits& t : all_type_traits()) {
    if (t.ggml_id == ggml_id) return &t;
  }
  return nullptr;
}

const TypeTraits* type_traits_by_name(std::string_view name) {
  for (const TypeTraits& t : all_type_traits()) {
    if (iequal(t.name, name)) return &t;
  }
  return nullptr;
}

std::string ggml_type_name(uint32_t ggml_id) {
  constexpr uint32_t n = sizeof(kAllNames) / sizeof(kAllNames[0]);
  if (ggml_id < n && kAllNames[ggml_id][0] != '\0') {
    std::string s = kAllNames[ggml_id];
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }
  return "type " + std::to_string(ggml_id);
}

const TypeTraits* encoding_for_cols(const TypeTraits* wanted, int64_t cols) {
  return cols % wanted->block_elems == 0 ? wanted : type_traits(kGgmlQ8_0);
}

std::string supported_type_names() {
  std::string s;
  for (const TypeTraits& t : all_type_traits()) {
    if (!s.empty()) s += ", ";
    s += ggml_type_name(t.ggml_id);
  }
  return s;
}

}  // namespace trainer::quant
