// The `conv` kind (LFM2's short gated convolution) inside a model: every weight's gradient against
// finite differences (conv blocks beside attention with q/k norms), gradient checkpointing, the recurrent decode step
// against the full forward, and packed documents restarting the conv state at every boundary (the same logits and
// gradients as each document alone).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "trainer/block_fixture.h"
#include "trainer/grad_check.h"
#include "trainer/model.h"
#include "trainer/model_loss.h"

namespace {

using trainer::LayerKind;
using trainer_test::random_tokens;
using trainer::Model;
using trainer::ModelConfig;
using trainer::RunShape;

// LFM2's layer pattern at toy width: conv, conv, attn, conv (each with its SwiGLU MLP).
ModelConfig lfm2_like() {
  ModelConfig c;
  c.name = "lfm2-test";
  c.vocab_size = 13;
  c.d_model = 8;
  c.init_std = 0.3f;
  const trainer::BlockSpec conv{{LayerKind::kConv, LayerKind::kMlp}}, attn{{LayerKind::kAttn, LayerKind::kMlp}};
  c.blocks = {conv, conv, attn, conv};
  c.attn.n_heads = 2;
  c.attn.n_kv_heads = 1;
  c.attn.qk_norm = true;
  c.mlp.d_ff = 12;
  c.conv.l_cache = 3;
  return c;
}

TEST(ShortConv, ModelGradientsMatchFiniteDifferences) {
  const ModelConfig c = lfm2_like();
  auto m = trainer_test::make_model(c, 2, 6, true, 42);
  ASSERT_TRUE(m);
  const int N = 12;
  const auto in = random_tokens(N, c.vocab_size, 1), tgt = random_tokens(N, c.vocab_size, 2);
  m->zero_grad();
  m->forward(in.data(), tgt.data());
  m->backward(1.0f);
  trainer_test::GradCheckOptions o;
  o.max_checks = 24;
  o.eps = 1.5e-2f;  // of each tensor's RMS: the conv block is cubic in its input (B ⊙ x, then ⊙ C)
  int conv_tensors = 0;
  for (const trainer::ParamRef& p : m->params()) {
    conv_tensors += p.spec->name.find(".conv.") != std::string::npos;
    std::vector<float> analytic(p.grad, p.grad + p.numel);
    trainer_test::expect_gradient(
        p.spec->name, p.weight, p.numel, analytic.data(),
        [&] { return trainer_test::model_loss_double(*m, in.data(), tgt.data(), N); }, o);
  }
  EXPECT_EQ(conv_tensors, 3 * 3);  // in_proj, conv, out_proj of three conv blocks
}

// Gradient checkpointing re-runs the conv blocks' forward from their saved inputs: the same gradients.
TEST(ShortConv, CheckpointingGivesTheSameGradients) {
  const ModelConfig c = lfm2_like();
  const int N = 12;
  const auto in = random_tokens(N, c.vocab_size, 1), tgt = random_tokens(N, c.vocab_size, 2);
  std::vector<std::vector<float>> grads[2];
  for (int ck = 0; ck < 2; ++ck) {
    RunShape shape;
    shape.batch = 2;
    shape.seq_len = 6;
    shape.grad_checkpoint = ck == 1;
    auto m = Model::create(c, shape);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    (*m)->init_weights(42);
    (*m)->zero_grad();
    (*m)->forward(in.data(), tgt.data());
    (*m)->backward(1.0f);
    for (const trainer::ParamRef& p : (*m)->params()) grads[ck].emplace_back(p.grad, p.grad + p.numel);
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i) EXPECT_EQ(grads[0][i], grads[1][i]) << "parameter " << i;
}

TEST(ShortConv, DecodeStepMatchesFullForward) {
  trainer_test::expect_decode_matches_forward(lfm2_like(), 9);
}

// One row of 12 holding documents of 5 and 7 tokens: the second document's logits and gradients
// equal those of the document alone, so no conv input crossed the boundary.
TEST(ShortConv, PackedDocumentsRestartTheConvState) {
  ModelConfig c = lfm2_like();
  c.blocks = {{{LayerKind::kConv, LayerKind::kMlp}}, {{LayerKind::kConv, LayerKind::kMlp}}};
  trainer_test::expect_packed_documents_restart(c, 12, 5);
}

}  // namespace
