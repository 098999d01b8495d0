// Tests of the LoRA adapter math: forward against a naive product, gradients against finite
// differences, shrinking (the output change is exactly what the discarded singular values say,
// checked against an independent Jacobi SVD) and growing (bit-identical output), moments, errors.
#include "trainer/lora/adapter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace trainer {
namespace {

// An adapter with its own storage.
struct OwnedLora {
  std::vector<float> a, b, ga, gb, ma, va, mb, vb;  // b holds Bt (rank_max, Out)
  LoraTensors t;
  OwnedLora(int64_t in, int64_t out, int rank, int rank_max, float alpha, uint64_t seed = 1) {
    const size_t ac = static_cast<size_t>(rank_max * in), bc = static_cast<size_t>(out * rank_max);
    a.resize(ac); ga.resize(ac); ma.resize(ac); va.resize(ac);
    b.resize(bc); gb.resize(bc); mb.resize(bc); vb.resize(bc);
    t.in = in; t.out = out; t.rank = rank; t.rank_max = rank_max; t.scale = alpha / static_cast<float>(rank);
    t.a = a.data(); t.bt = b.data(); t.grad_a = ga.data(); t.grad_bt = gb.data();
    t.m_a = ma.data(); t.v_a = va.data(); t.m_bt = mb.data(); t.v_bt = vb.data();
    lora_init(t, seed);
  }
  void randomize_b(uint32_t seed, float std = 0.3f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, std);
    for (int64_t i = 0; i < t.out * t.rank; ++i) b[static_cast<size_t>(i)] = d(rng);
  }
};

std::vector<float> normal(int64_t n, uint32_t seed, float std = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, std);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<float> forward(const LoraTensors& t, const std::vector<float>& x, int64_t M, float base = 0.0f) {
  std::vector<float> y(static_cast<size_t>(M * t.out), base), u(static_cast<size_t>(M * t.rank_max));
  lora_forward(y.data(), u.data(), x.data(), t, M);
  return y;
}

// scale · B · A in double, (Out, In).
std::vector<double> delta_w(const LoraTensors& t) {
  std::vector<double> w(static_cast<size_t>(t.out * t.in), 0.0);
  for (int64_t o = 0; o < t.out; ++o)
    for (int j = 0; j < t.rank; ++j)
      for (int64_t i = 0; i < t.in; ++i)
        w[o * t.in + i] += static_cast<double>(t.scale) * t.bt[j * t.out + o] * t.a[j * t.in + i];
  return w;
}

// Singular values of a (rows, cols) row-major matrix by one-sided Jacobi (independent of LAPACK).
std::vector<double> jacobi_singular_values(std::vector<double> m, int rows, int cols) {
  for (int sweep = 0; sweep < 60; ++sweep) {
    double off = 0;
    for (int p = 0; p < cols; ++p)
      for (int q = p + 1; q < cols; ++q) {
        double alpha = 0, beta = 0, gamma = 0;
        for (int i = 0; i < rows; ++i) {
          alpha += m[i * cols + p] * m[i * cols + p];
          beta += m[i * cols + q] * m[i * cols + q];
          gamma += m[i * cols + p] * m[i * cols + q];
        }
        if (std::fabs(gamma) < 1e-300) continue;
        off = std::max(off, std::fabs(gamma) / std::sqrt(alpha * beta));
        const double zeta = (beta - alpha) / (2 * gamma);
        const double tt = (zeta >= 0 ? 1 : -1) / (std::fabs(zeta) + std::sqrt(1 + zeta * zeta));
        const double c = 1 / std::sqrt(1 + tt * tt), s = c * tt;
        for (int i = 0; i < rows; ++i) {
          const double xp = m[i * cols + p], xq = m[i * cols + q];
          m[i * cols + p] = c * xp - s * xq;
          m[i * cols + q] = s * xp + c * xq;
        }
      }
    if (off < 1e-15) break;
  }
  std::vector<double> s(static_cast<size_t>(cols));
  for (int p = 0; p < cols; ++p) {
    double n2 = 0;
    for (int i = 0; i < rows; ++i) n2 += m[i * cols + p] * m[i * cols + p];
    s[static_cast<size_t>(p)] = std::sqrt(n2);
  }
  std::sort(s.rbegin(), s.rend());
  return s;
}

TEST(LoraAdapter, FreshAdapterChangesNothingAndAIsKaimingUniform) {
  OwnedLora l(48, 20, 4, 8, 8.0f);
  const auto x = normal(6 * 48, 1);
  const auto y = forward(l.t, x, 6, 0.75f);
  for (float v : y) EXPECT_EQ(v, 0.75f);
  const float bound = 1.0f / std::sqrt(48.0f);
  double sq = 0;
  for (int64_t i = 0; i < 4 * 48; ++i) {
    EXPECT_LE(std::fabs(l.a[i]), bound);
    sq += l.a[i] * l.a[i];
  }
  EXPECT_NEAR(sq / (4 * 48), bound * bound / 3, 0.25 * bound * bound / 3);  // variance of U(-b, b)
  for (size_t i = 4 * 48; i < l.a.size(); ++i) EXPECT_EQ(l.a[i], 0.0f);   // capacity stays zero
  OwnedLora again(48, 20, 4, 8, 8.0f);
  EXPECT_EQ(again.a, l.a);  // deterministic in the seed
}

TEST(LoraAdapter, ForwardMatchesNaiveProduct) {
  OwnedLora l(24, 18, 5, 5, 10.0f);
  l.randomize_b(2);
  const int64_t M = 7;
  const auto x = normal(M * 24, 3);
  const auto y = forward(l.t, x, M, 1.0f);
  const auto w = delta_w(l.t);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t o = 0; o < 18; ++o) {
      double ref = 1.0;
      for (int64_t i = 0; i < 24; ++i) ref += x[m * 24 + i] * w[o * 24 + i];
      EXPECT_NEAR(y[m * 18 + o], ref, 1e-4);
    }
}

TEST(LoraAdapter, KernelsMatchNaiveProductAtTrainingSizes) {
  // Large enough for the parallel path, with row, column and In tails.
  const int64_t M = 130, in = 203, out = 75;
  OwnedLora l(in, out, 16, 16, 32.0f);
  l.randomize_b(21);
  const auto x = normal(M * in, 22);
  const auto y = forward(l.t, x, M, -1.0f);
  const auto w = delta_w(l.t);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t o = 0; o < out; ++o) {
      double ref = -1.0;
      for (int64_t i = 0; i < in; ++i) ref += x[m * in + i] * w[o * in + i];
      ASSERT_NEAR(y[m * out + o], ref, 1e-4 * (1 + std::fabs(ref))) << m << "," << o;
    }
}

// Loss L = Σ c ⊙ tanh(y), y = lora(x). dL/dy = c ⊙ (1 - tanh² y).
double loss_of(const LoraTensors& t, const std::vector<float>& x, const std::vector<float>& c, int64_t M) {
  const auto y = forward(t, x, M);
  double l = 0;
  for (size_t i = 0; i < y.size(); ++i) l += c[i] * std::tanh(static_cast<double>(y[i]));
  return l;
}

TEST(LoraAdapter, GradientsMatchFiniteDifferences) {
  const int64_t M = 5, in = 12, out = 10;
  OwnedLora l(in, out, 3, 6, 6.0f);
  l.randomize_b(4, 0.5f);
  auto x = normal(M * in, 5);
  const auto c = normal(M * out, 6);
  // Analytic gradients, accumulated on top of a known value.
  std::fill(l.ga.begin(), l.ga.end(), 0.5f);
  std::fill(l.gb.begin(), l.gb.end(), 0.5f);
  std::vector<float> dx(static_cast<size_t>(M * in), 0.5f), u(static_cast<size_t>(M * 6)), g(u.size());
  std::vector<float> y(static_cast<size_t>(M * out), 0.0f), dy(y.size());
  lora_forward(y.data(), u.data(), x.data(), l.t, M);
  for (size_t i = 0; i < y.size(); ++i) dy[i] = c[i] * (1.0f - std::tanh(y[i]) * std::tanh(y[i]));
  lora_backward(dx.data(), l.t, dy.data(), x.data(), u.data(), g.data(), M);

  const float eps = 3e-3f;
  auto tol = [](float g) { return 1e-3 + 1e-3 * std::fabs(g); };
  auto fd = [&](float* p) {
    const float keep = *p;
    *p = keep + eps;
    const double lp = loss_of(l.t, x, c, M);
    *p = keep - eps;
    const double lm = loss_of(l.t, x, c, M);
    *p = keep;
    return (lp - lm) / (2 * eps);
  };
  for (int64_t i = 0; i < 3 * in; ++i) EXPECT_NEAR(l.ga[i] - 0.5f, fd(&l.a[i]), tol(l.ga[i])) << "A " << i;
  for (int64_t i = 0; i < out * 3; ++i) EXPECT_NEAR(l.gb[i] - 0.5f, fd(&l.b[i]), tol(l.gb[i])) << "B " << i;
  for (size_t i = out * 3; i < l.gb.size(); ++i) EXPECT_EQ(l.gb[i], 0.5f);
  for (int64_t i = 0; i < M * in; ++i) EXPECT_NEAR(dx[i] - 0.5f, fd(&x[i]), tol(dx[i])) << "x " << i;
  for (size_t i = 3 * in; i < l.ga.size(); ++i) EXPECT_EQ(l.ga[i], 0.5f);  // inactive rows untouched
}

TEST(LoraAdapter, ShrinkDiscardsExactlyTheSmallestSingularValues) {
  const int64_t in = 40, out = 30;
  OwnedLora l(in, out, 8, 8, 16.0f);
  l.randomize_b(7);
  const auto before = delta_w(l.t);
  const auto sigma = jacobi_singular_values(before, static_cast<int>(out), static_cast<int>(in));
  const auto lapack_sigma = lora_singular_values(l.t);
  for (int j = 0; j < 8; ++j) EXPECT_NEAR(lapack_sigma[j], sigma[j], 1e-9 + 1e-6 * sigma[0]);
  // The output on the identity batch is ΔWᵀ, so its change is the change of ΔW.
  std::vector<float> eye(static_cast<size_t>(in * in), 0.0f);
  for (int64_t i = 0; i < in; ++i) eye[i * in + i] = 1.0f;
  const auto y0 = forward(l.t, eye, in);

  auto change = lora_set_rank(l.t, 4, 11);
  ASSERT_TRUE(change.ok()) << change.status().message();
  EXPECT_EQ(change->old_rank, 8);
  EXPECT_EQ(change->new_rank, 4);
  double expected = 0, total = 0;
  for (int j = 0; j < 8; ++j) {
    total += sigma[j] * sigma[j];
    if (j >= 4) expected += sigma[j] * sigma[j];
  }
  EXPECT_NEAR(change->discarded_sq, expected, 1e-6 * total);
  EXPECT_NEAR(change->update_norm_sq, total, 1e-6 * total);
  EXPECT_NEAR(change->sigma_kept_min, sigma[3], 1e-6 * sigma[0]);

  const auto after = delta_w(l.t);
  double dist = 0;
  for (size_t i = 0; i < after.size(); ++i) dist += (after[i] - before[i]) * (after[i] - before[i]);
  EXPECT_NEAR(std::sqrt(dist), std::sqrt(expected), 1e-4 * std::sqrt(total));
  const auto y1 = forward(l.t, eye, in);
  double out_change = 0;
  for (size_t i = 0; i < y1.size(); ++i) out_change += (y1[i] - y0[i]) * (y1[i] - y0[i]);
  EXPECT_NEAR(std::sqrt(out_change), std::sqrt(expected), 1e-4 * std::sqrt(total));
  // The kept part is the top-4 of the old update: the new singular values are the old top 4.
  const auto sigma_new = jacobi_singular_values(after, static_cast<int>(out), static_cast<int>(in));
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(sigma_new[j], sigma[j], 1e-5 * sigma[0]);
  EXPECT_LT(sigma_new[4], 1e-5 * sigma[0]);
  // The inactive capacity is zero again.
  for (size_t i = 4 * in; i < l.a.size(); ++i) ASSERT_EQ(l.a[i], 0.0f);
  for (size_t i = out * 4; i < l.b.size(); ++i) ASSERT_EQ(l.b[i], 0.0f);
}

TEST(LoraAdapter, ShrinkKeepsARowsOrthogonalAtTheOldScale) {
  const int64_t in = 32, out = 16;
  OwnedLora l(in, out, 8, 8, 8.0f);
  l.randomize_b(8);
  double old_sq = 0;
  for (int64_t i = 0; i < 8 * in; ++i) old_sq += l.a[i] * l.a[i];
  const double c2 = old_sq / 8;
  ASSERT_TRUE(lora_set_rank(l.t, 3, 1).ok());
  for (int p = 0; p < 3; ++p)
    for (int q = 0; q < 3; ++q) {
      double dot = 0;
      for (int64_t i = 0; i < in; ++i) dot += l.a[p * in + i] * l.a[q * in + i];
      EXPECT_NEAR(dot, p == q ? c2 : 0.0, 1e-5 * c2);
    }
}

TEST(LoraAdapter, ShrinkOfAFreshAdapterKeepsItTrainable) {
  OwnedLora l(32, 16, 8, 8, 8.0f);  // B = 0: the update is zero
  ASSERT_TRUE(lora_set_rank(l.t, 2, 1).ok());
  const auto y = forward(l.t, normal(3 * 32, 9), 3);
  for (float v : y) EXPECT_EQ(v, 0.0f);
  double sq = 0;
  for (int64_t i = 0; i < 2 * 32; ++i) sq += l.a[i] * l.a[i];
  EXPECT_GT(sq, 0.1);  // A keeps nonzero directions, so B gets gradients
}

TEST(LoraAdapter, GrowLeavesTheOutputBitIdentical) {
  const int64_t in = 61, out = 50, M = 33;  // odd sizes: vector tails and scalar columns
  OwnedLora l(in, out, 4, 32, 8.0f);
  l.randomize_b(10);
  for (size_t i = 0; i < 4 * in; ++i) l.ma[i] = 0.1f, l.va[i] = 0.02f;
  for (size_t i = 0; i < out * 4; ++i) l.mb[i] = 0.3f, l.vb[i] = 0.04f;
  const auto x = normal(M * in, 12);
  const auto y0 = forward(l.t, x, M, 0.5f);
  const std::vector<float> a_old(l.a.begin(), l.a.begin() + 4 * in);
  const std::vector<float> b_old(l.b.begin(), l.b.begin() + 4 * out);
  for (int r : {8, 16, 32}) {
    auto change = lora_set_rank(l.t, r, 100 + r);
    ASSERT_TRUE(change.ok());
    EXPECT_EQ(change->discarded_sq, 0.0);
    const auto y = forward(l.t, x, M, 0.5f);
    ASSERT_EQ(0, std::memcmp(y.data(), y0.data(), sizeof(float) * y.size())) << "rank " << r;
  }
  for (size_t i = 0; i < a_old.size(); ++i) EXPECT_EQ(l.a[i], a_old[i]);
  for (int64_t o = 0; o < out; ++o)
    for (int j = 0; j < 32; ++j) {
      EXPECT_EQ(l.b[j * out + o], j < 4 ? b_old[j * out + o] : 0.0f);
      EXPECT_EQ(l.mb[j * out + o], j < 4 ? 0.3f : 0.0f);
      EXPECT_NEAR(l.vb[j * out + o], 0.04f, 1e-7);
    }
  for (int64_t i = 0; i < 32 * in; ++i) {
    EXPECT_EQ(l.ma[i], i < 4 * in ? 0.1f : 0.0f);
    EXPECT_NEAR(l.va[i], 0.02f, 1e-7);
  }
  double new_rows_sq = 0;
  for (int64_t i = 4 * in; i < 32 * in; ++i) new_rows_sq += l.a[i] * l.a[i];
  EXPECT_GT(new_rows_sq, 0.0);  // the new directions can learn
}

TEST(LoraAdapter, ShrinkResetsFirstMomentsAndAveragesSecondMoments) {
  OwnedLora l(20, 12, 6, 8, 6.0f);
  l.randomize_b(13);
  for (int64_t i = 0; i < 6 * 20; ++i) l.ma[i] = 1.0f, l.va[i] = static_cast<float>(i % 3);  // mean 1
  for (int64_t i = 0; i < 12 * 6; ++i) l.mb[i] = 1.0f, l.vb[i] = 4.0f;
  l.ga[0] = 9.0f;
  ASSERT_TRUE(lora_set_rank(l.t, 2, 1).ok());
  for (size_t i = 0; i < l.ma.size(); ++i) {
    EXPECT_EQ(l.ma[i], 0.0f);
    EXPECT_EQ(l.ga[i], 0.0f);
    EXPECT_NEAR(l.va[i], i < 2 * 20 ? 1.0f : 0.0f, 1e-6);
  }
  for (size_t i = 0; i < l.mb.size(); ++i) {
    EXPECT_EQ(l.mb[i], 0.0f);
    EXPECT_EQ(l.vb[i], i < 12 * 2 ? 4.0f : 0.0f);
  }
}

TEST(LoraAdapter, RankOutOfRangeIsAnErrorAndChangesNothing) {
  OwnedLora l(16, 8, 4, 8, 4.0f);
  l.randomize_b(14);
  const auto a = l.a, b = l.b;
  for (int bad : {0, -1, 9}) {
    auto r = lora_set_rank(l.t, bad, 1);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("between 1 and 8"), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(l.a, a);
  EXPECT_EQ(l.b, b);
  EXPECT_EQ(l.t.rank, 4);
  EXPECT_FALSE(validate_lora_rank(0, 16, 8, "blocks.0.attn.q").ok());
  auto too_big = validate_lora_rank(9, 16, 8, "blocks.0.attn.q");
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.message().find("blocks.0.attn.q"), std::string::npos);
  EXPECT_TRUE(validate_lora_rank(8, 16, 8, "blocks.0.attn.q").ok());
}

}  // namespace
}  // namespace trainer
