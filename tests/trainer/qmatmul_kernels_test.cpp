// Tests of the dequant-matmul: forward and input-gradient against a plain double-precision product
// on the fully dequantized weights, for every format, across several tiles (row bands and column
// chunks, with a last chunk shorter than the others), with blocks that straddle rows, for M = 1 and
// odd shapes, and with rows enough to be split between threads; and the tile shapes' invariants.
#include "trainer/quant/qmatmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <utility>

namespace trainer {
namespace {

std::vector<float> uniform(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

struct Case {
  QuantFormat format;
  bool double_quant;
  int64_t out, in, M;
};

class QmatmulTest : public ::testing::TestWithParam<Case> {};

TEST_P(QmatmulTest, ForwardAndInputGradientMatchDequantizedReference) {
  const Case c = GetParam();
  const QuantLayout L{c.format, c.out, c.in, c.double_quant};
  const auto w = uniform(L.n(), 1);
  const QuantMatrix q = quantize(L, w.data());
  std::vector<float> wd(w.size());
  dequantize(q.view(), wd.data());
  const auto x = uniform(c.M * c.in, 2);
  const auto dy = uniform(c.M * c.out, 3);
  std::vector<float> panel(qmatmul_scratch_floats(L));
  if (c.format != QuantFormat::kF32) {
    const QmatmulTile f = qmatmul_forward_tile(L), b = qmatmul_backward_tile(L);
    ASSERT_TRUE(f.rows < c.out || f.cols < c.in) << "the forward should span several tiles";
    ASSERT_TRUE(b.rows < c.out || b.cols < c.in) << "the input gradient should span several tiles";
  }

  // Forward, overwrite and accumulate.
  std::vector<float> y(static_cast<size_t>(c.M * c.out), 7.0f);
  qmatmul_forward(y.data(), x.data(), q.view(), c.M, panel.data());
  std::vector<float> y_acc(y.size(), 0.5f);
  qmatmul_forward(y_acc.data(), x.data(), q.view(), c.M, panel.data(), /*accumulate=*/true);
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t o = 0; o < c.out; ++o) {
      double ref = 0;
      for (int64_t i = 0; i < c.in; ++i) ref += static_cast<double>(x[m * c.in + i]) * wd[o * c.in + i];
      const double tol = 1e-5 * std::sqrt(static_cast<double>(c.in)) + 1e-5 * std::fabs(ref);
      ASSERT_NEAR(y[m * c.out + o], ref, tol) << m << "," << o;
      ASSERT_NEAR(y_acc[m * c.out + o], ref + 0.5, tol) << m << "," << o;
    }
  }
  // Input gradient accumulates into dx.
  std::vector<float> dx(static_cast<size_t>(c.M * c.in), 0.25f);
  qmatmul_backward_input(dx.data(), dy.data(), q.view(), c.M, panel.data());
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t i = 0; i < c.in; ++i) {
      double ref = 0.25;
      for (int64_t o = 0; o < c.out; ++o) ref += static_cast<double>(dy[m * c.out + o]) * wd[o * c.in + i];
      ASSERT_NEAR(dx[m * c.in + i], ref, 1e-5 * std::sqrt(static_cast<double>(c.out)) + 1e-5 * std::fabs(ref));
    }
  }
}

TEST_P(QmatmulTest, QuantizedProductIsCloseToTheFp32One) {
  // Not exact (the weights were quantized) but bounded: the relative Frobenius error of the product
  // stays at the level of the weights' own quantization error.
  const Case c = GetParam();
  const QuantLayout L{c.format, c.out, c.in, c.double_quant};
  const auto w = uniform(L.n(), 4);
  const QuantMatrix q = quantize(L, w.data());
  const auto x = uniform(c.M * c.in, 5);
  std::vector<float> panel(qmatmul_scratch_floats(L));
  std::vector<float> yq(static_cast<size_t>(c.M * c.out)), yf(yq.size());
  qmatmul_forward(yq.data(), x.data(), q.view(), c.M, panel.data());
  const QuantMatrix f = quantize(QuantLayout{QuantFormat::kF32, c.out, c.in, false}, w.data());
  qmatmul_forward(yf.data(), x.data(), f.view(), c.M, nullptr);
  double num = 0, den = 0;
  for (size_t k = 0; k < yq.size(); ++k) {
    num += (yq[k] - yf[k]) * (yq[k] - yf[k]);
    den += yf[k] * yf[k];
  }
  const double rel = std::sqrt(num / den);
  const double bound = c.format == QuantFormat::kNF4 ? 0.12 : c.format == QuantFormat::kQ8 ? 0.01 : 0.004;
  EXPECT_LT(rel, bound) << quant_format_name(c.format);
}

TEST(QmatmulTile, TilesFitTheScratchKeepBlocksWholeAndNeverCoverAllOfW) {
  for (QuantFormat format : {QuantFormat::kNF4, QuantFormat::kQ8, QuantFormat::kF16, QuantFormat::kBF16}) {
    for (auto [out, in] : {std::pair<int64_t, int64_t>{384, 384}, {1536, 384}, {384, 1536}, {56, 768}, {768, 24},
                           {8, 384}, {5632, 2048}, {2048, 5632}, {1, 1088}, {299, 1000}, {3, 200000}}) {
      const QuantLayout L{format, out, in, format == QuantFormat::kNF4};
      const size_t scratch = qmatmul_scratch_floats(L);
      for (const QmatmulTile t : {qmatmul_forward_tile(L), qmatmul_backward_tile(L)}) {
        SCOPED_TRACE(std::string(quant_format_name(format)) + " " + std::to_string(out) + "x" + std::to_string(in) +
                     " tile " + std::to_string(t.rows) + "x" + std::to_string(t.cols));
        ASSERT_GE(t.rows, 1);
        ASSERT_GE(t.cols, 1);
        ASSERT_LE(t.rows, out);
        ASSERT_LE(t.cols, in);
        EXPECT_LE(static_cast<size_t>(t.rows * t.cols), scratch);
        EXPECT_LE(t.rows * t.cols, std::max(kQmatmulPanelFloats, in));
        if (out > 1) {
          EXPECT_TRUE(t.rows < out || t.cols < in);
        }
        if (t.cols < in && is_block_quantized(format)) {
          EXPECT_EQ(in % kQuantBlock, 0);
          EXPECT_EQ(t.cols % kQuantBlock, 0);
        }
      }
    }
  }
  EXPECT_EQ(qmatmul_scratch_floats(QuantLayout{QuantFormat::kF32, 384, 384, false}), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Formats, QmatmulTest,
    ::testing::Values(Case{QuantFormat::kNF4, false, 300, 1000, 5}, Case{QuantFormat::kNF4, true, 300, 1000, 3},
                      Case{QuantFormat::kNF4, false, 800, 130, 37}, Case{QuantFormat::kQ8, false, 300, 1000, 4},
                      Case{QuantFormat::kF16, false, 260, 1000, 2}, Case{QuantFormat::kBF16, false, 260, 1000, 1},
                      Case{QuantFormat::kF32, false, 64, 96, 9},
                      // Column chunks of 384, 384, 320 (1088 = 17 blocks) and an odd number of rows.
                      Case{QuantFormat::kNF4, true, 299, 1088, 6}, Case{QuantFormat::kNF4, false, 299, 1088, 1},
                      Case{QuantFormat::kQ8, false, 299, 1088, 1}, Case{QuantFormat::kBF16, false, 97, 1088, 2},
                      // Wide rows: the input gradient splits columns too; many row bands in the forward.
                      Case{QuantFormat::kNF4, true, 130, 4096, 2}, Case{QuantFormat::kF16, false, 1100, 192, 3},
                      // Small matrices that fit one tile are still split; blocks straddling rows.
                      Case{QuantFormat::kNF4, true, 384, 384, 5}, Case{QuantFormat::kNF4, false, 768, 24, 4},
                      Case{QuantFormat::kQ8, false, 1, 1088, 3},
                      // One row longer than the panel: K chunks in the forward, column bands in the gradient.
                      Case{QuantFormat::kQ8, false, 1, 270336, 2},
                      // Enough rows for each thread to take a share (64+ rows each) with its own part
                      // of the panel, an odd count so the shares differ.
                      Case{QuantFormat::kNF4, true, 299, 1088, 151}, Case{QuantFormat::kQ8, false, 800, 130, 133},
                      Case{QuantFormat::kNF4, false, 768, 24, 129}),
    [](const ::testing::TestParamInfo<Case>& info) {
      return std::string(quant_format_name(info.param.format)) + (info.param.double_quant ? "_dq" : "") + "_" +
             std::to_string(info.param.out) + "x" + std::to_string(info.param.in) + "_M" + std::to_string(info.param.M);
    });

}  // namespace
}  // namespace trainer
