// Tests for trainer/moe_block: routing (top-k, ties to the lower index, renormalised gates,
// grouping by expert, no dropping), the output against a per-token reference, the Switch aux
// loss, and finite-difference gradients for the input, router, experts, shared expert and aux.
// Top-k is piecewise: inputs are drawn so every token's k-th and (k+1)-th router logits differ by
// a clear margin, so the ±eps of the finite differences never changes a routing decision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "hybrid_fd_util.h"
#include "trainer/model_config.h"
#include "trainer/layers/moe_block.h"

namespace {

using hybrid_test::dot;
using hybrid_test::expect_fd_gradient;
using hybrid_test::randn;

trainer::MoeDims small_dims(int M, bool shared) {
  trainer::MoeDims d;
  d.M = M;
  d.D = 6;
  d.X = 4;
  d.k = 2;
  d.Fe = 5;
  d.Fs = shared ? 3 : 0;
  return d;
}

struct MoeFixture {
  trainer::MoeDims d;
  std::vector<float> wbuf, gbuf, abuf, sbuf, x;
  trainer::MoeParams w, g;
  trainer::MoeActivations act;
  trainer::MoeScratch scratch;
  MoeFixture(trainer::MoeDims dims, std::uint64_t seed) : d(dims) {
    trainer::MoeParams tmp;
    const std::size_t n = trainer::moe_point_params(&tmp, nullptr, d);
    wbuf = randn(n, seed, 0.5f);
    gbuf.assign(n, 0.0f);
    trainer::moe_point_params(&w, wbuf.data(), d);
    trainer::moe_point_params(&g, gbuf.data(), d);
    trainer::MoeActivations ta;
    abuf.assign(trainer::moe_point_activations(&ta, nullptr, d), 0.0f);
    trainer::moe_point_activations(&act, abuf.data(), d);
    trainer::MoeScratch ts;
    sbuf.assign(trainer::moe_point_scratch(&ts, nullptr, d), 0.0f);
    trainer::moe_point_scratch(&scratch, sbuf.data(), d);
    x = randn(static_cast<std::size_t>(d.M) * d.D, seed + 1);
  }
  trainer::MoeWeights weights() const { return trainer::moe_weights_plain(w, &g, d); }
  std::vector<float> forward(float* aux = nullptr) {
    std::vector<float> out(static_cast<std::size_t>(d.M) * d.D, 0.0f);
    const float a = trainer::moe_block_forward(out.data(), act, x.data(), weights(), d);
    if (aux) *aux = a;
    return out;
  }
  std::vector<float> logits(int m) const {
    std::vector<float> l(d.X, 0.0f);
    for (int e = 0; e < d.X; ++e)
      for (int i = 0; i < d.D; ++i) l[e] += w.router[e * d.D + i] * x[static_cast<std::size_t>(m) * d.D + i];
    return l;
  }
  // Redraws tokens until each one's k-th and (k+1)-th logits are at least `margin` apart.
  void make_routing_margins(float margin) {
    std::uint64_t seed = 1000;
    for (int m = 0; m < d.M; ++m) {
      for (;;) {
        std::vector<float> l = logits(m);
        std::sort(l.begin(), l.end(), std::greater<>());
        if (l[d.k - 1] - l[d.k] >= margin) break;
        const std::vector<float> r = randn(d.D, ++seed);
        std::copy(r.begin(), r.end(), x.begin() + static_cast<std::ptrdiff_t>(m) * d.D);
      }
    }
  }
};

std::vector<float> swiglu_ref(const trainer::SwigluParams& p, const float* x, int D, int F) {
  std::vector<float> h(F), out(D, 0.0f);
  for (int f = 0; f < F; ++f) {
    double g = 0, u = 0;
    for (int i = 0; i < D; ++i) {
      g += p.gate[f * D + i] * x[i];
      u += p.up[f * D + i] * x[i];
    }
    h[f] = static_cast<float>(g / (1 + std::exp(-g)) * u);
  }
  for (int i = 0; i < D; ++i)
    for (int f = 0; f < F; ++f) out[i] += p.down[i * F + f] * h[f];
  return out;
}

TEST(MoeBlock, ForwardMatchesPerTokenReference) {
  for (bool shared : {false, true}) {
    MoeFixture f(small_dims(11, shared), 5);
    const std::vector<float> out = f.forward();
    for (int m = 0; m < f.d.M; ++m) {
      // Softmax, top-2 by hand, renormalised gates.
      std::vector<float> l = f.logits(m);
      const float mx = *std::max_element(l.begin(), l.end());
      double z = 0;
      for (float& v : l) z += (v = std::exp(v - mx));
      std::vector<int> order(f.d.X);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
      const double s = l[order[0]] + l[order[1]];
      std::vector<double> ref(f.d.D, 0.0);
      for (int j = 0; j < 2; ++j) {
        const auto y = swiglu_ref(f.w.experts[order[j]], f.x.data() + m * f.d.D, f.d.D, f.d.Fe);
        for (int i = 0; i < f.d.D; ++i) ref[i] += l[order[j]] / s * y[i];
        EXPECT_EQ(f.act.topk[m * 2 + j], order[j]) << "token " << m;
      }
      if (shared) {
        const auto y = swiglu_ref(f.w.shared, f.x.data() + m * f.d.D, f.d.D, f.d.Fs);
        for (int i = 0; i < f.d.D; ++i) ref[i] += y[i];
      }
      for (int i = 0; i < f.d.D; ++i) EXPECT_NEAR(out[m * f.d.D + i], ref[i], 1e-5) << m << "," << i;
      EXPECT_NEAR(f.act.probs[m * f.d.X], l[0] / z, 1e-6);
    }
  }
}

TEST(MoeBlock, TiesGoToTheLowerIndexAndGatesRenormalise) {
  MoeFixture f(small_dims(3, false), 6);
  std::fill(f.w.router, f.w.router + f.d.X * f.d.D, 0.0f);  // all probabilities equal
  float aux = 0;
  f.forward(&aux);
  for (int m = 0; m < f.d.M; ++m) {
    EXPECT_EQ(f.act.topk[m * 2], 0);
    EXPECT_EQ(f.act.topk[m * 2 + 1], 1);
    EXPECT_FLOAT_EQ(f.act.gates[m * 2], 0.5f);
    EXPECT_FLOAT_EQ(f.act.gates[m * 2 + 1], 0.5f);
  }
  // Uniform probabilities: P_e = 1/X whatever the counts, so aux = X·Σ f_e/X = 1.
  EXPECT_NEAR(aux, 1.0f, 1e-6);
}

TEST(MoeBlock, AuxLossIsSwitchFormula) {
  MoeFixture f(small_dims(9, true), 7);
  float aux = 0;
  f.forward(&aux);
  std::vector<std::int64_t> counts(f.d.X);
  trainer::moe_expert_counts(f.act, f.d, counts.data());
  double ref = 0;
  for (int e = 0; e < f.d.X; ++e) {
    double P = 0;
    for (int m = 0; m < f.d.M; ++m) P += f.act.probs[m * f.d.X + e];
    ref += (counts[e] / (9.0 * 2)) * (P / 9.0);
  }
  EXPECT_NEAR(aux, 4 * ref, 1e-6);
  EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), std::int64_t{0}), 18);
}

TEST(MoeBlock, GroupsByExpertWithoutDropping) {
  // Every token prefers expert 2: it gets all M tokens (no capacity limit), the rest share the
  // second choice; the grouped rows are contiguous per expert and in token order.
  MoeFixture f(small_dims(12, false), 8);
  for (int i = 0; i < f.d.D; ++i) f.w.router[2 * f.d.D + i] = 0.0f;
  // A large constant logit for expert 2 via a feature that is 1 for every token.
  for (int m = 0; m < f.d.M; ++m) f.x[m * f.d.D + 5] = 1.0f;
  f.w.router[2 * f.d.D + 5] = 50.0f;
  f.forward();
  std::vector<std::int64_t> counts(f.d.X);
  trainer::moe_expert_counts(f.act, f.d, counts.data());
  EXPECT_EQ(counts[2], f.d.M);
  EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), std::int64_t{0}), f.d.M * f.d.k);
  for (int e = 0; e < f.d.X; ++e)
    for (int r = f.act.offset[e]; r + 1 < f.act.offset[e + 1]; ++r)
      EXPECT_LT(f.act.row_token[r], f.act.row_token[r + 1]);
  for (int m = 0; m < f.d.M; ++m)
    for (int j = 0; j < f.d.k; ++j) {
      const int row = f.act.slot_row[m * f.d.k + j];
      const int e = f.act.topk[m * f.d.k + j];
      EXPECT_EQ(f.act.row_token[row], m);
      EXPECT_GE(row, f.act.offset[e]);
      EXPECT_LT(row, f.act.offset[e + 1]);
    }
}

// With renormalised gates (with and without a shared expert) and with the plain softmax gates of
// Jamba (moe.renormalize = false).
TEST(MoeBlock, BackwardMatchesFiniteDifferences) {
  for (int variant : {0, 1, 2}) {
    const bool shared = variant == 1;
    trainer::MoeDims dims = small_dims(10, shared);
    dims.renormalize = variant != 2;
    MoeFixture f(dims, variant == 0 ? 12 : variant == 1 ? 11 : 15);
    f.make_routing_margins(0.3f);
    const std::vector<float> wout = randn(f.x.size(), 13);
    const float aux_weight = 0.7f;  // large, so the aux path is visible in every router gradient
    auto loss = [&] {
      float aux = 0;
      const std::vector<float> y = f.forward(&aux);
      return dot(wout.data(), y.data(), y.size()) + aux_weight * static_cast<double>(aux);
    };
    f.forward();
    std::vector<float> dx(f.x.size(), 0.0f);
    trainer::moe_block_backward(dx.data(), wout.data(), f.x.data(), aux_weight, f.act, f.weights(), f.scratch, f.d);
    const std::vector<std::int32_t> topk(f.act.topk, f.act.topk + f.d.M * f.d.k);
    const hybrid_test::FdOptions opt{.eps = 5e-3f};
    expect_fd_gradient("x", f.x.data(), dx.data(), dx.size(), loss, opt);
    const std::vector<trainer::MoeBufferSpec> specs = trainer::moe_param_specs(f.d);
    std::size_t off = 0;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const std::string name = std::string(specs[i].name) + (i >= 1 && i <= 3u * f.d.X ? "#" + std::to_string((i - 1) / 3) : "");
      expect_fd_gradient(name, f.wbuf.data() + off, f.gbuf.data() + off, specs[i].elems, loss, opt);
      off += specs[i].elems;
    }
    EXPECT_EQ(off, f.wbuf.size());
    // The finite differences did not move any token to another expert.
    f.forward();
    for (std::size_t i = 0; i < topk.size(); ++i) ASSERT_EQ(f.act.topk[i], topk[i]);
  }
}

TEST(MoeBlock, AuxGradientAloneMatchesFiniteDifferences) {
  // Only the aux loss (dout = 0): checks the router path of the Switch loss in isolation.
  MoeFixture f(small_dims(8, false), 14);
  f.make_routing_margins(0.3f);
  auto loss = [&] {
    float aux = 0;
    f.forward(&aux);
    return static_cast<double>(aux);
  };
  f.forward();
  const std::vector<float> zeros(f.x.size(), 0.0f);
  std::vector<float> dx(f.x.size(), 0.0f);
  trainer::moe_block_backward(dx.data(), zeros.data(), f.x.data(), 1.0f, f.act, f.weights(), f.scratch, f.d);
  expect_fd_gradient("router (aux)", f.w.router, f.g.router, static_cast<std::size_t>(f.d.X) * f.d.D, loss);
  expect_fd_gradient("x (aux)", f.x.data(), dx.data(), dx.size(), loss);
  EXPECT_EQ(f.g.experts[0].gate[0], 0.0f);  // experts get nothing from the aux loss
}

TEST(MoeBlock, DimsFromConfig) {
  trainer::ModelConfig c;
  c.d_model = 32;
  c.moe.n_experts = 8;
  c.moe.top_k = 2;
  c.moe.d_expert = 0;
  c.moe.shared_expert = false;
  const trainer::MoeDims d = trainer::moe_dims(c, 40);
  EXPECT_EQ(d.Fe, 64);
  EXPECT_EQ(d.Fs, 0);
  EXPECT_EQ(d.assignments(), 80);
}

}  // namespace
