// model_config_to_toml with toml++.
#include "trainer/model_config_toml.h"

#include <toml++/toml.h>

#include <sstream>

#include "trainer/layers/kind.h"

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
  };
  for (const LayerKindInfo& kind : layer_kinds()) {
    toml::table section;
    ModelConfig& fields = const_cast<ModelConfig&>(c);  // read only: ConfigKey::field serves both ways
    for (const ConfigKey& key : kind.config_keys) {
      void* f = key.field(fields);
      switch (key.type) {
        case ConfigKeyType::kInt: section.insert(key.name, *static_cast<int*>(f)); break;
        case ConfigKeyType::kFloat: section.insert(key.name, static_cast<double>(*static_cast<float*>(f))); break;
        case ConfigKeyType::kBool: section.insert(key.name, *static_cast<bool*>(f)); break;
      }
    }
    t.insert(kind.name, std::move(section));
  }
  std::ostringstream os;
  os << toml::table{{"model", t}} << "\n";
  return os.str();
}

}  // namespace trainer
