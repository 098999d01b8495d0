// The kind registry (trainer/layers/kind.h) is the one place a kind is described: every kind's config
// keys round-trip through the model TOML, its LoRA targets are linear weights its Layer lists, its
// parameter groups cover its weights, its decoder's state is what the planner counts, and the kind
// lookups agree with LayerKind.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "trainer/generator.h"
#include "trainer/layers/kind.h"
#include "trainer/layers/layer.h"
#include "trainer/model.h"
#include "trainer/model_config_toml.h"

namespace trainer {
namespace {

// A small model with one block of every kind.
ModelConfig every_kind() {
  ModelConfig c;
  c.vocab_size = 11;
  c.d_model = 16;
  for (const LayerKindInfo& k : layer_kinds()) c.blocks.push_back(BlockSpec{{k.kind}});
  c.attn.n_heads = 4;
  c.attn.n_kv_heads = 2;
  c.ssm.d_state = 4;
  c.moe.n_experts = 4;
  c.moe.top_k = 2;
  c.moe.d_expert = 8;
  c.mamba2.d_inner = 32;
  c.mamba2.head_dim = 8;
  c.mamba2.d_state = 4;
  c.mamba2.n_groups = 2;
  return c;
}

TEST(LayerKinds, RegistryIsInEnumOrderAndNamesParse) {
  const auto kinds = layer_kinds();
  ASSERT_EQ(kinds.size(), 6u);
  for (size_t i = 0; i < kinds.size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(kinds[i].kind), i);
    EXPECT_EQ(&layer_kind_info(kinds[i].kind), &kinds[i]);
    auto spec = parse_block_spec(kinds[i].name);
    ASSERT_TRUE(spec.ok());
    EXPECT_EQ(spec->layers, std::vector<LayerKind>{kinds[i].kind});
  }
}

TEST(LayerKinds, EveryConfigKeyRoundTripsThroughTheModelToml) {
  ModelConfig c = every_kind();
  // Every float and bool key gets a value other than its default; ints get valid non-defaults below.
  int n = 3;
  for (const LayerKindInfo& k : layer_kinds()) {
    for (const ConfigKey& key : k.config_keys) {
      void* f = key.field(c);
      if (key.type == ConfigKeyType::kFloat) *static_cast<float*>(f) = 0.5f * static_cast<float>(++n);
      if (key.type == ConfigKeyType::kBool) *static_cast<bool*>(f) = !*static_cast<bool*>(f);
    }
  }
  c.attn.window = 3;
  c.attn.head_dim = 6;
  c.mlp.d_ff = 20;
  c.ssm.dt_rank = 2;
  c.ssm.d_conv = 3;
  c.ssm.expand = 3;
  c.moe.d_shared = 4;
  c.mamba2.d_conv = 3;
  c.mamba2.chunk = 5;
  auto back = parse_model_config_toml(model_config_to_toml(c), "written");
  ASSERT_TRUE(back.ok()) << back.status().message();
  for (const LayerKindInfo& k : layer_kinds()) {
    for (const ConfigKey& key : k.config_keys) {
      ModelConfig& b = *back;
      void *want = key.field(c), *got = key.field(b);
      switch (key.type) {
        case ConfigKeyType::kInt: EXPECT_EQ(*static_cast<int*>(got), *static_cast<int*>(want)) << key.name; break;
        case ConfigKeyType::kFloat: EXPECT_EQ(*static_cast<float*>(got), *static_cast<float*>(want)) << key.name; break;
        case ConfigKeyType::kBool: EXPECT_EQ(*static_cast<bool*>(got), *static_cast<bool*>(want)) << key.name; break;
      }
    }
  }
}

TEST(LayerKinds, AnUnknownKeyInAKindTableIsRefusedNamingTable) {
  auto bad = parse_model_config_toml("blocks = [\"ssm\"]\n[ssm]\nd_sate = 4\n", "m.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown key 'd_sate' in [ssm]"), std::string::npos);
}

TEST(LayerKinds, LoraTargetsAreLinearWeightsOfTheKindAndGroupsCoverItsWeights) {
  const ModelConfig c = every_kind();
  for (const LayerKindInfo& k : layer_kinds()) {
    auto layer = make_layer(k.kind, c, LayerShape{1, 4, 1, true});
    ASSERT_TRUE(layer.ok());
    std::vector<TensorSpec> specs;
    (*layer)->list_tensors(&specs);
    std::vector<std::string> linear_stems;
    for (const TensorSpec& t : specs) {
      if (t.role != TensorRole::kWeight) continue;
      const char* group = k.param_group(t.name);
      EXPECT_TRUE(std::any_of(k.param_groups.begin(), k.param_groups.end(),
                              [&](const char* g) { return std::string(g) == group; }))
          << k.name << " " << t.name;
      if (!t.linear) continue;
      std::string stem = t.name.substr(0, t.name.size() - std::string(".weight").size());
      linear_stems.push_back(stem.substr(stem.rfind('.') + 1));
    }
    for (const char* target : k.lora_targets) {
      EXPECT_NE(std::find(linear_stems.begin(), linear_stems.end(), target), linear_stems.end())
          << k.name << " lists LoRA target " << target << " but has no such linear weight";
    }
    for (const char* target : k.default_lora_targets) {
      EXPECT_TRUE(std::any_of(k.lora_targets.begin(), k.lora_targets.end(),
                              [&](const char* t) { return std::string(t) == target; }));
    }
  }
}

TEST(LayerKinds, DecoderStateIsWhatTheKindReportsToThePlanner) {
  const ModelConfig c = every_kind();
  RunShape shape;
  shape.training = false;
  auto model = Model::create(c, shape);
  ASSERT_TRUE(model.ok());
  (*model)->init_weights(3);
  const int context = 7;
  auto gen = RecurrentGenerator::create(
      c, [&](const std::string& n) { return static_cast<const float*>((*model)->tensors().find(n)); }, context);
  ASSERT_TRUE(gen.ok()) << gen.status().message();
  uint64_t planned = 0;
  for (const LayerKindInfo& k : layer_kinds()) {
    const InferenceState s = k.inference_state(c);
    const uint64_t positions = s.max_positions > 0 ? std::min<uint64_t>(s.max_positions, context) : context;
    planned += positions * s.kv_values_per_position * sizeof(float) + s.recurrent_bytes + s.conv_bytes;
  }
  EXPECT_EQ((*gen)->state_bytes(), planned);
}

}  // namespace
}  // namespace trainer
