// The dequantizing matmul over the ggml type table (trainer/quant/table_matmul.h): for every type,
// both products equal the same products with the whole W decoded first (within float summation
// order), on shapes that make the tiles split W's rows, its columns, or both.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "trainer/quant/table_matmul.h"
#include "trainer/test_values.h"

namespace {

using trainer_test::normal_values;

using trainer::quant::TypedMatrix;
using trainer::quant::TypeTraits;

// max |a - b| / (max |b| + 1e-30)
double rel_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double d = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::fabs(a[i] - b[i]));
    m = std::max(m, std::fabs(b[i]));
  }
  return d / (m + 1e-30);
}

void check_products(const TypeTraits& t, int64_t out, int64_t in, int64_t M) {
  SCOPED_TRACE(std::string(t.name) + " W " + std::to_string(out) + "x" + std::to_string(in) + " M " + std::to_string(M));
  const std::vector<float> w_src = normal_values(static_cast<size_t>(out * in), 1);
  std::vector<uint8_t> bytes(trainer::quant::row_bytes(t, in) * static_cast<size_t>(out));
  for (int64_t r = 0; r < out; ++r) t.encode_row(w_src.data() + r * in, bytes.data() + r * trainer::quant::row_bytes(t, in), in);
  std::vector<float> wd(static_cast<size_t>(out * in));  // the whole W decoded: the reference
  for (int64_t r = 0; r < out; ++r) t.decode_row(bytes.data() + r * trainer::quant::row_bytes(t, in), wd.data() + r * in, in);
  const TypedMatrix w{&t, out, in, bytes.data()};
  std::vector<float> panel(trainer::quant::table_matmul_scratch_floats(w));
  const auto ft = trainer::quant::table_forward_tile(w), bt = trainer::quant::table_backward_tile(w);
  if (t.ggml_id != trainer::quant::kGgmlF32) {
    EXPECT_LE(static_cast<size_t>(ft.rows * ft.cols), panel.size());
    EXPECT_LE(static_cast<size_t>(bt.rows * bt.cols), panel.size());
    EXPECT_EQ(ft.cols % t.block_elems, 0);
    EXPECT_TRUE(bt.cols % t.block_elems == 0 || bt.cols == in);
    if (out > 1) {
      EXPECT_LT(ft.rows * ft.cols, out * in) << "a forward tile covers all of W";
    }
  }

  const std::vector<float> x = normal_values(static_cast<size_t>(M * in), 2);
  std::vector<float> y0 = normal_values(static_cast<size_t>(M * out), 3);
  std::vector<double> y_ref(y0.size()), y_acc_ref(y0.size());
  for (int64_t m = 0; m < M; ++m)
    for (int64_t o = 0; o < out; ++o) {
      double s = 0;
      for (int64_t i = 0; i < in; ++i) s += static_cast<double>(x[m * in + i]) * wd[o * in + i];
      y_ref[m * out + o] = s;
      y_acc_ref[m * out + o] = s + y0[m * out + o];
    }
  std::vector<float> y(y0.size(), 123.0f);
  trainer::quant::table_matmul_forward(y.data(), x.data(), w, M, panel.data());
  EXPECT_LT(rel_diff(y, y_ref), 1e-5);
  std::vector<float> y_acc = y0;
  trainer::quant::table_matmul_forward(y_acc.data(), x.data(), w, M, panel.data(), /*accumulate=*/true);
  EXPECT_LT(rel_diff(y_acc, y_acc_ref), 1e-5);

  const std::vector<float> dy = normal_values(static_cast<size_t>(M * out), 4);
  std::vector<float> dx = normal_values(static_cast<size_t>(M * in), 5);
  std::vector<double> dx_ref(dx.size());
  for (int64_t m = 0; m < M; ++m)
    for (int64_t i = 0; i < in; ++i) {
      double s = dx[m * in + i];
      for (int64_t o = 0; o < out; ++o) s += static_cast<double>(dy[m * out + o]) * wd[o * in + i];
      dx_ref[m * in + i] = s;
    }
  trainer::quant::table_matmul_backward_input(dx.data(), dy.data(), w, M, panel.data());
  EXPECT_LT(rel_diff(dx, dx_ref), 1e-5);
}

TEST(TableMatmul, EveryTypeMatchesTheProductWithWDecodedWhole) {
  for (const TypeTraits& t : trainer::quant::all_type_traits()) {
    check_products(t, 37, 768, 5);     // whole rows in one chunk; row bands
    check_products(t, 600, 2048, 3);   // column chunks and row bands
    check_products(t, 1, 1280, 1);     // a single row
    if (t.block_elems <= 32) check_products(t, 70, 96, 130);  // rows that are not K-quant sized
  }
}

}  // namespace
