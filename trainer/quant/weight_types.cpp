// The weight type table (see weight_types.h): one line per type. The row functions of the ggml
// types live in one file per type or family (ggml_float.cpp, ggml_legacy.cpp, ggml_kquants.cpp,
// ggml_q2_k.cpp, ggml_q3_k.cpp, declared in ggml_rows.h); nightshift's q8/nf4 codecs in format.cpp.
#include "trainer/quant/weight_types.h"

#include <iterator>

#include "trainer/quant/format.h"
#include "trainer/quant/ggml_rows.h"
#include "trainer/quant/ggml_types.h"

namespace trainer::quant {
namespace {

constexpr Packing kRows = Packing::kRowBlocks;
constexpr Packing kSect = Packing::kSections;
constexpr int kNone = kNoBaseFormat;
constexpr int base(QuantFormat f) { return static_cast<int>(f); }

// name, ggml id, base format, packing, block values, block bytes, plain f32, double quant,
// decode_row, encode_row, decode_range, encode_codes. One line a type.
// clang-format off
constexpr TypeTraits kTable[] = {
    {"f32", kGgmlF32, base(QuantFormat::kF32), kRows, 1, 4, true, false, decode_f32, encode_f32, nullptr, nullptr},
    {"f16", kGgmlF16, base(QuantFormat::kF16), kRows, 1, 2, false, false, decode_f16, encode_f16, nullptr, nullptr},
    {"q4_0", kGgmlQ4_0, kNone, kRows, 32, 18, false, false, decode_q4_0, encode_q4_0, nullptr, nullptr},
    {"q4_1", kGgmlQ4_1, kNone, kRows, 32, 20, false, false, decode_q4_1, encode_q4_1, nullptr, nullptr},
    {"q5_0", kGgmlQ5_0, kNone, kRows, 32, 22, false, false, decode_q5_0, encode_q5_0, nullptr, nullptr},
    {"q5_1", kGgmlQ5_1, kNone, kRows, 32, 24, false, false, decode_q5_1, encode_q5_1, nullptr, nullptr},
    {"q8_0", kGgmlQ8_0, kNone, kRows, 32, 34, false, false, decode_q8_0, encode_q8_0, nullptr, nullptr},
    {"q2_K", kGgmlQ2_K, kNone, kRows, 256, 84, false, false, decode_q2_k, encode_q2_k, nullptr, nullptr},
    {"q3_K", kGgmlQ3_K, kNone, kRows, 256, 110, false, false, decode_q3_k, encode_q3_k, nullptr, nullptr},
    {"q4_K", kGgmlQ4_K, kNone, kRows, 256, 144, false, false, decode_q4_k, encode_q4_k, nullptr, nullptr},
    {"q5_K", kGgmlQ5_K, kNone, kRows, 256, 176, false, false, decode_q5_k, encode_q5_k, nullptr, nullptr},
    {"q6_K", kGgmlQ6_K, kNone, kRows, 256, 210, false, false, decode_q6_k, encode_q6_k, nullptr, nullptr},
    {"bf16", kGgmlBF16, base(QuantFormat::kBF16), kRows, 1, 2, false, false, decode_bf16, encode_bf16, nullptr, nullptr},
    // nightshift's own: blocks of 64 values with one absmax scale each, in a section after the codes.
    {"q8", kNoGgmlId, base(QuantFormat::kQ8), kSect, kQuantBlock, 64, false, false, nullptr, nullptr,
     decode_q8_range, encode_q8_codes},
    {"nf4", kNoGgmlId, base(QuantFormat::kNF4), kSect, kQuantBlock, 32, false, true, nullptr, nullptr,
     decode_nf4_range, encode_nf4_codes},
};
// clang-format on

// The ggml types come first, in id order (all_type_traits() is that prefix).
constexpr size_t count_ggml() {
  size_t n = 0;
  while (n < std::size(kTable) && kTable[n].ggml_id != kNoGgmlId) ++n;
  return n;
}
constexpr size_t kGgmlCount = count_ggml();
static_assert(
    [] {
      for (size_t i = 0; i < std::size(kTable); ++i) {
        const TypeTraits& t = kTable[i];
        if ((i < kGgmlCount) != (t.ggml_id != kNoGgmlId)) return false;                   // ggml types first
        if (i > 0 && i < kGgmlCount && kTable[i - 1].ggml_id >= t.ggml_id) return false;  // in id order
      }
      return true;
    }(),
    "weight type table: ggml types first in id order");
// (That each entry has the functions of its packing is a test's: FormatTraits in
// tests/trainer/format_traits_test.cpp. Comparing a function's address with null is not a constant
// expression where the sanitizers let objects live at address zero.)

}  // namespace

std::span<const TypeTraits> weight_types() { return kTable; }

std::span<const TypeTraits> all_type_traits() { return std::span<const TypeTraits>(kTable, kGgmlCount); }

}  // namespace trainer::quant
