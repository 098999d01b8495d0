// Tests for trainer/ssm_block: the whole SSM sub-layer against finite differences (input and all
// nine weights; with Jamba's dt/B/C norms also their weights), its init, and generation with the recurrent state (conv + scan state) matching
// the full forward over the same prefix, token by token and in chunks.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "hybrid_fd_util.h"
#include "trainer/model_config.h"
#include "trainer/layers/ssm_block.h"

namespace {

using hybrid_test::dot;
using hybrid_test::expect_fd_gradient;
using hybrid_test::randn;

trainer::SsmDims small_dims(int B, int T) {
  trainer::SsmDims d;
  d.B = B;
  d.T = T;
  d.D = 8;
  d.Di = 16;
  d.N = 4;
  d.R = 2;
  d.K = 3;
  return d;
}

// Weights of unit-ish scale plus the special init, held in one buffer.
struct SsmFixture {
  trainer::SsmDims d;
  std::vector<float> wbuf, gbuf, abuf, sbuf;
  trainer::SsmParams w, g;
  trainer::SsmActivations act;
  trainer::SsmScratch scratch;
  explicit SsmFixture(trainer::SsmDims dims) : d(dims) {
    trainer::SsmParams tmp;
    const std::size_t n = trainer::ssm_point_params(&tmp, nullptr, d);
    wbuf = randn(n, 31, 0.3f);
    gbuf.assign(n, 0.0f);
    trainer::ssm_point_params(&w, wbuf.data(), d);
    trainer::ssm_point_params(&g, gbuf.data(), d);
    trainer::Rng rng(7);
    EXPECT_TRUE(trainer::ssm_init_tensor("A_log", w.A_log, d, rng));
    EXPECT_TRUE(trainer::ssm_init_tensor("dt_proj.bias", w.dt_bias, d, rng));
    // Non-trivial values for the tensors the special init sets to constants.
    for (int i = 0; i < d.Di; ++i) {
      w.D[i] = 1.0f + 0.1f * (i % 5);
      w.conv_b[i] = 0.05f * ((i % 3) - 1);
      w.dt_bias[i] += 1.5f;  // larger Δ: the state carries more across time
    }
    trainer::SsmActivations ta;
    abuf.assign(trainer::ssm_point_activations(&ta, nullptr, d), 0.0f);
    trainer::ssm_point_activations(&act, abuf.data(), d);
    trainer::SsmScratch ts;
    sbuf.assign(trainer::ssm_point_scratch(&ts, nullptr, d), 0.0f);
    trainer::ssm_point_scratch(&scratch, sbuf.data(), d);
  }
  trainer::SsmWeights weights() const { return trainer::ssm_weights_plain(w, &g, d); }
  std::vector<float> forward(const std::vector<float>& x, trainer::SsmState* state = nullptr) {
    std::vector<float> out(static_cast<std::size_t>(d.rows()) * d.D, 0.0f);
    trainer::ssm_block_forward(out.data(), act, x.data(), weights(), state, d);
    return out;
  }
};

TEST(SsmBlock, ForwardAccumulatesIntoOut) {
  SsmFixture f(small_dims(1, 5));
  const std::vector<float> x = randn(5 * 8, 41);
  const std::vector<float> y = f.forward(x);
  std::vector<float> out(y.size(), 2.0f);
  trainer::ssm_block_forward(out.data(), f.act, x.data(), f.weights(), nullptr, f.d);
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(out[i], y[i] + 2.0f, 1e-5);
}

TEST(SsmBlock, BackwardMatchesFiniteDifferences) {
  SsmFixture f(small_dims(2, 6));
  std::vector<float> x = randn(static_cast<std::size_t>(f.d.rows()) * f.d.D, 42);
  const std::vector<float> wout = randn(x.size(), 43);
  auto loss = [&] {
    const std::vector<float> y = f.forward(x);
    return dot(wout.data(), y.data(), y.size());
  };
  f.forward(x);
  std::vector<float> dx(x.size(), 0.0f);
  trainer::ssm_block_backward(dx.data(), wout.data(), x.data(), f.act, f.weights(), f.scratch, f.d);
  expect_fd_gradient("x", x.data(), dx.data(), dx.size(), loss);
  trainer::SsmBufferSpec specs[trainer::kSsmParamCount];
  trainer::ssm_param_specs(f.d, specs);
  std::size_t off = 0;
  for (const auto& spec : specs) {
    expect_fd_gradient(spec.name, f.wbuf.data() + off, f.gbuf.data() + off, spec.floats, loss);
    off += spec.floats;
  }
  EXPECT_EQ(off, f.wbuf.size());
}

// Jamba's variant: x_proj's dt, B and C parts RMS-normalized with weights of their own. The input,
// the nine weights and the three norm weights against finite differences.
TEST(SsmBlock, DtBcNormsBackwardMatchesFiniteDifferences) {
  trainer::SsmDims d = small_dims(2, 6);
  d.R = 3;
  d.dbc_norm = true;
  d.eps = 1e-6f;
  SsmFixture f(d);
  std::vector<float> norms = randn(static_cast<std::size_t>(d.R + 2 * d.N), 47, 0.2f), dnorms(norms.size(), 0.0f);
  for (float& v : norms) v += 1.0f;
  auto weights = [&] {
    trainer::SsmWeights w = f.weights();
    w.dt_norm = norms.data();
    w.b_norm = norms.data() + d.R;
    w.c_norm = norms.data() + d.R + d.N;
    w.ddt_norm = dnorms.data();
    w.db_norm = dnorms.data() + d.R;
    w.dc_norm = dnorms.data() + d.R + d.N;
    return w;
  };
  std::vector<float> x = randn(static_cast<std::size_t>(d.rows()) * d.D, 48);
  const std::vector<float> wout = randn(x.size(), 49);
  auto forward = [&] {
    std::vector<float> y(x.size(), 0.0f);
    trainer::ssm_block_forward(y.data(), f.act, x.data(), weights(), nullptr, d);
    return y;
  };
  auto loss = [&] {
    const std::vector<float> y = forward();
    return dot(wout.data(), y.data(), y.size());
  };
  forward();
  std::vector<float> dx(x.size(), 0.0f);
  trainer::ssm_block_backward(dx.data(), wout.data(), x.data(), f.act, weights(), f.scratch, d);
  expect_fd_gradient("x", x.data(), dx.data(), dx.size(), loss);
  trainer::SsmBufferSpec specs[trainer::kSsmParamCount];
  trainer::ssm_param_specs(d, specs);
  std::size_t off = 0;
  for (const auto& spec : specs) {
    expect_fd_gradient(spec.name, f.wbuf.data() + off, f.gbuf.data() + off, spec.floats, loss);
    off += spec.floats;
  }
  expect_fd_gradient("dt_norm", norms.data(), dnorms.data(), d.R, loss);
  expect_fd_gradient("b_norm", norms.data() + d.R, dnorms.data() + d.R, d.N, loss);
  expect_fd_gradient("c_norm", norms.data() + d.R + d.N, dnorms.data() + d.R + d.N, d.N, loss);
  // The norms act: with them off the same weights give another output.
  const std::vector<float> with = forward();
  d.dbc_norm = false;
  std::vector<float> without(x.size(), 0.0f);
  trainer::ssm_block_forward(without.data(), f.act, x.data(), weights(), nullptr, d);
  double diff = 0;
  for (std::size_t i = 0; i < with.size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(with[i] - without[i])));
  EXPECT_GT(diff, 1e-3);
}

TEST(SsmBlock, InitFollowsTheModelDoc) {
  SsmFixture f(small_dims(1, 1));
  trainer::Rng rng(99);
  for (const char* name : {"A_log", "D", "conv.bias", "dt_proj.bias", "conv.weight", "dt_proj.weight"}) {
    trainer::SsmBufferSpec specs[trainer::kSsmParamCount];
    trainer::ssm_param_specs(f.d, specs);
    std::size_t off = 0;
    for (const auto& spec : specs) {
      if (std::string(spec.name) == name || std::string(spec.name) == std::string(name) + ".weight") break;
      off += spec.floats;
    }
    EXPECT_TRUE(trainer::ssm_init_tensor(name, f.wbuf.data() + off, f.d, rng)) << name;
  }
  EXPECT_FALSE(trainer::ssm_init_tensor("in_proj.weight", f.w.in_proj, f.d, rng));
  for (int i = 0; i < f.d.Di; ++i) {
    for (int n = 0; n < f.d.N; ++n) EXPECT_FLOAT_EQ(f.w.A_log[i * f.d.N + n], std::log(n + 1.0f));
    EXPECT_EQ(f.w.D[i], 1.0f);
    EXPECT_EQ(f.w.conv_b[i], 0.0f);
    const double dt = std::log1p(std::exp(static_cast<double>(f.w.dt_bias[i])));
    EXPECT_GE(dt, 0.001 * 0.999);
    EXPECT_LE(dt, 0.1 * 1.001);
    for (int j = 0; j < f.d.K; ++j) EXPECT_LE(std::fabs(f.w.conv_w[i * f.d.K + j]), 1.0 / std::sqrt(f.d.K));
    for (int r = 0; r < f.d.R; ++r) EXPECT_LE(std::fabs(f.w.dt_proj[i * f.d.R + r]), 1.0 / std::sqrt(f.d.R));
  }
}

TEST(SsmBlock, FrozenWeightsGetNoGradient) {
  // Null gradients for the non-Linear weights (a lora run freezes them): backward skips them and
  // still produces the same input gradient.
  SsmFixture f(small_dims(1, 4));
  const std::vector<float> x = randn(4 * 8, 45), dout = randn(4 * 8, 46);
  f.forward(x);
  std::vector<float> dx_full(x.size(), 0.0f), dx_frozen(x.size(), 0.0f);
  trainer::ssm_block_backward(dx_full.data(), dout.data(), x.data(), f.act, f.weights(), f.scratch, f.d);
  trainer::SsmWeights frozen = trainer::ssm_weights_plain(f.w, nullptr, f.d);
  trainer::ssm_block_backward(dx_frozen.data(), dout.data(), x.data(), f.act, frozen, f.scratch, f.d);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(dx_frozen[i], dx_full[i], 1e-5);
}

// Generation: the state-carrying forward over a prefix, one token (or chunk) at a time, gives the
// same outputs as the plain forward over the whole prefix.
TEST(SsmBlock, RecurrentStateMatchesFullForward) {
  const int B = 2, T = 9;
  SsmFixture full(small_dims(B, T));
  const std::vector<float> x = randn(static_cast<std::size_t>(B) * T * full.d.D, 44);
  const std::vector<float> y_full = full.forward(x);
  for (const std::vector<int>& chunks : {std::vector<int>(T, 1), std::vector<int>{4, 1, 3, 1}}) {
    std::vector<float> state_buf;
    trainer::SsmState state;
    {
      trainer::SsmState tmp;
      state_buf.assign(trainer::ssm_point_state(&tmp, nullptr, small_dims(B, 1)), 0.0f);
      trainer::ssm_point_state(&state, state_buf.data(), small_dims(B, 1));
    }
    int t0 = 0;
    for (int len : chunks) {
      SsmFixture step(small_dims(B, len));
      step.wbuf = full.wbuf;  // same weights (the views point into wbuf's storage)
      trainer::ssm_point_params(&step.w, step.wbuf.data(), step.d);
      std::vector<float> xs;
      for (int b = 0; b < B; ++b)
        xs.insert(xs.end(), x.begin() + (static_cast<std::size_t>(b) * T + t0) * full.d.D,
                  x.begin() + (static_cast<std::size_t>(b) * T + t0 + len) * full.d.D);
      const std::vector<float> ys = step.forward(xs, &state);
      for (int b = 0; b < B; ++b)
        for (int t = 0; t < len; ++t)
          for (int i = 0; i < full.d.D; ++i)
            ASSERT_NEAR(ys[(static_cast<std::size_t>(b) * len + t) * full.d.D + i],
                        y_full[(static_cast<std::size_t>(b) * T + t0 + t) * full.d.D + i], 2e-5)
                << "b=" << b << " t=" << t0 + t << " i=" << i;
      t0 += len;
    }
    EXPECT_EQ(t0, T);
  }
}

TEST(SsmBlock, DimsFromConfig) {
  trainer::ModelConfig c;
  c.d_model = 64;
  c.ssm.expand = 2;
  c.ssm.d_state = 16;
  c.ssm.d_conv = 4;
  const trainer::SsmDims d = trainer::ssm_dims(c, 3, 5);
  EXPECT_EQ(d.Di, 128);
  EXPECT_EQ(d.R, 4);  // ceil(64 / 16)
  EXPECT_EQ(d.rows(), 15);
  EXPECT_EQ(d.dbc_width(), 4 + 32);
}

}  // namespace
