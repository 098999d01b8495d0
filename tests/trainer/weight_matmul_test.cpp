// The one dequantizing matmul over the weight type table (trainer/quant/weight_matmul.h), on what
// the per-family tests (qmatmul_kernels_test, table_matmul_test) do not reach: a stored row order
// (GGUF's q/k permutation), the whole-matrix decode the exports use, and the panel a mapped base is
// planned with covering every type's tiles.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "trainer/quant/format.h"
#include "trainer/quant/ggml_types.h"
#include "trainer/quant/weight_matmul.h"
#include "trainer/test_values.h"

namespace {

using trainer_test::normal_values;

using trainer::quant::TypeTraits;
using trainer::quant::WeightMatrix;

// Row-block bytes of src (rows, cols) in type t, row after row.
std::vector<uint8_t> encode_rows(const TypeTraits& t, const std::vector<float>& src, int64_t rows, int64_t cols) {
  const size_t stride = trainer::quant::row_bytes(t, cols);
  std::vector<uint8_t> bytes(stride * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) t.encode_row(src.data() + r * cols, bytes.data() + r * stride, cols);
  return bytes;
}

// With a row order, row r of W is stored row order[r]: both products and the whole decode use W
// in the matrix's order, for a block type and for f32 (which then cannot be read in place).
TEST(WeightMatmul, RowOrderPermutesTheStoredRows) {
  const int64_t out = 96, in = 512, M = 7;
  for (const char* name : {"q4_K", "q3_K", "q8_0", "f32"}) {
    SCOPED_TRACE(name);
    const TypeTraits* t = trainer::quant::type_traits_by_name(name);
    ASSERT_NE(t, nullptr);
    const std::vector<float> stored_src = normal_values(static_cast<size_t>(out * in), 1);
    const std::vector<uint8_t> bytes = encode_rows(*t, stored_src, out, in);
    std::vector<int32_t> order(static_cast<size_t>(out));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(3));
    const WeightMatrix w{t, out, in, bytes.data(), order.data()};

    std::vector<float> wd(static_cast<size_t>(out * in));  // W in matrix order, decoded row by row
    for (int64_t r = 0; r < out; ++r) t->decode_row(bytes.data() + order[r] * w.row_stride(), wd.data() + r * in, in);
    std::vector<float> whole(wd.size());
    trainer::quant::decode_matrix(w, whole.data());
    EXPECT_EQ(whole, wd);

    std::vector<float> panel(trainer::quant::weight_matmul_scratch_floats(w));
    EXPECT_GT(panel.size(), 0u);  // a permuted f32 is decoded too
    const std::vector<float> x = normal_values(static_cast<size_t>(M * in), 2);
    std::vector<float> y(static_cast<size_t>(M * out));
    trainer::quant::weight_matmul_forward(y.data(), x.data(), w, M, panel.data());
    const std::vector<float> dy = normal_values(static_cast<size_t>(M * out), 4);
    std::vector<float> dx(static_cast<size_t>(M * in), 0.5f);
    trainer::quant::weight_matmul_backward_input(dx.data(), dy.data(), w, M, panel.data());
    double err_y = 0, err_dx = 0;
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t o = 0; o < out; ++o) {
        double s = 0;
        for (int64_t i = 0; i < in; ++i) s += static_cast<double>(x[m * in + i]) * wd[o * in + i];
        err_y = std::max(err_y, std::fabs(s - y[m * out + o]) / (1 + std::fabs(s)));
      }
      for (int64_t i = 0; i < in; ++i) {
        double s = 0.5;
        for (int64_t o = 0; o < out; ++o) s += static_cast<double>(dy[m * out + o]) * wd[o * in + i];
        err_dx = std::max(err_dx, std::fabs(s - dx[m * in + i]) / (1 + std::fabs(s)));
      }
    }
    EXPECT_LT(err_y, 1e-4);
    EXPECT_LT(err_dx, 1e-4);
  }
}

// nightshift's sectioned formats through the same entry point: the whole decode equals format.h's
// dequantize (odd shapes, blocks across rows, double quantization).
TEST(WeightMatmul, DecodeMatrixOfABaseFormatIsDequantize) {
  for (trainer::QuantFormat f : {trainer::QuantFormat::kF16, trainer::QuantFormat::kBF16, trainer::QuantFormat::kQ8,
                                 trainer::QuantFormat::kNF4}) {
    for (bool dq : {false, true}) {
      if (dq && f != trainer::QuantFormat::kNF4) continue;
      const trainer::QuantLayout L{f, 37, 101, dq};
      const std::vector<float> src = normal_values(static_cast<size_t>(L.n()), 5);
      const trainer::QuantMatrix q = trainer::quantize(L, src.data());
      std::vector<float> want(src.size()), got(src.size());
      trainer::dequantize(q.view(), want.data());
      trainer::quant::decode_matrix(trainer::weight_matrix(q.view()), got.data());
      EXPECT_EQ(got, want) << trainer::quant_format_name(f) << (dq ? " dq" : "");
    }
  }
}

// A mapped base is planned with one panel of kWeightPanelFloats (trainer/lora/plan.cpp): every
// type's tiles fit it on model-sized shapes.
TEST(WeightMatmul, EveryTypesTilesFitTheMappedPanel) {
  for (const TypeTraits& t : trainer::quant::weight_types()) {
    for (const auto& [out, in] :
         {std::pair<int64_t, int64_t>{576, 1536}, {1536, 576}, {151936, 896}, {4096, 14336}, {14336, 4096}}) {
      if (t.packing == trainer::quant::Packing::kRowBlocks && in % t.block_elems != 0) continue;
      const WeightMatrix w{&t, out, in, nullptr};
      EXPECT_LE(trainer::quant::weight_matmul_scratch_floats(w),
                static_cast<size_t>(trainer::quant::kWeightPanelFloats))
          << t.name << " " << out << "x" << in;
    }
  }
}

}  // namespace
