// model_config_to_toml with toml++.
#include "trainer/model_config_toml.h"

#include <toml++/toml.h>

#include <sstream>

namespace trainer {

std::string model_config_to_toml(const ModelConfig& c) {
  toml::array blocks;
  for (size_t i = 0; i < c.blocks.size();) {
    size_t j = i;
    while (j < c.blocks.size() && c.blocks[j] == c.blocks[i]) ++j;
    const std::string spec = block_spec_to_string(c.blocks[i]);
    if (j - i == 1) {
      blocks.push_back(spec);
    } else {
      blocks.push_back(toml::table{{"block", spec}, {"repeat", static_cast<int64_t>(j - i)}});
    }
    i = j;
  }
  toml::table t{
      {"name", c.name},
      {"vocab_size", c.vocab_size},
      {"d_model", c.d_model},
      {"d_embed", c.d_embed},
      {"tied_embedding", c.tied_embedding},
      {"norm_eps", static_cast<double>(c.norm_eps)},
      {"init_std", static_cast<double>(c.init_std)},
      {"blocks", blocks},
      {"attn", toml::table{{"n_heads", c.attn.n_heads},
                           {"n_kv_heads", c.attn.n_kv_heads},
                           {"head_dim", c.attn.head_dim},
                           {"window", c.attn.window},
                           {"rope_theta", static_cast<double>(c.attn.rope_theta)}}},
      {"mlp", toml::table{{"d_ff", c.mlp.d_ff}}},
      {"ssm", toml::table{{"expand", c.ssm.expand},
                          {"d_state", c.ssm.d_state},
                          {"d_conv", c.ssm.d_conv},
                          {"dt_rank", c.ssm.dt_rank}}},
      {"moe", toml::table{{"n_experts", c.moe.n_experts},
                          {"top_k", c.moe.top_k},
                          {"d_expert", c.moe.d_expert},
                          {"shared_expert", c.moe.shared_expert},
                          {"d_shared", c.moe.d_shared},
                          {"aux_loss_weight", static_cast<double>(c.moe.aux_loss_weight)}}},
  };
  std::ostringstream os;
  os << toml::table{{"model", t}} << "\n";
  return os.str();
}

}  // namespace trainer
