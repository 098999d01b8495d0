// Tests for nightshift's base formats in the weight type table (trainer/quant/weight_types.h): each
// QuantFormat has one entry, agreeing with the names, the layout arithmetic and the block test of
// format.h, and the table's invariants hold (ggml types first, each packing with its functions).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "trainer/quant/format.h"
#include "trainer/quant/ggml_types.h"
#include "trainer/quant/weight_types.h"

namespace {

using trainer::QuantFormat;
using trainer::QuantLayout;
using trainer::quant::TypeTraits;

constexpr QuantFormat kAll[] = {QuantFormat::kF32, QuantFormat::kF16, QuantFormat::kBF16, QuantFormat::kQ8,
                                QuantFormat::kNF4};

TEST(FormatTraits, OneEntryPerFormatAgreeingWithFormatH) {
  for (QuantFormat f : kAll) {
    const TypeTraits& t = trainer::quant_format_type(f);
    EXPECT_EQ(t.base_format, static_cast<int>(f));
    EXPECT_STREQ(t.name, trainer::quant_format_name(f));
    auto parsed = trainer::parse_quant_format(t.name);
    ASSERT_TRUE(parsed.ok()) << t.name;
    EXPECT_EQ(*parsed, f);
    EXPECT_EQ(trainer::is_block_quantized(f), t.block_elems > 1) << t.name;
    EXPECT_EQ(t.double_quant, f == QuantFormat::kNF4) << t.name;
    EXPECT_EQ(t.plain_f32, f == QuantFormat::kF32) << t.name;
    const QuantLayout odd{f, 3, 7, false};  // 21 elements: NF4 rounds up to 11 bytes
    EXPECT_EQ(odd.code_bytes(), (21 * static_cast<size_t>(trainer::quant::code_bits(t)) + 7) / 8) << t.name;
  }
  EXPECT_EQ(trainer::parse_quant_format("q4").status().message(),
            "unknown quantization format 'q4' (known: f32, f16, bf16, q8, nf4)");
}

// The float base formats are the ggml float types themselves (the same bytes: one value a block).
TEST(FormatTraits, FloatBaseFormatsAreTheGgmlFloatTypes) {
  EXPECT_EQ(&trainer::quant_format_type(QuantFormat::kF32), trainer::quant::type_traits(trainer::quant::kGgmlF32));
  EXPECT_EQ(&trainer::quant_format_type(QuantFormat::kF16), trainer::quant::type_traits(trainer::quant::kGgmlF16));
  EXPECT_EQ(&trainer::quant_format_type(QuantFormat::kBF16), trainer::quant::type_traits(trainer::quant::kGgmlBF16));
  EXPECT_EQ(trainer::quant_format_type(QuantFormat::kQ8).ggml_id, trainer::quant::kNoGgmlId);
  EXPECT_EQ(trainer::quant_format_type(QuantFormat::kNF4).ggml_id, trainer::quant::kNoGgmlId);
}

TEST(FormatTraits, TableNamesAreUniqueAndEachPackingHasItsFunctions) {
  std::set<std::string> names;
  for (const TypeTraits& t : trainer::quant::weight_types()) {
    EXPECT_TRUE(names.insert(t.name).second) << t.name << " twice";
    EXPECT_GT(t.block_elems, 0) << t.name;
    EXPECT_GT(t.block_bytes, 0u) << t.name;
    if (t.packing == trainer::quant::Packing::kRowBlocks) {
      EXPECT_TRUE(t.decode_row && t.encode_row && !t.decode_range && !t.encode_codes) << t.name;
    } else {
      EXPECT_TRUE(!t.decode_row && !t.encode_row && t.decode_range && t.encode_codes) << t.name;
      EXPECT_NE(t.base_format, trainer::quant::kNoBaseFormat) << t.name;  // written by quantize only
    }
  }
  EXPECT_EQ(trainer::quant::all_type_traits().size() + 2, trainer::quant::weight_types().size());  // + q8, nf4
}

}  // namespace
