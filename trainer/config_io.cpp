// model_config_to_toml with toml++. Float fields are written as the shortest decimal of their float
// value (0.02 and 1e-05, not 0.019999999552965164 or toml++'s 17 digits 1.0000000000000001e-05).
#include "trainer/config_io.h"

#include <toml++/toml.h>

#include <sstream>
#include <string_view>

#include "common/float_text.h"

namespace trainer {
namespace {

// A float as TOML: its shortest decimal, with ".0" when that reads as an integer ("10000").
std::string toml_float(float v) {
  std::string s = common::float_to_shortest(v);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

// Rewrites the value of "key = ..." lines (any indentation) with `text`.
void set_value_text(std::string& toml, std::string_view key, const std::string& text) {
  size_t pos = 0;
  while (pos < toml.size()) {
    size_t end = toml.find('\n', pos);
    if (end == std::string::npos) end = toml.size();
    size_t k = toml.find_first_not_of(" \t", pos);
    if (k < end && toml.compare(k, key.size(), key) == 0 && toml.compare(k + key.size(), 3, " = ") == 0) {
      size_t v = k + key.size() + 3;
      toml.replace(v, end - v, text);
      end = v + text.size();
    }
    pos = end + 1;
  }
}

}  // namespace

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
      {"norm_eps", common::float_as_decimal(c.norm_eps)},
      {"init_std", common::float_as_decimal(c.init_std)},
      {"blocks", blocks},
      {"attn", toml::table{{"n_heads", c.attn.n_heads},
                           {"n_kv_heads", c.attn.n_kv_heads},
                           {"head_dim", c.attn.head_dim},
                           {"window", c.attn.window},
                           {"rope_theta", common::float_as_decimal(c.attn.rope_theta)}}},
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
                          {"aux_loss_weight", common::float_as_decimal(c.moe.aux_loss_weight)}}},
  };
  std::ostringstream os;
  os << toml::table{{"model", t}} << "\n";
  std::string out = os.str();
  set_value_text(out, "norm_eps", toml_float(c.norm_eps));
  set_value_text(out, "init_std", toml_float(c.init_std));
  set_value_text(out, "rope_theta", toml_float(c.attn.rope_theta));
  set_value_text(out, "aux_loss_weight", toml_float(c.moe.aux_loss_weight));
  return out;
}

}  // namespace trainer
