// Finite-difference checks of every op's backward (trainer/kernels/kernels.h): linear, embedding, RMSNorm,
// RoPE, attention (full causal, sliding window, grouped KV heads), SwiGLU, cross-entropy.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "trainer/grad_check.h"
#include "trainer/kernels/kernels.h"

namespace {

using trainer::Rng;
using trainer_test::expect_gradient;
using trainer_test::fill_normal;
using trainer_test::weighted_sum;

TEST(KernelGrad, Matmul) {
  const int N = 5, I = 7, O = 6;
  Rng rng(1);
  std::vector<float> x(N * I), w(O * I), out(N * O), dout(N * O);
  fill_normal(x, rng, 1.0);
  fill_normal(w, rng, 1.0);
  fill_normal(dout, rng, 1.0);
  auto loss = [&] {
    trainer::matmul_forward(out.data(), x.data(), w.data(), N, I, O, false);
    return weighted_sum(dout, out.data());
  };
  std::vector<float> dx(N * I, 0.5f), dw(O * I, -0.25f);  // nonzero start: backward must accumulate
  trainer::matmul_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), N, I, O);
  for (float& v : dx) v -= 0.5f;
  for (float& v : dw) v += 0.25f;
  expect_gradient("matmul dinp", x.data(), x.size(), dx.data(), loss);
  expect_gradient("matmul dweight", w.data(), w.size(), dw.data(), loss);
}

TEST(KernelGrad, MatmulForwardAccumulates) {
  std::vector<float> x = {1, 2}, w = {3, 4}, out = {10};
  trainer::matmul_forward(out.data(), x.data(), w.data(), 1, 2, 1, true);
  EXPECT_FLOAT_EQ(out[0], 21.0f);
}

TEST(KernelGrad, EmbeddingWithRepeatedTokens) {
  const int N = 9, C = 40, V = 5;
  const std::vector<int32_t> tokens = {0, 3, 3, 1, 4, 3, 0, 2, 3};
  Rng rng(2);
  std::vector<float> table(V * C), out(N * C), dout(N * C);
  fill_normal(table, rng, 1.0);
  fill_normal(dout, rng, 1.0);
  auto loss = [&] {
    trainer::embedding_forward(out.data(), tokens.data(), table.data(), N, C);
    return weighted_sum(dout, out.data());
  };
  std::vector<float> dtable(V * C, 0.0f);
  trainer::embedding_backward(dtable.data(), dout.data(), tokens.data(), N, C);
  trainer_test::GradCheckOptions o;
  o.max_checks = 1000;
  expect_gradient("embedding dtable", table.data(), table.size(), dtable.data(), loss, o);
}

TEST(KernelGrad, RmsNorm) {
  const int N = 6, C = 37;  // C not a multiple of the column block
  Rng rng(3);
  std::vector<float> x(N * C), w(C), out(N * C), rstd(N), dout(N * C);
  fill_normal(x, rng, 1.0);
  fill_normal(w, rng, 1.0);
  fill_normal(dout, rng, 1.0);
  auto loss = [&] {
    trainer::rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5f);
    return weighted_sum(dout, out.data());
  };
  loss();
  std::vector<float> dx(N * C, 0.0f), dw(C, 0.0f);
  trainer::rmsnorm_backward(dx.data(), dw.data(), dout.data(), x.data(), rstd.data(), w.data(), N, C);
  expect_gradient("rmsnorm dinp", x.data(), x.size(), dx.data(), loss);
  expect_gradient("rmsnorm dweight", w.data(), w.size(), dw.data(), loss);
}

TEST(KernelGrad, RmsNormMatchesFormula) {
  std::vector<float> x = {3, 4}, w = {1, 2}, out(2), rstd(1);
  trainer::rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), 1, 2, 0.0f);
  const float r = 1.0f / std::sqrt(12.5f);
  EXPECT_NEAR(rstd[0], r, 1e-6);
  EXPECT_NEAR(out[0], 3 * r, 1e-6);
  EXPECT_NEAR(out[1], 8 * r, 1e-6);
}

TEST(KernelGrad, Rope) {
  const int B = 2, T = 5, nh = 3, Dh = 8;
  std::vector<float> cs(T * Dh / 2), sn(T * Dh / 2);
  trainer::rope_tables(cs.data(), sn.data(), T, Dh, 10000.0f);
  Rng rng(4);
  std::vector<float> x(B * T * nh * Dh), out(x.size()), dout(x.size());
  fill_normal(x, rng, 1.0);
  fill_normal(dout, rng, 1.0);
  auto loss = [&] {
    out = x;
    trainer::rope_forward(out.data(), cs.data(), sn.data(), B, T, nh, Dh);
    return weighted_sum(dout, out.data());
  };
  std::vector<float> dx = dout;
  trainer::rope_backward(dx.data(), cs.data(), sn.data(), B, T, nh, Dh);
  expect_gradient("rope", x.data(), x.size(), dx.data(), loss);
}

// Partial rotary (Bamba): the first `rot` dims of each head rotate as a head of `rot` dims would, the
// rest pass unchanged; the backward against finite differences.
TEST(KernelGrad, PartialRope) {
  const int B = 2, T = 5, nh = 3, Dh = 8, rot = 4;
  std::vector<float> cs(T * rot / 2), sn(T * rot / 2);
  trainer::rope_tables(cs.data(), sn.data(), T, rot, 10000.0f);
  Rng rng(5);
  std::vector<float> x(B * T * nh * Dh), out(x.size()), dout(x.size());
  fill_normal(x, rng, 1.0);
  fill_normal(dout, rng, 1.0);
  auto loss = [&] {
    out = x;
    trainer::rope_forward(out.data(), cs.data(), sn.data(), B, T, nh, Dh, nullptr, rot);
    return weighted_sum(dout, out.data());
  };
  std::vector<float> dx = dout;
  trainer::rope_backward(dx.data(), cs.data(), sn.data(), B, T, nh, Dh, nullptr, rot);
  expect_gradient("partial rope", x.data(), x.size(), dx.data(), loss);
  // Each head's first rot dims equal a rotary head of rot dims alone; the others are unchanged.
  loss();
  for (int row = 0; row < B * T * nh; ++row) {
    std::vector<float> head(x.begin() + row * Dh, x.begin() + row * Dh + rot);
    const int t = (row / nh) % T;
    trainer::rope_forward(head.data(), cs.data() + t * rot / 2, sn.data() + t * rot / 2, 1, 1, 1, rot);
    for (int i = 0; i < Dh; ++i)
      EXPECT_FLOAT_EQ(out[row * Dh + i], i < rot ? head[i] : x[row * Dh + i]) << row << "," << i;
  }
}

TEST(KernelGrad, RopeRotatesHalvesAtPositionOne) {
  const int T = 2, Dh = 4;
  std::vector<float> cs(T * 2), sn(T * 2);
  trainer::rope_tables(cs.data(), sn.data(), T, Dh, 100.0f);
  // Position 0 is the identity; position 1, pair 0 rotates by 1 radian, pair 1 by 100^(-1/2).
  std::vector<float> x = {1, 2, 3, 4, 1, 2, 3, 4};
  trainer::rope_forward(x.data(), cs.data(), sn.data(), 1, T, 1, Dh);
  EXPECT_FLOAT_EQ(x[0], 1.0f);
  EXPECT_FLOAT_EQ(x[3], 4.0f);
  EXPECT_NEAR(x[4], 1 * std::cos(1.0) - 3 * std::sin(1.0), 1e-6);
  EXPECT_NEAR(x[6], 3 * std::cos(1.0) + 1 * std::sin(1.0), 1e-6);
  EXPECT_NEAR(x[5], 2 * std::cos(0.1) - 4 * std::sin(0.1), 1e-6);
}

struct AttnCase {
  int B, T, H, Hkv, Dh, window;
};

class AttentionGrad : public ::testing::TestWithParam<AttnCase> {};

TEST_P(AttentionGrad, MatchesFiniteDifferences) {
  const AttnCase c = GetParam();
  const int qd = c.H * c.Dh, kvd = c.Hkv * c.Dh;
  Rng rng(5 + c.window + c.Hkv);
  std::vector<float> q(c.B * c.T * qd), k(c.B * c.T * kvd), v(c.B * c.T * kvd);
  std::vector<float> out(c.B * c.T * qd), probs(c.B * c.H * c.T * c.T), dout(out.size());
  fill_normal(q, rng, 1.0);
  fill_normal(k, rng, 1.0);
  fill_normal(v, rng, 1.0);
  fill_normal(dout, rng, 1.0);
  auto loss = [&] {
    trainer::attention_forward(out.data(), probs.data(), q.data(), k.data(), v.data(), c.B, c.T, c.H, c.Hkv, c.Dh,
                               c.window);
    return weighted_sum(dout, out.data());
  };
  loss();
  std::vector<float> dq(q.size(), 0.0f), dk(k.size(), 0.0f), dv(v.size(), 0.0f);
  std::vector<float> scratch(4 * c.T * c.T);
  trainer::attention_backward(dq.data(), dk.data(), dv.data(), probs.data(), scratch.data(), 4, dout.data(), q.data(),
                              k.data(), v.data(), c.B, c.T, c.H, c.Hkv, c.Dh, c.window);
  expect_gradient("attention dq", q.data(), q.size(), dq.data(), loss);
  expect_gradient("attention dk", k.data(), k.size(), dk.data(), loss);
  expect_gradient("attention dv", v.data(), v.size(), dv.data(), loss);
}

INSTANTIATE_TEST_SUITE_P(Kernels, AttentionGrad,
                         ::testing::Values(AttnCase{2, 6, 2, 2, 4, 0},    // full causal
                                           AttnCase{2, 7, 2, 2, 4, 3},    // sliding window
                                           AttnCase{1, 6, 4, 2, 4, 0},    // grouped KV heads
                                           AttnCase{2, 7, 4, 1, 4, 2}));  // multi-query + window

TEST(KernelAttention, WindowMasksOldPositions) {
  const int T = 5, Dh = 2, window = 2;
  std::vector<float> q(T * Dh, 0.1f), k(T * Dh, 0.2f), v(T * Dh), out(T * Dh), probs(T * T);
  for (int t = 0; t < T; ++t) v[t * Dh] = static_cast<float>(t);
  trainer::attention_forward(out.data(), probs.data(), q.data(), k.data(), v.data(), 1, T, 1, 1, Dh, window);
  // Equal scores: token t averages v over {t-1, t}.
  EXPECT_FLOAT_EQ(out[0], 0.0f);
  EXPECT_FLOAT_EQ(out[4 * Dh], 3.5f);
  EXPECT_FLOAT_EQ(probs[4 * T + 2], 0.0f);
  EXPECT_FLOAT_EQ(probs[1 * T + 2], 0.0f);  // causal
}

TEST(KernelGrad, SwiGlu) {
  const int n = 50;
  Rng rng(6);
  std::vector<float> g(n), u(n), h(n), dh(n);
  fill_normal(g, rng, 2.0);
  fill_normal(u, rng, 1.0);
  fill_normal(dh, rng, 1.0);
  auto loss = [&] {
    trainer::swiglu_forward(h.data(), g.data(), u.data(), n);
    return weighted_sum(dh, h.data());
  };
  std::vector<float> dg(n, 0.0f), du(n, 0.0f);
  trainer::swiglu_backward(dg.data(), du.data(), dh.data(), g.data(), u.data(), n);
  expect_gradient("swiglu dgate", g.data(), n, dg.data(), loss);
  expect_gradient("swiglu dup", u.data(), n, du.data(), loss);
  const float x = 1.5f;
  trainer::swiglu_forward(h.data(), &x, &x, 1);
  EXPECT_NEAR(h[0], 1.5 * 1.5 / (1.0 + std::exp(-1.5)), 1e-6);
}

TEST(KernelGrad, CrossEntropy) {
  const int N = 4, V = 9;
  Rng rng(7);
  std::vector<float> logits(N * V), lse(N);
  fill_normal(logits, rng, 2.0);
  const std::vector<int32_t> targets = {0, 8, 3, 3};
  auto loss = [&] { return trainer::crossentropy_forward(lse.data(), logits.data(), targets.data(), N, V); };
  const double l0 = loss();
  // Reference: log-sum-exp in double.
  double ref = 0.0;
  for (int n = 0; n < N; ++n) {
    double s = 0.0;
    for (int v = 0; v < V; ++v) s += std::exp(static_cast<double>(logits[n * V + v]));
    ref += std::log(s) - logits[n * V + targets[n]];
  }
  EXPECT_NEAR(l0, ref, 1e-5 * std::fabs(ref));
  std::vector<float> dlogits = logits;
  trainer::crossentropy_backward_inplace(dlogits.data(), lse.data(), targets.data(), N, V, 1.0f);
  expect_gradient("cross-entropy", logits.data(), logits.size(), dlogits.data(), loss);
}

}  // namespace
