// Shared checks of a recurrent block kind inside a model (the conv and mamba2 kinds' tests, and
// models built of them): a model with initialised weights, the decode step against the full
// forward, packed documents restarting the recurrent state, and every parameter's gradient against
// finite differences.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "trainer/generator.h"
#include "trainer/grad_check.h"
#include "trainer/model.h"
#include "trainer/model_loss.h"
#include "trainer/test_values.h"
#include "trainer/trainer.h"

namespace trainer_test {

// A model of `c` in the given shape with init_weights(seed); null (and a test failure) when it cannot be built.
inline std::unique_ptr<trainer::Model> make_model(const trainer::ModelConfig& c, int batch, int seq, bool training,
                                                  uint64_t seed, bool checkpoint = false) {
  trainer::RunShape shape;
  shape.batch = batch;
  shape.seq_len = seq;
  shape.training = training;
  shape.grad_checkpoint = checkpoint;
  auto m = trainer::Model::create(c, shape);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  if (!m.ok()) return nullptr;
  (*m)->init_weights(seed);
  return std::move(*m);
}

// The generator's token-by-token logits (twice, the second round after reset()) equal the full
// forward's over T tokens.
inline void expect_decode_matches_forward(const trainer::ModelConfig& c, int T) {
  auto m = make_model(c, 1, T, false, 5);
  ASSERT_TRUE(m);
  const auto seq = random_tokens(T, c.vocab_size, 9);
  m->forward(seq.data(), nullptr);
  const std::vector<float> full(m->logits(), m->logits() + static_cast<size_t>(T) * c.vocab_size);
  auto lookup = [&](const std::string& name) { return static_cast<const float*>(m->tensors().find(name)); };
  auto gen = trainer::RecurrentGenerator::create(c, lookup, T);
  ASSERT_TRUE(gen.ok()) << gen.status().to_string();
  for (int round = 0; round < 2; ++round) {  // the second round checks reset()
    (*gen)->reset();
    for (int t = 0; t < T; ++t) {
      const float* logits = (*gen)->step(seq[t]);
      for (int v = 0; v < c.vocab_size; ++v) {
        const float ref = full[static_cast<size_t>(t) * c.vocab_size + v];
        ASSERT_NEAR(logits[v], ref, 2e-4 * (1.0 + std::fabs(ref))) << "position " << t << " token " << v;
      }
    }
  }
}

// One row of T holding documents of `first` and T - first tokens: the second document's logits and
// gradients equal those of the document alone, and without the boundary its logits differ (it then
// reads the first document's state).
inline void expect_packed_documents_restart(const trainer::ModelConfig& c, int T, int first) {
  const int V = c.vocab_size;
  const auto in = random_tokens(T, V, 3), all_targets = random_tokens(T, V, 4);
  std::vector<int32_t> positions(T), targets(T, trainer::kIgnoreTarget);
  for (int t = 0; t < T; ++t) positions[t] = t < first ? t : t - first;
  for (int t = first; t < T; ++t) targets[t] = all_targets[t];

  auto packed = make_model(c, 1, T, true, 7);
  ASSERT_TRUE(packed);
  packed->zero_grad();
  packed->forward(in.data(), targets.data(), positions.data());
  const std::vector<float> logits(packed->logits() + first * V, packed->logits() + T * V);
  packed->backward(1.0f);

  auto alone = make_model(c, 1, T - first, true, 7);
  ASSERT_TRUE(alone);
  alone->zero_grad();
  alone->forward(in.data() + first, all_targets.data() + first);
  expect_close(logits.data(), alone->logits(), static_cast<int64_t>(T - first) * V, 2e-5, "logits");
  alone->backward(1.0f);
  ASSERT_EQ(packed->params().size(), alone->params().size());
  for (size_t i = 0; i < packed->params().size(); ++i) {
    const trainer::ParamRef& p = packed->params()[i];
    expect_close(p.grad, alone->params()[i].grad, p.numel, 1e-4, "grad " + p.spec->name);
  }

  packed->forward(in.data(), targets.data());
  double diff = 0.0;
  for (int i = 0; i < V; ++i)
    diff = std::max(diff, static_cast<double>(std::fabs(packed->logits()[first * V + i] - logits[i])));
  EXPECT_GT(diff, 1e-4);
}

// Every parameter's gradient (up to 24 entries each) over 14 tokens against central differences of
// the double-precision loss. The mamba2 blocks' dt_bias and A_log are set to steps of about 0.5 and
// decays of exp(-0.5·A) per token rather than Mamba-2's init (dt of 0.001 to 0.1, a state that barely
// decays), so that the loss depends on them enough for finite differences to resolve their gradients;
// their gradients are small (H entries each), so their step is larger. Returns the model's parameters.
inline std::vector<std::string> expect_model_gradients_match_finite_differences(const trainer::ModelConfig& c) {
  auto m = make_model(c, 2, 7, true, 42);
  EXPECT_TRUE(m);
  if (!m) return {};
  for (const trainer::ParamRef& p : m->params()) {
    for (int64_t i = 0; i < p.numel; ++i) {
      if (p.spec->name.ends_with("mamba2.dt_bias")) p.weight[i] = -0.6f + 0.3f * static_cast<float>(i);
      if (p.spec->name.ends_with("mamba2.A_log")) p.weight[i] = -0.5f + 0.35f * static_cast<float>(i);
    }
  }
  const int N = 14;
  const auto in = random_tokens(N, c.vocab_size, 1), tgt = random_tokens(N, c.vocab_size, 2);
  m->zero_grad();
  m->forward(in.data(), tgt.data());
  m->backward(1.0f);
  std::vector<std::string> names;
  for (const trainer::ParamRef& p : m->params()) {
    names.push_back(p.spec->name);
    std::vector<float> analytic(p.grad, p.grad + p.numel);
    GradCheckOptions o;
    o.max_checks = 24;
    if (p.spec->name.ends_with("mamba2.dt_bias") || p.spec->name.ends_with("mamba2.A_log")) o.eps = 4e-2f;
    expect_gradient(p.spec->name, p.weight, p.numel, analytic.data(),
                    [&] { return model_loss_double(*m, in.data(), tgt.data(), N); }, o);
  }
  return names;
}

}  // namespace trainer_test
