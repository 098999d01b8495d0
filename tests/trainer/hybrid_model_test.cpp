// Whole-model tests for hybrid models (ssm, attn+moe, ssm+moe blocks): every weight against finite
// differences of the model loss (cross-entropy + the weighted MoE aux loss), gradient checkpointing
// giving the same gradients, the aux loss in the reported loss, and the hybrid presets (patterns
// and parameter counts). Routing is piecewise constant: finite differences that move a token to
// another expert are detected (the top-k activations are compared) and skipped.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "trainer/layout.h"
#include "trainer/model.h"
#include "trainer/model_config.h"
#include "trainer/test_values.h"

namespace {

using trainer_test::random_tokens;

using trainer::LayerKind;
using trainer::Model;
using trainer::ModelConfig;
using trainer::RunShape;

ModelConfig tiny_hybrid() {
  ModelConfig c;
  c.name = "hybrid-grad-test";
  c.vocab_size = 13;
  c.d_model = 8;
  c.tied_embedding = true;
  c.init_std = 0.3f;
  c.blocks = {{{LayerKind::kSsm}}, {{LayerKind::kAttn, LayerKind::kMoe}}, {{LayerKind::kSsm, LayerKind::kMoe}}};
  c.attn.n_heads = 2;
  c.attn.window = 3;
  c.ssm.expand = 2;
  c.ssm.d_state = 4;
  c.ssm.d_conv = 3;
  c.ssm.dt_rank = 2;
  c.moe.n_experts = 4;
  c.moe.top_k = 2;
  c.moe.d_expert = 6;
  c.moe.shared_expert = true;
  c.moe.d_shared = 4;
  c.moe.aux_loss_weight = 0.1f;  // large, so the aux path shows in the router gradients
  return c;
}

// The routing decisions of every moe layer (their top-k activations), to detect a finite
// difference that crossed a routing boundary.
std::vector<int32_t> routing(const Model& m) {
  std::vector<int32_t> r;
  const auto& specs = m.tensors().specs();
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string& n = specs[i].name;
    if (n.size() > 9 && n.compare(n.size() - 9, 9, ".moe.topk") == 0) {
      const auto* p = static_cast<const int32_t*>(m.tensors().data(i));
      r.insert(r.end(), p, p + specs[i].numel());
    }
  }
  return r;
}

std::unique_ptr<Model> make_model(const ModelConfig& c, int B, int T, bool checkpoint, uint64_t seed) {
  RunShape shape;
  shape.batch = B;
  shape.seq_len = T;
  shape.grad_checkpoint = checkpoint;
  auto m = Model::create(c, shape);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  if (!m.ok()) return nullptr;
  (*m)->init_weights(seed);
  return std::move(*m);
}

TEST(HybridModel, GradientsMatchFiniteDifferences) {
  const ModelConfig c = tiny_hybrid();
  auto model = make_model(c, 2, 5, false, 42);
  ASSERT_TRUE(model);
  const auto in = random_tokens(10, c.vocab_size, 1), tgt = random_tokens(10, c.vocab_size, 2);
  model->zero_grad();
  model->forward(in.data(), tgt.data());
  model->backward(1.0f);
  const std::vector<int32_t> base_routing = routing(*model);
  ASSERT_FALSE(base_routing.empty());
  auto loss = [&] { return static_cast<double>(model->forward(in.data(), tgt.data())); };
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);  // hundreds of tiny forwards: one thread avoids wake-up costs
  const float eps = 1e-2f;
  // The loss is a float: a central difference cannot resolve less than a few ulps of it over 2*eps.
  const double loss0 = loss();
  const double noise = 4.0 * std::fabs(loss0) * 1.1920929e-7 / eps;
  int checked = 0, skipped = 0, kinds_seen = 0, directions = 0;
  for (const char* kind : {".ssm.", ".moe.", ".attn.", "embed", "norm"}) {
    bool seen = false;
    for (const trainer::ParamRef& p : model->params()) {
      if (p.spec->name.find(kind) == std::string::npos) continue;
      seen = true;
      const std::vector<float> analytic(p.grad, p.grad + p.numel);
      double gmax = 0.0;
      for (float g : analytic) gmax = std::max(gmax, std::fabs(static_cast<double>(g)));
      // Along the tensor's own gradient direction u = g/|g| the derivative is |g|: this sums the
      // signal of every element, so tensors whose single elements sit under the noise are checked too.
      double gnorm = 0.0;
      for (float g : analytic) gnorm += static_cast<double>(g) * g;
      gnorm = std::sqrt(gnorm);
      if (gnorm > 0.0) {
        const std::vector<float> w0(p.weight, p.weight + p.numel);
        const float h = 2e-2f;
        for (int64_t i = 0; i < p.numel; ++i) p.weight[i] = w0[i] + h * static_cast<float>(analytic[i] / gnorm);
        const double lp = loss();
        const bool same_p = routing(*model) == base_routing;
        for (int64_t i = 0; i < p.numel; ++i) p.weight[i] = w0[i] - h * static_cast<float>(analytic[i] / gnorm);
        const double lm = loss();
        const bool same_m = routing(*model) == base_routing;
        std::copy(w0.begin(), w0.end(), p.weight);
        if (same_p && same_m) {
          const double fd = (lp - lm) / (2.0 * h);
          EXPECT_NEAR(fd, gnorm, 0.03 * gnorm + noise * eps / h) << p.spec->name << " along its gradient";
          ++directions;
        }
      }
      const int64_t step = std::max<int64_t>(1, p.numel / 6);
      for (int64_t i = 0; i < p.numel; i += step) {
        const float w0 = p.weight[i];
        p.weight[i] = w0 + eps;
        const double lp = loss();
        const bool same_p = routing(*model) == base_routing;
        p.weight[i] = w0 - eps;
        const double lm = loss();
        const bool same_m = routing(*model) == base_routing;
        p.weight[i] = w0;
        if (!same_p || !same_m) {
          ++skipped;
          continue;
        }
        const double fd = (lp - lm) / (2.0 * eps);
        const double tol = noise + 1e-3 * std::max(gmax, 1e-3) +
                           5e-3 * std::max(std::fabs(fd), std::fabs(static_cast<double>(analytic[i])));
        EXPECT_NEAR(fd, analytic[i], tol) << p.spec->name << "[" << i << "]";
        ++checked;
      }
    }
    kinds_seen += seen;
  }
  omp_set_num_threads(threads);
  EXPECT_EQ(kinds_seen, 5);
  EXPECT_GT(checked, 150);
  EXPECT_GT(directions, 20);
  EXPECT_LT(skipped, checked / 10) << "too many finite differences crossed a routing boundary";
}

TEST(HybridModel, CheckpointingGivesTheSameGradients) {
  const ModelConfig c = tiny_hybrid();
  auto a = make_model(c, 3, 6, false, 7);
  auto b = make_model(c, 3, 6, true, 7);
  ASSERT_TRUE(a && b);
  const auto in = random_tokens(18, c.vocab_size, 3), tgt = random_tokens(18, c.vocab_size, 4);
  for (Model* m : {a.get(), b.get()}) {
    m->zero_grad();
    m->forward(in.data(), tgt.data());
    m->backward(0.5f);
  }
  EXPECT_FLOAT_EQ(a->last_ce_loss(), b->last_ce_loss());
  EXPECT_FLOAT_EQ(a->last_aux_loss(), b->last_aux_loss());
  const auto& pa = a->params();
  const auto& pb = b->params();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i)
    for (int64_t j = 0; j < pa[i].numel; ++j)
      ASSERT_NEAR(pa[i].grad[j], pb[i].grad[j], 1e-6 + 1e-5 * std::fabs(pa[i].grad[j])) << pa[i].spec->name;
}

TEST(HybridModel, LossIncludesWeightedAuxLoss) {
  const ModelConfig c = tiny_hybrid();
  auto m = make_model(c, 2, 5, false, 3);
  ASSERT_TRUE(m);
  const auto in = random_tokens(10, c.vocab_size, 5), tgt = random_tokens(10, c.vocab_size, 6);
  const float loss = m->forward(in.data(), tgt.data());
  // Two moe layers; the Switch loss of each lies in (0, X] and sits near 1 for a random router.
  EXPECT_GT(m->last_aux_loss(), 1.0f);
  EXPECT_LT(m->last_aux_loss(), 2.0f * c.moe.n_experts);
  EXPECT_NEAR(loss, m->last_ce_loss() + c.moe.aux_loss_weight * m->last_aux_loss(), 1e-5);
}

TEST(HybridPresets, PatternsAndSizes) {
  struct Expect {
    const char* name;
    int ssm, attn, moe;
    double min_params, max_params;
  };
  for (const Expect& e : {Expect{"hybrid-tiny", 4, 2, 4, 1e6, 3e6}, Expect{"hybrid-small", 6, 3, 6, 20e6, 40e6},
                          Expect{"mamba-tiny", 8, 0, 0, 0.5e6, 1.5e6}}) {
    auto c = trainer::model_preset(e.name);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    EXPECT_EQ(c->n_layers_of(LayerKind::kSsm), e.ssm) << e.name;
    EXPECT_EQ(c->n_layers_of(LayerKind::kAttn), e.attn) << e.name;
    EXPECT_EQ(c->n_layers_of(LayerKind::kMoe), e.moe) << e.name;
    EXPECT_EQ(c->n_layers_of(LayerKind::kMlp), 0) << e.name;
    auto n = trainer::count_parameters(*c);
    ASSERT_TRUE(n.ok()) << n.status().to_string();
    EXPECT_GE(*n, e.min_params) << e.name;
    EXPECT_LE(*n, e.max_params) << e.name;
  }
  // The Bit-Axon order: a third ssm, a third attn+moe (with a window), a third ssm+moe.
  auto c = trainer::model_preset("hybrid-tiny");
  ASSERT_TRUE(c.ok());
  const size_t n = c->blocks.size();
  ASSERT_EQ(n % 3, 0u);
  for (size_t i = 0; i < n; ++i) {
    const char* want = i < n / 3 ? "ssm" : i < 2 * n / 3 ? "attn+moe" : "ssm+moe";
    EXPECT_EQ(trainer::block_spec_to_string(c->blocks[i]), want) << i;
  }
  EXPECT_GT(c->attn.window, 0);
}

}  // namespace
