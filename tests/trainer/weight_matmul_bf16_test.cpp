// The bf16 product of the frozen base (trainer/quant/bf16_gemm.h) and the dequantizing matmul in
// bf16 (weight_matmul with ComputeDtype::kBf16): against fp64 products, with tolerances from bf16's
// rounding (2^-9 relative per operand, so an error of about 2^-9 · sqrt(Σ (a·b)²) over a sum of K
// products of random sign), on shapes that are not multiples of the blocking. The scalar kernel is
// always tested; the AVX512_BF16 one where the CPU has it.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "trainer/quant/bf16_gemm.h"
#include "trainer/quant/format.h"
#include "trainer/quant/ggml_types.h"
#include "trainer/quant/weight_matmul.h"
#include "trainer/test_values.h"

namespace {

using trainer::quant::bf16_to_float;
using trainer::quant::ComputeDtype;
using trainer::quant::float_to_bf16;
using trainer_test::normal_values;

float bf16_round(float f) { return bf16_to_float(float_to_bf16(f)); }

struct Bf16Shape {
  int64_t M, N, K;
};
// Rows and columns past a register block (12 × 32), odd K, K past a K block (512), K of 1 and 2.
const Bf16Shape kBf16Shapes[] = {{1, 1, 1}, {13, 33, 7}, {12, 32, 2}, {25, 65, 513}, {130, 47, 1031}, {7, 100, 64}};

// C (M, N) (+)= A (M, K) · B (K, N) through bf16_gemm, B packed by rows (by_rows) or by columns.
std::vector<float> run_bf16_gemm(const Bf16Shape& s, const std::vector<float>& a, const std::vector<float>& b,
                                 std::vector<float> c, bool accumulate, bool by_rows, bool native, bool small_scratch) {
  std::vector<uint16_t> packed(trainer::quant::bf16_packed_b_elems(s.K, s.N));
  if (by_rows) {
    for (int64_t k = 0; k < s.K; k += 2)
      trainer::quant::bf16_pack_b_rows(packed.data(), s.K, s.N, k, b.data() + k * s.N,
                                       k + 1 < s.K ? b.data() + (k + 1) * s.N : nullptr, native);
  } else {
    std::vector<float> col(static_cast<size_t>(s.K));
    for (int64_t n = 0; n < s.N; ++n) {
      for (int64_t k = 0; k < s.K; ++k) col[k] = b[k * s.N + n];
      // In two parts, as the forward product packs a row of W in chunks.
      const int64_t half = s.K / 4 * 2;
      trainer::quant::bf16_pack_b_column(packed.data(), s.K, n, 0, half, col.data(), native);
      trainer::quant::bf16_pack_b_column(packed.data(), s.K, n, half, s.K - half, col.data() + half, native);
    }
  }
  const size_t scratch = small_scratch ? trainer::quant::bf16_gemm_a_scratch_min(s.K)
                                       : trainer::quant::bf16_gemm_a_scratch_best(s.K);
  std::vector<uint16_t> a_scratch(scratch);
  trainer::quant::bf16_gemm(s.M, s.N, s.K, a.data(), s.K, packed.data(), c.data(), s.N, accumulate, a_scratch.data(),
                            scratch, native);
  return c;
}

// Every element of got against fp64 sums: `exact` of the bf16-rounded operands (only fp32 summation
// error allowed) and `real` of the fp32 operands (bf16 rounding allowed).
void check_against_fp64(const Bf16Shape& s, const std::vector<float>& a, const std::vector<float>& b,
                        const std::vector<float>& c0, bool accumulate, const std::vector<float>& got,
                        const std::string& what) {
  for (int64_t m = 0; m < s.M; ++m) {
    for (int64_t n = 0; n < s.N; ++n) {
      double exact = 0, real = 0, abs_sum = 0, sq_sum = 0;
      for (int64_t k = 0; k < s.K; ++k) {
        const double av = a[m * s.K + k], bv = b[k * s.N + n];
        exact += static_cast<double>(bf16_round(a[m * s.K + k])) * bf16_round(b[k * s.N + n]);
        real += av * bv;
        abs_sum += std::fabs(av * bv);
        sq_sum += av * av * bv * bv;
      }
      const double base = accumulate ? c0[m * s.N + n] : 0.0;
      const double g = got[m * s.N + n];
      const double fp32_tol = 1e-6 * (static_cast<double>(s.K) + 4) * (abs_sum + std::fabs(base));
      ASSERT_NEAR(g, base + exact, fp32_tol) << what << " at " << m << "," << n;
      ASSERT_NEAR(g, base + real, 4 * std::ldexp(std::sqrt(sq_sum), -8) + fp32_tol) << what << " at " << m << "," << n;
    }
  }
}

TEST(Bf16Gemm, RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_bf16(bf16_to_float(0x3f80) * (1 + 1.0f / 256)), 0x3f80);      // a tie: to even (down)
  EXPECT_EQ(float_to_bf16(1.0f + 1.0f / 128 + 1.0f / 256), 0x3f82);                // a tie after odd: up
  EXPECT_EQ(float_to_bf16(1.0f + 1.0f / 128 + 1.0f / 512), 0x3f81);                // below half: down
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::denorm_min()), 0x0000);     // denormals flush to zero
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
}

TEST(Bf16Gemm, ScalarKernelMatchesFp64Reference) {
  for (const Bf16Shape& s : kBf16Shapes) {
    const std::vector<float> a = normal_values(static_cast<size_t>(s.M * s.K), 1);
    const std::vector<float> b = normal_values(static_cast<size_t>(s.K * s.N), 2);
    const std::vector<float> c0 = normal_values(static_cast<size_t>(s.M * s.N), 3);
    for (bool accumulate : {false, true}) {
      for (bool by_rows : {false, true}) {
        const std::string what = std::to_string(s.M) + "x" + std::to_string(s.N) + "x" + std::to_string(s.K) +
                                 (accumulate ? " accumulate" : " overwrite") + (by_rows ? " rows" : " columns");
        check_against_fp64(s, a, b, c0, accumulate, run_bf16_gemm(s, a, b, c0, accumulate, by_rows, false, by_rows),
                           what);
      }
    }
  }
}

TEST(Bf16Gemm, NativeKernelMatchesFp64Reference) {
  if (!trainer::quant::cpu_has_avx512_bf16()) GTEST_SKIP() << "this CPU has no AVX512_BF16; the scalar kernel is tested";
  for (const Bf16Shape& s : kBf16Shapes) {
    const std::vector<float> a = normal_values(static_cast<size_t>(s.M * s.K), 4);
    const std::vector<float> b = normal_values(static_cast<size_t>(s.K * s.N), 5);
    const std::vector<float> c0 = normal_values(static_cast<size_t>(s.M * s.N), 6);
    for (bool accumulate : {false, true}) {
      for (bool by_rows : {false, true}) {
        const std::string what = std::to_string(s.M) + "x" + std::to_string(s.N) + "x" + std::to_string(s.K) +
                                 (accumulate ? " accumulate" : " overwrite") + (by_rows ? " rows" : " columns");
        const std::vector<float> native = run_bf16_gemm(s, a, b, c0, accumulate, by_rows, true, !by_rows);
        check_against_fp64(s, a, b, c0, accumulate, native, what);
        // The same packed operands as the scalar kernel: only the order of the fp32 sums differs.
        const std::vector<float> scalar = run_bf16_gemm(s, a, b, c0, accumulate, by_rows, false, by_rows);
        for (size_t i = 0; i < native.size(); ++i)
          ASSERT_NEAR(native[i], scalar[i], 1e-5 * (std::fabs(scalar[i]) + std::sqrt(static_cast<double>(s.K))))
              << what << " at " << i;
      }
    }
  }
}

// NIGHTSHIFT_BF16_KERNEL=scalar sends the products to the scalar kernel even where the CPU has the instruction.
TEST(Bf16Gemm, EnvironmentSelectsTheScalarKernel) {
  const char* old = std::getenv("NIGHTSHIFT_BF16_KERNEL");
  const std::string saved = old ? old : "";
  setenv("NIGHTSHIFT_BF16_KERNEL", "scalar", 1);
  EXPECT_FALSE(trainer::quant::bf16_native_kernel());
  unsetenv("NIGHTSHIFT_BF16_KERNEL");
  EXPECT_EQ(trainer::quant::bf16_native_kernel(), trainer::quant::cpu_has_avx512_bf16());
  if (old) setenv("NIGHTSHIFT_BF16_KERNEL", saved.c_str(), 1);
}

// W (out, in) as row blocks of a ggml type, or as a nightshift sectioned format.
struct Bf16TestWeight {
  std::vector<uint8_t> bytes;
  trainer::QuantMatrix quant;
  trainer::quant::WeightMatrix w;
};
Bf16TestWeight make_bf16_test_weight(const char* type, int64_t out, int64_t in) {
  Bf16TestWeight t;
  const std::vector<float> src = normal_values(static_cast<size_t>(out * in), 11);
  if (std::string(type) == "nf4") {
    t.quant = trainer::quantize(trainer::QuantLayout{trainer::QuantFormat::kNF4, out, in, true}, src.data());
    t.w = trainer::weight_matrix(t.quant.view());
    return t;
  }
  const trainer::quant::TypeTraits* tt = trainer::quant::type_traits_by_name(type);
  const size_t stride = trainer::quant::row_bytes(*tt, in);
  t.bytes.resize(stride * static_cast<size_t>(out));
  for (int64_t r = 0; r < out; ++r) tt->encode_row(src.data() + r * in, t.bytes.data() + r * stride, in);
  t.w = trainer::quant::WeightMatrix{tt, out, in, t.bytes.data()};
  return t;
}

// Forward (overwrite and accumulate) and the input gradient in bf16 against fp32, for NF4 and Q4_K,
// on one thread (a single tile loop) and on two (each thread its share of the rows and the panel),
// with the scalar kernel and, where the CPU has it, the native one.
TEST(Bf16Gemm, WeightMatmulInBf16MatchesFp32) {
  struct Case {
    const char* type;
    int64_t out, in, M;
    int threads;
  };
  const Case cases[] = {{"nf4", 45, 1000, 7, 1}, {"nf4", 300, 640, 150, 2}, {"q4_K", 96, 512, 9, 1},
                        {"q4_K", 576, 1536, 130, 2}};
  const int saved_threads = omp_get_max_threads();
  for (bool native : {false, true}) {
    if (native && !trainer::quant::cpu_has_avx512_bf16()) continue;
    if (native) unsetenv("NIGHTSHIFT_BF16_KERNEL");
    else setenv("NIGHTSHIFT_BF16_KERNEL", "scalar", 1);
    for (const Case& c : cases) {
      const std::string what = std::string(c.type) + " " + std::to_string(c.out) + "x" + std::to_string(c.in) +
                               " M " + std::to_string(c.M) + (native ? " native" : " scalar");
      SCOPED_TRACE(what);
      omp_set_num_threads(c.threads);
      const Bf16TestWeight tw = make_bf16_test_weight(c.type, c.out, c.in);
      const trainer::quant::WeightMatrix& w = tw.w;
      std::vector<float> wd(static_cast<size_t>(c.out * c.in));
      trainer::quant::decode_matrix(w, wd.data());
      std::vector<float> panel(trainer::quant::weight_matmul_scratch_floats(w));
      const std::vector<float> x = normal_values(static_cast<size_t>(c.M * c.in), 12);
      const std::vector<float> dy = normal_values(static_cast<size_t>(c.M * c.out), 13);
      const std::vector<float> y0 = normal_values(static_cast<size_t>(c.M * c.out), 14);
      const std::vector<float> dx0 = normal_values(static_cast<size_t>(c.M * c.in), 15);
      for (bool accumulate : {false, true}) {
        std::vector<float> y32 = y0, y16 = y0;
        trainer::quant::weight_matmul_forward(y32.data(), x.data(), w, c.M, panel.data(), accumulate);
        trainer::quant::weight_matmul_forward(y16.data(), x.data(), w, c.M, panel.data(), accumulate, ComputeDtype::kBf16);
        EXPECT_NE(y16, y32);  // the bf16 path ran
        for (int64_t m = 0; m < c.M; ++m) {
          for (int64_t o = 0; o < c.out; ++o) {
            double sq = 0;
            for (int64_t i = 0; i < c.in; ++i) sq += std::pow(static_cast<double>(x[m * c.in + i]) * wd[o * c.in + i], 2);
            ASSERT_NEAR(y16[m * c.out + o], y32[m * c.out + o], 4 * std::ldexp(std::sqrt(sq), -8) + 1e-4)
                << (accumulate ? "accumulate " : "overwrite ") << m << "," << o;
          }
        }
      }
      std::vector<float> dx32 = dx0, dx16 = dx0;
      trainer::quant::weight_matmul_backward_input(dx32.data(), dy.data(), w, c.M, panel.data());
      trainer::quant::weight_matmul_backward_input(dx16.data(), dy.data(), w, c.M, panel.data(), ComputeDtype::kBf16);
      EXPECT_NE(dx16, dx32);
      for (int64_t m = 0; m < c.M; ++m) {
        for (int64_t i = 0; i < c.in; ++i) {
          double sq = 0;
          for (int64_t o = 0; o < c.out; ++o) sq += std::pow(static_cast<double>(dy[m * c.out + o]) * wd[o * c.in + i], 2);
          ASSERT_NEAR(dx16[m * c.in + i], dx32[m * c.in + i], 4 * std::ldexp(std::sqrt(sq), -8) + 1e-4)
              << "backward " << m << "," << i;
        }
      }
    }
  }
  unsetenv("NIGHTSHIFT_BF16_KERNEL");
  omp_set_num_threads(saved_threads);
}

}  // namespace
