// The finite-difference checkers themselves (grad_check.h, hybrid_fd_util.h): they pass a right
// gradient, report a wrong one (a tensor 5% off, one entry off), and measure a loss's rounding
// noise close to the truth.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "hybrid_fd_util.h"
#include "trainer/grad_check.h"
#include "trainer/kernels/kernels.h"

namespace {

using trainer::Rng;

// L(x, w) = Σ dout · matmul(x, w): a small fp32 kernel, its loss summed in double.
struct MatmulCase {
  static constexpr int N = 6, I = 9, O = 7;
  std::vector<float> x = std::vector<float>(N * I), w = std::vector<float>(O * I);
  std::vector<float> out = std::vector<float>(N * O), dout = std::vector<float>(N * O);
  std::vector<float> dx = std::vector<float>(N * I, 0.0f), dw = std::vector<float>(O * I, 0.0f);
  MatmulCase() {
    Rng rng(11);
    trainer_test::fill_normal(x, rng, 1.0);
    trainer_test::fill_normal(w, rng, 1.0);
    trainer_test::fill_normal(dout, rng, 1.0);
    trainer::matmul_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), N, I, O);
  }
  double loss() {
    trainer::matmul_forward(out.data(), x.data(), w.data(), N, I, O, false);
    return trainer_test::weighted_sum(dout, out.data());
  }
};

TEST(GradCheck, RightGradientPasses) {
  MatmulCase c;
  const auto r = trainer_test::check_gradient("dw", c.w.data(), c.w.size(), c.dw.data(), [&] { return c.loss(); });
  EXPECT_TRUE(r.ok()) << (r.failures.empty() ? "" : r.failures[0]);
  EXPECT_LT(r.rel_l2, 1e-3);
}

TEST(GradCheck, TensorFivePercentOffIsReported) {
  MatmulCase c;
  std::vector<float> scaled = c.dw;
  for (float& g : scaled) g *= 1.05f;
  const auto r = trainer_test::check_gradient("dw", c.w.data(), c.w.size(), scaled.data(), [&] { return c.loss(); });
  EXPECT_FALSE(r.ok());
  EXPECT_GT(r.rel_l2, 0.04);
}

TEST(GradCheck, OneWrongEntryIsReportedByIndex) {
  MatmulCase c;
  std::vector<float> g = c.dx;
  g[18] += 0.05f;  // index 18 is checked (every entry of a 54-entry tensor is)
  const auto r = trainer_test::check_gradient("dx", c.x.data(), c.x.size(), g.data(), [&] { return c.loss(); });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.failures[0].find("dx[18]"), std::string::npos) << r.failures[0];
}

TEST(GradCheck, AZeroNumericGradientIsReported) {
  MatmulCase c;
  const auto r = trainer_test::check_gradient("dw", c.w.data(), c.w.size(), c.dw.data(), [] { return 0.5; });
  EXPECT_FALSE(r.ok());
}

// A smooth loss plus deterministic pseudo-random noise of known deviation (a hash of x's bits,
// uniform on [-sqrt(3), sqrt(3)] * sigma): the noise estimate must land near sigma.
TEST(GradCheck, MeasuresTheLossNoise) {
  std::vector<float> x = {0.3f, -1.2f, 0.7f, 2.0f};
  const std::vector<float> grad = {2 * 0.3f, 2 * -1.2f, 2 * 0.7f, 2 * 2.0f};
  for (double sigma : {1e-7, 1e-5}) {
    auto loss = [&] {
      uint64_t h = 1469598103934665603ull;
      double s = 0.0;
      for (float v : x) {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        h = (h ^ bits) * 1099511628211ull;
        s += static_cast<double>(v) * v;
      }
      h ^= h >> 29;
      h *= 0xbf58476d1ce4e5b9ull;
      h ^= h >> 32;
      const double u = static_cast<double>(h >> 11) / 9007199254740992.0;  // [0, 1)
      return s + sigma * std::sqrt(3.0) * (2.0 * u - 1.0);
    };
    trainer_test::GradCheckOptions o;
    o.eps = 0.2f;  // a large step: x² has no truncation error under Richardson
    o.l2_tol = 0.05;
    const auto r = trainer_test::check_gradient("x", x.data(), x.size(), grad.data(), loss, o);
    EXPECT_GT(r.loss_noise, 0.3 * sigma) << sigma;
    EXPECT_LT(r.loss_noise, 3.0 * sigma) << sigma;
    EXPECT_TRUE(r.ok()) << (r.failures.empty() ? "" : r.failures[0]);
  }
}

// The number of failures `check` reports, intercepted so that they do not fail this test.
template <class F>
int count_failures(F check) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    check();
  }
  return results.size();
}

TEST(FdCheck, RightGradientPassesAndWrongOnesFail) {
  MatmulCase c;
  auto loss = [&] { return c.loss(); };
  const hybrid_test::FdOptions all{.max_checks = 64};  // every entry of the 63
  EXPECT_EQ(count_failures([&] { hybrid_test::expect_fd_gradient("dw", c.w.data(), c.dw.data(), 63, loss, all); }), 0);
  std::vector<float> scaled = c.dw;
  for (float& g : scaled) g *= 1.05f;
  EXPECT_GT(count_failures([&] { hybrid_test::expect_fd_gradient("dw", c.w.data(), scaled.data(), 63, loss, all); }),
            30);
  std::vector<float> one = c.dw;
  one[5] += 0.05f;
  EXPECT_NONFATAL_FAILURE(hybrid_test::expect_fd_gradient("dw", c.w.data(), one.data(), 63, loss, all), "dw[5]");
}

}  // namespace
