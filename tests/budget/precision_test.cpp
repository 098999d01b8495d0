// Weight precisions: bytes per matrix including scale overhead, names.
#include <gtest/gtest.h>

#include "budget/precision.h"

namespace budget {
namespace {

TEST(Precision, BytesPerMatrix) {
  const int64_t R = 4096, C = 4096, n = R * C;
  EXPECT_EQ(matrix_bytes(Precision::kF32, R, C), uint64_t(n) * 4);
  EXPECT_EQ(matrix_bytes(Precision::kF16, R, C), uint64_t(n) * 2);
  EXPECT_EQ(matrix_bytes(Precision::kBF16, R, C), uint64_t(n) * 2);
  // Q8: 1 byte per value + one fp32 absmax per 64 values: 8.5 bits.
  EXPECT_EQ(matrix_bytes(Precision::kQ8, R, C), uint64_t(n) + uint64_t(n) / 64 * 4);
  // NF4: half a byte per value + fp32 absmax per 64: 4.5 bits; double quantization ~4.127.
  EXPECT_EQ(matrix_bytes(Precision::kNF4, R, C), uint64_t(n) / 2 + uint64_t(n) / 64 * 4);
  EXPECT_NEAR(bits_per_element(Precision::kNF4DoubleQuant), 4.127, 0.01);
  // Q4: 16 bytes of codes + 2 bytes of f16 scale per 32 values.
  EXPECT_EQ(matrix_bytes(Precision::kQ4, R, C), uint64_t(n) / 32 * 18);
  // Ternary: 5 trits per byte + fp32 scale per row: just above log2(3) = 1.585 bits.
  EXPECT_EQ(matrix_bytes(Precision::kTernary, R, C), uint64_t(R) * ((C + 4) / 5 + 4));
  EXPECT_GT(bits_per_element(Precision::kTernary), 1.585);
  EXPECT_LT(bits_per_element(Precision::kTernary), 1.7);
}

TEST(Precision, OddShapesRoundUp) {
  EXPECT_EQ(matrix_bytes(Precision::kQ4, 1, 33), 2u * 18);
  EXPECT_EQ(matrix_bytes(Precision::kTernary, 3, 6), 3u * (2 + 4));
  EXPECT_GE(matrix_bytes(Precision::kNF4, 1, 3), 2u + 4);
}

TEST(Precision, NamesRoundTrip) {
  for (Precision p : {Precision::kF32, Precision::kF16, Precision::kBF16, Precision::kQ8, Precision::kQ4,
                      Precision::kNF4, Precision::kNF4DoubleQuant, Precision::kTernary}) {
    common::Result<Precision> back = parse_precision(precision_name(p));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, p);
  }
  common::Result<Precision> bad = parse_precision("int3");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("nf4"), std::string::npos);
  EXPECT_EQ(report_precisions().size(), 6u);
}

}  // namespace
}  // namespace budget
