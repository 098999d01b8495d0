// The fallback layout must be the engine's layout wherever the engine can lay a model out, so a
// plan is the same whichever path produced it (and the fallback for missing kinds is built the
// same way).
#include <gtest/gtest.h>

#include "budget/layout_fallback.h"
#include "trainer/layout.h"

namespace budget {
namespace {

trainer::ModelConfig model(const std::string& name) {
  common::Result<trainer::ModelConfig> m = trainer::model_preset(name);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return *m;
}

trainer::ModelConfig hybrid() {
  common::Result<trainer::ModelConfig> m = trainer::parse_model_config_toml(R"(
name = "hybrid-test"
vocab_size = 64
d_model = 32
d_embed = 24
tied_embedding = false
blocks = ["ssm", "attn+moe", "ssm+moe", "attn+mlp", "attn+moe"]
[attn]
n_heads = 4
n_kv_heads = 2
window = 8
[moe]
n_experts = 4
top_k = 2
d_expert = 16
)", "hybrid");
  EXPECT_TRUE(m.ok()) << m.status().message();
  return *m;
}

void expect_same(const std::vector<trainer::TensorSpec>& a, const std::vector<trainer::TensorSpec>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name) << i;
    EXPECT_EQ(a[i].shape, b[i].shape) << a[i].name;
    EXPECT_EQ(a[i].role, b[i].role) << a[i].name;
    EXPECT_EQ(a[i].bytes, b[i].bytes) << a[i].name;
    EXPECT_EQ(a[i].dtype, b[i].dtype) << a[i].name;
  }
}

TEST(LayoutFallback, EqualsTheEngineWhereTheEngineHasEveryKind) {
  int compared = 0;
  for (const trainer::ModelConfig& m : {model("gpt-tiny"), model("gpt-small"), hybrid()}) {
    for (bool ckpt : {false, true}) {
      for (bool training : {true, false}) {
        trainer::RunShape s;
        s.batch = 2;
        s.seq_len = 16;
        s.grad_checkpoint = ckpt;
        s.training = training;
        s.max_threads = 2;
        common::Result<std::vector<trainer::TensorSpec>> engine = trainer::list_run_tensors(m, s);
        if (!engine.ok()) {
          ASSERT_EQ(engine.status().code(), common::StatusCode::kUnavailable) << engine.status().message();
          continue;
        }
        common::Result<std::vector<trainer::TensorSpec>> fallback = list_run_tensors_fallback(m, s);
        ASSERT_TRUE(fallback.ok()) << fallback.status().message();
        expect_same(*engine, *fallback);
        ++compared;
      }
    }
  }
  EXPECT_GE(compared, 8) << "gpt presets (attn+mlp) must always be comparable";
}

TEST(LayoutFallback, ListsEveryKindAndWeightsMatchDocs) {
  const trainer::ModelConfig m = hybrid();
  trainer::RunShape s;
  s.batch = 1;
  s.seq_len = 8;
  common::Result<std::vector<trainer::TensorSpec>> l = list_run_tensors_fallback(m, s);
  ASSERT_TRUE(l.ok()) << l.status().message();
  auto find = [&](const std::string& name) -> const trainer::TensorSpec* {
    for (const trainer::TensorSpec& t : *l) {
      if (t.name == name) return &t;
    }
    return nullptr;
  };
  const int64_t D = 32, Di = 64, N = 16, R = 2;
  ASSERT_NE(find("blocks.0.ssm.in_proj.weight"), nullptr);
  EXPECT_EQ(find("blocks.0.ssm.in_proj.weight")->shape, (std::vector<int64_t>{2 * Di, D}));
  EXPECT_EQ(find("blocks.0.ssm.x_proj.weight")->shape, (std::vector<int64_t>{R + 2 * N, Di}));
  EXPECT_EQ(find("blocks.1.moe.router.weight")->shape, (std::vector<int64_t>{4, D}));
  ASSERT_NE(find("blocks.1.moe.experts.3.down.weight"), nullptr);
  EXPECT_EQ(find("blocks.1.moe.experts.3.down.weight")->shape, (std::vector<int64_t>{D, 16}));
  EXPECT_NE(find("blocks.1.moe.shared.up.weight"), nullptr);
  EXPECT_NE(find("bridge_in.weight"), nullptr);
  EXPECT_NE(find("lm_head.weight"), nullptr);
  EXPECT_NE(find("grad.blocks.2.moe.experts.0.gate.weight"), nullptr);
  EXPECT_NE(find("adam_v.blocks.0.ssm.A_log"), nullptr);
  for (const trainer::TensorSpec& t : *l) {
    EXPECT_EQ(t.bytes, uint64_t(t.numel()) * trainer::dtype_size(t.dtype)) << t.name;
  }
}

TEST(LayoutFallback, RejectsBadShapes) {
  trainer::RunShape s;
  s.batch = 0;
  EXPECT_EQ(list_run_tensors_fallback(model("gpt-tiny"), s).status().code(), common::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace budget
