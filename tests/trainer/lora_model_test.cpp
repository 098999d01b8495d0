// lora and qlora at the model level: the run layout (frozen base, adapters, their gradients and
// moments, quantized bytes), bad settings, logits against the full model, adapter gradients against
// finite differences in every attn/mlp target, no gradient ever reaching the base, and rank changes.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <set>
#include <vector>

#include "common/check.h"
#include "trainer/grad_check.h"
#include "trainer/model_loss.h"
#include "trainer/lora/plan.h"
#include "trainer/model.h"
#include "trainer/quant/frozen_base.h"
#include "trainer/test_values.h"

namespace trainer {
namespace {

using trainer_test::random_tokens;

ModelConfig tiny_config() {
  ModelConfig c;
  c.name = "lora-test";
  c.vocab_size = 13;
  c.d_model = 16;
  c.tied_embedding = false;
  c.init_std = 0.2f;
  c.blocks = {{{LayerKind::kAttn, LayerKind::kMlp}}, {{LayerKind::kAttn, LayerKind::kMlp}}};
  c.attn.n_heads = 2;
  c.attn.n_kv_heads = 1;
  c.mlp.d_ff = 24;
  return c;
}

RunShape lora_shape(TrainMode mode, QuantFormat format, int rank, std::vector<std::string> targets = {}) {
  RunShape s;
  s.batch = 2;
  s.seq_len = 6;
  s.mode = mode;
  s.lora_rank = rank;
  s.lora.rank_max = 2 * rank;
  s.lora.alpha = 2.0f * rank;
  s.lora.targets = std::move(targets);
  s.lora.base_format = format;
  return s;
}

std::unique_ptr<Model> full_model(const ModelConfig& c, uint64_t seed) {
  RunShape s;
  s.batch = 2;
  s.seq_len = 6;
  auto m = Model::create(c, s);
  CHECK(m.ok());
  (*m)->init_weights(seed);
  return std::move(*m);
}

std::unique_ptr<Model> adapted_model(const ModelConfig& c, const RunShape& s, const Model& full, uint64_t seed) {
  auto m = Model::create(c, s);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  if (!m.ok()) return nullptr;
  (*m)->init_weights(seed);
  const common::Status st = fill_frozen_base(**m, lookup_in_model(full), "full model");
  EXPECT_TRUE(st.ok()) << st.to_string();
  return std::move(*m);
}

// Gives every adapter a nonzero B so that gradients reach A too.
void randomize_adapters(Model& m, uint64_t seed) {
  Rng rng(seed);
  for (LoraAdapterEntry& e : m.lora()->adapters())
    for (int64_t i = 0; i < int64_t{e.t.rank} * e.t.out; ++i) e.t.bt[i] = static_cast<float>(rng.normal() * 0.3);
}

std::vector<float> logits_of(Model& m, const std::vector<int32_t>& in) {
  m.forward(in.data(), nullptr);
  const int64_t n = int64_t{m.batch()} * m.seq_len() * m.config().vocab_size;
  return std::vector<float>(m.logits(), m.logits() + n);
}

TEST(LoraLayout, BaseIsFrozenAndOnlyAdaptersTrain) {
  const ModelConfig c = tiny_config();
  auto specs = list_run_tensors(c, lora_shape(TrainMode::kLora, QuantFormat::kF32, 4, {"q", "v", "down"}));
  ASSERT_TRUE(specs.ok()) << specs.status().to_string();
  std::set<std::string> names;
  for (const TensorSpec& t : *specs) names.insert(t.name);
  int adapters = 0;
  for (const TensorSpec& t : *specs) {
    if (t.role == TensorRole::kWeight) {
      ++adapters;
      EXPECT_TRUE(t.name.ends_with(".lora_A.weight") || t.name.ends_with(".lora_Bt.weight")) << t.name;
      EXPECT_EQ(t.shape[0], 8) << "capacity = rank_max";
      EXPECT_TRUE(names.count("grad." + t.name) && names.count("adam_m." + t.name) && names.count("adam_v." + t.name));
    }
    if (t.role == TensorRole::kFrozenWeight) {
      EXPECT_FALSE(names.count("grad." + t.name)) << t.name;
    }
    if (t.role == TensorRole::kGradient) {
      EXPECT_TRUE(t.name.find(".lora_") != std::string::npos) << t.name;
    }
  }
  EXPECT_EQ(adapters, 2 * 3 * 2);  // 2 blocks x 3 targets x (A, Bt)
  EXPECT_TRUE(names.count("blocks.1.attn.q.lora_A.weight"));
  EXPECT_TRUE(names.count("blocks.0.mlp.down.lora_Bt.weight"));
  EXPECT_TRUE(names.count("act.blocks.0.attn.q.lora_u"));
  EXPECT_FALSE(names.count("blocks.0.attn.k.lora_A.weight"));
  EXPECT_TRUE(names.count("embed.weight") && !names.count("grad.embed.weight"));
}

TEST(LoraLayout, QloraStoresTheBaseInNf4) {
  const ModelConfig c = tiny_config();
  RunShape s = lora_shape(TrainMode::kQlora, QuantFormat::kNF4, 4);
  s.lora.double_quant = true;
  auto specs = list_run_tensors(c, s);
  ASSERT_TRUE(specs.ok()) << specs.status().to_string();
  bool saw_panel = false;
  for (const TensorSpec& t : *specs) {
    if (t.name == "blocks.0.mlp.up.weight") {
      EXPECT_EQ(t.role, TensorRole::kFrozenWeight);
      EXPECT_EQ(t.dtype, DType::kU8);
      EXPECT_EQ(t.bytes, (QuantLayout{QuantFormat::kNF4, 24, 16, true}.total_bytes()));
    }
    if (t.name == "blocks.0.mlp_norm.weight") {
      EXPECT_EQ(t.dtype, DType::kF32);
    }
    if (t.name == "scratch.mlp.qmatmul_panel") saw_panel = true;
  }
  EXPECT_TRUE(saw_panel);
}

TEST(LoraLayout, BadSettingsAreClearErrors) {
  const ModelConfig c = tiny_config();
  auto expect_error = [&](RunShape s, const std::string& needle) {
    auto r = list_run_tensors(c, s);
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  expect_error(lora_shape(TrainMode::kLora, QuantFormat::kF32, 0), "at least 1");
  expect_error(lora_shape(TrainMode::kLora, QuantFormat::kF32, 9), "for blocks.0.attn.q (16 x 16)");  // capacity 18 > 16
  expect_error(lora_shape(TrainMode::kLora, QuantFormat::kF32, 2, {"q", "qq"}), "unknown LoRA target 'qq'");
  expect_error(lora_shape(TrainMode::kLora, QuantFormat::kF32, 2, {"in_proj"}), "matches no linear map");
  expect_error(lora_shape(TrainMode::kQlora, QuantFormat::kF32, 2), "needs a quantized base");
  expect_error(lora_shape(TrainMode::kLora, QuantFormat::kNF4, 2), "needs a float base");
  auto known = parse_lora_targets("q,router,mlp");
  ASSERT_FALSE(known.ok());
  EXPECT_NE(known.status().message().find("known: q, k, v, o"), std::string::npos);
  // Hugging Face's module names (PEFT's target_modules) are the same targets.
  auto hf = parse_lora_targets("q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,q");
  ASSERT_TRUE(hf.ok()) << hf.status().message();
  EXPECT_EQ(*hf, (std::vector<std::string>{"q", "k", "v", "o", "gate", "up", "down"}));
}

TEST(LoraModel, FreshAdaptersLeaveTheFullModelsLogitsBitIdentical) {
  const ModelConfig c = tiny_config();
  auto full = full_model(c, 3);
  auto lora = adapted_model(c, lora_shape(TrainMode::kLora, QuantFormat::kF32, 4), *full, 5);
  ASSERT_TRUE(lora);
  const auto in = random_tokens(12, c.vocab_size, 1);
  EXPECT_EQ(logits_of(*full, in), logits_of(*lora, in));
}

TEST(LoraModel, QloraLogitsMatchTheFullModelOnDequantizedWeights) {
  const ModelConfig c = tiny_config();
  auto full = full_model(c, 3);
  for (QuantFormat f : {QuantFormat::kNF4, QuantFormat::kQ8}) {
    auto q = adapted_model(c, lora_shape(TrainMode::kQlora, f, 4), *full, 5);
    ASSERT_TRUE(q);
    randomize_adapters(*q, 9);
    // The reference: a full model whose linear weights are the dequantized base plus scale·B·A.
    auto ref = full_model(c, 3);
    for (const LoraBaseEntry& b : q->lora()->bases()) {
      float* w = ref->tensors().f32(b.name);
      dequantize(QuantView{b.layout, b.bytes}, w);
      const LoraAdapterEntry* a = q->lora()->find(b.name.substr(0, b.name.size() - 7));
      if (a == nullptr) continue;
      for (int64_t o = 0; o < a->t.out; ++o)
        for (int64_t i = 0; i < a->t.in; ++i)
          for (int j = 0; j < a->t.rank; ++j) w[o * a->t.in + i] += a->t.scale * a->t.bt[j * a->t.out + o] * a->t.a[j * a->t.in + i];
    }
    const auto in = random_tokens(12, c.vocab_size, 2);
    const auto lq = logits_of(*q, in), lr = logits_of(*ref, in);
    for (size_t i = 0; i < lq.size(); ++i) ASSERT_NEAR(lq[i], lr[i], 1e-4) << quant_format_name(f);
    // ... and the quantized model is not the unquantized one (the test can fail).
    const auto lf = logits_of(*full, in);
    double diff = 0;
    for (size_t i = 0; i < lq.size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(lf[i] - lr[i])));
    EXPECT_GT(diff, 1e-4);
  }
}

ModelConfig hybrid_config() {
  ModelConfig c = tiny_config();
  c.name = "lora-hybrid-test";
  c.blocks = {{{LayerKind::kSsm, LayerKind::kMoe}}, {{LayerKind::kAttn, LayerKind::kMlp}}};
  c.ssm.expand = 2;
  c.ssm.d_state = 4;
  c.ssm.d_conv = 3;
  c.moe.n_experts = 4;
  c.moe.top_k = 2;
  c.moe.d_expert = 12;
  c.moe.shared_expert = true;
  return c;
}

// An adapted model over the base of a full model drawn from `seed`, its adapters randomized.
std::unique_ptr<Model> adapted_with_random_adapters(const ModelConfig& c, const RunShape& s, uint64_t seed) {
  auto full = full_model(c, seed);
  auto m = adapted_model(c, s, *full, seed + 1);
  if (m) randomize_adapters(*m, seed + 2);
  return m;
}

void check_adapter_gradients(const RunShape& shape, const ModelConfig& c = tiny_config()) {
  auto m = adapted_with_random_adapters(c, shape, 11);
  ASSERT_TRUE(m);
  const int N = shape.batch * shape.seq_len;
  const auto in = random_tokens(N, c.vocab_size, 3), tgt = random_tokens(N, c.vocab_size, 4);
  m->zero_grad();
  m->forward(in.data(), tgt.data());
  m->backward(1.0f);
  auto loss = [&] { return trainer_test::model_loss_double(*m, in.data(), tgt.data(), N); };
  trainer_test::GradCheckOptions o;
  o.max_checks = 6;  // 28 tensors: a few entries each keeps the test fast
  o.eps = 4e-2f;     // of each tensor's RMS (as in model_grad_test)
  std::set<std::string> kinds;
  for (LoraAdapterEntry& e : m->lora()->adapters()) {
    kinds.insert(lora_target_key(e.name + ".weight"));
    const int64_t na = int64_t{e.t.rank} * e.t.in, nb = int64_t{e.t.rank} * e.t.out;
    std::vector<float> ga(e.t.grad_a, e.t.grad_a + na), gb(e.t.grad_bt, e.t.grad_bt + nb);
    trainer_test::expect_gradient(e.name + ".lora_A", e.t.a, static_cast<size_t>(na), ga.data(), loss, o);
    trainer_test::expect_gradient(e.name + ".lora_Bt", e.t.bt, static_cast<size_t>(nb), gb.data(), loss, o);
  }
  std::set<std::string> expected = {"q", "k", "v", "o", "gate", "up", "down"};
  if (c.has_layer(LayerKind::kSsm)) expected.insert({"in_proj", "out_proj"});
  EXPECT_EQ(kinds, expected);
}

TEST(LoraModel, AdapterGradientsMatchFiniteDifferencesLora) {
  check_adapter_gradients(lora_shape(TrainMode::kLora, QuantFormat::kF32, 3));
}

TEST(LoraModel, AdapterGradientsMatchFiniteDifferencesQloraNf4) {
  RunShape s = lora_shape(TrainMode::kQlora, QuantFormat::kNF4, 3);
  s.lora.double_quant = true;
  check_adapter_gradients(s);
}

TEST(LoraModel, AdapterGradientsMatchFiniteDifferencesWithCheckpointing) {
  RunShape s = lora_shape(TrainMode::kQlora, QuantFormat::kQ8, 3);
  s.grad_checkpoint = true;
  check_adapter_gradients(s);
}

TEST(LoraModel, AdapterGradientsMatchFiniteDifferencesInSsmAndExperts) {
  // in_proj, out_proj, every expert's and the shared expert's gate/up/down; router frozen.
  const ModelConfig c = hybrid_config();
  check_adapter_gradients(lora_shape(TrainMode::kQlora, QuantFormat::kNF4, 2), c);
  auto specs = list_run_tensors(c, lora_shape(TrainMode::kQlora, QuantFormat::kNF4, 2));
  ASSERT_TRUE(specs.ok());
  std::set<std::string> names;
  for (const TensorSpec& t : *specs) names.insert(t.name);
  EXPECT_TRUE(names.count("blocks.0.moe.experts.3.down.lora_A.weight"));
  EXPECT_TRUE(names.count("blocks.0.moe.shared.gate.lora_Bt.weight"));
  EXPECT_FALSE(names.count("blocks.0.moe.router.lora_A.weight"));
  EXPECT_FALSE(names.count("grad.blocks.0.ssm.A_log"));
}

TEST(LoraModel, AdaptedExpertsRunSideBySideOnTwoThreadsAndMatchOneThread) {
  // Experts with adapters and an NF4 base run one per thread, each with its own scratch slot
  // (lora_g, qmatmul_panel: one slot per thread). Two threads must give what one thread gives.
  const ModelConfig c = hybrid_config();
  RunShape s = lora_shape(TrainMode::kQlora, QuantFormat::kNF4, 2);
  s.batch = 4;
  s.seq_len = 16;
  s.max_threads = 2;
  auto specs = list_run_tensors(c, s);
  ASSERT_TRUE(specs.ok());
  int slotted = 0;
  for (const TensorSpec& t : *specs) {
    if (t.name != "scratch.moe.lora_g" && t.name != "scratch.moe.qmatmul_panel") continue;
    EXPECT_EQ(t.shape[0], 2) << t.name;
    ++slotted;
  }
  EXPECT_EQ(slotted, 2);
  auto m = adapted_with_random_adapters(c, s, 41);
  ASSERT_TRUE(m);
  const int N = s.batch * s.seq_len;
  const auto in = random_tokens(N, c.vocab_size, 7), tgt = random_tokens(N, c.vocab_size, 8);
  const int threads_before = omp_get_max_threads();
  auto grads_on = [&](int threads) {
    omp_set_num_threads(threads);
    m->zero_grad();
    m->forward(in.data(), tgt.data());
    m->backward(1.0f);
    std::vector<float> g;
    for (const ParamRef& p : m->params()) g.insert(g.end(), p.grad, p.grad + p.numel);
    return g;
  };
  const std::vector<float> one = grads_on(1), two = grads_on(2);
  omp_set_num_threads(threads_before);
  ASSERT_EQ(one.size(), two.size());
  double worst = 0, scale = 0;
  for (size_t i = 0; i < one.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::fabs(one[i] - two[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(one[i])));
  }
  EXPECT_GT(scale, 0.0);
  EXPECT_LE(worst, 1e-5 * scale);
}

TEST(LoraModel, NoGradientReachesTheFrozenBase) {
  for (const ModelConfig& c : {tiny_config(), hybrid_config()}) {
    auto full = full_model(c, 21);
    for (TrainMode mode : {TrainMode::kLora, TrainMode::kQlora}) {
      auto m = adapted_model(c, lora_shape(mode, mode == TrainMode::kLora ? QuantFormat::kF32 : QuantFormat::kNF4, 4),
                             *full, 22);
      ASSERT_TRUE(m);
      randomize_adapters(*m, 23);
      TensorStore& st = m->tensors();
      const uint8_t* frozen = st.arena(TensorRole::kFrozenWeight);
      const std::vector<uint8_t> before(frozen, frozen + st.arena_bytes(TensorRole::kFrozenWeight));
      // The only gradients are the adapters'; every one of them is nonzero after a backward.
      const int N = 12;
      const auto in = random_tokens(N, c.vocab_size, 5), tgt = random_tokens(N, c.vocab_size, 6);
      m->zero_grad();
      m->forward(in.data(), tgt.data());
      m->backward(1.0f);
      for (const ParamRef& p : m->params()) {
        EXPECT_NE(p.spec->name.find(".lora_"), std::string::npos) << p.spec->name;
        double g2 = 0;
        for (int64_t i = 0; i < p.numel; ++i) g2 += p.grad[i] * p.grad[i];
        EXPECT_GT(g2, 0.0) << p.spec->name;
      }
      EXPECT_EQ(0, std::memcmp(before.data(), frozen, before.size())) << train_mode_name(mode) << " " << c.name;
    }
  }
}

TEST(LoraModel, GrowingTheRankKeepsLogitsBitIdenticalAndShrinkingKeepsTheLossClose) {
  const ModelConfig c = tiny_config();
  auto full = full_model(c, 31);
  RunShape s = lora_shape(TrainMode::kQlora, QuantFormat::kNF4, 4);
  s.lora.rank_max = 8;
  auto m = adapted_model(c, s, *full, 32);
  ASSERT_TRUE(m);
  const auto in = random_tokens(12, c.vocab_size, 7), tgt = random_tokens(12, c.vocab_size, 8);
  const float loss_base = m->forward(in.data(), tgt.data());  // B = 0: the base alone
  randomize_adapters(*m, 33);
  const auto before = logits_of(*m, in);
  auto grown = m->lora()->set_rank(8, 1);
  ASSERT_TRUE(grown.ok());
  EXPECT_EQ(grown->adapters.size(), m->lora()->adapters().size());
  EXPECT_EQ(logits_of(*m, in), before);
  // Give the new directions some weight, then shrink to 4: the discarded part is the smallest.
  randomize_adapters(*m, 34);
  const float loss_r8 = m->forward(in.data(), tgt.data());
  auto shrunk = m->lora()->set_rank(4, 2);
  ASSERT_TRUE(shrunk.ok());
  EXPECT_EQ(m->lora()->rank(), 4);
  EXPECT_GT(shrunk->discarded_sq, 0.0);
  EXPECT_LT(shrunk->discarded_sq, 0.5 * shrunk->update_norm_sq);  // the top half of the spectrum carries most
  const float loss_r4 = m->forward(in.data(), tgt.data());
  // Dropping the weaker half of the update moves the loss much less than the whole update did.
  EXPECT_GT(std::fabs(loss_r8 - loss_base), 0.05f);
  EXPECT_LT(std::fabs(loss_r4 - loss_r8), 0.5f * std::fabs(loss_r8 - loss_base));
  auto bad = m->lora()->set_rank(9, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(m->lora()->rank(), 4);
}

}  // namespace
}  // namespace trainer
