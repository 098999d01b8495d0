// Tests for trainer/quant/format_traits.h: the table of nightshift's storage formats agrees with
// the names, the layout arithmetic and the block test of format.h.
#include <gtest/gtest.h>

#include "trainer/quant/format.h"
#include "trainer/quant/format_traits.h"

namespace {

using trainer::format_traits;
using trainer::FormatTraits;
using trainer::QuantFormat;
using trainer::QuantLayout;

constexpr QuantFormat kAll[] = {QuantFormat::kF32, QuantFormat::kF16, QuantFormat::kBF16, QuantFormat::kQ8,
                                QuantFormat::kNF4};

TEST(FormatTraits, OneEntryPerFormatAgreeingWithFormatH) {
  for (QuantFormat f : kAll) {
    const FormatTraits& t = format_traits(f);
    EXPECT_EQ(t.format, f);
    EXPECT_STREQ(t.name, trainer::quant_format_name(f));
    auto parsed = trainer::parse_quant_format(t.name);
    ASSERT_TRUE(parsed.ok()) << t.name;
    EXPECT_EQ(*parsed, f);
    EXPECT_EQ(trainer::is_block_quantized(f), t.block_elems > 1) << t.name;
    EXPECT_EQ(t.double_quant, f == QuantFormat::kNF4) << t.name;
    EXPECT_EQ(t.plain_f32, f == QuantFormat::kF32) << t.name;
    const QuantLayout odd{f, 3, 7, false};  // 21 elements: NF4 rounds up to 11 bytes
    EXPECT_EQ(odd.code_bytes(), (21 * static_cast<size_t>(t.code_bits) + 7) / 8) << t.name;
  }
  EXPECT_EQ(trainer::parse_quant_format("q4").status().message(),
            "unknown quantization format 'q4' (known: f32, f16, bf16, q8, nf4)");
}

}  // namespace
