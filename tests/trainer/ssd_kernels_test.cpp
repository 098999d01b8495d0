// Tests for trainer/kernels/ssd.h (the Mamba-2 scan): the chunked forward and backward against the
// step-by-step reference (chunks shorter than, equal to and longer than the sequence, groups shared by
// several heads, a carried state), finite differences of the chunked backward for every input, a
// deliberately wrong gradient being caught, and packed documents restarting the state.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "hybrid_fd_util.h"
#include "trainer/kernels/ssd.h"

namespace {

using hybrid_test::dot;
using hybrid_test::expect_fd_gradient;
using hybrid_test::randn;
using hybrid_test::uniform;

// One scan problem: x, B, C inside one xBC row (plus a column that is no scan input), positive dt.
struct SsdProblem {
  trainer::SsdDims d;
  std::vector<float> xbc, dt, A_log, Dskip;
  std::vector<int32_t> doc_start;  // empty = none
  SsdProblem(int B, int T, int H, int P, int G, int N, int Q) {
    d = {B, T, H, P, G, N, Q, H * P + 2 * G * N + 1};
    xbc = randn(rows() * d.ld, 1);
    dt = uniform(rows() * H, 2, 0.05f, 0.6f);
    A_log = uniform(H, 3, -0.7f, 1.5f);
    Dskip = randn(H, 4);
  }
  std::size_t rows() const { return static_cast<std::size_t>(d.B) * d.T; }
  std::size_t ysize() const { return rows() * d.H * d.P; }
  float* x() { return xbc.data(); }
  float* Bm() { return xbc.data() + d.H * d.P; }
  float* Cm() { return xbc.data() + d.H * d.P + d.G * d.N; }
  const int32_t* ds() const { return doc_start.empty() ? nullptr : doc_start.data(); }
  std::vector<float> forward(bool reference, const float* state_in = nullptr, float* state_out = nullptr) {
    std::vector<float> y(ysize());
    (reference ? trainer::ssd_scan_forward_reference : trainer::ssd_scan_forward)(
        y.data(), state_out, x(), Bm(), Cm(), dt.data(), A_log.data(), Dskip.data(), state_in, d, ds());
    return y;
  }
  struct Grads {
    std::vector<float> dxbc, ddt, dA, dD;
  };
  Grads backward(bool reference, const std::vector<float>& dy) {
    Grads g{std::vector<float>(xbc.size()), std::vector<float>(dt.size()), std::vector<float>(d.H),
            std::vector<float>(d.H)};
    float* dx = g.dxbc.data();
    float* dB = dx + d.H * d.P;
    float* dC = dB + d.G * d.N;
    if (reference) {
      trainer::ssd_scan_backward_reference(dx, dB, dC, g.ddt.data(), g.dA.data(), g.dD.data(), dy.data(), x(), Bm(),
                                           Cm(), dt.data(), A_log.data(), Dskip.data(), d, ds());
    } else {
      std::vector<float> scratch(trainer::ssd_scan_backward_scratch_floats(d), 7.0f);  // garbage in
      trainer::ssd_scan_backward(dx, dB, dC, g.ddt.data(), g.dA.data(), g.dD.data(), dy.data(), x(), Bm(), Cm(),
                                 dt.data(), A_log.data(), Dskip.data(), scratch.data(), d, ds());
    }
    return g;
  }
};

void expect_near_all(const std::vector<float>& a, const std::vector<float>& ref, double rel, const char* what) {
  ASSERT_EQ(a.size(), ref.size());
  double scale = 1e-3;
  for (float r : ref) scale = std::max(scale, static_cast<double>(std::fabs(r)));
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], ref[i], rel * scale) << what << "[" << i << "]";
}

// (B, T, H, P, G, N, Q): several chunks with a partial last one; one chunk longer than T; chunk 1
// (the recurrence only); groups shared by two heads.
using Shape = std::tuple<int, int, int, int, int, int, int>;
const Shape kShapes[] = {{2, 13, 4, 3, 2, 5, 4},
                         {1, 37, 2, 8, 1, 16, 8},
                         {1, 5, 2, 4, 1, 3, 64},
                         {2, 6, 3, 2, 3, 4, 1},
                         {1, 64, 4, 16, 2, 32, 16}};

TEST(SsdScan, ChunkedForwardMatchesStepByStep) {
  for (const Shape& s : kShapes) {
    auto [B, T, H, P, G, N, Q] = s;
    SsdProblem p(B, T, H, P, G, N, Q);
    const std::size_t sn = static_cast<std::size_t>(B) * H * P * N;
    std::vector<float> state_in = randn(sn, 11, 0.5f), s_fast(sn), s_ref(sn);
    for (const float* in : {static_cast<const float*>(nullptr), static_cast<const float*>(state_in.data())}) {
      const auto y = p.forward(false, in, s_fast.data());
      const auto y_ref = p.forward(true, in, s_ref.data());
      expect_near_all(y, y_ref, 2e-5, "y");
      expect_near_all(s_fast, s_ref, 2e-5, "state");
    }
  }
}

TEST(SsdScan, StateCarriesAcrossCallsInPlace) {
  const int T = 11, T1 = 7;
  SsdProblem whole(2, T, 2, 3, 1, 4, 3);
  const auto y_whole = whole.forward(false);
  std::vector<float> state(static_cast<std::size_t>(2) * 2 * 3 * 4, 0.0f);
  for (auto [t0, len] : {std::pair{0, T1}, std::pair{T1, T - T1}}) {
    SsdProblem part = whole;
    part.d.T = len;
    auto slice = [&](const std::vector<float>& v, int width) {
      std::vector<float> out;
      for (int b = 0; b < 2; ++b)
        out.insert(out.end(), v.begin() + (static_cast<std::size_t>(b) * T + t0) * width,
                   v.begin() + (static_cast<std::size_t>(b) * T + t0 + len) * width);
      return out;
    };
    part.xbc = slice(whole.xbc, whole.d.ld);
    part.dt = slice(whole.dt, whole.d.H);
    const auto y = part.forward(false, state.data(), state.data());
    const auto want = slice(y_whole, whole.d.H * whole.d.P);
    expect_near_all(y, want, 1e-5, "y");
  }
}

TEST(SsdScan, ChunkedBackwardMatchesStepByStep) {
  for (const Shape& s : kShapes) {
    auto [B, T, H, P, G, N, Q] = s;
    SsdProblem p(B, T, H, P, G, N, Q);
    const auto dy = randn(p.ysize(), 12);
    const auto g = p.backward(false, dy), r = p.backward(true, dy);
    expect_near_all(g.dxbc, r.dxbc, 5e-5, "dxBC");
    expect_near_all(g.ddt, r.ddt, 5e-5, "ddt");
    expect_near_all(g.dA, r.dA, 5e-5, "dA_log");
    expect_near_all(g.dD, r.dD, 5e-5, "dD");
    // The extra column of each xBC row is no scan input.
    for (std::size_t row = 0; row < p.rows(); ++row) ASSERT_EQ(g.dxbc[row * p.d.ld + p.d.ld - 1], 0.0f);
  }
}

class SsdGradient : public ::testing::TestWithParam<Shape> {};

TEST_P(SsdGradient, ChunkedBackwardMatchesFiniteDifferences) {
  auto [B, T, H, P, G, N, Q] = GetParam();
  SsdProblem p(B, T, H, P, G, N, Q);
  const auto w = randn(p.ysize(), 9);
  auto loss = [&] {
    const auto y = p.forward(false);
    return dot(w.data(), y.data(), y.size());
  };
  const auto g = p.backward(false, w);
  expect_fd_gradient("xBC", p.xbc.data(), g.dxbc.data(), g.dxbc.size(), loss, {.max_checks = 96});
  expect_fd_gradient("dt", p.dt.data(), g.ddt.data(), g.ddt.size(), loss);
  expect_fd_gradient("A_log", p.A_log.data(), g.dA.data(), g.dA.size(), loss);
  expect_fd_gradient("D", p.Dskip.data(), g.dD.data(), g.dD.size(), loss);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SsdGradient,
                         ::testing::Values(Shape{2, 13, 4, 3, 2, 5, 4}, Shape{1, 10, 2, 4, 1, 6, 3}));

// The failures `check` reports whose message contains `needle`, intercepted so that they do not
// fail this test.
template <class F>
int failures_naming(F check, const std::string& needle) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    check();
  }
  int n = 0;
  for (int i = 0; i < results.size(); ++i)
    n += std::string(results.GetTestPartResult(i).message()).find(needle) != std::string::npos;
  return n;
}

// The finite differences catch a gradient that is slightly wrong (dA_log 3% off, one dt entry off)
// and pass the right one.
TEST(SsdScan, WrongGradientIsCaught) {
  SsdProblem p(1, 10, 2, 4, 1, 6, 3);
  const auto w = randn(p.ysize(), 9);
  auto loss = [&] {
    const auto y = p.forward(false);
    return dot(w.data(), y.data(), y.size());
  };
  auto g = p.backward(false, w);
  auto check = [&](const char* name, float* param, const std::vector<float>& grad) {
    return [&, name, param] { expect_fd_gradient(name, param, grad.data(), grad.size(), loss); };
  };
  EXPECT_EQ(failures_naming(check("A_log", p.A_log.data(), g.dA), "A_log["), 0);
  EXPECT_EQ(failures_naming(check("dt", p.dt.data(), g.ddt), "dt["), 0);
  for (float& v : g.dA) v *= 1.03f;
  EXPECT_EQ(failures_naming(check("A_log", p.A_log.data(), g.dA), "A_log["), 2);
  g.ddt[7] += 0.05f * (1.0f + std::fabs(g.ddt[7]));
  EXPECT_EQ(failures_naming(check("dt", p.dt.data(), g.ddt), "dt[7]"), 1);
}

// One row holding documents of 5 and 8 tokens (the boundary inside a chunk of 4), after a state
// that must only reach the first: the second document's outputs and input gradients equal those of
// the document alone, and the reference agrees with the chunked kernels on the packed row.
TEST(SsdScan, PackedDocumentsRestartTheState) {
  const int T = 13, first = 5, H = 4, P = 3, G = 2, N = 5;
  SsdProblem packed(1, T, H, P, G, N, 4);
  packed.doc_start.assign(T, 0);
  for (int t = first; t < T; ++t) packed.doc_start[t] = first;
  const std::vector<float> state_in = randn(static_cast<std::size_t>(H) * P * N, 13);
  const auto y = packed.forward(false, state_in.data());
  expect_near_all(y, packed.forward(true, state_in.data()), 2e-5, "y vs reference");

  SsdProblem alone = packed;
  alone.doc_start.clear();
  alone.d.T = T - first;
  alone.xbc.assign(packed.xbc.begin() + first * packed.d.ld, packed.xbc.end());
  alone.dt.assign(packed.dt.begin() + first * H, packed.dt.end());
  const auto y_alone = alone.forward(false);
  const std::vector<float> y2(y.begin() + first * H * P, y.end());
  expect_near_all(y2, y_alone, 2e-5, "second document");

  // Gradients from the second document's outputs only.
  std::vector<float> dy = randn(packed.ysize(), 14);
  std::fill(dy.begin(), dy.begin() + first * H * P, 0.0f);
  const auto g = packed.backward(false, dy);
  const auto r = packed.backward(true, dy);
  expect_near_all(g.dxbc, r.dxbc, 5e-5, "packed dxBC vs reference");
  expect_near_all(g.ddt, r.ddt, 5e-5, "packed ddt vs reference");
  const auto ga = alone.backward(false, std::vector<float>(dy.begin() + first * H * P, dy.end()));
  for (std::size_t i = 0; i < static_cast<std::size_t>(first) * packed.d.ld; ++i)
    ASSERT_EQ(g.dxbc[i], 0.0f) << "first document's xBC[" << i << "]";
  expect_near_all(std::vector<float>(g.dxbc.begin() + first * packed.d.ld, g.dxbc.end()), ga.dxbc, 5e-5, "dxBC");
  expect_near_all(std::vector<float>(g.ddt.begin() + first * H, g.ddt.end()), ga.ddt, 5e-5, "ddt");
  expect_near_all(g.dA, ga.dA, 5e-5, "dA_log");
  expect_near_all(g.dD, ga.dD, 5e-5, "dD");

  // Without the boundary the second document reads the first one's state: other outputs.
  packed.doc_start.clear();
  const auto y_joined = packed.forward(false, state_in.data());
  double diff = 0.0;
  for (std::size_t i = first * H * P; i < y.size(); ++i)
    diff = std::max(diff, static_cast<double>(std::fabs(y_joined[i] - y[i])));
  EXPECT_GT(diff, 1e-3);
}

}  // namespace
