// model_config_to_toml with toml++. Float fields are written as the shortest decimal of their float
// value (0.02 and 1e-05, not 0.019999999552965164 or toml++'s 17 digits 1.0000000000000001e-05).
#include "trainer/model_config_toml.h"

#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include "common/float_text.h"
#include "common/toml/toml_fields.h"  // toml++
#include "trainer/layers/kind.h"

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
  };
  std::vector<std::pair<const char*, float>> float_keys = {{"norm_eps", c.norm_eps}, {"init_std", c.init_std}};
  // The µP multipliers only when set (most models have none).
  for (auto [key, value] : {std::pair{"embedding_scale", c.embedding_scale}, {"residual_scale", c.residual_scale},
                            {"logit_scale", c.logit_scale}}) {
    if (value == 1.0f) continue;
    t.insert(key, common::float_as_decimal(value));
    float_keys.emplace_back(key, value);
  }
  for (const LayerKindInfo& kind : layer_kinds()) {
    toml::table section;
    ModelConfig& fields = const_cast<ModelConfig&>(c);  // read only: ConfigKey::field serves both ways
    for (const ConfigKey& key : kind.config_keys) {
      void* f = key.field(fields);
      switch (key.type) {
        case ConfigKeyType::kInt: section.insert(key.name, *static_cast<int*>(f)); break;
        case ConfigKeyType::kFloat:
          section.insert(key.name, common::float_as_decimal(*static_cast<float*>(f)));
          float_keys.emplace_back(key.name, *static_cast<float*>(f));
          break;
        case ConfigKeyType::kBool: section.insert(key.name, *static_cast<bool*>(f)); break;
      }
    }
    t.insert(kind.name, std::move(section));
  }
  std::ostringstream os;
  os << toml::table{{"model", t}} << "\n";
  std::string out = os.str();
  // Float key names are unique across the model table and the kinds' tables.
  for (const auto& [key, value] : float_keys) set_value_text(out, key, toml_float(value));
  return out;
}

}  // namespace trainer
