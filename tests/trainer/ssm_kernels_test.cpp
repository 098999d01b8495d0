// Tests for trainer/ssm_kernels: the vectorized scan against the plain reference, state carried
// across calls, the accuracy of fast_expf and fast_softplusf, and finite-difference gradients of the conv and the scan with
// respect to every input (x, Δ, A_log, B, C, D, conv weight and bias).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "hybrid_fd_util.h"
#include "trainer/kernels/simd_level.h"
#include "trainer/kernels/simd_math.h"
#include "trainer/kernels/ssm.h"

namespace {

using hybrid_test::dot;
using hybrid_test::expect_fd_gradient;
using hybrid_test::randn;
using hybrid_test::uniform;

TEST(SimdMath, FastExpMatchesStdExp) {
  double worst = 0.0;
  for (float x = -80.0f; x < 80.0f; x += 0.0137f) {
    const double ref = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(trainer::fast_expf(x) - ref) / ref);
  }
  EXPECT_LT(worst, 5e-7);
  EXPECT_EQ(trainer::fast_expf(0.0f), 1.0f);
  EXPECT_LT(trainer::fast_expf(-1000.0f), 1e-37f);
  EXPECT_GT(trainer::fast_expf(-1000.0f), 0.0f);
}

// Relative error everywhere, including the tiny outputs of very negative inputs (Δ near 0) and the
// region around 0 where 1 + e^x rounds.
TEST(SimdMath, SoftplusMatchesLog1pExp) {
  double worst = 0.0;
  for (float x = -60.0f; x < 40.0f; x += 0.00731f) {
    const double ref = std::log1p(std::exp(static_cast<double>(x)));
    worst = std::max(worst, std::fabs(trainer::fast_softplusf(x) - ref) / ref);
  }
  EXPECT_LT(worst, 6e-7);
  EXPECT_EQ(trainer::fast_softplusf(100.0f), 100.0f);
}

TEST(SimdMath, SoftplusGradientIsSigmoid) {
  double worst = 0.0;
  for (float x = -30.0f; x < 30.0f; x += 0.00917f) {
    const double y = std::log1p(std::exp(static_cast<double>(x)));
    const double sig = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
    worst = std::max(worst, std::fabs(trainer::softplus_grad_from_output(static_cast<float>(y)) - sig) / sig);
  }
  EXPECT_LT(worst, 2e-6);
}

// One scan problem with positive Δ and inputs of unit scale. Bm and Cm live inside a wider row
// (stride ldbc) as they do inside x_proj's output.
struct ScanProblem {
  int B, T, Di, N, ldbc;
  std::vector<float> u, dt, A_log, bc, Dskip;
  ScanProblem(int b, int t, int di, int n) : B(b), T(t), Di(di), N(n), ldbc(2 * n + 3) {
    const std::size_t rows = static_cast<std::size_t>(B) * T;
    u = randn(rows * Di, 1);
    dt = uniform(rows * Di, 2, 0.05f, 0.6f);
    A_log = uniform(static_cast<std::size_t>(Di) * N, 3, -0.7f, 1.2f);
    bc = randn(rows * ldbc, 4);
    Dskip = randn(Di, 5);
  }
  const float* Bm() const { return bc.data() + 3; }
  const float* Cm() const { return bc.data() + 3 + N; }
  std::size_t rows() const { return static_cast<std::size_t>(B) * T; }
  std::vector<float> forward(const float* state_in = nullptr, float* state_out = nullptr) const {
    std::vector<float> y(rows() * Di);
    trainer::ssm_scan_forward(y.data(), state_out, u.data(), dt.data(), A_log.data(), Bm(), Cm(), ldbc,
                              Dskip.data(), state_in, B, T, Di, N);
    return y;
  }
};

void expect_forward_matches_reference() {
  for (auto [B, T, Di, N] : {std::tuple{2, 9, 11, 5}, std::tuple{3, 33, 64, 16}, std::tuple{1, 4, 8, 1}}) {
    ScanProblem p(B, T, Di, N);
    std::vector<float> state_fast(static_cast<std::size_t>(B) * Di * N), state_ref(state_fast.size());
    const std::vector<float> y = p.forward(nullptr, state_fast.data());
    std::vector<float> y_ref(y.size());
    trainer::ssm_scan_forward_reference(y_ref.data(), state_ref.data(), p.u.data(), p.dt.data(),
                                        p.A_log.data(), p.Bm(), p.Cm(), p.ldbc, p.Dskip.data(), nullptr,
                                        B, T, Di, N);
    for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], y_ref[i], 2e-5 * (1 + std::fabs(y_ref[i]))) << i;
    for (std::size_t i = 0; i < state_ref.size(); ++i)
      ASSERT_NEAR(state_fast[i], state_ref[i], 2e-5 * (1 + std::fabs(state_ref[i]))) << i;
  }
}

TEST(SsmScan, ForwardMatchesReference) { expect_forward_matches_reference(); }

TEST(SsmScan, StateCarriesAcrossCalls) {
  // A sequence scanned in two calls, the second starting from the first's state (in place),
  // equals one call over the whole sequence.
  const int B = 2, T = 10, T1 = 6, Di = 13, N = 4;
  ScanProblem whole(B, T, Di, N);
  const std::vector<float> y_whole = whole.forward();
  std::vector<float> state(static_cast<std::size_t>(B) * Di * N, 0.0f);
  for (auto [t0, len] : {std::pair{0, T1}, std::pair{T1, T - T1}}) {
    ScanProblem part = whole;
    part.T = len;
    auto slice = [&](const std::vector<float>& v, int width) {
      std::vector<float> out;
      for (int b = 0; b < B; ++b)
        out.insert(out.end(), v.begin() + (static_cast<std::size_t>(b) * T + t0) * width,
                   v.begin() + (static_cast<std::size_t>(b) * T + t0 + len) * width);
      return out;
    };
    part.u = slice(whole.u, Di);
    part.dt = slice(whole.dt, Di);
    part.bc = slice(whole.bc, whole.ldbc);
    const std::vector<float> y = part.forward(state.data(), state.data());
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < len; ++t)
        for (int d = 0; d < Di; ++d)
          ASSERT_NEAR(y[(static_cast<std::size_t>(b) * len + t) * Di + d],
                      y_whole[(static_cast<std::size_t>(b) * T + t0 + t) * Di + d], 1e-5)
              << "b=" << b << " t=" << t0 + t << " d=" << d;
  }
}

// 11 channels: one full block of 8 (the vector path where the CPU has one) and a partial block;
// N = 19 states: the per-step dB/dC reductions eight states at a time plus a remainder.
class SsmScanGradient : public ::testing::TestWithParam<std::tuple<int, int, int, int>> {};

void expect_scan_gradient(int B, int T, int Di, int N) {
  ScanProblem p(B, T, Di, N);
  const std::size_t rows = p.rows();
  const std::vector<float> w = randn(rows * p.Di, 9);
  auto loss = [&] {
    const std::vector<float> y = p.forward();
    return dot(w.data(), y.data(), y.size());
  };
  std::vector<float> du(rows * p.Di, 0.0f), ddt(du.size(), 0.0f), dA(p.A_log.size(), 0.0f),
      dbc(p.bc.size(), 0.0f), dD(p.Di, 0.0f);
  std::vector<float> scratch(trainer::ssm_scan_backward_scratch_floats(p.B, p.T, p.Di, p.N));
  trainer::ssm_scan_backward(du.data(), ddt.data(), dA.data(), dbc.data() + 3, dbc.data() + 3 + p.N, dD.data(),
                             w.data(), p.u.data(), p.dt.data(), p.A_log.data(), p.Bm(), p.Cm(), p.ldbc,
                             p.Dskip.data(), scratch.data(), p.B, p.T, p.Di, p.N);
  // The dt_low columns of the dbc row are not scan inputs: their gradient must stay untouched.
  for (std::size_t r = 0; r < rows; ++r)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(dbc[r * p.ldbc + c], 0.0f);
  expect_fd_gradient("u", p.u.data(), du.data(), du.size(), loss);
  expect_fd_gradient("dt", p.dt.data(), ddt.data(), ddt.size(), loss);
  expect_fd_gradient("A_log", p.A_log.data(), dA.data(), dA.size(), loss);
  expect_fd_gradient("B|C", p.bc.data(), dbc.data(), dbc.size(), loss, {.max_checks = 96});
  expect_fd_gradient("D", p.Dskip.data(), dD.data(), dD.size(), loss);
}

TEST_P(SsmScanGradient, BackwardMatchesFiniteDifferences) {
  const auto [B, T, Di, N] = GetParam();
  expect_scan_gradient(B, T, Di, N);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SsmScanGradient,
                         ::testing::Values(std::tuple{2, 9, 11, 5}, std::tuple{1, 6, 16, 19}));

// Each instruction-set level of the scan the CPU runs (simd_level.h): the forward against the reference
// and the backward against finite differences. 16 states over full blocks take the AVX-512 loops
// (two states per vector); 5 and 19 states and the partial block of 11 channels take the others.
class SsmScanLevel : public ::testing::TestWithParam<trainer::SimdLevel> {
 protected:
  void SetUp() override {
    if (trainer::cpu_simd_level() < GetParam())
      GTEST_SKIP() << "this CPU cannot run the " << trainer::simd_level_name(GetParam()) << " loops";
    saved_ = trainer::simd_level();
    ASSERT_EQ(trainer::set_simd_level(GetParam()), GetParam());
  }
  void TearDown() override { trainer::set_simd_level(saved_); }
  trainer::SimdLevel saved_ = trainer::cpu_simd_level();
};

TEST_P(SsmScanLevel, ForwardMatchesReference) { expect_forward_matches_reference(); }

TEST_P(SsmScanLevel, BackwardMatchesFiniteDifferences) {
  for (auto [B, T, Di, N] : {std::tuple{2, 9, 11, 5}, std::tuple{1, 6, 16, 19}, std::tuple{2, 7, 24, 16}})
    expect_scan_gradient(B, T, Di, N);
}

// The levels agree to rounding on a hybrid-small-like block (the AVX-512 loops pair the sums over
// states differently), so a run's losses do not depend on the CPU beyond that.
TEST_P(SsmScanLevel, AgreesWithPortableLoops) {
  ScanProblem p(2, 48, 64, 16);
  const std::vector<float> y = p.forward();
  trainer::set_simd_level(trainer::SimdLevel::kPortable);
  const std::vector<float> y_portable = p.forward();
  for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], y_portable[i], 1e-5 * (1 + std::fabs(y_portable[i]))) << i;
}

INSTANTIATE_TEST_SUITE_P(Levels, SsmScanLevel,
                         ::testing::Values(trainer::SimdLevel::kPortable, trainer::SimdLevel::kAvx2,
                                           trainer::SimdLevel::kAvx512),
                         [](const auto& info) { return std::string(trainer::simd_level_name(info.param)); });

TEST(SsmScan, BackwardAccumulates) {
  ScanProblem p(1, 5, 8, 3);
  const std::vector<float> w = randn(p.rows() * p.Di, 10);
  std::vector<float> scratch(trainer::ssm_scan_backward_scratch_floats(p.B, p.T, p.Di, p.N));
  auto run = [&](std::vector<float>& du, std::vector<float>& dA) {
    std::vector<float> ddt(du.size()), dbc(p.bc.size()), dD(p.Di);
    trainer::ssm_scan_backward(du.data(), ddt.data(), dA.data(), dbc.data() + 3, dbc.data() + 3 + p.N,
                               dD.data(), w.data(), p.u.data(), p.dt.data(), p.A_log.data(), p.Bm(), p.Cm(),
                               p.ldbc, p.Dskip.data(), scratch.data(), p.B, p.T, p.Di, p.N);
  };
  std::vector<float> du1(p.rows() * p.Di, 0.0f), dA1(p.A_log.size(), 0.0f);
  run(du1, dA1);
  std::vector<float> du2(du1.size(), 1.0f), dA2(dA1.size(), 1.0f);
  run(du2, dA2);
  for (std::size_t i = 0; i < du1.size(); ++i) EXPECT_NEAR(du2[i], du1[i] + 1.0f, 1e-5);
  for (std::size_t i = 0; i < dA1.size(); ++i) EXPECT_NEAR(dA2[i], dA1[i] + 1.0f, 1e-5);
}

// Conv over x stored inside wider rows (stride 2·Di, as x_in inside xz).
struct ConvProblem {
  ConvProblem() = default;
  ConvProblem(int b, int t, int di, int k) : B(b), T(t), Di(di), K(k), ldx(2 * di) {}
  int B = 2, T = 7, Di = 10, K = 4, ldx = 20;
  std::vector<float> x = randn(static_cast<std::size_t>(B) * T * ldx, 21);
  std::vector<float> w = randn(static_cast<std::size_t>(Di) * K, 22, 0.5f);
  std::vector<float> bias = randn(Di, 23, 0.5f);
  std::vector<float> pre, act;
  void forward(const float* history = nullptr) {
    pre.assign(static_cast<std::size_t>(B) * T * Di, 0.0f);
    act.assign(pre.size(), 0.0f);
    trainer::ssm_conv_forward(pre.data(), act.data(), x.data(), ldx, history, w.data(), bias.data(), B, T, Di, K);
  }
};

TEST(SsmConv, ForwardIsCausalDepthwise) {
  for (ConvProblem p : {ConvProblem(), ConvProblem(2, 19, 70, 3)}) {
    p.forward();
    for (int b = 0; b < p.B; ++b)
      for (int t = 0; t < p.T; ++t)
        for (int d = 0; d < p.Di; ++d) {
          double ref = p.bias[d];
          for (int j = 0; j < p.K; ++j) {
            const int s = t - p.K + 1 + j;
            if (s >= 0) ref += p.w[d * p.K + j] * p.x[(static_cast<std::size_t>(b) * p.T + s) * p.ldx + d];
          }
          const std::size_t i = (static_cast<std::size_t>(b) * p.T + t) * p.Di + d;
          ASSERT_NEAR(p.pre[i], ref, 1e-5);
          ASSERT_NEAR(p.act[i], ref / (1 + std::exp(-ref)), 1e-5);
        }
  }
}

TEST(SsmConv, HistoryContinuesTheSequence) {
  // Feeding the sequence in chunks of 1 and 3 tokens with the history equals one pass.
  ConvProblem whole;
  whole.forward();
  std::vector<float> history(static_cast<std::size_t>(whole.B) * (whole.K - 1) * whole.Di, 0.0f);
  int t0 = 0;
  for (int len : {1, 3, 1, 2}) {
    ConvProblem part = whole;
    part.T = len;
    part.x.clear();
    for (int b = 0; b < whole.B; ++b)
      part.x.insert(part.x.end(), whole.x.begin() + (static_cast<std::size_t>(b) * whole.T + t0) * whole.ldx,
                    whole.x.begin() + (static_cast<std::size_t>(b) * whole.T + t0 + len) * whole.ldx);
    part.forward(history.data());
    trainer::ssm_conv_update_history(history.data(), part.x.data(), part.ldx, part.B, len, part.Di, part.K);
    for (int b = 0; b < whole.B; ++b)
      for (int t = 0; t < len; ++t)
        for (int d = 0; d < whole.Di; ++d)
          ASSERT_NEAR(part.act[(static_cast<std::size_t>(b) * len + t) * whole.Di + d],
                      whole.act[(static_cast<std::size_t>(b) * whole.T + t0 + t) * whole.Di + d], 1e-6)
              << "t=" << t0 + t;
    t0 += len;
  }
  EXPECT_EQ(t0, whole.T);
}

// The small shape fits one tile of the kernels; 2 x 19 rows by 70 channels spans several tiles
// of rows and of channels, with partial ones at both ends.
class SsmConvGradient : public ::testing::TestWithParam<std::tuple<int, int, int, int>> {};

TEST_P(SsmConvGradient, BackwardMatchesFiniteDifferences) {
  const auto [B, T, Di, K] = GetParam();
  ConvProblem p(B, T, Di, K);
  const std::vector<float> wout = randn(static_cast<std::size_t>(p.B) * p.T * p.Di, 24);
  auto loss = [&] {
    p.forward();
    return dot(wout.data(), p.act.data(), p.act.size());
  };
  p.forward();
  std::vector<float> dact = wout;  // overwritten with d(pre)
  std::vector<float> dx(p.x.size(), 0.0f), dw(p.w.size(), 0.0f), db(p.Di, 0.0f);
  trainer::ssm_conv_backward(dx.data(), p.ldx, dw.data(), db.data(), dact.data(), p.pre.data(), p.x.data(),
                             p.ldx, p.w.data(), p.B, p.T, p.Di, p.K);
  // Columns Di..ldx of x are not conv inputs.
  for (int r = 0; r < p.B * p.T; ++r)
    for (int c = p.Di; c < p.ldx; ++c) ASSERT_EQ(dx[static_cast<std::size_t>(r) * p.ldx + c], 0.0f);
  expect_fd_gradient("x", p.x.data(), dx.data(), dx.size(), loss, {.max_checks = 80});
  expect_fd_gradient("conv.weight", p.w.data(), dw.data(), dw.size(), loss);
  expect_fd_gradient("conv.bias", p.bias.data(), db.data(), db.size(), loss);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SsmConvGradient,
                         ::testing::Values(std::tuple{2, 7, 10, 4}, std::tuple{2, 19, 70, 3}));

}  // namespace
