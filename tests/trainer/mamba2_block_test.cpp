// The `mamba2` kind (the Mamba-2 mixer) inside a model: every weight's gradient against finite
// differences (mamba2 blocks beside attention, chunks shorter than the sequence, two groups of two
// heads), gradient checkpointing giving bit-identical gradients, the recurrent decode step against the
// full forward, and packed documents restarting the conv and scan state (the same logits and gradients
// as each document alone).
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

// A Mamba-2 hybrid at toy width: mamba2, mamba2, attn+mlp, mamba2+mlp.
ModelConfig mamba2_hybrid() {
  ModelConfig c;
  c.name = "mamba2-test";
  c.vocab_size = 13;
  c.d_model = 8;
  c.init_std = 0.3f;
  const trainer::BlockSpec m{{LayerKind::kMamba2}}, attn{{LayerKind::kAttn, LayerKind::kMlp}},
      m_mlp{{LayerKind::kMamba2, LayerKind::kMlp}};
  c.blocks = {m, m, attn, m_mlp};
  c.attn.n_heads = 2;
  c.mlp.d_ff = 12;
  c.mamba2.d_inner = 16;
  c.mamba2.head_dim = 4;
  c.mamba2.d_state = 4;
  c.mamba2.n_groups = 2;
  c.mamba2.d_conv = 4;
  c.mamba2.chunk = 4;
  return c;
}

TEST(Mamba2Block, ModelGradientsMatchFiniteDifferences) {
  const std::vector<std::string> names = trainer_test::expect_model_gradients_match_finite_differences(mamba2_hybrid());
  const auto mamba2_tensors = std::count_if(names.begin(), names.end(), [](const std::string& n) {
    return n.find(".mamba2.") != std::string::npos;
  });
  EXPECT_EQ(mamba2_tensors, 3 * 8);  // in_proj, conv w/b, dt_bias, A_log, D, norm, out_proj of three blocks
}

// Gradient checkpointing re-runs the mamba2 blocks' forward from their saved inputs: the same bits.
TEST(Mamba2Block, CheckpointingGivesBitIdenticalGradients) {
  const ModelConfig c = mamba2_hybrid();
  const int N = 14;
  const auto in = random_tokens(N, c.vocab_size, 1), tgt = random_tokens(N, c.vocab_size, 2);
  std::vector<std::vector<float>> grads[2];
  for (int ck = 0; ck < 2; ++ck) {
    auto m = trainer_test::make_model(c, 2, 7, true, 42, ck == 1);
    ASSERT_TRUE(m);
    m->zero_grad();
    m->forward(in.data(), tgt.data());
    m->backward(1.0f);
    for (const trainer::ParamRef& p : m->params()) grads[ck].emplace_back(p.grad, p.grad + p.numel);
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i) EXPECT_EQ(grads[0][i], grads[1][i]) << "parameter " << i;
}

TEST(Mamba2Block, DecodeStepMatchesFullForward) {
  trainer_test::expect_decode_matches_forward(mamba2_hybrid(), 11);
}

// One row of 13 holding documents of 6 and 7 tokens (the boundary inside a chunk of 4): the second
// document's logits and gradients equal those of the document alone.
TEST(Mamba2Block, PackedDocumentsRestartTheConvAndScanState) {
  ModelConfig c = mamba2_hybrid();
  c.blocks = {{{LayerKind::kMamba2}}, {{LayerKind::kMamba2, LayerKind::kMlp}}};
  trainer_test::expect_packed_documents_restart(c, 13, 6);
}

}  // namespace
